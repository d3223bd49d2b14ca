//! HTTP routes of LiveKit rooms.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::RoomParticipants;
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(room_participants))
}

/// Who is in a room now, asked live of LiveKit.
///
/// Only rooms warmline knows (a call's room or a transfer's briefing room).
#[utoipa::path(get, path = "/v1/rooms/{room}/participants", tag = "rooms",
    params(("room" = String, Path, description = "Room name")),
    responses(
        (status = 200, description = "The room's participants", body = RoomParticipants),
        (status = 404, description = "No call or transfer has this room", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "LiveKit could not be asked", body = Problem, content_type = "application/problem+json"),
    ))]
async fn room_participants(
    State(state): State<AppState>,
    Path(room): Path<String>,
) -> Result<Json<RoomParticipants>, ApiError> {
    Ok(Json(super::participants_of_known_room(&state, room).await?))
}
