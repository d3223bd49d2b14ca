//! The prototype's routes, at the root path. Deprecated in favour of `/v1`.
#![allow(deprecated)]

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::*;
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(root))
        .routes(routes!(health))
        .routes(routes!(token_by_query, token_by_body))
        .routes(routes!(start_call))
        .routes(routes!(latest_call))
        .routes(routes!(active_calls))
        .routes(routes!(get_call))
        .routes(routes!(join_call))
        .routes(routes!(end_call))
        .routes(routes!(summarize))
        .routes(routes!(create_transfer))
        .routes(routes!(create_call_transfer))
        .routes(routes!(get_transfer))
        .routes(routes!(active_transfers))
        .routes(routes!(complete_transfer))
        .routes(routes!(complete_transfer_by_path))
        .routes(routes!(caller_transfer_status))
        .routes(routes!(agent_transfer_status))
        .routes(routes!(report_room_participants))
        .routes(routes!(room_participants))
        .routes(routes!(rooms_participants))
}

const TAG: &str = "prototype-compatible";

/// Service banner.
#[deprecated = "use /healthz"]
#[utoipa::path(get, path = "/", tag = TAG, responses((status = 200, description = "Running", body = ServiceInfo)))]
async fn root() -> Json<ServiceInfo> {
    Json(super::service_info())
}

/// Health, as the prototype reported it.
#[deprecated = "use /healthz and /readyz"]
#[utoipa::path(get, path = "/health", tag = TAG, responses((status = 200, description = "Healthy", body = PrototypeHealth)))]
async fn health(State(state): State<AppState>) -> Json<PrototypeHealth> {
    Json(super::health(&state))
}

/// A token for a room (query parameters).
///
/// Scoped as on `/v1`: the room must belong to a call or transfer, and the identity to it.
///
/// The one GET that can change state, kept because the prototype's page relies on it: the
/// first agent to ask for a waiting call's room takes the call. On `/v1` taking a call is
/// explicit, with `POST /v1/calls/{id}/join`.
#[deprecated = "use POST /v1/tokens"]
#[utoipa::path(get, path = "/token", tag = TAG, params(RoomTokenRequest),
    responses(
        (status = 200, description = "The token", body = PrototypeToken),
        (status = 403, description = "The identity does not belong in that room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No call or transfer has this room", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended or moved, or the transfer is over", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid identity or room", body = Problem, content_type = "application/problem+json"),
    ))]
async fn token_by_query(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<RoomTokenRequest>,
) -> Result<Json<PrototypeToken>, ApiError> {
    let token = super::room_token(&state, &principal, q).await;
    // Agent B's token for the briefing room accepts the transfer: a GET that writes.
    state.signals.wrote();
    Ok(Json(token?))
}

/// A token for a room (JSON body).
#[deprecated = "use POST /v1/tokens"]
#[utoipa::path(post, path = "/token", tag = TAG, request_body = RoomTokenRequest,
    responses(
        (status = 200, description = "The token", body = PrototypeToken),
        (status = 403, description = "The identity does not belong in that room", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No call or transfer has this room", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended or moved, or the transfer is over", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid identity or room", body = Problem, content_type = "application/problem+json"),
    ))]
async fn token_by_body(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<RoomTokenRequest>,
) -> Result<Json<PrototypeToken>, ApiError> {
    Ok(Json(super::room_token(&state, &principal, body).await?))
}

/// Start a call: its room, the caller's token and an Agent A seat token.
#[deprecated = "use POST /v1/calls and POST /v1/calls/{id}/join"]
#[utoipa::path(post, path = "/call/start", tag = TAG, request_body = StartCall,
    responses(
        (status = 200, description = "The call", body = StartedCall),
        (status = 422, description = "Invalid caller details", body = Problem, content_type = "application/problem+json"),
    ))]
async fn start_call(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<StartCall>,
) -> Result<Json<StartedCall>, ApiError> {
    Ok(Json(super::start_call(&state, &principal, body).await?))
}

/// The newest call in progress.
#[deprecated = "use GET /v1/calls?limit=1"]
#[utoipa::path(get, path = "/calls/latest", tag = TAG,
    responses(
        (status = 200, description = "The newest call not ended", body = LatestCall),
        (status = 404, description = "No call in progress", body = Problem, content_type = "application/problem+json"),
    ))]
