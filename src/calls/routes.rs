//! HTTP routes of `/v1/calls`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{Call, CallHit, CreateCall};
use super::query::CallListParams;
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_call, list_calls))
        .routes(routes!(get_call))
        .routes(routes!(end_call))
}

/// Create a call.
///
/// The call gets a LiveKit room name of its own (`call_<id>`) and starts `waiting` for an agent.
#[utoipa::path(post, path = "/v1/calls", tag = "calls",
    request_body = CreateCall,
    responses(
        (status = 201, description = "The call", body = Call,
         headers(("location" = String, description = "URL of the new call"))),
        (status = 400, description = "Malformed JSON", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not JSON", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_call(
    State(state): State<AppState>,
    principal: Principal,
    Json(request): Json<CreateCall>,
) -> Result<impl IntoResponse, ApiError> {
    let call = super::create(&state, &principal, request).await?;
    let location = format!("/v1/calls/{}", call.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(call),
    ))
}

/// List calls, newest first.
///
/// With `q`, each hit carries a snippet of where it matched; with `sort=relevance` too, the
/// best matches come first.
#[utoipa::path(get, path = "/v1/calls", tag = "calls",
    params(CallListParams),
    responses(
        (status = 200, description = "A page of calls", body = Page<CallHit>),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_calls(
    State(state): State<AppState>,
    principal: Principal,
    Query(query): Query<CallListParams>,
) -> Result<Json<Page<CallHit>>, ApiError> {
    Ok(Json(
        super::list_hits(&state.db, &state.search_statistics, &principal, query).await?,
    ))
}

/// Get a call.
#[utoipa::path(get, path = "/v1/calls/{id}", tag = "calls",
    params(("id" = Uuid, Path, description = "Call id")),
    responses(
        (status = 200, description = "The call", body = Call),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_call(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Call>, ApiError> {
    Ok(Json(super::get(&state.db, &principal, id).await?))
}

/// End a call.
///
/// Idempotent: ending an ended call answers it unchanged. An active transfer of the call is
/// abandoned. Transcript segments are still accepted for the configured grace period.
#[utoipa::path(post, path = "/v1/calls/{id}/end", tag = "calls",
    params(("id" = Uuid, Path, description = "Call id")),
    responses(
        (status = 200, description = "The ended call", body = Call),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
async fn end_call(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
) -> Result<Json<Call>, ApiError> {
    Ok(Json(super::end(&state, &principal, id).await?))
}
