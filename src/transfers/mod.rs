//! Warm transfers: the service behind the routes, the worker's timers and the webhooks.
//!
//! Every change takes the call's lock, then the transfer's, in that order, so concurrent
//! actions queue instead of deadlocking; the database's trigger decides whether a change of
//! state is allowed, and the LiveKit work it implies is queued in the same transaction.

pub mod model;
pub mod routes;
pub mod store;

use chrono::Utc;
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::model::Principal;
use crate::calls::model::{Call, CallStatus};
use crate::config::HandoffConfirmation;
use crate::domain::Identity;
use crate::error::ApiError;
use crate::jobs::model::Job;
use crate::livekit::model::IssuedToken;
use crate::pagination::{self, Page};
use model::{
    CreateTransfer, DeclineTransfer, Handoff, Outcome, Transfer, TransferAction, TransferListQuery,
    TransferMode, TransferState, TransferWithToken,
};
use store::Transition;

/// What the prototype's flow adds to starting a transfer (it had no join step, and sent the
/// typed transcript with the transfer).
#[derive(Debug, Default)]
pub struct CreateOptions {
    /// When no agent has taken the call yet, `from_agent` takes it with this transfer.
    pub take_waiting_call: bool,
    /// The call's current agent transfers it, whoever `from_agent` names.
    pub from_current_agent: bool,
    /// A running typed transcript from `from_agent`: what is new is stored with the transfer.
    pub typed_transcript: Option<String>,
    /// When the requested briefing room is taken, name one instead of refusing.
    pub rename_taken_room: bool,
}

/// Starts a transfer of a call (by id, or by one of its rooms) from its current agent to
/// another.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    call: crate::calls::model::CallKey,
    request: CreateTransfer,
    options: CreateOptions,
) -> Result<TransferWithToken, ApiError> {
    let mut new = request.parse()?;
    // Read once, before any lock: the summary is written from it.
    let snapshot = crate::summaries::snapshot(&state.db, &call).await?;
    let call_id = snapshot.call.id;
    if let (true, Some(current)) = (options.from_current_agent, &snapshot.call.current_agent) {
        new.from_agent =
            Identity::parse(current).map_err(|m| ApiError::invalid("from_agent", m))?;
    }
    crate::auth::acting_agent(principal, Some(new.from_agent.as_str()), "from_agent")?;
    let typed = match &options.typed_transcript {
        Some(text) => {
            let whole = snapshot.is_whole().then_some(&snapshot.segments[..]);
            crate::transcripts::typed_segments(
                &state.db,
                call_id,
                whole,
                new.from_agent.as_str(),
                crate::transcripts::model::SpeakerRole::Agent,
                text,
            )
            .await?
        }
        None => None,
    };
    // Written with the transfer, so Agent A and B never wait for a summary; computed before
    // the call is locked, so nobody waits on the summarizer either.
    let sides = crate::summaries::TransferSides {
        from_agent: new.from_agent.as_str().to_owned(),
        to_agent: new.to_agent.as_str().to_owned(),
        reason: new.reason.clone(),
    };
    let typed_turn = typed.as_ref().map(|s| crate::summaries::Turn {
        speaker: s.speaker.clone(),
        role: s.role,
        text: s.text.clone(),
    });
    let local_summary = crate::summaries::prepare_from(&snapshot, Some(sides), typed_turn).await?;
    let mut tx = state.db.begin().await?;
    let locked = store::lock_call_for_transfer(&mut tx, call_id, &new.briefing_room)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    let call = &locked.call;
    if call.status == CallStatus::Ended {
        return Err(ApiError::conflict(
            "the call has ended; it cannot be transferred",
        ));
    }
    let taking = options.take_waiting_call
        && call.current_agent.is_none()
        && call.status == CallStatus::Waiting;
    if !taking && call.current_agent.as_deref() != Some(new.from_agent.as_str()) {
        return Err(ApiError::conflict(match &call.current_agent {
            Some(agent) => format!(
                "from_agent {} is not handling this call; {agent} is",
                new.from_agent
            ),
            None => "no agent has joined this call yet, so there is nobody to transfer it from"
                .to_owned(),
        }));
    }
    let mut agents = vec![(new.to_agent.as_str(), "to_agent")];
    if taking {
        agents.push((new.from_agent.as_str(), "from_agent"));
        tracing::info!(%call_id, agent = %new.from_agent, "agent takes the call to transfer it");
    }
    crate::agents::require_all_usable(&mut tx, principal, &agents, &call.caller_identity).await?;
    if let (Some(id), Some(state)) = (locked.active_id, locked.active_state) {
        return Err(ApiError::Conflict {
            detail: format!("the call already has an active transfer ({id})"),
            current_state: Some(state.as_str().to_owned()),
        });
    }
    if locked.room_taken {
        if !options.rename_taken_room {
            return Err(ApiError::conflict(format!(
                "room {} is already in use",
                new.briefing_room
            )));
        }
        new.briefing_room = model::default_briefing_room(new.id);
    }
    if let Some(segment) = typed {
        let batch = crate::transcripts::model::AppendSegments {
            segments: vec![segment],
        }
        .parse()?;
        crate::transcripts::store::insert_batch(&mut *tx, call_id, &batch).await?;
    }
    // Its expiry is the deadline itself: the deadline sweep finds it, and nothing is left to
    // cancel once it is accepted.
    let deadline = crate::domain::later_by(Utc::now(), state.config.transfers.accept_ttl);
    let jobs = [(
        Job::CreateRoom {
            room: new.briefing_room.clone(),
        },
        None,
    )];
    let taker = taking.then_some(new.from_agent.as_str());
    let transfer = store::insert(
        &mut *tx,
        call_id,
        &locked.caller_room,
        &new,
        deadline,
        taker,
        &jobs,
        state.config.jobs.max_attempts,
    )
    .await?;
    let summary =
        crate::summaries::write_local(&mut tx, state, call_id, Some(transfer.id), &local_summary)
            .await?;
    tx.commit().await?;
    tracing::info!(transfer_id = %transfer.id, %call_id, from = %transfer.from_agent, to = %transfer.to_agent, "transfer initiated");

    let token = briefing_token(state, &transfer, &transfer.from_agent)?;
    Ok(TransferWithToken {
        transfer,
        token: Some(token),
        summary: Some(summary),
    })
}

