//! HTTP routes of `/v1/calls/{id}/transcript`.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{AppendResult, AppendSegments, Segment, TranscriptQuery};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(append_transcript, read_transcript))
}

/// Append transcript segments.
///
/// Idempotent per `segment_id`: a retried batch stores nothing twice. Segments of an ended call
/// are accepted for a grace period (`TRANSCRIPT_GRACE_SECS`), then refused with 409.
#[utoipa::path(post, path = "/v1/calls/{id}/transcript", tag = "transcripts",
    params(("id" = Uuid, Path, description = "Call id")),
    request_body = AppendSegments,
    responses(
        (status = 200, description = "How many segments were stored", body = AppendResult),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call's transcript is closed", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid segments", body = Problem, content_type = "application/problem+json"),
    ))]
async fn append_transcript(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(request): Json<AppendSegments>,
) -> Result<Json<AppendResult>, ApiError> {
    Ok(Json(
        super::append(
            &state.db,
            &principal,
            id,
            state.config.transcript_grace,
            request,
        )
        .await?,
    ))
}

/// Read a call's transcript in spoken order.
#[utoipa::path(get, path = "/v1/calls/{id}/transcript", tag = "transcripts",
    params(("id" = Uuid, Path, description = "Call id"), TranscriptQuery),
    responses(
        (status = 200, description = "A page of segments", body = Page<Segment>),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn read_transcript(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(query): Query<TranscriptQuery>,
) -> Result<Json<Page<Segment>>, ApiError> {
    Ok(Json(super::list(&state.db, &principal, id, query).await?))
}
