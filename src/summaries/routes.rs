//! HTTP routes of `/v1/calls/{id}/summaries`.

use axum::extract::State;
use axum::http::StatusCode;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{RegenerateSummary, RegeneratedSummary, Summary, SummaryListQuery};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, JsonOrEmpty, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(list_summaries, regenerate_summary))
}

/// A call's summaries and briefing scripts, newest first.
///
/// Every summary ever written stays: the local one written at once, and the model's when it
/// arrives (or the local one again, marked `fallback`, with the model's `error`).
#[utoipa::path(get, path = "/v1/calls/{id}/summaries", tag = "summaries",
    params(("id" = Uuid, Path, description = "Call id"), SummaryListQuery),
    responses(
        (status = 200, description = "A page of summaries", body = Page<Summary>),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_summaries(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(query): Query<SummaryListQuery>,
) -> Result<Json<Page<Summary>>, ApiError> {
    Ok(Json(super::list(&state.db, &principal, id, query).await?))
}

/// Summarize a call again (for instance when it ends).
///
/// Answers at once with a fresh local summary; when a model is configured, its summary is
/// added as a new row later (`upgrade_pending`), announced by a `summary.created` event.
#[utoipa::path(post, path = "/v1/calls/{id}/summaries", tag = "summaries",
    params(("id" = Uuid, Path, description = "Call id")),
    request_body(content = Option<RegenerateSummary>, description = "Optional: the transfer to attach the summary to"),
    responses(
        (status = 201, description = "The new local summary", body = RegeneratedSummary),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id or body (a transfer of another call)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn regenerate_summary(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    JsonOrEmpty(request): JsonOrEmpty<RegenerateSummary>,
) -> Result<(StatusCode, Json<RegeneratedSummary>), ApiError> {
    Ok((
        StatusCode::CREATED,
        Json(super::regenerate(&state, &principal, id, request).await?),
    ))
}