/// One transfer with its best summary, or 404.
pub async fn view(
    db: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> Result<model::TransferView, ApiError> {
    let transfer = get(db, principal, id).await?;
    let summary = crate::summaries::for_transfer(db, id).await?;
    Ok(model::TransferView { transfer, summary })
}

/// One transfer, or 404.
pub async fn get(db: &PgPool, principal: &Principal, id: Uuid) -> Result<Transfer, ApiError> {
    let transfer = store::get(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer", id))?;
    check_read(principal, &transfer)?;
    Ok(transfer)
}

/// One transfer the principal may read, with its caller's name and best summary.
pub async fn overview(
    db: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> Result<model::TransferOverview, ApiError> {
    let overview = store::overview(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer", id))?;
    check_read(principal, &overview.transfer)?;
    Ok(overview)
}

/// Transfers waiting for Agent B or in their briefing (newest `limit`) that the principal
/// may read, with their callers' names and summaries.
pub async fn waiting(
    db: &PgPool,
    principal: &Principal,
    limit: i64,
) -> Result<Vec<model::TransferOverview>, ApiError> {
    Ok(store::waiting_overviews(db, principal.agent(), limit).await?)
}

/// The latest transfer of a caller's most recent call (by name, case-insensitive, or
/// identity) that the principal may read (a frontend key: of the calls it started), with that
/// call's caller.
pub async fn latest_of_caller(
    db: &PgPool,
    principal: &Principal,
    name: &str,
) -> Result<Option<store::CallersTransfer>, ApiError> {
    let name = crate::domain::bounded_text(name, crate::domain::MAX_NAME_CHARS)
        .map_err(|m| ApiError::invalid("caller_name", m))?;
    Ok(store::latest_of_caller(db, &name, principal.frontend()).await?)
}

/// The most recent transfer to any of `identities` whose call is not over.
pub async fn latest_to_agent(
    db: &PgPool,
    identities: &[String],
) -> Result<Option<Transfer>, ApiError> {
    Ok(store::latest_to_agent(db, identities).await?)
}

/// Supervisors and admins read every transfer; an agent key those it is a side of.
pub fn check_read(principal: &Principal, transfer: &Transfer) -> Result<(), ApiError> {
    match principal.agent() {
        _ if principal.reads_everything() => Ok(()),
        Some(agent) if agent == transfer.from_agent || agent == transfer.to_agent => Ok(()),
        Some(agent) => Err(ApiError::Forbidden(format!(
            "agent {agent} is neither side of this transfer"
        ))),
        None => Err(ApiError::Forbidden(
            "this key may not read transfers".into(),
        )),
    }
}

/// A page of transfers, newest first.
pub async fn list(
    db: &PgPool,
    principal: &Principal,
    query: TransferListQuery,
) -> Result<Page<Transfer>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<pagination::TimeCursor> = pagination::decode_cursor(query.cursor.as_deref())?;
    if let (Some(state), Some(active)) = (query.state, query.active)
        && state.is_terminal() == active
    {
        return Err(ApiError::invalid(
            "active",
            format!("contradicts state={}", state.as_str()),
        ));
    }
    let mut v = crate::domain::Validator::default();
    if let (Some(from), Some(to)) = (query.initiated_after, query.initiated_before)
        && from >= to
    {
        v.fail("initiated_before", "must be later than initiated_after");
    }
    let mut duration = |field: &str, ms: Option<i64>| match ms {
        Some(ms) if !(0..=model::MAX_DURATION_MS).contains(&ms) => {
            v.fail(
                field,
                format!("must be 0 to {} milliseconds", model::MAX_DURATION_MS),
            );
            None
        }
        ms => ms.map(chrono::TimeDelta::milliseconds),
    };
    let min_duration = duration("min_duration_ms", query.min_duration_ms);
    let max_duration = duration("max_duration_ms", query.max_duration_ms);
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && min > max
    {
        v.fail("max_duration_ms", "must not be less than min_duration_ms");
    }
    let mut agent = |field: &str, value: Option<&str>| {
        v.check_opt(field, value, |a| {
            Identity::parse(a).map(Identity::into_inner)
        })
        .flatten()
    };
    let to_agent = agent("to_agent", query.to_agent.as_deref());
    let from_agent = agent("from_agent", query.from_agent.as_deref());
    let either_agent = agent("agent", query.agent.as_deref());
    v.finish()?;
    let filter = store::TransferFilter {
        state: query.state,
        active: query.active,
        to_agent,
        from_agent,
        agent: either_agent,
        outcome: query.outcome,
        call_id: query.call_id,
        initiated_after: query.initiated_after,
        initiated_before: query.initiated_before,
        min_duration,
        max_duration,
        involving: principal.agent().map(str::to_owned),
    };
    let after = after.map(pagination::TimeCursor::into_parts);
    let rows = store::list(db, &filter, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |t| (t.initiated_at, t.id)))
}

/// Agent B takes the transfer and gets a token for the briefing room.
pub async fn accept(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    action: TransferAction,
) -> Result<TransferWithToken, ApiError> {
    let (mut tx, store::LockedTransfer { transfer, .. }) = lock(&state.db, id).await?;
    check_actor(
        principal,
        action.agent.as_deref(),
        &[&transfer.to_agent],
        "accept",
    )?;
    let transfer =
        store::transition(&mut *tx, id, &Transition::to(TransferState::Briefing)).await?;
    tx.commit().await?;
    tracing::info!(transfer_id = %id, "transfer accepted");
    let token = briefing_token(state, &transfer, &transfer.to_agent)?;
    let summary = crate::summaries::for_transfer(&state.db, id).await?;
    Ok(TransferWithToken {
        transfer,
        token: Some(token),
        summary,
    })
}

/// Agent B refuses the transfer; the call stays with Agent A.
pub async fn decline(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    request: DeclineTransfer,
) -> Result<Transfer, ApiError> {
    let detail = parse_detail(request.detail)?;
    let (mut tx, store::LockedTransfer { transfer, .. }) = lock(&state.db, id).await?;
    check_actor(
        principal,
        request.agent.as_deref(),
        &[&transfer.to_agent],
        "decline",
    )?;
    let change = Transition::ended(TransferState::Declined, request.reason.into(), detail);
    let transfer = end_unsuccessfully(&mut tx, state, &transfer, change).await?;
    tx.commit().await?;
    tracing::info!(transfer_id = %id, "transfer declined");
    Ok(transfer)
}

/// Agent A withdraws the transfer; the call stays with Agent A.
pub async fn cancel(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    action: TransferAction,
) -> Result<Transfer, ApiError> {
    let detail = parse_detail(action.detail)?;
    let (mut tx, store::LockedTransfer { transfer, .. }) = lock(&state.db, id).await?;
    let sides = [transfer.from_agent.as_str(), transfer.to_agent.as_str()];
    check_actor(principal, action.agent.as_deref(), &sides, "cancel")?;
    let change = Transition::ended(TransferState::Cancelled, Outcome::AgentCancelled, detail);
    let transfer = end_unsuccessfully(&mut tx, state, &transfer, change).await?;
    tx.commit().await?;
    tracing::info!(transfer_id = %id, "transfer cancelled");
    Ok(transfer)
}

/// Agent A hands the caller over: `connecting`, with the token the joining side needs. The
/// transfer completes once that side is seen in the room (or at once, when the deployment
/// takes the agent's word).
///
/// The prototype's flow (see [`CompleteOptions`]) asks for a little more, and a little less.
pub async fn complete(
    state: &AppState,
    principal: &Principal,
    id: Uuid,
    action: TransferAction,
    options: CompleteOptions,
) -> Result<TransferWithToken, ApiError> {
    let CompleteOptions {
        accept_pending,
        without_summary,
    } = options;
    let (mut tx, locked) = lock(&state.db, id).await?;
    let transfer = &locked.transfer;
    check_actor(
        principal,
        action.agent.as_deref(),
        &[&transfer.from_agent],
        "complete",
    )?;
    if accept_pending && transfer.state == TransferState::Initiated {
        store::transition(&mut *tx, id, &Transition::to(TransferState::Briefing)).await?;
    }
    let deadline = crate::domain::later_by(Utc::now(), state.config.transfers.handoff_timeout);
    let change = Transition {
        handoff_deadline: Some(deadline),
        ..Transition::to(TransferState::Connecting)
    };
    let transfer = match state.config.transfers.handoff_confirmation {
        HandoffConfirmation::Agent => {
            let connecting = store::transition(&mut *tx, id, &change).await?;
            complete_handoff(&mut tx, state, &connecting, false).await?
        }
        HandoffConfirmation::Observed => {
            // Its timeout is `handoff_deadline`, which the deadline sweep watches.
            let mut jobs = Vec::with_capacity(1);
            if transfer.handoff == Handoff::MoveCaller && state.config.livekit.move_participant {
                let move_caller = Job::MoveParticipant {
                    room: transfer.caller_room.clone(),
                    identity: locked.caller_identity.clone(),
                    destination: transfer.briefing_room.clone(),
                };
                jobs.push((move_caller, None));
            }
            let max_attempts = state.config.jobs.max_attempts;
            store::transition_queueing(&mut *tx, id, &change, &jobs, max_attempts).await?
        }
    };
    tx.commit().await?;
    tracing::info!(transfer_id = %id, state = transfer.state.as_str(), "transfer hand-off started");
    // The token is someone else's (Agent B's or the caller's): an agent key only ever gets
    // its own, so it goes to trusted callers alone; the others fetch theirs themselves.
    let token = match transfer.handoff {
        _ if principal.agent().is_some() => None,
        Handoff::AgentJoinsCaller => Some(state.livekit.mint(
            &transfer.to_agent,
            &transfer.to_agent,
            &transfer.caller_room,
            &token_metadata("agent", &transfer),
        )?),
        Handoff::MoveCaller => Some(state.livekit.mint(
            &locked.caller_identity,
            &locked.caller_name,
            &transfer.briefing_room,
            &token_metadata("caller", &transfer),
        )?),
    };
    let summary = match without_summary {
        true => None,
        false => crate::summaries::for_transfer(&state.db, id).await?,
    };
    Ok(TransferWithToken {
        transfer,
        token,
        summary,
    })
}

/// What the prototype's flow changes in [`complete`].
#[derive(Debug, Default)]
pub struct CompleteOptions {
    /// A transfer Agent B has not accepted yet is accepted first, in the same transaction (the
    /// prototype had no accept step).
    pub accept_pending: bool,
    /// The answer leaves the summary out (nobody reads it there).
    pub without_summary: bool,
}

/// The receiving side is in the room: `connecting` → `completed`; Agent B now has the call and
/// LiveKit is asked to clear what is left of the old arrangement.
pub async fn complete_handoff(
    tx: &mut PgConnection,
    state: &AppState,
    transfer: &Transfer,
    confirmed: bool,
) -> Result<Transfer, ApiError> {
    let final_room = match transfer.handoff {
        Handoff::AgentJoinsCaller => transfer.caller_room.clone(),
        Handoff::MoveCaller => transfer.briefing_room.clone(),
    };
    let change = Transition {
        handoff_confirmed: Some(confirmed),
        final_room: Some(final_room.clone()),
        ..Transition::to(TransferState::Completed)
    };
    let mut jobs = Vec::with_capacity(2);
    if transfer.mode == TransferMode::Consult {
        let remove = Job::RemoveParticipant {
            room: final_room,
            identity: transfer.from_agent.clone(),
        };
        jobs.push((remove, None));
    }
    // The room nobody needs any more: the briefing room, or (after moving the caller) the old one.
    let obsolete = match transfer.handoff {
        Handoff::AgentJoinsCaller => transfer.briefing_room.clone(),
        Handoff::MoveCaller => transfer.caller_room.clone(),
    };
    jobs.push((Job::DeleteRoom { room: obsolete }, None));
    let max_attempts = state.config.jobs.max_attempts;
    let done = store::end_queueing(
        &mut *tx,
        transfer.id,
        &change,
        &jobs,
        max_attempts,
        Some(&transfer.to_agent),
    )
    .await?;
    tracing::info!(transfer_id = %done.id, confirmed, "transfer completed");
    Ok(done)
}

/// Worker: is the receiving side in the room yet? `Ok(true)` once the transfer no longer waits.
pub async fn confirm_handoff(state: &AppState, id: Uuid) -> anyhow::Result<bool> {
    let Some(transfer) = store::get(&state.db, id).await? else {
        return Ok(true);
    };
    if transfer.state != TransferState::Connecting {
        return Ok(true);
    }
    if transfer.handoff_deadline.is_some_and(|d| d <= Utc::now()) {
        // The timeout job decides now.
        return Ok(true);
    }
    if !receiving_side_present(state, &transfer).await? {
        return Ok(false);
    }
    confirm_seen(state, id).await?;
    Ok(true)
}

/// Until `shutdown`, looks in LiveKit every `HANDOFF_CHECK_INTERVAL_MS` for the receiving side of every
/// hand-off under way, with one `ListParticipants` per room, and completes those that arrived.
/// Webhooks usually tell first; this covers a webhook that never came.
pub async fn watch_handoffs(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let interval = state.config.transfers.handoff_check_interval;
    crate::app::every(interval, shutdown, || async {
        if let Err(e) = check_handoffs(&state).await {
            tracing::warn!(error = %e, "checking hand-offs under way failed");
        }
    })
    .await
}

/// How many hand-off rooms one check asks LiveKit about at once: one at a time, a check of
/// hundreds of rooms took longer than its interval against a LiveKit a few milliseconds away.
const ROOMS_AT_ONCE: usize = 16;

/// How many arrivals one transaction confirms: one each cost a commit per hand-off, and the
/// locks of a larger batch would be held longer than a request should wait for them.
const CONFIRMED_TOGETHER: usize = 64;

async fn check_handoffs(state: &AppState) -> anyhow::Result<()> {
    use futures_util::StreamExt;
    // Owned, room by room: the stream's items must not borrow (the task is spawned).
    let mut by_room: std::collections::BTreeMap<String, Vec<(Uuid, String)>> = Default::default();
    for a in store::awaited_arrivals(&state.db).await? {
        by_room
            .entry(a.room)
            .or_default()
            .push((a.transfer_id, a.identity));
    }
    let asked: Vec<Vec<Uuid>> = futures_util::stream::iter(by_room)
        .map(|(room, arrivals)| arrived_in(state, room, arrivals))
        .buffer_unordered(ROOMS_AT_ONCE)
        .collect()
        .await;
    let mut arrived: Vec<Uuid> = asked.into_iter().flatten().collect();
    // In one order, so that two processes checking at once take the locks in the same order.
    arrived.sort_unstable();
    for batch in arrived.chunks(CONFIRMED_TOGETHER) {
        let confirmed = confirm_all_seen(state, batch).await?;
        for done in &confirmed {
            tracing::info!(transfer_id = %done.id, "hand-off confirmed in LiveKit");
        }
        if !confirmed.is_empty() {
            state.signals.wrote();
        }
    }
    Ok(())
}

/// The awaited arrivals LiveKit shows in `room` (none when it cannot tell).
async fn arrived_in(state: &AppState, room: String, arrivals: Vec<(Uuid, String)>) -> Vec<Uuid> {
    match state.livekit.list_participants(&room).await {
        Ok(present) => arrivals
            .into_iter()
            .filter(|(_, identity)| {
                present
                    .iter()
                    .any(|p| &p.identity == identity && p.state != "disconnected")
            })
            .map(|(transfer_id, _)| transfer_id)
            .collect(),
        Err(e) => {
            // The hand-off's timer takes one last look before it fails the transfer.
            tracing::warn!(error = %e, room, "LiveKit could not list a hand-off's room");
            Vec::new()
        }
    }
}

/// Asks LiveKit whether the side receiving the hand-off is in the final room now.
async fn receiving_side_present(state: &AppState, transfer: &Transfer) -> anyhow::Result<bool> {
    let call = crate::calls::store::get(&state.db, transfer.call_id)
        .await?
        .ok_or_else(|| anyhow::anyhow!("call gone"))?;
    let (room, identity) = match transfer.handoff {
        Handoff::AgentJoinsCaller => (&transfer.caller_room, &transfer.to_agent),
        Handoff::MoveCaller => (&transfer.briefing_room, &call.caller_identity),
    };
    let present = state.livekit.list_participants(room).await?;
    Ok(present
        .iter()
        .any(|p| &p.identity == identity && p.state != "disconnected"))
}

/// Completes a `connecting` transfer whose receiving side was seen in the room. A transfer that
/// moved on meanwhile is left as it is.
pub async fn confirm_seen(state: &AppState, id: Uuid) -> Result<Option<Transfer>, ApiError> {
    Ok(confirm_all_seen(state, &[id]).await?.pop())
}

/// [`confirm_seen`] for several transfers, in one transaction; returns those it completed.
async fn confirm_all_seen(state: &AppState, ids: &[Uuid]) -> Result<Vec<Transfer>, ApiError> {
    let mut tx = state.db.begin().await?;
    let mut done = Vec::with_capacity(ids.len());
    for &id in ids {
        let Some(store::LockedTransfer { transfer, .. }) = store::lock(&mut tx, id).await? else {
            continue;
        };
        if transfer.state == TransferState::Connecting {
            done.push(complete_handoff(&mut tx, state, &transfer, true).await?);
        }
    }
    tx.commit().await?;
    Ok(done)
}

/// Until `shutdown`, ends every transfer whose deadline passed, looking once per job poll
/// interval with one indexed query: an `initiated` one nobody accepted in time expires, a
/// `connecting` one whose hand-off was never seen fails (after one last look). The deadlines
/// are the transfers' own columns, so a transfer that moved on has no timer left to cancel,
/// and one that outlived a restart is found all the same.
pub async fn watch_deadlines(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let interval = state.config.jobs.poll_interval;
    crate::app::every(interval, shutdown, || end_overdue(&state)).await
}

async fn end_overdue(state: &AppState) {
    let overdue = match store::overdue(&state.db, 100).await {
        Ok(overdue) => overdue,
        Err(e) => {
            tracing::warn!(error = %e, "looking for transfers past their deadline failed");
            return;
        }
    };
    for (id, at) in &overdue {
        let ended = match at {
            TransferState::Initiated => expire_if_unanswered(state, *id).await,
            _ => fail_if_unconfirmed(state, *id).await,
        };
        if let Err(e) = ended {
            tracing::warn!(error = %e, transfer_id = %id, "ending a transfer past its deadline failed");
        }
    }
    if !overdue.is_empty() {
        state.signals.wrote();
    }
}

/// Timer: an `initiated` transfer nobody accepted expires.
pub async fn expire_if_unanswered(state: &AppState, id: Uuid) -> anyhow::Result<()> {
    end_if_still(
        state,
        id,
        TransferState::Initiated,
        Transition::ended(TransferState::Expired, Outcome::NoAnswer, None),
    )
    .await
}

/// Timer: a `connecting` transfer whose hand-off was never seen fails, after one last look:
/// the receiving side may have arrived while nobody was watching (an outage of warmline or of
/// LiveKit's webhooks), and then the hand-off completed.
pub async fn fail_if_unconfirmed(state: &AppState, id: Uuid) -> anyhow::Result<()> {
    let Some(transfer) = store::get(&state.db, id).await? else {
        return Ok(());
    };
    if transfer.state != TransferState::Connecting {
        return Ok(());
    }
    let change = match receiving_side_present(state, &transfer).await {
        Ok(true) => {
            confirm_seen(state, id).await?;
            tracing::info!(transfer_id = %id, "hand-off confirmed by the last look before its timeout");
            return Ok(());
        }
        Ok(false) => Transition::ended(
            TransferState::Failed,
            Outcome::HandoffTimeout,
            Some("the receiving side was not seen in the room in time".into()),
        ),
        Err(e) => Transition::ended(
            TransferState::Failed,
            Outcome::LivekitError,
            Some(state.secrets.scrub(&format!(
                "LiveKit could not be reached to confirm the hand-off before its timeout: {e:#}"
            ))),
        ),
    };
    end_if_still(state, id, TransferState::Connecting, change).await
}

/// A LiveKit operation the hand-off needed gave up: the transfer fails.
pub async fn fail_handoff_on_livekit_error(
    state: &AppState,
    id: Uuid,
    job_id: i64,
) -> anyhow::Result<()> {
    let detail = format!("LiveKit kept refusing a hand-off operation (job {job_id})");
    let change = Transition::ended(TransferState::Failed, Outcome::LivekitError, Some(detail));
    end_if_still(state, id, TransferState::Connecting, change).await
}

/// The call ended: a transfer under way is abandoned.
pub async fn on_call_ended(
    tx: &mut PgConnection,
    state: &AppState,
    call: &Call,
) -> Result<(), ApiError> {
    if let Some(transfer) = store::lock_active_for_call(tx, call.id).await? {
        let change = Transition::ended(TransferState::Abandoned, Outcome::CallEnded, None);
        end_unsuccessfully(tx, state, &transfer, change).await?;
        tracing::info!(transfer_id = %transfer.id, "transfer abandoned: the call ended");
    }
    Ok(())
}

async fn end_if_still(
    state: &AppState,
    id: Uuid,
    expected: TransferState,
    change: Transition,
) -> anyhow::Result<()> {
    let (mut tx, store::LockedTransfer { transfer, .. }) = match lock(&state.db, id).await {
        Ok(found) => found,
        Err(ApiError::NotFound { .. }) => return Ok(()),
        Err(e) => return Err(e.into()),
    };
    if transfer.state != expected {
        return Ok(());
    }
    let to = change.to;
    end_unsuccessfully(&mut tx, state, &transfer, change).await?;
    tx.commit().await?;
    tracing::info!(transfer_id = %id, state = to.as_str(), "transfer ended by its timer");
    Ok(())
}

/// Any end but `completed`: the call goes back to its agent and the briefing room is closed.
async fn end_unsuccessfully(
    tx: &mut PgConnection,
    state: &AppState,
    transfer: &Transfer,
    change: Transition,
) -> Result<Transfer, ApiError> {
    // A `move_caller` hand-off that failed may have brought the caller to Agent B in the
    // briefing room already: that room is not closed under them.
    let caller_may_be_there =
        transfer.state == TransferState::Connecting && transfer.handoff == Handoff::MoveCaller;
    let close = Job::DeleteRoom {
        room: transfer.briefing_room.clone(),
    };
    let jobs: &[_] = if caller_may_be_there {
        &[]
    } else {
        &[(close, None)]
    };
    let max_attempts = state.config.jobs.max_attempts;
    let ended =
        store::end_queueing(&mut *tx, transfer.id, &change, jobs, max_attempts, None).await?;
    Ok(ended)
}

/// Opens a transaction holding the transfer's call and then the transfer itself.
async fn lock(
    db: &PgPool,
    id: Uuid,
) -> Result<
    (
        sqlx::Transaction<'static, sqlx::Postgres>,
        store::LockedTransfer,
    ),
    ApiError,
> {
    let mut tx = db.begin().await?;
    let locked = store::lock(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer", id))?;
    Ok((tx, locked))
}

/// The agent acting (an agent key's own identity, or the one a client names) must be one of
/// `allowed`; with no agent named, a trusted principal (open mode, admin, supervisor) acts.
fn check_actor(
    principal: &Principal,
    claimed: Option<&str>,
    allowed: &[&str],
    action: &str,
) -> Result<(), ApiError> {
    match crate::auth::acting_agent(principal, claimed, "agent")? {
        Some(actor) if allowed.contains(&actor.as_str()) => Ok(()),
        Some(actor) => Err(ApiError::Forbidden(format!(
            "only {} may {action} this transfer, not {actor}",
            allowed.join(" or ")
        ))),
        None => Ok(()),
    }
}

/// An agent identity given as a filter.
fn parse_detail(detail: Option<String>) -> Result<Option<String>, ApiError> {
    detail
        .map(|d| {
            crate::domain::bounded_text(&d, model::MAX_REASON_CHARS)
                .map_err(|m| ApiError::invalid("detail", m))
        })
        .transpose()
}

fn briefing_token(
    state: &AppState,
    transfer: &Transfer,
    agent: &str,
) -> Result<IssuedToken, ApiError> {
    Ok(state.livekit.mint(
        agent,
        agent,
        &transfer.briefing_room,
        &token_metadata("agent", transfer),
    )?)
}

/// What other participants see of a token holder.
pub fn token_metadata(role: &str, transfer: &Transfer) -> serde_json::Value {
    serde_json::json!({"role": role, "call_id": transfer.call_id, "transfer_id": transfer.id})
}

/// An event older than this (before the transfer began) says nothing about it.
pub fn is_stale(at: chrono::DateTime<Utc>, since: chrono::DateTime<Utc>) -> bool {
    // Webhook times are whole seconds; our stamps are finer.
    at + chrono::Duration::seconds(1) < since
}

/// LiveKit saw `identity` join `room` of `call` (locked by the caller): Agent B in the briefing room starts
/// the briefing; the receiving side in the final room completes a hand-off. Returns what
/// changed.
pub async fn on_participant_joined(
    tx: &mut PgConnection,
    state: &AppState,
    call: &Call,
    room: &str,
    identity: &str,
    at: chrono::DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    let Some(t) = store::lock_active_for_call(tx, call.id).await? else {
        return Ok(None);
    };
    if is_stale(at, t.initiated_at) {
        return Ok(None);
    }
    if t.state == TransferState::Initiated && room == t.briefing_room && identity == t.to_agent {
        store::transition(&mut *tx, t.id, &Transition::to(TransferState::Briefing)).await?;
        return Ok(Some(format!(
            "transfer {} is briefing: {identity} joined the briefing room",
            t.id
        )));
    }
    let receiving = match t.handoff {
        Handoff::AgentJoinsCaller => (t.caller_room.as_str(), t.to_agent.as_str()),
        Handoff::MoveCaller => (t.briefing_room.as_str(), call.caller_identity.as_str()),
    };
    if t.state == TransferState::Connecting && (room, identity) == receiving {
        complete_handoff(tx, state, &t, true).await?;
        return Ok(Some(format!(
            "transfer {} completed: {identity} joined {room}",
            t.id
        )));
    }
    Ok(None)
}

/// LiveKit saw `identity` leave `room` of `call` (locked by the caller): the caller leaving its room during a
/// transfer abandons the transfer (unless it is the expected move of a `move_caller` hand-off,
/// or the caller is still in the room through another session).
pub async fn on_participant_left(
    tx: &mut PgConnection,
    state: &AppState,
    call: &Call,
    room: &str,
    identity: &str,
    sid: &str,
    at: chrono::DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    let Some(t) = store::lock_active_for_call(tx, call.id).await? else {
        return Ok(None);
    };
    let moving = t.handoff == Handoff::MoveCaller && t.state == TransferState::Connecting;
    if identity != call.caller_identity
        || room != t.caller_room
        || moving
        || is_stale(at, t.initiated_at)
    {
        return Ok(None);
    }
    if crate::participants::store::present_elsewhere(&mut *tx, room, identity, sid).await? {
        return Ok(None);
    }
    let change = Transition::ended(TransferState::Abandoned, Outcome::CallerLeft, None);
    end_unsuccessfully(tx, state, &t, change).await?;
    Ok(Some(format!(
        "transfer {} abandoned: the caller left",
        t.id
    )))
}

/// Rebuilds a transfer from the records: states and timings, summaries, transcript up to the
/// hand-off, events, room history and LiveKit operations.
pub async fn replay(
    db: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> Result<model::TransferReplay, ApiError> {
    let transfer = get(db, principal, id).await?;
    let call = crate::calls::store::get(db, transfer.call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", transfer.call_id))?;
    let (steps, durations, ended_at) = crate::transfers::model::phases(&transfer);

    let mut summaries = crate::summaries::store::list(db, call.id, Some(id), None, 200).await?;
    summaries.reverse();
    // What `accept` would have answered at that moment.
    let briefing_summary_id = match transfer.briefing_at {
        Some(began) => crate::summaries::store::best_for_transfer(db, id, Some(began))
            .await?
            .map(|s| s.id),
        None => None,
    };
    let mut transcript = crate::transcripts::store::all_for_call(db, call.id, 2000).await?;
    if let Some(handoff) = transfer.connecting_at {
        transcript.retain(|s| s.received_at <= handoff);
    }
    let rooms_names = vec![transfer.caller_room.clone(), transfer.briefing_room.clone()];
    let events = crate::events::store::for_transfer(
        db,
        call.id,
        id,
        &rooms_names,
        transfer.initiated_at,
        ended_at,
    )
    .await?;
    let sessions = crate::participants::store::history_of_rooms(db, &rooms_names).await?;
    let rooms = rooms_names
        .into_iter()
        .map(|room| model::RoomHistory {
            participants: sessions
                .iter()
                .filter(|s| s.room == room)
                .map(|s| s.participant.clone())
                .collect(),
            room,
        })
        .collect();
    let jobs = crate::jobs::store::for_transfer(db, id).await?;
    Ok(model::TransferReplay {
        transfer,
        call,
        steps,
        durations,
        summaries,
        briefing_summary_id,
        transcript,
        events,
        rooms,
        jobs,
    })
}
