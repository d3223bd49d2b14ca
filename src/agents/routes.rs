//! HTTP routes of `/v1/agents`.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Agent, AgentListQuery, CreateAgent, UpdateAgent};
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_agent, list_agents))
        .routes(routes!(get_agent, update_agent))
}

/// Register an agent.
///
/// Only a registered, enabled agent can hold a call or take part in a transfer. An identity
/// that is the caller of a call in progress cannot be registered.
#[utoipa::path(post, path = "/v1/agents", tag = "agents",
    request_body = CreateAgent,
    responses(
        (status = 201, description = "The agent", body = Agent,
         headers(("location" = String, description = "URL of the agent"))),
        (status = 409, description = "Already registered, or the identity is a caller's", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_agent(
    State(db): State<PgPool>,
    Json(request): Json<CreateAgent>,
) -> Result<impl IntoResponse, ApiError> {
    let agent = super::create(&db, request).await?;
    let location = format!("/v1/agents/{}", agent.identity);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(agent),
    ))
}

/// List agents by identity.
#[utoipa::path(get, path = "/v1/agents", tag = "agents",
    params(AgentListQuery),
    responses(
        (status = 200, description = "A page of agents", body = Page<Agent>),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_agents(
    State(db): State<PgPool>,
    Query(query): Query<AgentListQuery>,
) -> Result<Json<Page<Agent>>, ApiError> {
    Ok(Json(super::list(&db, query).await?))
}

/// Get an agent.
#[utoipa::path(get, path = "/v1/agents/{identity}", tag = "agents",
    params(("identity" = String, Path, description = "The agent's identity")),
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_agent(
    State(db): State<PgPool>,
    Path(identity): Path<String>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(super::get(&db, &identity).await?))
}

/// Change or disable an agent.
///
/// `disabled: true` keeps the agent's history but stops it taking calls and receiving
/// transfers; `false` enables it again.
#[utoipa::path(patch, path = "/v1/agents/{identity}", tag = "agents",
    params(("identity" = String, Path, description = "The agent's identity")),
    request_body = UpdateAgent,
    responses(
        (status = 200, description = "The agent", body = Agent),
        (status = 404, description = "No such agent", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields", body = Problem, content_type = "application/problem+json"),
    ))]
async fn update_agent(
    State(db): State<PgPool>,
    Path(identity): Path<String>,
    Json(request): Json<UpdateAgent>,
) -> Result<Json<Agent>, ApiError> {
    Ok(Json(super::update(&db, &identity, request).await?))
}
