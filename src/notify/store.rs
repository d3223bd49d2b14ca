//! SQL for notifications to other processes.

use sqlx::PgExecutor;

/// Sends one NOTIFY per `(channel, payload)`, all in one statement (one transaction).
pub async fn send(db: impl PgExecutor<'_>, notices: &[(&str, &str)]) -> sqlx::Result<()> {
    let (channels, payloads): (Vec<&str>, Vec<&str>) = notices.iter().copied().unzip();
    sqlx::query("SELECT pg_notify(n.channel, n.payload) FROM UNNEST($1::text[], $2::text[]) AS n(channel, payload)")
        .bind(&channels)
        .bind(&payloads)
        .execute(db)
        .await
        .map(drop)
}
