//! The prototype's API, served unchanged over warmline's real services.
//!
//! Thin adapters: each route translates the prototype's shapes to a `/v1` service call (same
//! rows, same state machine, same jobs, same summaries). Where the prototype was vague:
//! - identities follow its conventions: Agent B is `agent_b_<name>` (a bare name typed by
//!   Agent A gets the prefix), and the agent who transfers is the call's own agent;
//! - a transfer is a `move_caller` hand-off into the briefing room, the prototype's flow, and
//!   completing one nobody accepted yet accepts it first (the prototype had no accept step);
//! - a caller name means that caller's most recent call; an agent name, its most recent
//!   transfer whose call is not over;
//! - tokens are exactly as scoped as on `/v1`: an unknown room is 404, a stranger 403.

pub mod model;
pub mod routes;

use uuid::Uuid;

use crate::app::AppState;
use crate::auth::model::Principal;
use crate::calls::model::{Call, CallKey, CallOverview, CallStatus, CreateCall};
use crate::domain::{Identity, bounded_text};
use crate::error::ApiError;
use crate::livekit::model::{IssuedToken, JoinCall, TokenRole};
use crate::summaries::model::Summary;
use crate::transcripts::model::SpeakerRole;
use crate::transfers::model::{
    CreateTransfer, Handoff, TransferAction, TransferMode, TransferOverview, TransferState,
};
use model::*;

/// How many rows the prototype's unpaginated lists return at most.
const LIST_LIMIT: i64 = 200;

fn call_id(raw: &str) -> Result<Uuid, ApiError> {
    // The prototype's ids are opaque strings: one that is not ours is simply not found.
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::not_found("call", raw))
}

fn transfer_id(raw: &str) -> Result<Uuid, ApiError> {
    Uuid::parse_str(raw.trim()).map_err(|_| ApiError::not_found("transfer", raw))
}

/// Agent B's identity as the prototype's page uses it.
fn agent_b_identity(typed: &str) -> String {
    let typed = typed.trim();
    if typed.starts_with("agent_b_") {
        typed.to_owned()
    } else {
        format!("agent_b_{typed}")
    }
}

fn call_status(status: CallStatus) -> &'static str {
    match status {
        CallStatus::Waiting => "initiated",
        CallStatus::Active => "active",
        CallStatus::Transferring => "transferring",
        CallStatus::Ended => "ended",
    }
}

/// The prototype called a transfer done once the caller had its token: from `connecting` on.
fn transfer_status(state: TransferState) -> &'static str {
    match state {
        TransferState::Connecting | TransferState::Completed => "completed",
        other => other.as_str(),
    }
}

fn handed_over(state: TransferState) -> bool {
    matches!(state, TransferState::Connecting | TransferState::Completed)
}

fn text_of(summary: &Option<Summary>) -> (String, String) {
    summary
        .as_ref()
        .map(|s| (s.summary_text.clone(), s.briefing_script.clone()))
        .unwrap_or_default()
}

fn prototype_token(issued: IssuedToken) -> PrototypeToken {
    PrototypeToken {
        token: issued.token,
        url: issued.url,
        identity: issued.identity,
        room: issued.room,
    }
}

/// `GET /` and `GET /health`.
pub fn service_info() -> ServiceInfo {
    ServiceInfo {
        message:
            "warmline: warm transfers over LiveKit (prototype-compatible API; see /docs for /v1)"
                .into(),
        version: env!("CARGO_PKG_VERSION").into(),
        status: "running".into(),
        timestamp: chrono::Utc::now(),
    }
}

/// `GET /health`.
pub fn health(state: &AppState) -> PrototypeHealth {
    PrototypeHealth {
        status: "healthy".into(),
        livekit_configured: !state.config.livekit.api_key.is_empty(),
        llm_configured: state.summarizer.is_some(),
    }
}

