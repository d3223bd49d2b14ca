//! One error type for every route, answered as RFC 9457 `application/problem+json`.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use utoipa::ToSchema;

/// SQLSTATE raised by the transfer state-machine trigger for a transition it does not allow.
pub const SQLSTATE_TRANSITION_REFUSED: &str = "WL001";
/// SQLSTATE raised when something tries to change an append-only record (events, summaries,
/// reviews, scorecards).
pub const SQLSTATE_APPEND_ONLY: &str = "WL002";

/// Seconds a client is told to wait (`Retry-After`) before retrying a 503: long enough for a
/// restarting database or a lost race to pass, short enough not to stall a live call.
pub const RETRY_AFTER_SECS: u64 = 2;

/// One problem with one input field.
#[derive(Debug, Clone, Serialize, ToSchema, PartialEq, Eq)]
pub struct FieldError {
    /// The field, as a JSON path (`segments[2].text`) or a query/path parameter name.
    #[schema(example = "caller_name")]
    pub field: String,
    /// What is wrong with it.
    #[schema(example = "must not be empty")]
    pub message: String,
}

impl FieldError {
    /// A problem with `field`.
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An RFC 9457 problem document.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "type": "/problems/validation-failed",
    "title": "The request is not valid",
    "status": 422,
    "detail": "1 field is not valid",
    "errors": [{"field": "caller_name", "message": "must not be empty"}]
}))]
pub struct Problem {
    /// A stable identifier of the kind of problem, for clients to branch on.
    #[serde(rename = "type")]
    pub kind: String,
    /// A short summary of the kind of problem.
    pub title: String,
    /// The HTTP status code.
    pub status: u16,
    /// What went wrong this time, for a human.
    pub detail: String,
    /// Per-field errors, on validation problems.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<FieldError>,
    /// On a refused transfer transition: the state the transfer is in now.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub current_state: Option<String>,
}

/// Everything a request can fail with.
#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("{resource} {id} not found")]
    NotFound { resource: &'static str, id: String },
    #[error("{0}")]
    NothingFound(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{detail}")]
    Conflict {
        detail: String,
        current_state: Option<String>,
    },
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    RequestTimeout(String),
    #[error("{0}")]
    TooManyRequests(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    RouteNotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Upstream(String),
    #[error("{0}")]
    Unavailable(String),
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    /// A 404 for a resource of the given kind.
    pub fn not_found(resource: &'static str, id: impl ToString) -> Self {
        Self::NotFound {
            resource,
            id: id.to_string(),
        }
    }

    /// A 409 that carries no state.
    pub fn conflict(detail: impl Into<String>) -> Self {
        Self::Conflict {
            detail: detail.into(),
            current_state: None,
        }
    }

    /// A 422 for a single field.
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self::Validation(vec![FieldError::new(field, message)])
    }

    /// The HTTP status this error is answered with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Validation(_) => StatusCode::UNPROCESSABLE_ENTITY,
            Self::NotFound { .. } | Self::NothingFound(_) | Self::RouteNotFound(_) => {
                StatusCode::NOT_FOUND
            }
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::Conflict { .. } => StatusCode::CONFLICT,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::RequestTimeout(_) => StatusCode::REQUEST_TIMEOUT,
            Self::TooManyRequests(_) => StatusCode::TOO_MANY_REQUESTS,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Upstream(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn kind_and_title(&self) -> (&'static str, &'static str) {
        match self {
            Self::BadRequest(_) => ("malformed-request", "The request could not be read"),
            Self::Validation(_) => ("validation-failed", "The request is not valid"),
            Self::NotFound { .. } | Self::NothingFound(_) => {
                ("not-found", "The resource does not exist")
            }
            Self::RouteNotFound(_) => ("no-such-route", "No such route"),
            Self::Unauthorized(_) => ("unauthorized", "Not authenticated"),
            Self::Forbidden(_) => ("forbidden", "Not allowed"),
            Self::Conflict { .. } => ("conflict", "The request conflicts with the current state"),
            Self::PayloadTooLarge(_) => ("payload-too-large", "The request body is too large"),
            Self::RequestTimeout(_) => ("request-timeout", "The request took too long"),
            Self::TooManyRequests(_) => ("too-many-requests", "Too many requests"),
            Self::UnsupportedMediaType(_) => (
                "unsupported-media-type",
                "The request body has the wrong content type",
            ),
            Self::MethodNotAllowed(_) => ("method-not-allowed", "Method not allowed"),
            Self::Upstream(_) => ("upstream-failed", "A service warmline depends on failed"),
            Self::Unavailable(_) => ("unavailable", "The service is not ready"),
            Self::Internal(_) => ("internal", "Internal server error"),
        }
    }

    /// The problem document for this error.
    pub fn to_problem(&self) -> Problem {
        let (kind, title) = self.kind_and_title();
        let (detail, errors, current_state) = match self {
            Self::Validation(errors) => {
                let n = errors.len();
                let detail = match errors.as_slice() {
                    [only] => format!("{}: {}", only.field, only.message),
                    _ => format!("{n} fields are not valid"),
                };
                (detail, errors.clone(), None)
            }
            Self::Conflict {
                detail,
                current_state,
            } => (detail.clone(), Vec::new(), current_state.clone()),
            // The cause of a 500 is logged, never shown.
            Self::Internal(_) => (
                "The server failed to handle the request; it has been logged.".into(),
                vec![],
                None,
            ),
            other => (other.to_string(), Vec::new(), None),
        };
        Problem {
            kind: format!("/problems/{kind}"),
            title: title.to_owned(),
            status: self.status().as_u16(),
            detail,
            errors,
            current_state,
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            // Logged once, inside the request span, with the whole chain of causes.
            tracing::error!(error = format!("{err:#}"), "request failed");
        }
        let status = self.status();
        let body = serde_json::to_vec(&self.to_problem()).unwrap_or_default();
        let mut response = (status, body).into_response();
        response.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/problem+json"),
        );
        if status == StatusCode::SERVICE_UNAVAILABLE {
            response
                .headers_mut()
                .insert(header::RETRY_AFTER, HeaderValue::from(RETRY_AFTER_SECS));
        }
        if status == StatusCode::UNAUTHORIZED {
            response.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"warmline\""),
            );
        }
        response
    }
}

