//! HTTP routes of `/v1/calls/{id}/timeline`.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{Event, TimelineQuery};
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(call_timeline))
}

/// A call's timeline: every recorded event in order.
///
/// Written by the database itself as rows change, and never updated or deleted.
#[utoipa::path(get, path = "/v1/calls/{id}/timeline", tag = "calls",
    params(("id" = Uuid, Path, description = "Call id"), TimelineQuery),
    responses(
        (status = 200, description = "A page of events, oldest first", body = Page<Event>),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn call_timeline(
    State(state): State<AppState>,
    Path(id): Path<Uuid>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<Page<Event>>, ApiError> {
    Ok(Json(super::timeline(&state.db, id, query).await?))
}