/// `GET /token`, `POST /token`: a token for a room of a call or transfer the identity belongs to.
pub async fn room_token(
    state: &AppState,
    principal: &Principal,
    request: RoomTokenRequest,
) -> Result<PrototypeToken, ApiError> {
    let identity =
        Identity::parse(&request.identity).map_err(|m| ApiError::invalid("identity", m))?;
    let room = request.room.trim();
    let crate::rooms::RoomOwner {
        call_id,
        transfer_id,
    } = crate::rooms::owner(&state.db, room)
        .await?
        .ok_or_else(|| ApiError::not_found("room", room))?;
    let call = crate::calls::get(&state.db, principal, call_id).await?;
    let role = if identity.as_str() == call.caller_identity {
        TokenRole::Caller
    } else {
        TokenRole::Agent
    };
    let current = crate::rooms::current_caller_room(&state.db, &call).await?;
    let issued = if room == current {
        let join = JoinCall {
            identity: identity.to_string(),
            role,
            name: None,
        };
        crate::tokens::for_call(state, principal, call_id, join).await?
    } else if let Some(transfer_id) = transfer_id {
        // Agent B asking for the briefing room is the page's "Join Briefing": it accepts.
        let transfer = crate::transfers::get(&state.db, principal, transfer_id).await?;
        let accepted = if role == TokenRole::Agent
            && identity.as_str() == transfer.to_agent
            && transfer.state == TransferState::Initiated
        {
            let action = TransferAction {
                agent: Some(identity.to_string()),
                ..Default::default()
            };
            // Accepted meanwhile by another request of the page: then a plain token.
            match crate::transfers::accept(state, principal, transfer_id, action).await {
                Ok(accepted) => accepted.token,
                Err(ApiError::Conflict { .. }) => None,
                Err(e) => return Err(e),
            }
        } else {
            None
        };
        match accepted {
            Some(token) => token,
            None => {
                crate::tokens::for_transfer(state, principal, transfer_id, &identity, None, role)
                    .await?
            }
        }
    } else {
        return Err(ApiError::conflict(format!(
            "the call has moved to room {current}"
        )));
    };
    Ok(prototype_token(issued))
}

/// `POST /call/{call_id}/join`.
pub async fn join_call(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
    request: JoinCallRequest,
) -> Result<PrototypeToken, ApiError> {
    let id = call_id(raw_id)?;
    let call = crate::calls::get(&state.db, principal, id).await?;
    let (identity, by_agent_name) = match (request.identity, request.agent_name) {
        (Some(identity), _) => (identity, false),
        (None, Some(agent)) => (agent, true),
        (None, None) => {
            return Err(ApiError::invalid(
                "identity",
                "give `identity` or `agent_name`",
            ));
        }
    };
    let role = match request.role.as_deref() {
        Some("caller") => TokenRole::Caller,
        Some("agent") => TokenRole::Agent,
        Some(other) => {
            return Err(ApiError::invalid(
                "role",
                format!("`{other}` is not `caller` or `agent`"),
            ));
        }
        None if !by_agent_name && identity.trim() == call.caller_identity => TokenRole::Caller,
        None => TokenRole::Agent,
    };
    let issued = crate::tokens::for_call(
        state,
        principal,
        id,
        JoinCall {
            identity,
            role,
            name: None,
        },
    )
    .await?;
    Ok(prototype_token(issued))
}

/// `POST /call/start`.
pub async fn start_call(
    state: &AppState,
    principal: &Principal,
    request: StartCall,
) -> Result<StartedCall, ApiError> {
    let info = request.caller_info.unwrap_or_default();
    let name = request
        .caller_name
        .or(info.name)
        .filter(|n| !n.trim().is_empty())
        .unwrap_or_else(|| format!("caller_{}", &Uuid::new_v4().simple().to_string()[..8]));
    let create = CreateCall {
        caller_name: name,
        caller_identity: None,
        caller_phone: info.phone.filter(|p| !p.trim().is_empty()),
        issue: info.issue.filter(|i| !i.trim().is_empty()),
        metadata: Some(serde_json::Map::from_iter([(
            "source".to_owned(),
            "prototype".into(),
        )])),
    };
    let call = crate::calls::create(state, principal, create).await?;
    let caller = crate::tokens::for_new_caller(state, &call)?;
    // The prototype handed out an Agent A token with the call. It is for the unnamed seat
    // `agent_a`, in this call's room only; the call still goes to the first agent who joins.
    // A frontend key gets caller tokens only, so it gets no seat.
    let agent_a_token = if principal.is_admin() {
        let seat = serde_json::json!({"role": "agent", "call_id": call.id, "seat": "agent_a"});
        state
            .livekit
            .mint("agent_a", "agent_a", &call.room_name, &seat)?
            .token
    } else {
        String::new()
    };
    Ok(StartedCall {
        call_id: call.id.to_string(),
        room_name: call.room_name,
        caller_token: caller.token,
        agent_a_token,
        livekit_url: caller.url,
        status: "initiated".into(),
    })
}

