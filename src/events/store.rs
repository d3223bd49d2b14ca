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

/// Events after `after` matching the stream's filters, in order.
pub async fn list_after(
    db: impl PgExecutor<'_>,
    filter: &super::model::EventStreamQuery,
    after: i64,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, call_id, transfer_id, kind, data, created_at FROM events
         WHERE id > $1
           AND ($2::uuid IS NULL OR call_id = $2)
           AND ($3::uuid IS NULL OR transfer_id = $3)
           AND ($4::text IS NULL OR starts_with(kind, $4))
         ORDER BY id LIMIT $5",
    )
    .bind(after)
    .bind(filter.call_id)
    .bind(filter.transfer_id)
    .bind(&filter.kind)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// The id of the newest event (0 when there is none).
pub async fn latest_id(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM events")
        .fetch_one(db)
        .await
}

/// What happened around a transfer: its own events, and who came and went in its rooms
/// between `from` and `to`.
pub async fn for_transfer(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    transfer_id: Uuid,
    rooms: &[String],
    from: chrono::DateTime<chrono::Utc>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, call_id, transfer_id, kind, data, created_at FROM events
         WHERE call_id = $1
           AND (transfer_id = $2
                OR (starts_with(kind, 'participant.') AND data->>'room' = ANY($3)
                    AND created_at >= $4 AND ($5::timestamptz IS NULL OR created_at <= $5)))
         ORDER BY id",
    )
    .bind(call_id)
    .bind(transfer_id)
    .bind(rooms)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}
