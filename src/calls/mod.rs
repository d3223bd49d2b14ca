//! Calls: create, find, list and end.

pub mod model;
pub mod query;
pub mod routes;
pub mod statistics;
pub mod store;

use std::sync::Arc;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::ApiError;
use crate::pagination::{self, Page};
use model::{Call, CallHit, CallStatus, CreateCall};
use query::CallListParams;
use statistics::SearchStatistics;

/// Creates a call from a client's request, with the timer that ends it if no agent answers.
pub async fn create(
    state: &AppState,
    principal: &Principal,
    request: CreateCall,
) -> Result<Call, ApiError> {
    let mut call = request.parse()?;
    call.created_by = principal.key_id();
    // Its unanswered timer is `expire_unanswered`'s sweep: no job per call.
    let created = store::insert(&state.db, &call).await?.ok_or_else(|| {
        ApiError::Forbidden(format!(
            "caller_identity: {} is a registered agent, and an agent is never a call's caller",
            call.caller_identity
        ))
    })?;
    tracing::info!(call_id = %created.id, room = %created.room_name, "call created");
    Ok(created)
}

/// One call the principal may read, or 404 / 403.
pub async fn get(db: &PgPool, principal: &Principal, id: Uuid) -> Result<Call, ApiError> {
    let call = store::get(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", id))?;
    call.check_read(principal)?;
    Ok(call)
}

/// One call the principal may read, with its latest transfer and transcript.
pub async fn overview(
    db: &PgPool,
    principal: &Principal,
    id: Uuid,
) -> Result<model::CallOverview, ApiError> {
    let overview = store::overview(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", id))?;
    overview.call.check_read(principal)?;
    Ok(overview)
}

/// The calls in progress the principal may read (newest `limit`), each with its latest
/// transfer and transcript.
pub async fn open_overviews(
    db: &PgPool,
    principal: &Principal,
    limit: i64,
) -> Result<Vec<model::CallOverview>, ApiError> {
    Ok(store::open_overviews(db, principal.agent(), principal.frontend(), limit).await?)
}

/// The newest call in progress the principal may read.
pub async fn latest_open(db: &PgPool, principal: &Principal) -> Result<Option<Call>, ApiError> {
    Ok(
        store::list_open(db, principal.agent(), principal.frontend(), 1)
            .await?
            .pop(),
    )
}

/// A page of calls, newest first (or by relevance to `q`, when asked).
pub async fn list(
    db: &PgPool,
    statistics: &SearchStatistics,
    principal: &Principal,
    query: CallListParams,
) -> Result<Page<Call>, ApiError> {
    let page = find(db, statistics, principal, query, false).await?;
    Ok(Page {
        items: page.items.into_iter().map(|hit| hit.call).collect(),
        next_cursor: page.next_cursor,
    })
}

/// A page of the call list as the API shows it: each hit of a search with its snippet.
pub async fn list_hits(
    db: &PgPool,
    statistics: &SearchStatistics,
    principal: &Principal,
    query: CallListParams,
) -> Result<Page<CallHit>, ApiError> {
    find(db, statistics, principal, query, true).await
}

async fn find(
    db: &PgPool,
    statistics: &SearchStatistics,
    principal: &Principal,
    query: CallListParams,
    snippets: bool,
) -> Result<Page<CallHit>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let sort = query.sort.unwrap_or_default();
    if sort == model::CallSort::Relevance && query.q.as_deref().is_none_or(|q| q.trim().is_empty())
    {
        return Err(ApiError::invalid("sort", "relevance needs q"));
    }
    if let (Some(from), Some(to)) = (query.created_after, query.created_before)
        && from >= to
    {
        return Err(ApiError::invalid(
            "created_before",
            "must be later than created_after",
        ));
    }
    let mut v = crate::domain::Validator::default();
    let mut agent = |field: &str, value: Option<&str>| {
        v.check_opt(field, value, |a| {
            crate::domain::Identity::parse(a).map(crate::domain::Identity::into_inner)
        })
        .flatten()
    };
    let any_agent = agent("agent", query.agent.as_deref());
    let final_agent = agent("final_agent", query.final_agent.as_deref());
    let caller_phone = match query.caller_phone.as_deref().map(str::trim) {
        None | Some("") => None,
        Some(p) => v.check("caller_phone", model::parse_phone(p)),
    };
    let mut duration = |field: &str, secs: Option<i64>| match secs {
        Some(s) if !(0..=model::MAX_DURATION_SECS).contains(&s) => {
            v.fail(
                field,
                format!("must be 0 to {} seconds", model::MAX_DURATION_SECS),
            );
            None
        }
        s => s.map(chrono::TimeDelta::seconds),
    };
    let min_duration = duration("min_duration_secs", query.min_duration_secs);
    let max_duration = duration("max_duration_secs", query.max_duration_secs);
    if let (Some(min), Some(max)) = (min_duration, max_duration)
        && min > max
    {
        v.fail(
            "max_duration_secs",
            "must not be less than min_duration_secs",
        );
    }
    let wants_transfer = query.transfer_state.is_some() || query.transfer_outcome.is_some();
    if query.has_transfer == Some(false) && wants_transfer {
        v.fail(
            "has_transfer",
            "contradicts transfer_state or transfer_outcome",
        );
    }
    v.finish()?;
    let filter = store::CallFilter {
        status: query.status,
        caller: match query.caller.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(c) => Some(
                crate::domain::bounded_text(c, crate::domain::MAX_NAME_CHARS)
                    .map_err(|m| ApiError::invalid("caller", m))?,
            ),
        },
        created_after: query.created_after,
        created_before: query.created_before,
        created_until: None,
        q: match query.q.as_deref().map(str::trim) {
            None | Some("") => None,
            Some(q) if q.chars().count() > 200 => {
                return Err(ApiError::invalid("q", "must be at most 200 characters"));
            }
            Some(q) => Some(q.to_owned()),
        },
        agent: any_agent,
        final_agent,
        has_transfer: query.has_transfer,
        transfer_state: query.transfer_state,
        transfer_outcome: query.transfer_outcome,
        min_duration,
        max_duration,
        caller_phone,
        sentiment: query.sentiment,
        visible_to_agent: principal.agent().map(str::to_owned),
        created_by: match principal.role() {
            Some(crate::auth::model::Role::Frontend) => principal.key_id(),
            _ => None,
        },
    };
    // One connection for the search's steps.
    let mut conn = db.acquire().await?;
    let words = if filter.q.is_some() {
        statistics.get(&mut conn).await?
    } else {
        Arc::default()
    };
    let (calls, next_cursor, term) = match sort {
        model::CallSort::Newest => {
            let after: Option<pagination::TimeCursor> =
                pagination::decode_cursor(query.cursor.as_deref())?;
            let after = after.map(pagination::TimeCursor::into_parts);
            let found = store::list(&mut conn, &filter, &words, after, limit + 1).await?;
            let page = pagination::page(found.rows, limit, |c| (c.created_at, c.id));
            (page.items, page.next_cursor, found.term)
        }
        model::CallSort::Relevance => {
            let after: Option<model::RankCursor> =
                pagination::decode_cursor(query.cursor.as_deref())?;
            if let Some((_, at, _, until)) = after {
                crate::domain::instant(at).map_err(|m| ApiError::invalid("cursor", m))?;
                crate::domain::instant(until).map_err(|m| ApiError::invalid("cursor", m))?;
            }
            let until = after.map_or_else(chrono::Utc::now, |(.., until)| until);
            let after = after.map(|(rank, at, id, _)| (rank, at, id));
            let found =
                store::list_by_relevance(&mut conn, &filter, &words, until, after, limit + 1)
                    .await?;
            let page = pagination::page(found.rows, limit, |r| {
                (r.rank, r.call.created_at, r.call.id, until)
            });
            let calls = page.items.into_iter().map(|r| r.call).collect();
            (calls, page.next_cursor, found.term)
        }
    };
    let mut found = match (term, snippets) {
        (Some(term), true) => {
            let ids: Vec<Uuid> = calls.iter().map(|c| c.id).collect();
            store::snippets(&mut conn, &ids, &term).await?
        }
        _ => Default::default(),
    };
    let items = calls
        .into_iter()
        .map(|call| {
            let (snippet, matched_in, segment_id, summary_id) = match found.remove(&call.id) {
                Some(s) => (Some(s.text), Some(s.matched_in), s.segment_id, s.summary_id),
                None => (None, None, None, None),
            };
            CallHit {
                call,
                snippet,
                matched_in,
                segment_id,
                summary_id,
            }
        })
        .collect();
    Ok(Page { items, next_cursor })
}