/// `GET /calls/latest`: the newest call not yet ended.
pub async fn latest_call(state: &AppState, principal: &Principal) -> Result<LatestCall, ApiError> {
    let call = crate::calls::latest_open(&state.db, principal)
        .await?
        .ok_or_else(|| ApiError::NothingFound("there is no call in progress".into()))?;
    Ok(LatestCall {
        call_id: call.id.to_string(),
        room_name: call.room_name,
        caller_name: call.caller_name,
        status: call_status(call.status).into(),
        created_at: call.created_at,
    })
}

fn prototype_call(overview: CallOverview) -> PrototypeCall {
    let call = overview.call;
    let active_from = overview
        .transfer_from
        .filter(|_| overview.transfer_active == Some(true));
    PrototypeCall {
        call_id: call.id.to_string(),
        room_name: call.room_name,
        caller_info: CallerInfo {
            name: Some(call.caller_name.clone()),
            phone: call.caller_phone,
            issue: call.issue,
        },
        caller_name: call.caller_name,
        agent_a: active_from.or(call.current_agent),
        agent_b: overview.transfer_to,
        status: call_status(call.status).into(),
        created_at: call.created_at,
        transcript: overview.transcript.unwrap_or_default(),
        ended_at: call.ended_at,
    }
}

/// `GET /calls/active`.
pub async fn active_calls(
    state: &AppState,
    principal: &Principal,
) -> Result<ActiveCalls, ApiError> {
    let active_calls = crate::calls::open_overviews(&state.db, principal, LIST_LIMIT)
        .await?
        .into_iter()
        .map(prototype_call)
        .collect();
    Ok(ActiveCalls { active_calls })
}

/// `GET /call/{call_id}`.
pub async fn get_call(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
) -> Result<PrototypeCall, ApiError> {
    let overview = crate::calls::overview(&state.db, principal, call_id(raw_id)?).await?;
    Ok(prototype_call(overview))
}

/// `POST /call/end`.
pub async fn end_call(
    state: &AppState,
    principal: &Principal,
    request: EndCall,
) -> Result<CallEnded, ApiError> {
    let call = crate::calls::end(state, principal, call_id(&request.call_id)?).await?;
    Ok(CallEnded {
        status: "call_ended".into(),
        call_id: call.id.to_string(),
    })
}

/// `POST /summarize`: with a known call, the transcript is stored and summarized with it.
pub async fn summarize(
    state: &AppState,
    principal: &Principal,
    request: Summarize,
) -> Result<Summarized, ApiError> {
    let text = bounded_text(
        &request.transcript,
        crate::transcripts::model::MAX_SEGMENT_CHARS,
    )
    .map_err(|m| ApiError::invalid("transcript", m))?;
    let Some(raw_id) = request.call_id.filter(|id| !id.trim().is_empty()) else {
        // No call to attach it to: summarize the text alone, store nothing.
        let info = request.caller_info.unwrap_or_default();
        let input = crate::summaries::SummaryInput {
            caller_name: info.name.unwrap_or_else(|| "the caller".into()),
            caller_phone: info.phone,
            issue: info.issue,
            turns: vec![crate::summaries::Turn {
                speaker: "transcript".into(),
                role: SpeakerRole::Caller,
                text,
            }],
            ..Default::default()
        };
        return Ok(Summarized {
            summary: crate::summaries::extractive::summarize(&input).to_text(),
        });
    };
    let id = call_id(&raw_id)?;
    let call = crate::calls::get(&state.db, principal, id).await?;
    let speaker = call
        .current_agent
        .clone()
        .unwrap_or_else(|| "agent_a".into());
    crate::transcripts::append_typed(
        &state.db,
        principal,
        id,
        state.config.transcript_grace,
        &speaker,
        SpeakerRole::Agent,
        &text,
    )
    .await?;
    let fresh = crate::summaries::regenerate(state, principal, id, Default::default()).await?;
    Ok(Summarized {
        summary: fresh.summary.summary_text,
    })
}

