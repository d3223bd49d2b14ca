//! HTTP routes of `/v1/api-keys` (admins only) and `/v1/access` (any key).

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{
    ApiKey, ApiKeyListQuery, CreateApiKey, CreatedApiKey, CurrentAccess, Principal,
};
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_key, list_keys))
        .routes(routes!(revoke_key))
        .routes(routes!(current_access))
}

/// Who the request acts as: its key's role and agent, or open mode.
///
/// Lets a client learn what its key is for (an agent key's identity, say) without listing
/// keys, and whether the service needs a key at all: without one, open mode answers 200 and
/// a service with keys 401.
#[utoipa::path(get, path = "/v1/access", tag = "access",
    responses((status = 200, description = "The request's access", body = CurrentAccess)))]
async fn current_access(principal: Principal) -> Json<CurrentAccess> {
    Json(CurrentAccess::from(&principal))
}

/// Create an API key.
///
/// The answer is the only time the key's secret is shown: only its hash is stored. An `agent`
/// key names the registered agent it acts as; other roles name none. The first key ends open
/// mode: from then on every route needs a key.
#[utoipa::path(post, path = "/v1/api-keys", tag = "access",
    request_body = CreateApiKey,
    responses(
        (status = 201, description = "The key, with its secret", body = CreatedApiKey,
         headers(("location" = String, description = "URL of the key"))),
        (status = 422, description = "Invalid role, agent or label", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_key(
    State(db): State<PgPool>,
    Json(request): Json<CreateApiKey>,
) -> Result<impl IntoResponse, ApiError> {
    let created = super::create_key(&db, request).await?;
    let location = format!("/v1/api-keys/{}", created.key.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(created),
    ))
}

/// List API keys, newest first (never their secrets).
#[utoipa::path(get, path = "/v1/api-keys", tag = "access",
    params(ApiKeyListQuery),
    responses(
        (status = 200, description = "A page of keys", body = Page<ApiKey>),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_keys(
    State(db): State<PgPool>,
    Query(query): Query<ApiKeyListQuery>,
) -> Result<Json<Page<ApiKey>>, ApiError> {
    Ok(Json(super::list_keys(&db, query).await?))
}

/// Revoke an API key.
///
/// Every replica stops accepting it within a moment. Revoking a revoked key answers it
/// unchanged. The key stays listed (with `include_revoked=true`) for the record.
#[utoipa::path(delete, path = "/v1/api-keys/{id}", tag = "access",
    params(("id" = String, Path, description = "The key's id or prefix")),
    responses(
        (status = 200, description = "The revoked key", body = ApiKey),
        (status = 404, description = "No such key", body = Problem, content_type = "application/problem+json"),
    ))]
async fn revoke_key(
    State(db): State<PgPool>,
    Path(id): Path<String>,
) -> Result<Json<ApiKey>, ApiError> {
    Ok(Json(super::revoke_key(&db, &id).await?))
}