/// Ends a call. Ending an ended call changes nothing and answers the call as it is.
pub async fn end(state: &AppState, principal: &Principal, id: Uuid) -> Result<Call, ApiError> {
    let mut tx = state.db.begin().await?;
    let call = store::lock(&mut tx, id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", id))?;
    call.check_party(principal)?;
    let call = match end_in(&mut tx, state, id).await? {
        Some(ended) => ended,
        None => call,
    };
    tx.commit().await?;
    Ok(call)
}

/// Ends a call inside a transaction, abandoning its transfer under way. `None` when it had
/// already ended (or does not exist).
pub async fn end_in(
    tx: &mut PgConnection,
    state: &AppState,
    id: Uuid,
) -> Result<Option<Call>, ApiError> {
    let Some(call) = store::end(&mut *tx, id).await? else {
        return Ok(None);
    };
    crate::transfers::on_call_ended(tx, state, &call).await?;
    tracing::info!(call_id = %id, "call ended");
    Ok(Some(call))
}

/// Until `shutdown`, ends every call no agent answered within `CALL_UNANSWERED_TIMEOUT_SECS`,
/// looking once per job poll interval with one indexed query.
pub async fn expire_unanswered(state: AppState, shutdown: tokio_util::sync::CancellationToken) {
    let interval = state.config.jobs.poll_interval;
    crate::app::every(interval, shutdown, || end_unanswered(&state)).await
}

async fn end_unanswered(state: &AppState) {
    let before =
        crate::domain::earlier_by(chrono::Utc::now(), state.config.call_unanswered_timeout);
    let due = match store::unanswered_since(&state.db, before, 100).await {
        Ok(due) => due,
        Err(e) => {
            tracing::warn!(error = %e, "looking for unanswered calls failed");
            return;
        }
    };
    for id in &due {
        if let Err(e) = end_if_unanswered(state, *id).await {
            tracing::warn!(error = %e, call_id = %id, "ending an unanswered call failed");
        }
    }
    if !due.is_empty() {
        state.signals.wrote();
    }
}

/// A call still `waiting` (no agent joined) when its time is up ends.
pub async fn end_if_unanswered(state: &AppState, id: Uuid) -> anyhow::Result<()> {
    let mut tx = state.db.begin().await?;
    let Some(call) = store::lock(&mut tx, id).await? else {
        return Ok(());
    };
    if call.status != CallStatus::Waiting {
        return Ok(());
    }
    end_in(&mut tx, state, id).await?;
    tx.commit().await?;
    tracing::info!(call_id = %id, "call ended: no agent answered it in time");
    Ok(())
}

/// LiveKit closed `room`: when it is where a call's caller is, the call is over.
pub async fn on_room_finished(
    tx: &mut PgConnection,
    state: &AppState,
    room: &str,
    at: chrono::DateTime<chrono::Utc>,
) -> Result<Option<String>, ApiError> {
    let Some(call) = store::lock_of_room(tx, room).await? else {
        return Ok(None);
    };
    let call_id = call.id;
    if call.status == CallStatus::Ended || crate::transfers::is_stale(at, call.created_at) {
        return Ok(None);
    }
    // After a `move_caller` hand-off the old room is closed on purpose: the call lives on.
    if crate::rooms::current_caller_room(&mut *tx, &call).await? != room {
        return Ok(None);
    }
    end_in(tx, state, call_id).await?;
    Ok(Some(format!("call {call_id} ended: its room finished")))
}