/// Database errors the API can explain: named constraints and the triggers' SQLSTATEs.
/// Anything else is an internal error.
impl From<sqlx::Error> for ApiError {
    fn from(err: sqlx::Error) -> Self {
        match &err {
            sqlx::Error::RowNotFound => {
                return Self::Internal(
                    anyhow::Error::new(err).context("a row expected to exist is gone"),
                );
            }
            // The database is down or saturated: a retry later may work, so say so.
            sqlx::Error::PoolTimedOut
            | sqlx::Error::Io(_)
            | sqlx::Error::PoolClosed
            | sqlx::Error::WorkerCrashed => return database_unavailable(&err),
            _ => {}
        }
        if let Some(db) = err.as_database_error() {
            let code = db.code();
            let code = code.as_deref().unwrap_or_default();
            // A restart or failover of the server ends the queries in flight (57P01 admin
            // shutdown, 57P02 crash shutdown, 57P03 cannot connect now) or their connection
            // (class 08); 53300 is a server out of connection slots. A retry soon may work.
            if matches!(code, "57P01" | "57P02" | "57P03" | "53300") || code.starts_with("08") {
                return database_unavailable(&err);
            }
            // Class 22, data exception: a value the database cannot take (a NUL character,
            // a timestamp out of range, …) that no check before it caught. The client sent it.
            if code.starts_with("22") {
                tracing::warn!(error = %db, code, "the database refused a value from a request");
                return Self::invalid(
                    "request",
                    format!("holds a value the database cannot store: {}", db.message()),
                );
            }
            // Deadlock or serialization failure: the request did nothing and may be retried.
            if matches!(code, "40P01" | "40001") {
                tracing::warn!(error = %db, "a transaction lost a race; the client may retry");
                return Self::Unavailable(
                    "the request collided with a concurrent one; retry it".into(),
                );
            }
            if code == SQLSTATE_TRANSITION_REFUSED {
                // The trigger's message is "<from> -> <to>": keep both for the client.
                let message = db.message().to_owned();
                let current = message.split(" -> ").next().map(str::to_owned);
                return Self::Conflict {
                    detail: format!("transition refused: {message}"),
                    current_state: current,
                };
            }
            if code == SQLSTATE_APPEND_ONLY {
                return Self::conflict(format!("refused: {}", db.message()));
            }
            if let Some(mapped) = db.constraint().and_then(constraint_error) {
                return mapped;
            }
        }
        Self::Internal(anyhow::Error::new(err))
    }
}

