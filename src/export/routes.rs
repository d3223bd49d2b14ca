//! HTTP routes of exports: `/v1/calls/{id}/export` and `/v1/calls/export`.

use axum::body::Body;
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{CallExport, ExportLine, ExportQuery};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};

/// The media type of an NDJSON export.
const NDJSON: &str = "application/x-ndjson";

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(export_call))
        .routes(routes!(export_calls))
}

/// Export a call.
///
/// Everything stored about the call in one document: the call, its whole transcript, each
/// transfer with its replay, summaries, the session history of its rooms, reviews (current
/// and superseded) and its timeline, read in one snapshot.
#[utoipa::path(get, path = "/v1/calls/{id}/export", tag = "calls",
    params(("id" = Uuid, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call's export document", body = CallExport),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_call(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<CallExport>, ApiError> {
    Ok(Json(super::call(&state.db, &principal, id).await?))
}

/// Export calls as NDJSON.
///
/// The calls the call list would show for these filters, newest first, one export document
/// (as `GET /v1/calls/{id}/export`) per line, streamed from the database in batches. The last
/// line is `{"exported": n, "next_cursor": …}`: pass `next_cursor` as `cursor` to export the
/// rest; it is `null` when nothing is left. A response without that line was cut short:
/// retry from the previous cursor. Calls created during a walk are newer than it; load them
/// with `created_after`.
#[utoipa::path(get, path = "/v1/calls/export", tag = "calls",
    params(ExportQuery),
    responses(
        (status = 200, description = "One JSON document per line, then the closing line", body = ExportLine, content_type = "application/x-ndjson"),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn export_calls(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<ExportQuery>,
) -> Result<Response, ApiError> {
    let lines = super::stream(
        state.db.clone(),
        state.search_statistics.clone(),
        principal,
        query,
    )
    .await?;
    Ok(([(header::CONTENT_TYPE, NDJSON)], Body::from_stream(lines)).into_response())
}
