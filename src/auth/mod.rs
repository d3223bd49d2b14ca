//! Access control: API keys with roles, the middleware that checks them on every route, and
//! open mode for local use.
//!
//! With no key in the database, warmline serves without auth when bound to a loopback
//! address (so `cargo run` and the prototype's page need no setup) or when `WARMLINE_AUTH=disabled`;
//! bound elsewhere it refuses to start open. Once a key exists, every route but health and
//! LiveKit's webhook needs one.

pub mod keys;
pub mod limits;
pub mod model;
pub mod policy;
pub mod routes;
pub mod store;

use axum::extract::{FromRequestParts, MatchedPath, Request, State};
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;
use crate::pagination::{self, Page};
use model::{ApiKey, ApiKeyListQuery, CreateApiKey, CreatedApiKey, Principal, Role};
use policy::Access;

/// Whether requests without a key are served: no key exists and the service is on loopback,
/// or auth is switched off.
pub fn is_open(state: &AppState) -> bool {
    state.config.auth.disabled || (!state.keys.has_keys() && state.config.bind.is_loopback())
}

/// Middleware: finds the route's rule, authenticates the key and checks its role; the handler
/// then receives the [`Principal`].
pub async fn authorize(
    State(state): State<AppState>,
    mut request: Request,
    next: Next,
) -> Response {
    let Some(route) = request.extensions().get::<MatchedPath>().cloned() else {
        // No route matched: the fallback answers 404 or 405.
        return next.run(request).await;
    };
    let method = match request.method() {
        &Method::HEAD => Method::GET,
        other => other.clone(),
    };
    let roles = match policy::access(&method, route.as_str()) {
        Some(Access::Public) => return next.run(request).await,
        Some(Access::Roles(roles)) => roles,
        None => {
            tracing::error!(route = route.as_str(), %method, "route has no access rule; refused");
            return ApiError::Forbidden("this route has no access rule".into()).into_response();
        }
    };
    let principal = match authenticate(&state, request.headers()).await {
        Ok(principal) => principal,
        Err(e) => return e.into_response(),
    };
    if let Some(role) = principal.role()
        && !roles.contains(&role)
    {
        let allowed: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        return ApiError::Forbidden(format!(
            "a {} key may not use this route; it needs one of: {}",
            role.as_str(),
            allowed.join(", ")
        ))
        .into_response();
    }
    request.extensions_mut().insert(principal);
    next.run(request).await
}

async fn authenticate(state: &AppState, headers: &HeaderMap) -> Result<Principal, ApiError> {
    if state.config.auth.disabled {
        return Ok(Principal::Open);
    }
    let Some(value) = headers.get(header::AUTHORIZATION) else {
        if is_open(state) {
            return Ok(Principal::Open);
        }
        return Err(ApiError::Unauthorized(
            "this route needs an API key: send `Authorization: Bearer <key>`".into(),
        ));
    };
    let key = keys::bearer_key(value).ok_or_else(|| {
        ApiError::Unauthorized("send the API key as `Authorization: Bearer <key>`".into())
    })?;
    state
        .keys
        .authenticate(&state.db, key)
        .await
        .map(Principal::Key)
}

impl<S: Send + Sync> FromRequestParts<S> for Principal {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _state: &S) -> Result<Self, Self::Rejection> {
        parts.extensions.get::<Principal>().cloned().ok_or_else(|| {
            ApiError::Internal(anyhow::anyhow!(
                "the route asks who is calling but the auth middleware did not run"
            ))
        })
    }
}

/// The agent identity an action is taken as: an agent key acts as its own identity (a body
/// naming another is refused); anyone else acts as the body says.
pub fn acting_agent(
    principal: &Principal,
    claimed: Option<&str>,
    field: &str,
) -> Result<Option<String>, ApiError> {
    let claimed = claimed
        .map(|c| Identity::parse(c).map_err(|m| ApiError::invalid(field, m)))
        .transpose()?;
    match (principal.agent(), claimed) {
        (Some(own), Some(claimed)) if claimed.as_str() != own => Err(ApiError::Forbidden(format!(
            "this key acts as agent {own} only, not as {claimed}"
        ))),
        (Some(own), _) => Ok(Some(own.to_owned())),
        (None, claimed) => Ok(claimed.map(Identity::into_inner)),
    }
}

