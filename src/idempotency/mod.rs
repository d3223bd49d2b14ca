//! `Idempotency-Key` on POSTs, as payment APIs do it: a retried request gets the first one's
//! response instead of doing the work twice.
//!
//! The key is claimed (an in-flight row with a lease) before the handler runs, and the
//! response is stored on that same row when the handler answers, so two requests can never
//! both run under one key. Keys are scoped by the caller's credentials: the SHA-256 of its
//! `Authorization` header, so two API keys never share an idempotency key. Only answers that
//! a retry would get again are stored (2xx, and 4xx but 409 and 429); anything else, or a
//! request dropped mid-way, lets the key go so that a retry runs again.

pub mod store;

use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use crate::app::AppState;
use crate::error::ApiError;

/// The request header a client sets.
pub const KEY_HEADER: HeaderName = HeaderName::from_static("idempotency-key");
/// The response header that marks a stored response played back.
pub const REPLAYED_HEADER: HeaderName = HeaderName::from_static("idempotent-replayed");
/// Longest key accepted (a UUID needs 36).
pub const MAX_KEY_CHARS: usize = 255;
/// Response headers kept with a stored response; the rest (request ids, dates) are per reply.
const STORED_HEADERS: [HeaderName; 2] = [header::CONTENT_TYPE, header::LOCATION];
/// Largest response body stored; POST answers are a few KiB.
const MAX_STORED_BODY_BYTES: usize = 4 * 1024 * 1024;
/// How long past the request timeout an unanswered claim is kept before it is taken for dead.
const LEASE_MARGIN: Duration = Duration::from_secs(5);

/// Runs `request` through `next`, under its `Idempotency-Key` when it carries one.
pub async fn run(state: &AppState, request: Request, next: Next) -> Response {
    if !request.headers().contains_key(KEY_HEADER) {
        return next.run(request).await;
    }
    match run_keyed(state, request, next).await {
        Ok(response) => response,
        Err(error) => error.into_response(),
    }
}

async fn run_keyed(state: &AppState, request: Request, next: Next) -> Result<Response, ApiError> {
    let key = parse_key(request.headers().get(KEY_HEADER))?;
    let (parts, body) = request.into_parts();
    let body = read_body(body, state.config.max_body_bytes).await?;
    let authorization = parts.headers.get(header::AUTHORIZATION);
    let scope: [u8; 32] = Sha256::digest(authorization.map_or(&b""[..], |v| v.as_bytes())).into();
    let mut hasher = Sha256::new();
    for part in [
        parts.method.as_str().as_bytes(),
        parts
            .uri
            .path_and_query()
            .map_or("/", |p| p.as_str())
            .as_bytes(),
        &body,
    ] {
        hasher.update((part.len() as u64).to_be_bytes());
        hasher.update(part);
    }
    let request_hash: [u8; 32] = hasher.finalize().into();
    let claim = store::Claim {
        scope: &scope,
        key: &key,
        request_hash: &request_hash,
        owner: Uuid::new_v4(),
        lease: state.config.request_timeout + LEASE_MARGIN,
        ttl: state.config.idempotency_key_ttl,
    };

    // A key released between the claim and the look is free again: take it on a second try.
    for _ in 0..3 {
        if store::claim(&state.db, &claim).await? {
            let held = Held {
                db: state.db.clone(),
                scope,
                key: key.clone(),
                owner: claim.owner,
                armed: true,
            };
            let request = Request::from_parts(parts, Body::from(body));
            return Ok(run_holding(held, request, next).await);
        }
        match store::existing(&state.db, &scope, &key).await? {
            None => continue,
            Some(first) if first.request_hash != request_hash => {
                return Err(ApiError::invalid(
                    "Idempotency-Key",
                    "was already used for a different request; use a new key for a new request",
                ));
            }
            Some(store::Existing {
                status: Some(status),
                headers,
                body,
                ..
            }) => {
                let headers = headers.map(|h| h.0).unwrap_or_default();
                return Ok(replay(status, headers, body.unwrap_or_default()));
            }
            Some(_) => {
                return Err(ApiError::conflict(
                    "a request with this Idempotency-Key is still in progress; retry it shortly",
                ));
            }
        }
    }
    Err(ApiError::conflict(
        "this Idempotency-Key is changing hands; retry the request shortly",
    ))
}

/// A key: printable ASCII, 1 to 255 characters.
fn parse_key(value: Option<&HeaderValue>) -> Result<String, ApiError> {
    let key = value
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|k| !k.is_empty() && k.len() <= MAX_KEY_CHARS && !k.contains('\t'));
    key.map(str::to_owned).ok_or_else(|| {
        ApiError::invalid(
            "Idempotency-Key",
            format!("must be 1 to {MAX_KEY_CHARS} printable ASCII characters"),
        )
    })
}

