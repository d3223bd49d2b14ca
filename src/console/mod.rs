//! The web console: static pages for callers, agents and supervisors, embedded in the binary
//! and served at `/console`.
//!
//! The pages use only the public `/v1` API and its event stream, as a third-party frontend
//! would, so they are served like `/docs`: outside the API's access rules (each API call
//! carries its own key) and outside the OpenAPI document, which describes the API.

use std::sync::{Arc, OnceLock};

use axum::Router;
use axum::extract::Path;
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sha2::{Digest, Sha256};

use crate::error::ApiError;

/// One embedded file of the console.
struct Asset {
    /// Its path under `/console/`.
    path: &'static str,
    content_type: &'static str,
    body: &'static [u8],
}

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        Asset {
            path: $path,
            content_type: $content_type,
            body: include_bytes!(concat!("../../console/", $path)),
        }
    };
}

const HTML: &str = "text/html; charset=utf-8";
const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";
const SVG: &str = "image/svg+xml";

/// Every file the console serves; anything else under `/console/` is a 404.
const ASSETS: &[Asset] = &[
    asset!("index.html", HTML),
    asset!("style.css", CSS),
    asset!("icon.svg", SVG),
    asset!("app.js", JS),
    asset!("api.js", JS),
    asset!("dom.js", JS),
    asset!("events.js", JS),
    asset!("audio.js", JS),
    asset!("charts.js", JS),
    asset!("caller.js", JS),
    asset!("agent.js", JS),
    asset!("supervisor.js", JS),
    // The pinned livekit-client build; loaded only when someone joins the audio.
    asset!("vendor/livekit-client.esm.mjs", JS),
];

/// The console's routes: `/console`, `/console/` (the page) and `/console/{file}`.
/// `livekit_url` is the LiveKit server the pages' audio connects to, which the content
/// security policy must let them reach.
pub fn router<S: Clone + Send + Sync + 'static>(livekit_url: &str) -> Router<S> {
    let policy: Arc<str> = content_security_policy(livekit_url).into();
    let index = {
        let policy = policy.clone();
        move |headers: HeaderMap| {
            let policy = policy.clone();
            async move { serve("index.html", &headers, &policy) }
        }
    };
    let file = move |Path(path): Path<String>, headers: HeaderMap| {
        let policy = policy.clone();
        async move { serve(&path, &headers, &policy) }
    };
    Router::new()
        .route("/console", get(index.clone()))
        .route("/console/", get(index))
        .route("/console/{*path}", get(file))
}

/// Scripts and styles from the console itself only (no inline code), API calls to this
/// origin, and the audio's signalling to LiveKit (over WebSocket, and HTTP for its checks).
fn content_security_policy(livekit_url: &str) -> String {
    let mut connect = vec!["'self'".to_owned()];
    if let Ok(url) = url::Url::parse(livekit_url)
        && let Some(host) = url.host_str()
    {
        let port = url.port().map(|p| format!(":{p}")).unwrap_or_default();
        let (ws, http) = match url.scheme() {
            "wss" | "https" => ("wss", "https"),
            _ => ("ws", "http"),
        };
        connect.push(format!("{ws}://{host}{port}"));
        connect.push(format!("{http}://{host}{port}"));
    }
    format!(
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
         media-src 'self' blob: mediastream:; connect-src {}; base-uri 'none'; \
         form-action 'none'; frame-ancestors 'none'",
        connect.join(" ")
    )
}

/// The entity tag of each asset, by its place in [`ASSETS`]: computed once.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.body);
                let hex: String = digest[..12].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

fn serve(path: &str, request: &HeaderMap, policy: &str) -> Response {
    let Some(at) = ASSETS.iter().position(|a| a.path == path) else {
        return ApiError::not_found("console file", path).into_response();
    };
    let asset = &ASSETS[at];
    let etag = &etags()[at];
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let mut response = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(
                header::CONTENT_TYPE,
                HeaderValue::from_static(asset.content_type),
            )],
            asset.body,
        )
            .into_response()
    };
    let headers = response.headers_mut();
    // Revalidated on every load (cheaply, by ETag): a new binary brings new files under the
    // same names.
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    if let Ok(etag) = HeaderValue::from_str(etag) {
        headers.insert(header::ETAG, etag);
    }
    if let Ok(policy) = HeaderValue::from_str(policy) {
        headers.insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_lets_the_audio_reach_livekit_and_nothing_else() {
        let policy = content_security_policy("wss://lk.example.com");
        assert!(policy.contains("connect-src 'self' wss://lk.example.com https://lk.example.com;"));
        let policy = content_security_policy("ws://127.0.0.1:7880");
        assert!(policy.contains("ws://127.0.0.1:7880 http://127.0.0.1:7880;"));
        assert!(content_security_policy("not a url").contains("connect-src 'self';"));
    }
}