/// Keeps the key cache true: drops it when a key changes (NOTIFY) and re-reads whether keys
/// exist every cache period, until `shutdown`.
pub async fn follow_key_changes(state: AppState, shutdown: CancellationToken) {
    let mut changes = state.signals.api_keys.subscribe();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = changes.changed() => if changed.is_err() { return },
            _ = tokio::time::sleep(state.keys.ttl()) => {}
        }
        let was_open = is_open(&state);
        match state.keys.refresh(&state.db).await {
            Ok(_) if was_open && !is_open(&state) => {
                tracing::info!("an API key exists now: every route needs one");
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "re-reading API keys failed"),
        }
    }
}

/// Creates an API key; the answer carries its secret, shown this once.
pub async fn create_key(db: &PgPool, request: CreateApiKey) -> Result<CreatedApiKey, ApiError> {
    let mut v = Validator::default();
    let agent = v.check_opt("agent", request.agent.as_deref(), Identity::parse);
    let label = v.check_opt("label", request.label.as_deref(), |l| {
        bounded_text(l, MAX_NAME_CHARS)
    });
    let (Some(agent), Some(label)) = (agent, label) else {
        return Err(v.into_error());
    };
    match (request.role, &agent) {
        (Role::Agent, None) => v.fail("agent", "an agent key must name the agent it acts as"),
        (Role::Agent, Some(_)) | (_, None) => {}
        (_, Some(_)) => v.fail("agent", "only agent keys are bound to an agent"),
    }
    v.finish()?;
    let mut tx = db.begin().await?;
    if let Some(agent) = &agent {
        let found = crate::agents::store::get(&mut *tx, agent.as_str()).await?;
        match found {
            None => {
                return Err(ApiError::invalid(
                    "agent",
                    format!("{agent} is not a registered agent; create it with POST /v1/agents"),
                ));
            }
            Some(a) if a.disabled_at.is_some() => {
                return Err(ApiError::invalid(
                    "agent",
                    format!("agent {agent} is disabled"),
                ));
            }
            Some(_) => {}
        }
    }
    let minted = keys::mint();
    let key = store::insert(
        &mut *tx,
        &store::NewKey {
            id: uuid::Uuid::now_v7(),
            prefix: &minted.prefix,
            secret_hash: &minted.hash,
            role: request.role,
            agent: agent.as_ref().map(Identity::as_str),
            label: label.as_deref(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(key_id = %key.id, prefix = %key.prefix, role = key.role.as_str(), "API key created");
    Ok(CreatedApiKey {
        key,
        secret: minted.secret,
    })
}

/// A page of API keys, newest first.
pub async fn list_keys(db: &PgPool, query: ApiKeyListQuery) -> Result<Page<ApiKey>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = pagination::decode_cursor(query.cursor.as_deref())?;
    let rows = store::list(db, query.include_revoked.unwrap_or(false), after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |k| (k.created_at, k.id)))
}

/// Revokes a key by id or prefix; every process stops accepting it at once.
pub async fn revoke_key(db: &PgPool, id_or_prefix: &str) -> Result<ApiKey, ApiError> {
    let wanted = id_or_prefix.trim();
    if wanted.is_empty() || wanted.contains('\0') {
        return Err(ApiError::invalid("id", "name a key by its id or prefix"));
    }
    let key = store::revoke(db, wanted)
        .await?
        .ok_or_else(|| ApiError::not_found("API key", wanted))?;
    tracing::info!(key_id = %key.id, prefix = %key.prefix, "API key revoked");
    Ok(key)
}
