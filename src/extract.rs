//! Extractors whose rejections are [`ApiError`]s, so a bad body, path or query string is
//! answered as problem+json like every other error.

use axum::extract::path::ErrorKind;
use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{FromRequest, FromRequestParts, RawPathParams, Request};
use axum::http::StatusCode;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::domain::{NUL_REFUSED, nul_in_json};
use crate::error::ApiError;

/// A JSON body in, a JSON body out. The body must be a JSON object.
#[derive(Debug, Clone, Copy, Default)]
pub struct Json<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequest<S> for Json<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        // axum checks the content type and reads the body; `object_body` does the rest.
        let axum::Json(value) = axum::Json::<serde_json::Value>::from_request(req, state)
            .await
            .map_err(json_rejection)?;
        object_body(value).map(Self)
    }
}

/// Reads a request body that was valid JSON into `T`: only a JSON object, and no NUL
/// character anywhere in it. serde would otherwise fill a struct from an array, field by
/// position, and Postgres refuses a NUL in any text.
fn object_body<T: DeserializeOwned>(value: serde_json::Value) -> Result<T, ApiError> {
    if !value.is_object() {
        return Err(ApiError::invalid("body", "must be a JSON object"));
    }
    if let Some(field) = nul_in_json(&value) {
        return Err(ApiError::invalid(field, NUL_REFUSED));
    }
    // serde_path_to_error names the field that failed, as axum's own extractor does.
    serde_path_to_error::deserialize(value).map_err(|e| {
        let field = e.path().to_string();
        let message = e.into_inner().to_string();
        match field.as_str() {
            "." | "" => ApiError::invalid("body", message),
            _ => ApiError::invalid(field, message),
        }
    })
}

impl<T: Serialize> IntoResponse for Json<T> {
    fn into_response(self) -> Response {
        axum::Json(self.0).into_response()
    }
}

fn json_rejection(rejection: JsonRejection) -> ApiError {
    match rejection {
        JsonRejection::JsonSyntaxError(e) => {
            ApiError::BadRequest(format!("the body is not valid JSON: {}", source_text(&e)))
        }
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "send the body as JSON with `Content-Type: application/json`".into(),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("the request body is larger than this server accepts".into())
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

fn source_text(e: &(dyn std::error::Error + 'static)) -> String {
    let mut inner: &dyn std::error::Error = e;
    while let Some(next) = inner.source() {
        inner = next;
    }
    inner.to_string()
}

/// Path parameters; a malformed one (say, not a UUID) is a 422 naming it.
#[derive(Debug)]
pub struct Path<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for Path<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Percent-decoded, a parameter may hold a NUL (`%00`), which no query can carry.
        if let Ok(raw) = RawPathParams::from_request_parts(parts, state).await
            && let Some((key, _)) = raw.iter().find(|(_, value)| value.contains('\0'))
        {
            return Err(ApiError::invalid(key, NUL_REFUSED));
        }
        match axum::extract::Path::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Path(value)) => Ok(Self(value)),
            Err(PathRejection::FailedToDeserializePathParams(e)) => Err(match e.kind() {
                ErrorKind::ParseErrorAtKey {
                    key,
                    value,
                    expected_type,
                } => ApiError::invalid(
                    key.as_str(),
                    format!("`{value}` is not a valid {}", friendly_type(expected_type)),
                ),
                ErrorKind::DeserializeError {
                    key,
                    value,
                    message,
                } => ApiError::invalid(key.as_str(), format!("`{value}` is not valid: {message}")),
                ErrorKind::ParseError {
                    value,
                    expected_type,
                } => {
                    // A lone parameter's error does not name it; the raw parameters do.
                    let raw = RawPathParams::from_request_parts(parts, state).await.ok();
                    let key = raw
                        .as_ref()
                        .and_then(|params| {
                            params
                                .iter()
                                .find(|(_, v)| v == value)
                                .map(|(k, _)| k.to_owned())
                        })
                        .unwrap_or_else(|| "path".to_owned());
                    ApiError::invalid(
                        key,
                        format!("`{value}` is not a valid {}", friendly_type(expected_type)),
                    )
                }
                _ => ApiError::invalid("path", e.body_text().trim_start_matches("Invalid URL: ")),
            }),
            Err(other) => Err(ApiError::Internal(anyhow::anyhow!(other.body_text()))),
        }
    }
}

fn friendly_type(rust_type: &str) -> &str {
    match rust_type.rsplit("::").next().unwrap_or(rust_type) {
        "Uuid" => "UUID",
        other => other,
    }
}

/// Query parameters; a malformed or unknown one is a 422 naming it.
#[derive(Debug)]
pub struct Query<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        // Percent-decoded, a parameter may hold a NUL (`%00`), which no query can carry.
        let query = parts.uri.query().unwrap_or_default();
        if let Some((key, _)) = url::form_urlencoded::parse(query.as_bytes())
            .find(|(key, value)| key.contains('\0') || value.contains('\0'))
        {
            return Err(ApiError::invalid(key.replace('\0', "\\u0000"), NUL_REFUSED));
        }
        match axum::extract::Query::<T>::from_request_parts(parts, state).await {
            Ok(axum::extract::Query(value)) => Ok(Self(value)),
            Err(QueryRejection::FailedToDeserializeQueryString(e)) => Err(ApiError::invalid(
                "query",
                e.body_text()
                    .trim_start_matches("Failed to deserialize query string: "),
            )),
            Err(other) => Err(ApiError::BadRequest(other.body_text())),
        }
    }
}

/// A JSON object that may also be left out entirely (an empty body, or `null`): then the
/// default value. For actions whose every field is optional.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonOrEmpty<T>(pub T);

impl<S: Send + Sync, T: DeserializeOwned + Default> FromRequest<S> for JsonOrEmpty<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        let is_json = req
            .headers()
            .get(axum::http::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split(';').next())
            .is_some_and(|media| {
                let media = media.trim();
                media == "application/json" || media.ends_with("+json")
            });
        let RawBody(bytes) = RawBody::from_request(req, state).await?;
        if bytes.is_empty() {
            return Ok(Self(T::default()));
        }
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "send the body as JSON with `Content-Type: application/json`".into(),
            ));
        }
        let axum::Json(value) =
            axum::Json::<serde_json::Value>::from_bytes(&bytes).map_err(json_rejection)?;
        // The spec documents these bodies as an object or `null`: `null` says "nothing".
        if value.is_null() {
            return Ok(Self(T::default()));
        }
        object_body(value).map(Self)
    }
}

/// The raw request body, for bodies that must be checked byte for byte (signed webhooks).
#[derive(Debug, Clone)]
pub struct RawBody(pub axum::body::Bytes);

impl<S: Send + Sync> FromRequest<S> for RawBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::body::Bytes::from_request(req, state).await {
            Ok(bytes) => Ok(Self(bytes)),
            Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
                Err(ApiError::PayloadTooLarge(
                    "the request body is larger than this server accepts".into(),
                ))
            }
            Err(e) => Err(ApiError::BadRequest(e.body_text())),
        }
    }
}