/// `POST /transfer` and `POST /call/{call_id}/transfer`.
pub async fn create_transfer(
    state: &AppState,
    principal: &Principal,
    call: CallKey,
    agent_a: &str,
    agent_b: &str,
    transcript: &str,
    new_room: Option<&str>,
) -> Result<TransferCreated, ApiError> {
    // The call's own agent transfers it; nobody yet, and the named Agent A takes it now.
    let request = CreateTransfer {
        from_agent: agent_a.to_owned(),
        to_agent: agent_b_identity(agent_b),
        reason: None,
        mode: TransferMode::Consult,
        handoff: Handoff::MoveCaller,
        // The client's room name is kept when it is valid and free; otherwise warmline names it.
        briefing_room: new_room
            .map(crate::transfers::model::parse_room_name)
            .and_then(Result::ok),
    };
    let options = crate::transfers::CreateOptions {
        take_waiting_call: true,
        from_current_agent: true,
        typed_transcript: Some(transcript.to_owned()),
        rename_taken_room: true,
    };
    let created = crate::transfers::create(state, principal, call, request, options).await?;
    let transfer = created.transfer;
    let b_token = crate::tokens::for_briefing(state, principal, &transfer, &transfer.to_agent)?;
    let (summary, agent_script) = text_of(&created.summary);
    Ok(TransferCreated {
        transfer_id: transfer.id.to_string(),
        agentA_transfer_token: created.token.map(|t| t.token).unwrap_or_default(),
        agentB_token: b_token.token,
        caller_token: None,
        transfer_room: transfer.briefing_room,
        livekit_url: b_token.url,
        summary,
        agent_script,
        status: "initiated".into(),
    })
}

/// `POST /transfer` with the prototype's query parameters.
pub async fn create_transfer_by_room(
    state: &AppState,
    principal: &Principal,
    query: TransferQuery,
) -> Result<TransferCreated, ApiError> {
    create_transfer(
        state,
        principal,
        CallKey::Room(query.original_room.trim().to_owned()),
        &query.agent_a,
        &query.agent_b,
        &query.transcript,
        Some(&query.new_room),
    )
    .await
}

fn prototype_transfer(overview: TransferOverview) -> PrototypeTransfer {
    let transfer = overview.transfer;
    PrototypeTransfer {
        transfer_id: transfer.id.to_string(),
        original_room: transfer.caller_room,
        transfer_room: transfer.briefing_room,
        agent_a: transfer.from_agent,
        agent_b: transfer.to_agent,
        caller_name: overview.caller_name,
        summary: overview.summary_text.unwrap_or_default(),
        agent_script: overview.briefing_script.unwrap_or_default(),
        status: transfer_status(transfer.state).into(),
        created_at: transfer.initiated_at,
        completed_at: transfer.completed_at.or(transfer.connecting_at),
    }
}

/// `GET /transfer/{transfer_id}`.
pub async fn get_transfer(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
) -> Result<PrototypeTransfer, ApiError> {
    let overview = crate::transfers::overview(&state.db, principal, transfer_id(raw_id)?).await?;
    Ok(prototype_transfer(overview))
}

/// `GET /transfers/active`: transfers waiting for Agent B or in their briefing.
pub async fn active_transfers(
    state: &AppState,
    principal: &Principal,
) -> Result<ActiveTransfers, ApiError> {
    let active_transfers = crate::transfers::waiting(&state.db, principal, LIST_LIMIT)
        .await?
        .into_iter()
        .map(|overview| {
            let shown = prototype_transfer(overview);
            ActiveTransfer {
                transfer_id: shown.transfer_id,
                agent_a: shown.agent_a,
                agent_b: shown.agent_b,
                caller_name: shown.caller_name,
                status: shown.status,
                created_at: shown.created_at,
                summary: shown.summary,
            }
        })
        .collect();
    Ok(ActiveTransfers { active_transfers })
}

/// `POST /transfer/complete` and `POST /transfer/{transfer_id}/complete`.
pub async fn complete_transfer(
    state: &AppState,
    principal: &Principal,
    raw_id: &str,
) -> Result<TransferCompleted, ApiError> {
    let id = transfer_id(raw_id)?;
    let done = crate::transfers::complete(
        state,
        principal,
        id,
        TransferAction::default(),
        crate::transfers::CompleteOptions {
            accept_pending: true,
            without_summary: true,
        },
    )
    .await?;
    let transfer = done.transfer;
    let final_room = match transfer.handoff {
        Handoff::MoveCaller => transfer.briefing_room.clone(),
        Handoff::AgentJoinsCaller => transfer.caller_room.clone(),
    };
    // The caller's token, for whoever may hold it; an agent key gets none (the caller's page
    // polls its own status for it).
    let caller_token = match (transfer.handoff, done.token) {
        _ if principal.agent().is_some() => None,
        (Handoff::MoveCaller, Some(token)) => Some(token),
        _ => {
            let call = crate::calls::get(&state.db, principal, transfer.call_id).await?;
            Some(caller_call_token(state, principal, &call).await?)
        }
    };
    Ok(TransferCompleted {
        status: "transfer_completed".into(),
        final_room,
        caller_token: caller_token.map(|t| t.token).unwrap_or_default(),
        agent_b: transfer.to_agent,
        livekit_url: state.config.livekit.public_url.clone(),
    })
}

