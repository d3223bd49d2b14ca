//! SQL for webhook deliveries.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

/// Stores a delivery; `false` when its event id was already stored (a redelivery).
pub async fn insert_delivery(
    db: impl PgExecutor<'_>,
    event_id: &str,
    event_type: &str,
    room: Option<&str>,
    occurred_at: DateTime<Utc>,
    body: &str,
) -> sqlx::Result<bool> {
    let inserted = sqlx::query(
        "INSERT INTO webhook_deliveries (event_id, event_type, room, occurred_at, body)
         VALUES ($1, $2, $3, $4, $5) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(event_type)
    .bind(room)
    .bind(occurred_at)
    .bind(body)
    .execute(db)
    .await?;
    Ok(inserted.rows_affected() == 1)
}

/// Records what processing a delivery did.
pub async fn set_result(
    db: impl PgExecutor<'_>,
    event_id: &str,
    result: &str,
    detail: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query("UPDATE webhook_deliveries SET result = $2, detail = $3 WHERE event_id = $1")
        .bind(event_id)
        .bind(result)
        .bind(detail)
        .execute(db)
        .await?;
    Ok(())
}
