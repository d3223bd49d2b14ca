//! SQL for the room registry.

use sqlx::PgExecutor;
use uuid::Uuid;

use crate::transfers::model::TransferState;

/// Whose a room is: a call's own room, or the briefing room of one of its transfers.
#[derive(Debug, Clone, Copy, PartialEq, Eq, sqlx::FromRow)]
pub struct RoomOwner {
    pub call_id: Uuid,
    pub transfer_id: Option<Uuid>,
}

/// SQL for the id of the call that room `param` (a placeholder such as `$2`) belongs to, or
/// NULL: for statements that resolve a room inside a larger query.
pub fn call_of_room(param: &str) -> String {
    format!(
        "(SELECT id FROM calls WHERE room_name = {param}
          UNION ALL SELECT call_id FROM transfers WHERE briefing_room = {param} LIMIT 1)"
    )
}

/// The call a room belongs to, and the transfer when it is a briefing room.
pub async fn owner(db: impl PgExecutor<'_>, room: &str) -> sqlx::Result<Option<RoomOwner>> {
    sqlx::query_as(
        "SELECT id AS call_id, NULL::uuid AS transfer_id FROM calls WHERE room_name = $1
         UNION ALL
         SELECT call_id, id FROM transfers WHERE briefing_room = $1
         LIMIT 1",
    )
    .bind(room)
    .fetch_optional(db)
    .await
}

/// Where the caller of `call` is now: the final room of its latest completed transfer, or the
/// call's own room. Reads the transfers only: the caller already has the call's row.
pub async fn current_caller_room(
    db: impl PgExecutor<'_>,
    call: &crate::calls::model::Call,
) -> sqlx::Result<String> {
    let moved: Option<String> = sqlx::query_scalar(
        "SELECT final_room FROM transfers WHERE call_id = $1 AND state = $2
         ORDER BY completed_at DESC LIMIT 1",
    )
    .bind(call.id)
    .bind(TransferState::Completed)
    .fetch_optional(db)
    .await?;
    Ok(moved.unwrap_or_else(|| call.room_name.clone()))
}