async fn read_body(body: Body, limit: usize) -> Result<axum::body::Bytes, ApiError> {
    axum::body::to_bytes(body, limit).await.map_err(|e| {
        let too_large = e
            .into_inner()
            .downcast_ref::<http_body_util::LengthLimitError>()
            .is_some();
        if too_large {
            ApiError::PayloadTooLarge("the request body is larger than this server accepts".into())
        } else {
            ApiError::BadRequest("the request body could not be read".into())
        }
    })
}

/// Whether a retry would get this answer again, so it may be stored. A 409 or 429 depends on
/// the moment, and a 5xx is the server's failure: those let the key go.
fn is_stored(status: StatusCode) -> bool {
    status.is_success()
        || (status.is_client_error()
            && status != StatusCode::CONFLICT
            && status != StatusCode::TOO_MANY_REQUESTS)
}

async fn run_holding(held: Held, request: Request, next: Next) -> Response {
    let response = next.run(request).await;
    let status = response.status();
    if !is_stored(status) {
        held.release().await;
        return response;
    }
    let (head, body) = response.into_parts();
    let body = match axum::body::to_bytes(body, MAX_STORED_BODY_BYTES).await {
        Ok(body) => body,
        Err(e) => {
            held.release().await;
            return ApiError::Internal(anyhow::anyhow!("reading a response to store it: {e}"))
                .into_response();
        }
    };
    let headers: Vec<(String, String)> = STORED_HEADERS
        .iter()
        .filter_map(|name| {
            let value = head.headers.get(name)?.to_str().ok()?;
            Some((name.as_str().to_owned(), value.to_owned()))
        })
        .collect();
    let stored = store::complete(
        &held.db,
        &held.scope,
        &held.key,
        held.owner,
        status.as_u16(),
        &headers,
        &body,
    )
    .await;
    match stored {
        Ok(true) => held.keep(),
        Ok(false) => {
            // Only when this request outlived its lease and another took the key over.
            tracing::warn!("an idempotency key changed hands before its response was stored");
            held.keep();
        }
        // The client still gets its answer; the key is let go, so a retry runs again.
        Err(e) => tracing::warn!(error = %e, "storing an idempotent response failed"),
    }
    Response::from_parts(head, Body::from(body))
}

fn replay(status: i16, headers: Vec<(String, String)>, body: Vec<u8>) -> Response {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() =
        StatusCode::from_u16(status as u16).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    for (name, value) in headers {
        if let (Ok(name), Ok(value)) = (
            HeaderName::try_from(name.as_str()),
            HeaderValue::try_from(value.as_str()),
        ) {
            response.headers_mut().insert(name, value);
        }
    }
    response
        .headers_mut()
        .insert(REPLAYED_HEADER, HeaderValue::from_static("true"));
    response
}

/// A claimed key. Let go when dropped still armed: the request was dropped mid-way (its
/// client went away, or it ran out of time), and a retry must be able to run again.
struct Held {
    db: PgPool,
    scope: [u8; 32],
    key: String,
    owner: Uuid,
    armed: bool,
}

impl Held {
    /// The response is stored: nothing to let go.
    fn keep(mut self) {
        self.armed = false;
    }

    /// Lets the key go now, so a retry runs again.
    async fn release(mut self) {
        self.armed = false;
        if let Err(e) = store::release(&self.db, &self.scope, &self.key, self.owner).await {
            // Its lease runs out instead.
            tracing::warn!(error = %e, "releasing an idempotency key failed");
        }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if !self.armed {
            return;
        }
        let (db, scope, key, owner) = (self.db.clone(), self.scope, self.key.clone(), self.owner);
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            runtime.spawn(async move {
                if let Err(e) = store::release(&db, &scope, &key, owner).await {
                    tracing::warn!(error = %e, "releasing an idempotency key failed");
                }
            });
        }
    }
}

/// Deletes expired keys every so often until `shutdown`. Nothing depends on it but the
/// table's size: an expired key is free to use again at once.
pub async fn purge_expired_keys(db: PgPool, ttl: Duration, shutdown: CancellationToken) {
    let interval = ttl.min(Duration::from_secs(600));
    crate::app::every(interval, shutdown, || async {
        match store::purge_expired(&db).await {
            Ok(0) => {}
            Ok(purged) => tracing::debug!(purged, "expired idempotency keys deleted"),
            Err(e) => tracing::warn!(error = %e, "deleting expired idempotency keys failed"),
        }
    })
    .await
}
