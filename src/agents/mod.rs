//! Agents: who may hold a call or take part in a transfer.
//!
//! Only a registered, enabled agent can join a call as its agent or be either side of a
//! transfer, and a call's caller never can. In open mode an unknown identity is registered on
//! its first use, so the prototype's page works with no setup.

pub mod model;
pub mod routes;
pub mod store;

use sqlx::{PgConnection, PgPool};

use crate::auth::model::Principal;
use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;
use crate::pagination::{self, Page};
use model::{Agent, AgentListQuery, CreateAgent, MAX_SKILLS, UpdateAgent};
use store::{AgentChanges, AgentFilter, NewAgent};

const MAX_SKILL_CHARS: usize = 64;

fn parse_skills(skills: Vec<String>) -> Result<Vec<String>, String> {
    if skills.len() > MAX_SKILLS {
        return Err(format!("at most {MAX_SKILLS} skills"));
    }
    let mut parsed = Vec::with_capacity(skills.len());
    for skill in skills {
        let skill = bounded_text(&skill, MAX_SKILL_CHARS)?;
        if !parsed.contains(&skill) {
            parsed.push(skill);
        }
    }
    Ok(parsed)
}

/// Registers an agent.
pub async fn create(db: &PgPool, request: CreateAgent) -> Result<Agent, ApiError> {
    let mut v = Validator::default();
    let identity = v.check("identity", Identity::parse(&request.identity));
    let name = v.check_opt("display_name", request.display_name.as_deref(), |n| {
        bounded_text(n, MAX_NAME_CHARS)
    });
    let team = v.check_opt("team", request.team.as_deref(), |t| {
        bounded_text(t, MAX_NAME_CHARS)
    });
    let skills = v.check_opt("skills", request.skills, parse_skills);
    let (Some(identity), Some(name), Some(team), Some(skills)) = (identity, name, team, skills)
    else {
        return Err(v.into_error());
    };
    let mut tx = db.begin().await?;
    if crate::calls::store::is_caller_in_progress(&mut *tx, identity.as_str()).await? {
        return Err(ApiError::conflict(format!(
            "{identity} is the caller of a call in progress; a caller cannot be an agent"
        )));
    }
    if store::get(&mut *tx, identity.as_str()).await?.is_some() {
        return Err(ApiError::conflict(format!(
            "agent {identity} is already registered"
        )));
    }
    let agent = store::insert(
        &mut *tx,
        &NewAgent {
            display_name: name.unwrap_or_else(|| identity.to_string()),
            identity: identity.into_inner(),
            team,
            skills: skills.unwrap_or_default(),
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(agent = %agent.identity, "agent registered");
    Ok(agent)
}

/// One agent, or 404.
pub async fn get(db: &PgPool, identity: &str) -> Result<Agent, ApiError> {
    store::get(db, identity.trim())
        .await?
        .ok_or_else(|| ApiError::not_found("agent", identity))
}

/// A page of agents by identity.
pub async fn list(db: &PgPool, query: AgentListQuery) -> Result<Page<Agent>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<String> = pagination::decode_cursor(query.cursor.as_deref())?;
    let mut v = Validator::default();
    let team = v.check_opt("team", query.team.as_deref(), |t| {
        bounded_text(t, MAX_NAME_CHARS)
    });
    let skill = v.check_opt("skill", query.skill.as_deref(), |s| {
        bounded_text(s, MAX_SKILL_CHARS)
    });
    let (Some(team), Some(skill)) = (team, skill) else {
        return Err(v.into_error());
    };
    let filter = AgentFilter {
        team,
        skill,
        include_disabled: query.include_disabled.unwrap_or(false),
    };
    let rows = store::list(db, &filter, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |a| a.identity.clone()))
}

