//! HTTP routes of transfers.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{
    CreateTransfer, DeclineTransfer, Transfer, TransferAction, TransferListQuery, TransferReplay,
    TransferView, TransferWithToken,
};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, JsonOrEmpty, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_transfer))
        .routes(routes!(list_transfers))
        .routes(routes!(get_transfer))
        .routes(routes!(replay_transfer))
        .routes(routes!(accept_transfer))
        .routes(routes!(decline_transfer))
        .routes(routes!(cancel_transfer))
        .routes(routes!(complete_transfer))
}

/// Start a warm transfer of a call.
///
/// `from_agent` must be the call's current agent. Creates the briefing room (through the job
/// queue), starts the accept timer and answers with Agent A's token for the briefing room.
#[utoipa::path(post, path = "/v1/calls/{id}/transfers", tag = "transfers",
    params(("id" = Uuid, Path, description = "Call id")),
    request_body = CreateTransfer,
    responses(
        (status = 201, description = "The transfer and Agent A's briefing-room token", body = TransferWithToken,
         headers(("location" = String, description = "URL of the new transfer"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended, already has an active transfer, or from_agent is not its agent; or the room name is taken", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields (including a transfer to oneself)", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(request): Json<CreateTransfer>,
) -> Result<impl IntoResponse, ApiError> {
    let call = crate::calls::model::CallKey::Id(id);
    let created = super::create(&state, &principal, call, request, Default::default()).await?;
    let location = format!("/v1/transfers/{}", created.transfer.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    ))
}

/// List transfers, newest first.
#[utoipa::path(get, path = "/v1/transfers", tag = "transfers",
    params(TransferListQuery),
    responses(
        (status = 200, description = "A page of transfers", body = Page<Transfer>),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_transfers(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<TransferListQuery>,
) -> Result<Json<Page<Transfer>>, ApiError> {
    Ok(Json(super::list(&state.db, &principal, query).await?))
}

/// Get a transfer.
#[utoipa::path(get, path = "/v1/transfers/{id}", tag = "transfers",
    params(("id" = Uuid, Path, description = "Transfer id")),
    responses(
        (status = 200, description = "The transfer and its summary", body = TransferView),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<TransferView>, ApiError> {
    Ok(Json(super::view(&state.db, &principal, id).await?))
}

/// Agent B accepts: `initiated` → `briefing`, with Agent B's briefing-room token.
#[utoipa::path(post, path = "/v1/transfers/{id}/accept", tag = "transfers",
    params(("id" = Uuid, Path, description = "Transfer id")),
    request_body(content = Option<TransferAction>, description = "Optional: the accepting agent, checked against `to_agent`"),
    responses(
        (status = 200, description = "The transfer and Agent B's token", body = TransferWithToken),
        (status = 403, description = "The named agent is not the transfer's `to_agent`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in a state that can be accepted (`current_state` says which)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id or body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn accept_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    JsonOrEmpty(action): JsonOrEmpty<TransferAction>,
) -> Result<Json<TransferWithToken>, ApiError> {
    Ok(Json(super::accept(&state, &principal, id, action).await?))
}

/// Agent B declines: `initiated` → `declined`; the call stays with Agent A.
#[utoipa::path(post, path = "/v1/transfers/{id}/decline", tag = "transfers",
    params(("id" = Uuid, Path, description = "Transfer id")),
    request_body = DeclineTransfer,
    responses(
        (status = 200, description = "The declined transfer", body = Transfer),
        (status = 403, description = "The named agent is not the transfer's `to_agent`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in a state that can be declined", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id or body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn decline_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(request): Json<DeclineTransfer>,
) -> Result<Json<Transfer>, ApiError> {
    Ok(Json(super::decline(&state, &principal, id, request).await?))
}

/// Agent A cancels: `initiated` or `briefing` → `cancelled`; the call stays with Agent A.
#[utoipa::path(post, path = "/v1/transfers/{id}/cancel", tag = "transfers",
    params(("id" = Uuid, Path, description = "Transfer id")),
    request_body(content = Option<TransferAction>, description = "Optional: the cancelling agent (checked against `from_agent`) and a note"),
    responses(
        (status = 200, description = "The cancelled transfer", body = Transfer),
        (status = 403, description = "The named agent is not the transfer's `from_agent`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in a state that can be cancelled", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id or body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn cancel_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    JsonOrEmpty(action): JsonOrEmpty<TransferAction>,
) -> Result<Json<Transfer>, ApiError> {
    Ok(Json(super::cancel(&state, &principal, id, action).await?))
}

/// Agent A hands the caller to Agent B: `briefing` → `connecting`.
///
/// Answers with the token of whoever joins the final room: Agent B for the caller's room
/// (`agent_joins_caller`), or the caller for the briefing room (`move_caller`). The transfer
/// becomes `completed` once that side is seen in the room, and Agent A is then removed
/// (`consult`); `failed` if it is not seen within `HANDOFF_TIMEOUT_SECS`. With
/// `HANDOFF_CONFIRMATION=agent` it completes at once, recorded as unconfirmed.
#[utoipa::path(post, path = "/v1/transfers/{id}/complete", tag = "transfers",
    params(("id" = Uuid, Path, description = "Transfer id")),
    request_body(content = Option<TransferAction>, description = "Optional: the completing agent, checked against `from_agent`"),
    responses(
        (status = 200, description = "The transfer and the joining side's token", body = TransferWithToken),
        (status = 403, description = "The named agent is not the transfer's `from_agent`", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Not in `briefing` (for instance, completed already)", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id or body", body = Problem, content_type = "application/problem+json"),
    ))]
async fn complete_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    JsonOrEmpty(action): JsonOrEmpty<TransferAction>,
) -> Result<Json<TransferWithToken>, ApiError> {
    Ok(Json(
        super::complete(&state, &principal, id, action, Default::default()).await?,
    ))
}

/// Replay a transfer for QA, from the stored records alone.
///
/// Every state with its time and the phase durations; every summary written for it, and which
/// one Agent B had when the briefing began; the transcript up to the hand-off; the transfer's
/// events and who came and went in its rooms; and what LiveKit was asked to do.
#[utoipa::path(get, path = "/v1/transfers/{id}/replay", tag = "transfers",
    params(("id" = Uuid, Path, description = "Transfer id")),
    responses(
        (status = 200, description = "The transfer, replayed", body = TransferReplay),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
async fn replay_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<TransferReplay>, ApiError> {
    Ok(Json(super::replay(&state.db, &principal, id).await?))
}
