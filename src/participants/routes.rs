//! HTTP routes of room participants.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{ParticipantsQuery, RoomParticipants};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(room_participants))
}

/// Who is in a room.
///
/// From warmline's records of LiveKit's webhooks: the sessions present now, or with
/// `include=history` every session with its join and leave times. `live=true` asks LiveKit
/// instead. Only rooms warmline knows (a call's room or a transfer's briefing room).
#[utoipa::path(get, path = "/v1/rooms/{room}/participants", tag = "rooms",
    params(("room" = String, Path, description = "Room name"), ParticipantsQuery),
    responses(
        (status = 200, description = "The room's participants", body = RoomParticipants),
        (status = 404, description = "No call or transfer has this room", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid options", body = Problem, content_type = "application/problem+json"),
        (status = 502, description = "LiveKit could not be asked (live=true)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn room_participants(
    State(state): State<AppState>,
    principal: Principal,
    Path(room): Path<String>,
    Query(query): Query<ParticipantsQuery>,
) -> Result<Json<RoomParticipants>, ApiError> {
    Ok(Json(super::of_room(&state, &principal, room, query).await?))
}
