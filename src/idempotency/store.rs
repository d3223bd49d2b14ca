//! SQL of idempotency keys: claim a key, store the response on it, let it go, purge old ones.

use std::time::Duration;

use sqlx::PgExecutor;
use uuid::Uuid;

/// Who holds a key, and for how long, as [`claim`] asks for it.
#[derive(Debug)]
pub struct Claim<'a> {
    /// SHA-256 of the request's `Authorization` header.
    pub scope: &'a [u8],
    pub key: &'a str,
    /// SHA-256 of the request itself.
    pub request_hash: &'a [u8],
    /// This request's token: only it may store the response or let the key go.
    pub owner: Uuid,
    /// After this long, a request that has not answered is taken for dead.
    pub lease: Duration,
    /// How long the stored response is replayed.
    pub ttl: Duration,
}

/// A key someone else has (or had).
#[derive(Debug, sqlx::FromRow)]
pub struct Existing {
    pub request_hash: Vec<u8>,
    /// `None` while the first request is still running.
    pub status: Option<i16>,
    pub headers: Option<sqlx::types::Json<Vec<(String, String)>>>,
    pub body: Option<Vec<u8>>,
}

/// Takes the key for this request: `true` when it is now ours. A key is free when nobody has
/// it, when its stored response expired, or when the request holding it outlived its lease
/// (the process died). One statement, so two requests can never both take it.
pub async fn claim(db: impl PgExecutor<'_>, claim: &Claim<'_>) -> sqlx::Result<bool> {
    let taken: Option<Uuid> = sqlx::query_scalar(
        "INSERT INTO idempotency_keys (scope, key, request_hash, owner, locked_until, expires_at)
         VALUES ($1, $2, $3, $4, now() + $5 * interval '1 millisecond',
                 now() + $6 * interval '1 millisecond')
         ON CONFLICT ON CONSTRAINT idempotency_keys_pkey DO UPDATE SET
             request_hash = EXCLUDED.request_hash, owner = EXCLUDED.owner,
             locked_until = EXCLUDED.locked_until, expires_at = EXCLUDED.expires_at,
             status = NULL, headers = NULL, body = NULL, created_at = now(), completed_at = NULL
         WHERE (idempotency_keys.status IS NOT NULL AND idempotency_keys.expires_at <= now())
            OR (idempotency_keys.status IS NULL AND idempotency_keys.locked_until <= now())
         RETURNING owner",
    )
    .bind(claim.scope)
    .bind(claim.key)
    .bind(claim.request_hash)
    .bind(claim.owner)
    .bind(claim.lease.as_millis() as f64)
    .bind(claim.ttl.as_millis() as f64)
    .fetch_optional(db)
    .await?;
    Ok(taken == Some(claim.owner))
}

/// The key as another request left it; `None` when it is gone (released meanwhile).
pub async fn existing(
    db: impl PgExecutor<'_>,
    scope: &[u8],
    key: &str,
) -> sqlx::Result<Option<Existing>> {
    sqlx::query_as(
        "SELECT request_hash, status, headers, body FROM idempotency_keys
         WHERE scope = $1 AND key = $2",
    )
    .bind(scope)
    .bind(key)
    .fetch_optional(db)
    .await
}

/// Stores the response on a key this request holds; `false` when it no longer holds it.
pub async fn complete(
    db: impl PgExecutor<'_>,
    scope: &[u8],
    key: &str,
    owner: Uuid,
    status: u16,
    headers: &[(String, String)],
    body: &[u8],
) -> sqlx::Result<bool> {
    let done = sqlx::query(
        "UPDATE idempotency_keys
         SET status = $4, headers = $5, body = $6, locked_until = NULL, completed_at = now()
         WHERE scope = $1 AND key = $2 AND owner = $3 AND status IS NULL",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .bind(status as i16)
    .bind(sqlx::types::Json(headers))
    .bind(body)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Lets go of a key this request holds without a response, so a retry runs again.
pub async fn release(
    db: impl PgExecutor<'_>,
    scope: &[u8],
    key: &str,
    owner: Uuid,
) -> sqlx::Result<()> {
    sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE scope = $1 AND key = $2 AND owner = $3 AND status IS NULL",
    )
    .bind(scope)
    .bind(key)
    .bind(owner)
    .execute(db)
    .await?;
    Ok(())
}

/// Deletes keys whose time is up (never one a live request holds); how many.
pub async fn purge_expired(db: impl PgExecutor<'_>) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "DELETE FROM idempotency_keys
         WHERE expires_at <= now() AND (status IS NOT NULL OR locked_until <= now())",
    )
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}