async fn caller_call_token(
    state: &AppState,
    principal: &Principal,
    call: &Call,
) -> Result<IssuedToken, ApiError> {
    let join = JoinCall {
        identity: call.caller_identity.clone(),
        role: TokenRole::Caller,
        name: None,
    };
    crate::tokens::for_call(state, principal, call.id, join).await
}

/// `GET /caller/{caller_name}/transfer-status`: the caller's most recent call.
pub async fn caller_status(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<CallerTransferStatus, ApiError> {
    let latest = crate::transfers::latest_of_caller(&state.db, principal, name).await?;
    let Some(latest) =
        latest.filter(|l| handed_over(l.transfer.state) && l.call_status != CallStatus::Ended)
    else {
        return Ok(CallerTransferStatus::default());
    };
    let token = crate::tokens::for_caller_after_handoff(state, principal, &latest)?;
    let t = latest.transfer;
    Ok(CallerTransferStatus {
        transfer_complete: true,
        transfer_id: Some(t.id.to_string()),
        final_room: Some(token.room),
        agent_b: Some(t.to_agent),
        caller_token: Some(token.token),
        livekit_url: Some(token.url),
    })
}

/// `GET /agent/{agent_name}/transfer-status`: the agent's most recent transfer of a live call.
pub async fn agent_status(
    state: &AppState,
    principal: &Principal,
    name: &str,
) -> Result<AgentTransferStatus, ApiError> {
    let mut names = vec![name.trim().to_owned(), agent_b_identity(name)];
    names.dedup();
    if let Some(own) = principal.agent() {
        if !names.iter().any(|n| n == own) {
            return Err(ApiError::Forbidden(format!(
                "this key is agent {own}; it may not read {}'s transfers",
                name.trim()
            )));
        }
        names = vec![own.to_owned()];
    }
    let Some(t) = crate::transfers::latest_to_agent(&state.db, &names).await? else {
        return Ok(AgentTransferStatus::default());
    };
    if !handed_over(t.state) {
        return Ok(AgentTransferStatus::default());
    }
    let call = crate::calls::get(&state.db, principal, t.call_id).await?;
    let agent = Identity::parse(&t.to_agent).map_err(|m| ApiError::invalid("agent", m))?;
    let token = match (t.state, t.handoff) {
        (TransferState::Connecting, Handoff::MoveCaller) => {
            crate::tokens::for_transfer(state, principal, t.id, &agent, None, TokenRole::Agent)
                .await?
        }
        _ => {
            let join = JoinCall {
                identity: agent.to_string(),
                role: TokenRole::Agent,
                name: None,
            };
            crate::tokens::for_call(state, principal, call.id, join).await?
        }
    };
    Ok(AgentTransferStatus {
        transfer_complete: true,
        transfer_id: Some(t.id.to_string()),
        final_room: Some(token.room),
        caller_name: Some(call.caller_name),
        agent_token: Some(token.token),
        livekit_url: Some(token.url),
    })
}

/// `POST /room/participants`: recorded beside, never over, what webhooks tracked.
pub async fn report_room(
    state: &AppState,
    principal: &Principal,
    report: RoomReport,
) -> Result<RoomReported, ApiError> {
    let room = report.room_name.trim().to_owned();
    let identities =
        crate::participants::record_report(&state.db, principal, &room, &report.participants)
            .await?;
    Ok(RoomReported {
        status: "updated".into(),
        room,
        participants: identities,
    })
}

/// `GET /room/{room_name}/participants`: webhook-tracked members; a client's report only for a
/// room LiveKit never told us about; an unknown room is empty.
pub async fn room_members(
    state: &AppState,
    principal: &Principal,
    room: &str,
) -> Result<RoomMembers, ApiError> {
    let room = room.trim().to_owned();
    let participants = crate::participants::members(&state.db, principal, &room).await?;
    Ok(RoomMembers { room, participants })
}
