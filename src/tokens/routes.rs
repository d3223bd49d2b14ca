//! HTTP routes for LiveKit tokens.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path};
use crate::livekit::model::{IssuedToken, JoinCall, TokenRequest};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(join_call))
        .routes(routes!(issue_token))
}

/// Join a call: a LiveKit token for the call's room.
///
/// A caller joins as the call's `caller_identity`. The first agent to join a `waiting` call
/// becomes its agent; afterwards only that agent (or the receiving agent of a hand-off under
/// way) may join. The token admits to that one room, with publish/subscribe/data rights only.
#[utoipa::path(post, path = "/v1/calls/{id}/join", tag = "tokens",
    params(("id" = Uuid, Path, description = "Call id")),
    request_body = JoinCall,
    responses(
        (status = 200, description = "A token for the call's room", body = IssuedToken),
        (status = 403, description = "The identity does not belong in this call", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id or body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn join_call(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(request): Json<JoinCall>,
) -> Result<Json<IssuedToken>, ApiError> {
    Ok(Json(
        super::for_call(&state, &principal, id, request).await?,
    ))
}

/// A token for the room of a call or a transfer.
///
/// Never for an arbitrary room name: the room follows from the call or transfer, and the
/// identity must belong there (see `POST /v1/calls/{id}/join` for calls; for a transfer, its
/// two agents, or the caller during a `move_caller` hand-off).
#[utoipa::path(post, path = "/v1/tokens", tag = "tokens",
    request_body = TokenRequest,
    responses(
        (status = 200, description = "A token for the room", body = IssuedToken),
        (status = 403, description = "The identity does not belong in that room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call or transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended, or the transfer is over", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid body (for instance both or neither of call_id and transfer_id)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn issue_token(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<TokenRequest>,
) -> Result<Json<IssuedToken>, ApiError> {
    Ok(Json(super::issue(&state, &principal, request).await?))
}