fn database_unavailable(err: &sqlx::Error) -> ApiError {
    tracing::error!(error = %err, "the database is unavailable");
    ApiError::Unavailable("the database is unavailable; try again shortly".into())
}

/// The constraints a client can run into, and what to tell it.
fn constraint_error(constraint: &str) -> Option<ApiError> {
    let conflict = |detail: &str| Some(ApiError::conflict(detail));
    match constraint {
        "transfers_one_active_per_call" => conflict("the call already has an active transfer"),
        "transfers_briefing_room_key" | "calls_room_name_key" => {
            conflict("that room name is already in use")
        }
        "reviews_supersedes_key" | "reviews_superseded_by_key" => {
            conflict("that review has been revised already")
        }
        "scorecards_pkey" => {
            conflict("that scorecard version was just made by another request; retry")
        }
        "reviews_scorecard_fk" => Some(ApiError::invalid("scorecard", "no such scorecard version")),
        "reviews_segment_fk" => Some(ApiError::invalid(
            "segment_id",
            "not a segment of this call",
        )),
        "reviews_supersedes_fk" => Some(ApiError::invalid(
            "supersedes",
            "not a review of this transfer",
        )),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use std::borrow::Cow;

    use super::*;

    /// A database error with only a SQLSTATE, as the server would send it.
    #[derive(Debug)]
    struct Refused(&'static str);

    impl std::fmt::Display for Refused {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            write!(f, "refused with {}", self.0)
        }
    }

    impl std::error::Error for Refused {}

    impl sqlx::error::DatabaseError for Refused {
        fn message(&self) -> &str {
            "refused"
        }
        fn code(&self) -> Option<Cow<'_, str>> {
            Some(Cow::Borrowed(self.0))
        }
        fn as_error(&self) -> &(dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn as_error_mut(&mut self) -> &mut (dyn std::error::Error + Send + Sync + 'static) {
            self
        }
        fn into_error(self: Box<Self>) -> Box<dyn std::error::Error + Send + Sync + 'static> {
            self
        }
        fn kind(&self) -> sqlx::error::ErrorKind {
            sqlx::error::ErrorKind::Other
        }
    }

    fn status_of(code: &'static str) -> StatusCode {
        ApiError::from(sqlx::Error::Database(Box::new(Refused(code)))).status()
    }

    #[test]
    fn a_server_going_away_is_a_503_and_a_value_it_cannot_take_a_422() {
        for code in [
            "57P01", "57P02", "57P03", "08000", "08006", "08P01", "53300",
        ] {
            assert_eq!(status_of(code), StatusCode::SERVICE_UNAVAILABLE, "{code}");
        }
        for code in ["22P05", "22021", "22008", "22003", "22P02"] {
            assert_eq!(status_of(code), StatusCode::UNPROCESSABLE_ENTITY, "{code}");
        }
        assert_eq!(status_of("XX000"), StatusCode::INTERNAL_SERVER_ERROR);
        // A raw append-only refusal (the service checks first) is still the client's conflict.
        assert_eq!(status_of(SQLSTATE_APPEND_ONLY), StatusCode::CONFLICT);
        let pool = ApiError::from(sqlx::Error::PoolTimedOut);
        assert_eq!(pool.status(), StatusCode::SERVICE_UNAVAILABLE);
    }

    #[test]
    fn the_review_constraints_explain_themselves() {
        let status = |c: &str| constraint_error(c).map(|e| e.status());
        assert_eq!(status("reviews_supersedes_key"), Some(StatusCode::CONFLICT));
        assert_eq!(status("scorecards_pkey"), Some(StatusCode::CONFLICT));
        for c in [
            "reviews_scorecard_fk",
            "reviews_segment_fk",
            "reviews_supersedes_fk",
        ] {
            assert_eq!(status(c), Some(StatusCode::UNPROCESSABLE_ENTITY), "{c}");
        }
    }

    #[test]
    fn a_503_says_when_to_retry() {
        let response = ApiError::Unavailable("down".into()).into_response();
        assert_eq!(
            response.headers().get(header::RETRY_AFTER),
            Some(&HeaderValue::from(RETRY_AFTER_SECS))
        );
        let response = ApiError::conflict("no").into_response();
        assert!(response.headers().get(header::RETRY_AFTER).is_none());
    }
}
