//! SQL for the event log (read only: the database writes it).

use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::Event;

/// A call's events in order, after event `after`.
pub async fn list_for_call(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, call_id, transfer_id, kind, data, created_at FROM events
         WHERE call_id = $1 AND id > COALESCE($2, 0)
         ORDER BY id LIMIT $3",
    )
    .bind(call_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}