async fn latest_call(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<LatestCall>, ApiError> {
    Ok(Json(super::latest_call(&state, &principal).await?))
}

/// Calls in progress (the newest 200).
#[deprecated = "use GET /v1/calls"]
#[utoipa::path(get, path = "/calls/active", tag = TAG, responses((status = 200, description = "Calls not ended", body = ActiveCalls)))]
async fn active_calls(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ActiveCalls>, ApiError> {
    Ok(Json(super::active_calls(&state, &principal).await?))
}

/// A call.
#[deprecated = "use GET /v1/calls/{id}"]
#[utoipa::path(get, path = "/call/{call_id}", tag = TAG, params(("call_id" = String, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call", body = PrototypeCall),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_call(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PrototypeCall>, ApiError> {
    Ok(Json(super::get_call(&state, &principal, &id).await?))
}

/// A token for a call's room.
#[deprecated = "use POST /v1/calls/{id}/join"]
#[utoipa::path(post, path = "/call/{call_id}/join", tag = TAG, params(("call_id" = String, Path, description = "Call id")),
    request_body = JoinCallRequest,
    responses(
        (status = 200, description = "The token", body = PrototypeToken),
        (status = 403, description = "The identity does not belong in this call", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No identity, or an invalid one or role", body = Problem, content_type = "application/problem+json"),
    ))]
async fn join_call(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<JoinCallRequest>,
) -> Result<Json<PrototypeToken>, ApiError> {
    Ok(Json(super::join_call(&state, &principal, &id, body).await?))
}

/// End a call.
#[deprecated = "use POST /v1/calls/{id}/end"]
#[utoipa::path(post, path = "/call/end", tag = TAG, request_body = EndCall,
    responses(
        (status = 200, description = "Ended", body = CallEnded),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No call_id", body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_call(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<EndCall>,
) -> Result<Json<CallEnded>, ApiError> {
    Ok(Json(super::end_call(&state, &principal, body).await?))
}

/// Summarize a transcript (stored on the call when `call_id` is given).
#[deprecated = "use POST /v1/calls/{id}/transcript and POST /v1/calls/{id}/summaries"]
#[utoipa::path(post, path = "/summarize", tag = TAG, request_body = Summarize,
    responses(
        (status = 200, description = "The summary as text", body = Summarized),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call's transcript is closed", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Empty or over-long transcript", body = Problem, content_type = "application/problem+json"),
    ))]
async fn summarize(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<Summarize>,
) -> Result<Json<Summarized>, ApiError> {
    Ok(Json(super::summarize(&state, &principal, body).await?))
}

/// Start a transfer (query parameters only, as in the prototype).
///
/// The briefing room is `new_room` when valid and free (else warmline names it and returns it
/// as `transfer_room`); it becomes the caller's final room (`move_caller`).
#[deprecated = "use POST /v1/calls/{id}/transfers"]
#[utoipa::path(post, path = "/transfer", tag = TAG, params(TransferQuery),
    responses(
        (status = 200, description = "The transfer", body = TransferCreated),
        (status = 403, description = "Agent A may not take the call", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "original_room is no call's room", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended or already has an active transfer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "A required parameter is missing or invalid", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Query(q): Query<TransferQuery>,
) -> Result<Json<TransferCreated>, ApiError> {
    Ok(Json(
        super::create_transfer_by_room(&state, &principal, q).await?,
    ))
}

/// Start a transfer of a call.
#[deprecated = "use POST /v1/calls/{id}/transfers"]
#[utoipa::path(post, path = "/call/{call_id}/transfer", tag = TAG, params(("call_id" = String, Path, description = "Call id")),
    request_body = CallTransfer,
    responses(
        (status = 200, description = "The transfer", body = TransferCreated),
        (status = 403, description = "Agent A may not take the call", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The call has ended or already has an active transfer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Missing or invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_call_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
    Json(body): Json<CallTransfer>,
) -> Result<Json<TransferCreated>, ApiError> {
    let call = crate::calls::model::CallKey::Id(super::call_id(&id)?);
    let agent_a = body.agent_a.unwrap_or_else(|| "agent_a".into());
    let transcript = body.transcript.unwrap_or_default();
    Ok(Json(
        super::create_transfer(
            &state,
            &principal,
            call,
            &agent_a,
            &body.agent_b,
            &transcript,
            body.new_room.as_deref(),
        )
        .await?,
    ))
}

/// A transfer.
#[deprecated = "use GET /v1/transfers/{id}"]
#[utoipa::path(get, path = "/transfer/{transfer_id}", tag = TAG, params(("transfer_id" = String, Path, description = "Transfer id")),
    responses(
        (status = 200, description = "The transfer", body = PrototypeTransfer),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<PrototypeTransfer>, ApiError> {
    Ok(Json(super::get_transfer(&state, &principal, &id).await?))
}

/// Transfers waiting for Agent B or in their briefing.
#[deprecated = "use GET /v1/transfers?active=true"]
#[utoipa::path(get, path = "/transfers/active", tag = TAG, responses((status = 200, description = "Transfers", body = ActiveTransfers)))]
async fn active_transfers(
    State(state): State<AppState>,
    principal: Principal,
) -> Result<Json<ActiveTransfers>, ApiError> {
    Ok(Json(super::active_transfers(&state, &principal).await?))
}

/// Hand the caller over (accepting first when nobody has).
#[deprecated = "use POST /v1/transfers/{id}/complete"]
#[utoipa::path(post, path = "/transfer/complete", tag = TAG, request_body = CompleteTransfer,
    responses(
        (status = 200, description = "The caller's token for the final room", body = TransferCompleted),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already handed over, or over", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "No transfer_id", body = Problem, content_type = "application/problem+json"),
    ))]
async fn complete_transfer(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<CompleteTransfer>,
) -> Result<Json<TransferCompleted>, ApiError> {
    Ok(Json(
        super::complete_transfer(&state, &principal, &body.transfer_id).await?,
    ))
}

/// Hand the caller over (path form).
#[deprecated = "use POST /v1/transfers/{id}/complete"]
#[utoipa::path(post, path = "/transfer/{transfer_id}/complete", tag = TAG, params(("transfer_id" = String, Path, description = "Transfer id")),
    responses(
        (status = 200, description = "The caller's token for the final room", body = TransferCompleted),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Already handed over, or over", body = Problem, content_type = "application/problem+json"),
    ))]
