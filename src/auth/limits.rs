//! What one key or one address may cost: writes per second (tower_governor) and open event
//! streams.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::http::{HeaderValue, Method, Request, Response, header};
use axum::response::IntoResponse;
use tower_governor::GovernorError;
use tower_governor::key_extractor::KeyExtractor;
use uuid::Uuid;

use crate::error::ApiError;

/// The methods that write, and so are rate limited.
pub fn write_methods() -> Vec<Method> {
    vec![Method::POST, Method::PUT, Method::PATCH, Method::DELETE]
}

fn peer(req: &Request<impl Sized>) -> Option<IpAddr> {
    req.extensions()
        .get::<ConnectInfo<SocketAddr>>()
        .map(|ConnectInfo(addr)| addr.ip())
}

/// Limits per API key (by its public prefix); a request without a key counts against its
/// address.
#[derive(Debug, Clone, Copy)]
pub struct PerKey;

impl KeyExtractor for PerKey {
    type Key = String;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        let key = req
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(super::keys::bearer_key)
            .and_then(super::keys::prefix_of);
        Ok(match (key, peer(req)) {
            (Some(prefix), _) => format!("key:{prefix}"),
            (None, Some(ip)) => format!("address:{ip}"),
            (None, None) => "address:unknown".to_owned(),
        })
    }
}

/// Limits per client address.
#[derive(Debug, Clone, Copy)]
pub struct PerAddress;

impl KeyExtractor for PerAddress {
    type Key = String;

    fn extract<T>(&self, req: &Request<T>) -> Result<Self::Key, GovernorError> {
        Ok(peer(req).map_or_else(|| "unknown".to_owned(), |ip| ip.to_string()))
    }
}

/// A refusal of the rate limiter as problem+json, with `Retry-After`.
pub fn too_many_requests(error: GovernorError) -> Response<Body> {
    match error {
        GovernorError::TooManyRequests { wait_time, .. } => {
            let wait = Duration::from_secs(wait_time.max(1));
            let mut response = ApiError::TooManyRequests(format!(
                "too many writes; retry in {} s",
                wait.as_secs()
            ))
            .into_response();
            if let Ok(value) = HeaderValue::from_str(&wait.as_secs().to_string()) {
                response.headers_mut().insert(header::RETRY_AFTER, value);
            }
            response
        }
        other => {
            tracing::error!(error = %other, "the rate limiter failed");
            ApiError::Internal(anyhow::anyhow!("rate limiter: {other}")).into_response()
        }
    }
}

/// Event streams open per API key.
#[derive(Debug, Default)]
pub struct StreamCounts(Mutex<HashMap<Uuid, usize>>);

/// One open stream; closing it (dropping this) frees its place.
#[derive(Debug)]
pub struct StreamSlot {
    counts: Arc<StreamCounts>,
    key: Uuid,
}

impl StreamCounts {
    /// Takes a place for `key`, unless it already holds `max` streams.
    pub fn open(self: &Arc<Self>, key: Uuid, max: usize) -> Option<StreamSlot> {
        let mut open = self.0.lock().ok()?;
        let n = open.entry(key).or_default();
        if *n >= max {
            return None;
        }
        *n += 1;
        Some(StreamSlot {
            counts: self.clone(),
            key,
        })
    }
}

impl Drop for StreamSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.counts.0.lock()
            && let Some(n) = open.get_mut(&self.key)
        {
            *n = n.saturating_sub(1);
            if *n == 0 {
                open.remove(&self.key);
            }
        }
    }
}