/// Changes an agent; disabling keeps its history and stops new calls and transfers.
pub async fn update(db: &PgPool, identity: &str, request: UpdateAgent) -> Result<Agent, ApiError> {
    let mut v = Validator::default();
    let display_name = v.check_opt("display_name", request.display_name.as_deref(), |n| {
        bounded_text(n, MAX_NAME_CHARS)
    });
    let team = v.check_opt("team", request.team.as_deref(), |t| {
        if t.trim().is_empty() {
            Ok(None)
        } else {
            bounded_text(t, MAX_NAME_CHARS).map(Some)
        }
    });
    let skills = v.check_opt("skills", request.skills, parse_skills);
    let (Some(display_name), Some(team), Some(skills)) = (display_name, team, skills) else {
        return Err(v.into_error());
    };
    let changes = AgentChanges {
        display_name,
        team,
        skills,
        disabled: request.disabled,
    };
    let agent = store::update(db, identity.trim(), &changes)
        .await?
        .ok_or_else(|| ApiError::not_found("agent", identity))?;
    tracing::info!(agent = %agent.identity, disabled = agent.disabled_at.is_some(), "agent updated");
    Ok(agent)
}

/// [`require_usable`] for several agents (identity, input field) at once: one lookup when
/// they are all registered, as they are but on their first use.
pub async fn require_all_usable(
    tx: &mut PgConnection,
    principal: &Principal,
    wanted: &[(&str, &str)],
    caller: &str,
) -> Result<(), ApiError> {
    for (identity, field) in wanted {
        check_not_caller(identity, caller, field)?;
    }
    let identities: Vec<&str> = wanted.iter().map(|(identity, _)| *identity).collect();
    let found = store::get_many(&mut *tx, &identities).await?;
    for (identity, field) in wanted {
        match found.iter().find(|a| a.identity == *identity) {
            Some(agent) => check_enabled(agent, identity, field)?,
            None => check_enabled(
                &first_use(tx, principal, identity, field).await?,
                identity,
                field,
            )?,
        }
    }
    Ok(())
}

/// Checks that `identity` may act as an agent on a call whose caller is `caller`: registered
/// (or, in open mode, registered now), enabled, and not the caller. `field` names the input.
pub async fn require_usable(
    tx: &mut PgConnection,
    principal: &Principal,
    identity: &str,
    caller: &str,
    field: &str,
) -> Result<Agent, ApiError> {
    check_not_caller(identity, caller, field)?;
    let agent = match store::get(&mut *tx, identity).await? {
        Some(agent) => agent,
        None => first_use(tx, principal, identity, field).await?,
    };
    check_enabled(&agent, identity, field)?;
    Ok(agent)
}

/// An identity no agent has yet: registered now in open mode (unless it is a caller's),
/// refused with a key.
async fn first_use(
    tx: &mut PgConnection,
    principal: &Principal,
    identity: &str,
    field: &str,
) -> Result<Agent, ApiError> {
    match principal {
        Principal::Open
            if crate::calls::store::is_caller_in_progress(&mut *tx, identity).await? =>
        {
            Err(ApiError::Forbidden(format!(
                "{field}: {identity} is the caller of a call in progress, and a caller is never an agent"
            )))
        }
        // Registered under the rule `create` applies to admins.
        Principal::Open => match store::register_on_first_use(&mut *tx, identity).await? {
            Some(agent) => Ok(agent),
            // A concurrent first use won; a new statement sees its committed row.
            None => store::get(&mut *tx, identity)
                .await?
                .ok_or_else(|| ApiError::not_found("agent", identity)),
        },
        Principal::Key(_) => Err(ApiError::Forbidden(format!(
            "{field}: {identity} is not a registered agent; an admin registers agents with POST /v1/agents"
        ))),
    }
}

fn check_not_caller(identity: &str, caller: &str, field: &str) -> Result<(), ApiError> {
    if identity == caller {
        return Err(ApiError::Forbidden(format!(
            "{field}: {identity} is this call's caller, and a caller is never an agent"
        )));
    }
    Ok(())
}

fn check_enabled(agent: &Agent, identity: &str, field: &str) -> Result<(), ApiError> {
    if agent.disabled_at.is_some() {
        return Err(ApiError::Forbidden(format!(
            "{field}: agent {identity} is disabled"
        )));
    }
    Ok(())
}
