//! Liveness, readiness and metrics.

use std::time::Duration;

use axum::extract::State;
use serde::Serialize;
use utoipa::ToSchema;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::Json;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Readiness details.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    #[schema(example = "ready")]
    status: &'static str,
    /// `true`: every migration this binary carries has been applied.
    migrations_current: bool,
}

/// Is the process up?
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// How long readiness waits for the database. Load balancers probe with short timeouts (often
/// 1 s), and a probe that times out tells them less than a 503 does.
const READINESS_DEADLINE: Duration = Duration::from_millis(800);

/// Can the service do its work: database reachable and migrations current?
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Database unreachable or migrations missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let check = tokio::time::timeout(READINESS_DEADLINE, crate::db::migrations_current(&state.db));
    match check.await {
        Ok(Ok(true)) => Ok(Json(Readiness {
            status: "ready",
            migrations_current: true,
        })),
        Ok(Ok(false)) => Err(ApiError::Unavailable(
            "migrations are not all applied; run `warmline migrate`".into(),
        )),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            Err(ApiError::Unavailable(
                "the database is not reachable".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(format!(
            "the database did not answer within {} ms",
            READINESS_DEADLINE.as_millis()
        ))),
    }
}

/// Prometheus metrics.
///
/// Requests by route and status, request durations, job runs by kind and outcome, webhook
/// deliveries by event and result, and (read at scrape time) transfers by state and jobs by
/// status. All prefixed `warmline_`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "The Prometheus text exposition", content_type = "text/plain; version=0.0.4", body = String),
        (status = 503, description = "The database could not be read", body = Problem, content_type = "application/problem+json"),
    ))]
async fn metrics(
    State(state): State<AppState>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let text = state.metrics.render(&state.db).await.map_err(|e| {
        tracing::warn!(error = format!("{e:#}"), "rendering metrics failed");
        ApiError::Unavailable("metrics could not be read from the database".into())
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
