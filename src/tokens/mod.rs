//! Scoped LiveKit tokens: an identity gets a room only if the records say it belongs there.
//!
//! A caller gets its call's current room; an agent gets the room of a call it handles (the
//! first agent to join a waiting call takes it), the caller's room while it receives a
//! hand-off, or the briefing room of a transfer it is part of. Never an arbitrary room.

pub mod routes;

use sqlx::PgConnection;
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::model::{Principal, Role};
use crate::calls::model::{Call, CallStatus};
use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::{ApiError, FieldError};
use crate::livekit::model::{IssuedToken, JoinCall, TokenRequest, TokenRole};
use crate::transfers::model::{Handoff, Transfer, TransferState};

/// A token for the room of a call.
pub async fn for_call(
    state: &AppState,
    principal: &Principal,
    call_id: Uuid,
    request: JoinCall,
) -> Result<IssuedToken, ApiError> {
    let (identity, name) = parse_identity(&request.identity, request.name.as_deref())?;
    check_requester(principal, &identity, request.role)?;
    let mut tx = state.db.begin().await?;
    let call = crate::calls::store::lock(&mut tx, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    check_frontend_owns(principal, call.created_by)?;
    if call.status == CallStatus::Ended {
        return Err(ApiError::conflict("the call has ended"));
    }
    let room = call_room_for(&mut tx, principal, &call, &identity, request.role).await?;
    tx.commit().await?;
    let display = name.unwrap_or_else(|| match request.role {
        TokenRole::Caller => call.caller_name.clone(),
        TokenRole::Agent => identity.to_string(),
    });
    let metadata = serde_json::json!({"role": request.role, "call_id": call.id});
    Ok(state
        .livekit
        .mint(identity.as_str(), &display, &room, &metadata)?)
}

/// The caller's token for a call its request has just created: its own room, with nothing to
/// look up (the call is new, so no transfer has moved it).
pub fn for_new_caller(state: &AppState, call: &Call) -> Result<IssuedToken, ApiError> {
    let metadata = serde_json::json!({"role": TokenRole::Caller, "call_id": call.id});
    Ok(state.livekit.mint(
        &call.caller_identity,
        &call.caller_name,
        &call.room_name,
        &metadata,
    )?)
}

/// Which room of `call` the identity may join, claiming a waiting call for the first agent.
async fn call_room_for(
    tx: &mut PgConnection,
    principal: &Principal,
    call: &Call,
    identity: &Identity,
    role: TokenRole,
) -> Result<String, ApiError> {
    let current_room = crate::rooms::current_caller_room(&mut *tx, call).await?;
    match role {
        TokenRole::Caller if identity.as_str() == call.caller_identity => Ok(current_room),
        TokenRole::Caller => Err(ApiError::Forbidden(format!(
            "{identity} is not this call's caller; callers join as their call's caller_identity"
        ))),
        TokenRole::Agent => {
            if call.current_agent.as_deref() == Some(identity.as_str()) {
                return Ok(current_room);
            }
            if call.current_agent.is_none() && call.status == CallStatus::Waiting {
                crate::agents::require_usable(
                    tx,
                    principal,
                    identity.as_str(),
                    &call.caller_identity,
                    "identity",
                )
                .await?;
                crate::calls::store::set_status(
                    &mut *tx,
                    call.id,
                    CallStatus::Active,
                    Some(identity.as_str()),
                )
                .await?;
                tracing::info!(call_id = %call.id, agent = %identity, "agent took the call");
                return Ok(current_room);
            }
            // The receiving agent of a hand-off under way joins the caller's room.
            let active = crate::transfers::store::lock_active_for_call(tx, call.id).await?;
            match active {
                Some(t)
                    if t.to_agent == identity.as_str()
                        && t.state == TransferState::Connecting
                        && t.handoff == Handoff::AgentJoinsCaller =>
                {
                    Ok(t.caller_room)
                }
                _ => Err(ApiError::Forbidden(format!(
                    "agent {identity} is not on this call"
                ))),
            }
        }
    }
}

/// A token for the briefing room of a transfer.
pub async fn for_transfer(
    state: &AppState,
    principal: &Principal,
    transfer_id: Uuid,
    identity: &Identity,
    name: Option<String>,
    role: TokenRole,
) -> Result<IssuedToken, ApiError> {
    check_requester(principal, identity, role)?;
    let transfer = crate::transfers::store::get(&state.db, transfer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer", transfer_id))?;
    check_briefing_open(&transfer)?;
    let allowed = match role {
        TokenRole::Agent => is_side(&transfer, identity),
        TokenRole::Caller => {
            // Only a `move_caller` hand-off brings the caller into the briefing room.
            let call = crate::calls::store::get(&state.db, transfer.call_id)
                .await?
                .ok_or_else(|| ApiError::not_found("call", transfer.call_id))?;
            check_frontend_owns(principal, call.created_by)?;
            call.caller_identity == identity.as_str()
                && transfer.handoff == Handoff::MoveCaller
                && transfer.state == TransferState::Connecting
        }
    };
    if !allowed {
        return Err(ApiError::Forbidden(format!(
            "{identity} may not join the briefing room of this transfer"
        )));
    }
    mint_briefing(state, &transfer, identity, name, role)
}

/// An agent's token for the briefing room of a transfer the request already holds.
pub fn for_briefing(
    state: &AppState,
    principal: &Principal,
    transfer: &Transfer,
    agent: &str,
) -> Result<IssuedToken, ApiError> {
    let identity = Identity::parse(agent).map_err(|m| ApiError::invalid("agent", m))?;
    check_requester(principal, &identity, TokenRole::Agent)?;
    check_briefing_open(transfer)?;
    if !is_side(transfer, &identity) {
        return Err(ApiError::Forbidden(format!(
            "{identity} may not join the briefing room of this transfer"
        )));
    }
    mint_briefing(state, transfer, &identity, None, TokenRole::Agent)
}

/// The caller's token once a transfer has handed it over (`connecting` or `completed`), from
/// the call and transfer the request already holds: the room the caller is to be in now.
pub fn for_caller_after_handoff(
    state: &AppState,
    principal: &Principal,
    caller: &crate::transfers::store::CallersTransfer,
) -> Result<IssuedToken, ApiError> {
    let transfer = &caller.transfer;
    let identity =
        Identity::parse(&caller.caller_identity).map_err(|m| ApiError::invalid("caller", m))?;
    check_requester(principal, &identity, TokenRole::Caller)?;
    check_frontend_owns(principal, caller.call_created_by)?;
    let room = match (transfer.state, transfer.handoff) {
        (TransferState::Connecting, Handoff::MoveCaller) => {
            return mint_briefing(state, transfer, &identity, None, TokenRole::Caller);
        }
        (TransferState::Connecting, Handoff::AgentJoinsCaller) => &transfer.caller_room,
        (TransferState::Completed, _) => transfer
            .final_room
            .as_ref()
            .unwrap_or(&transfer.caller_room),
        (state, _) => {
            return Err(ApiError::Conflict {
                detail: format!(
                    "the transfer is {}; it has not handed the caller over",
                    state.as_str()
                ),
                current_state: Some(state.as_str().to_owned()),
            });
        }
    };
    let metadata = serde_json::json!({"role": TokenRole::Caller, "call_id": transfer.call_id});
    Ok(state
        .livekit
        .mint(identity.as_str(), &caller.caller_name, room, &metadata)?)
}

fn is_side(transfer: &Transfer, identity: &Identity) -> bool {
    [&transfer.from_agent, &transfer.to_agent].contains(&&identity.to_string())
}

fn check_briefing_open(transfer: &Transfer) -> Result<(), ApiError> {
    if transfer.state.is_terminal() {
        return Err(ApiError::Conflict {
            detail: format!(
                "the transfer is {}; its briefing room is closed",
                transfer.state.as_str()
            ),
            current_state: Some(transfer.state.as_str().to_owned()),
        });
    }
    Ok(())
}

fn mint_briefing(
    state: &AppState,
    transfer: &Transfer,
    identity: &Identity,
    name: Option<String>,
    role: TokenRole,
) -> Result<IssuedToken, ApiError> {
    let role_name = match role {
        TokenRole::Caller => "caller",
        TokenRole::Agent => "agent",
    };
    let display = name.unwrap_or_else(|| identity.to_string());
    let metadata = crate::transfers::token_metadata(role_name, transfer);
    Ok(state.livekit.mint(
        identity.as_str(),
        &display,
        &transfer.briefing_room,
        &metadata,
    )?)
}

/// A token for whatever the request names: a call's room or a transfer's briefing room.
pub async fn issue(
    state: &AppState,
    principal: &Principal,
    request: TokenRequest,
) -> Result<IssuedToken, ApiError> {
    match (request.call_id, request.transfer_id) {
        (Some(call_id), None) => {
            let join = JoinCall {
                identity: request.identity,
                role: request.role,
                name: request.name,
            };
            for_call(state, principal, call_id, join).await
        }
        (None, Some(transfer_id)) => {
            let (identity, name) = parse_identity(&request.identity, request.name.as_deref())?;
            for_transfer(state, principal, transfer_id, &identity, name, request.role).await
        }
        _ => Err(ApiError::Validation(vec![FieldError::new(
            "call_id",
            "give exactly one of call_id and transfer_id",
        )])),
    }
}

/// An agent key gets agent tokens for its own identity only; a frontend key caller tokens only.
fn check_requester(
    principal: &Principal,
    identity: &Identity,
    role: TokenRole,
) -> Result<(), ApiError> {
    match (principal.role(), role) {
        (Some(Role::Agent), TokenRole::Agent) => match principal.agent() {
            Some(own) if own == identity.as_str() => Ok(()),
            own => Err(ApiError::Forbidden(format!(
                "this key gets tokens for agent {} only, not for {identity}",
                own.unwrap_or("?")
            ))),
        },
        (Some(Role::Agent), TokenRole::Caller) => Err(ApiError::Forbidden(
            "an agent key gets agent tokens only".into(),
        )),
        (Some(Role::Frontend), TokenRole::Agent) => Err(ApiError::Forbidden(
            "a frontend key gets caller tokens only".into(),
        )),
        _ => Ok(()),
    }
}

/// A frontend key gets tokens only for the calls it started.
fn check_frontend_owns(principal: &Principal, created_by: Option<Uuid>) -> Result<(), ApiError> {
    match principal.frontend() {
        Some(key) if created_by != Some(key) => Err(ApiError::Forbidden(
            "this key did not start this call".into(),
        )),
        _ => Ok(()),
    }
}

fn parse_identity(
    identity: &str,
    name: Option<&str>,
) -> Result<(Identity, Option<String>), ApiError> {
    let mut v = Validator::default();
    let identity = v.check("identity", Identity::parse(identity));
    let name = v.check_opt("name", name, |n| bounded_text(n, MAX_NAME_CHARS));
    let (Some(identity), Some(name)) = (identity, name) else {
        return Err(v.into_error());
    };
    Ok((identity, name))
}
