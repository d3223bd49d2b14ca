//! SQL for API keys.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{ApiKey, Role};

const COLUMNS: &str = "id, prefix, role, agent, label, created_at, last_used_at, revoked_at";

/// What authenticating a key needs.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct StoredKey {
    pub id: Uuid,
    pub secret_hash: Vec<u8>,
    pub role: Role,
    pub agent: Option<String>,
}

/// A new key; only the hash of its secret is stored.
pub struct NewKey<'a> {
    pub id: Uuid,
    pub prefix: &'a str,
    pub secret_hash: &'a [u8],
    pub role: Role,
    pub agent: Option<&'a str>,
    pub label: Option<&'a str>,
}

/// Stores a new key.
pub async fn insert(db: impl PgExecutor<'_>, key: &NewKey<'_>) -> sqlx::Result<ApiKey> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO api_keys (id, prefix, secret_hash, role, agent, label)
         VALUES ($1, $2, $3, $4, $5, $6) RETURNING {COLUMNS}"
    )))
    .bind(key.id)
    .bind(key.prefix)
    .bind(key.secret_hash)
    .bind(key.role)
    .bind(key.agent)
    .bind(key.label)
    .fetch_one(db)
    .await
}

/// Keys newest first, after the cursor `(created_at, id)`.
pub async fn list(
    db: impl PgExecutor<'_>,
    include_revoked: bool,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<ApiKey>> {
    let (after_at, after_id) = after.unzip();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM api_keys
         WHERE ($1 OR revoked_at IS NULL)
           AND ($2::timestamptz IS NULL OR (created_at, id) < ($2, $3))
         ORDER BY created_at DESC, id DESC LIMIT $4"
    )))
    .bind(include_revoked)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Revokes a key named by id or prefix; revoking it again keeps the first time.
pub async fn revoke(db: impl PgExecutor<'_>, id_or_prefix: &str) -> sqlx::Result<Option<ApiKey>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE api_keys SET revoked_at = COALESCE(revoked_at, now())
         WHERE id::text = $1 OR prefix = $1 RETURNING {COLUMNS}"
    )))
    .bind(id_or_prefix)
    .fetch_optional(db)
    .await
}

/// The unrevoked key with this prefix, marking it used (one round trip per cache refill).
pub async fn use_key(db: impl PgExecutor<'_>, prefix: &str) -> sqlx::Result<Option<StoredKey>> {
    sqlx::query_as(
        "UPDATE api_keys SET last_used_at = now()
         WHERE prefix = $1 AND revoked_at IS NULL
         RETURNING id, secret_hash, role, agent",
    )
    .bind(prefix)
    .fetch_optional(db)
    .await
}

/// Whether any key was ever made. Revoked keys count: once a deployment has used keys,
/// revoking them all locks it rather than opening it.
pub async fn any_key(db: impl PgExecutor<'_>) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM api_keys)")
        .fetch_one(db)
        .await
}