async fn complete_transfer_by_path(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<String>,
) -> Result<Json<TransferCompleted>, ApiError> {
    Ok(Json(
        super::complete_transfer(&state, &principal, &id).await?,
    ))
}

/// The caller's poll: has the caller been handed over, and where to?
#[deprecated = "use GET /v1/transfers?call_id=… and POST /v1/tokens"]
#[utoipa::path(get, path = "/caller/{caller_name}/transfer-status", tag = TAG, params(("caller_name" = String, Path, description = "Caller name")),
    responses((status = 200, description = "The status (with the caller's final-room token once handed over)", body = CallerTransferStatus)))]
async fn caller_transfer_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<CallerTransferStatus>, ApiError> {
    Ok(Json(super::caller_status(&state, &principal, &name).await?))
}

/// Agent B's poll: has the caller been handed over, and where to?
#[deprecated = "use GET /v1/transfers?to_agent=… and POST /v1/tokens"]
#[utoipa::path(get, path = "/agent/{agent_name}/transfer-status", tag = TAG, params(("agent_name" = String, Path, description = "Agent B's name or identity")),
    responses((status = 200, description = "The status (with Agent B's final-room token once handed over)", body = AgentTransferStatus)))]
async fn agent_transfer_status(
    State(state): State<AppState>,
    principal: Principal,
    Path(name): Path<String>,
) -> Result<Json<AgentTransferStatus>, ApiError> {
    Ok(Json(super::agent_status(&state, &principal, &name).await?))
}

/// Record a client's view of a room (kept beside LiveKit's, never over it).
#[deprecated = "LiveKit's webhooks keep room membership; see GET /v1/rooms/{room}/participants"]
#[utoipa::path(post, path = "/room/participants", tag = TAG, request_body = RoomReport,
    responses(
        (status = 200, description = "Recorded", body = RoomReported),
        (status = 404, description = "No call or transfer has this room", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid identities", body = Problem, content_type = "application/problem+json"),
    ))]
async fn report_room_participants(
    State(state): State<AppState>,
    principal: Principal,
    Json(body): Json<RoomReport>,
) -> Result<Json<RoomReported>, ApiError> {
    Ok(Json(super::report_room(&state, &principal, body).await?))
}

/// Who is in a room (identities; empty for an unknown room).
#[deprecated = "use GET /v1/rooms/{room}/participants"]
#[utoipa::path(get, path = "/room/{room_name}/participants", tag = TAG, params(("room_name" = String, Path, description = "Room name")),
    responses((status = 200, description = "Identities present", body = RoomMembers)))]
async fn room_participants(
    State(state): State<AppState>,
    principal: Principal,
    Path(room): Path<String>,
) -> Result<Json<RoomMembers>, ApiError> {
    Ok(Json(super::room_members(&state, &principal, &room).await?))
}

/// Who is in a room (the README's spelling).
#[deprecated = "use GET /v1/rooms/{room}/participants"]
#[utoipa::path(get, path = "/rooms/{room_name}/participants", tag = TAG, params(("room_name" = String, Path, description = "Room name")),
    responses((status = 200, description = "Identities present", body = RoomMembers)))]
async fn rooms_participants(
    State(state): State<AppState>,
    principal: Principal,
    Path(room): Path<String>,
) -> Result<Json<RoomMembers>, ApiError> {
    Ok(Json(super::room_members(&state, &principal, &room).await?))
}
