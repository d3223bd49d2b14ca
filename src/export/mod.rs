//! Exports: everything stored about a call as one document, and many calls as NDJSON for a
//! data warehouse. Each kind of record is read once per batch of calls, never per row.

pub mod model;
pub mod routes;
pub mod store;

use std::collections::HashMap;
use std::sync::Arc;

use axum::body::Bytes;
use futures_util::Stream;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::model::Principal;
use crate::calls::model::Call;
use crate::calls::query::CallListParams;
use crate::calls::statistics::SearchStatistics;
use crate::error::ApiError;
use crate::events::model::Event;
use crate::jobs::model::JobRecord;
use crate::pagination::{self, Page};
use crate::summaries::model::{Provider, Summary};
use crate::transcripts::model::Segment;
use crate::transfers::model::{RoomHistory, Transfer, TransferReplay};
use model::{
    CallExport, DEFAULT_EXPORT_LIMIT, ExportEnd, ExportQuery, FORMAT_VERSION, MAX_EXPORT_LIMIT,
};

/// Calls per batch of an NDJSON export: what one batch holds in memory.
const BATCH: i64 = 100;
/// Summaries a replay shows per transfer (the newest), as `transfers::replay` does.
const REPLAY_SUMMARIES: usize = 200;
/// Segments a replay reads per call (the latest), as `transfers::replay` does.
const REPLAY_SEGMENTS: usize = 2000;

/// One call's export, if the principal may read the call; 404 / 403 otherwise.
pub async fn call(db: &PgPool, principal: &Principal, id: Uuid) -> Result<CallExport, ApiError> {
    crate::calls::get(db, principal, id).await?;
    assemble(db, &[id])
        .await?
        .pop()
        .ok_or_else(|| ApiError::not_found("call", id))
}

/// The NDJSON export of the calls the principal may list, newest first: one document per line,
/// then an [`ExportEnd`] line. Filters, limit and cursor are checked (and the first batch read)
/// before the stream starts, so a bad request is a 422 and not a broken stream.
pub async fn stream(
    db: PgPool,
    statistics: Arc<SearchStatistics>,
    principal: Principal,
    query: ExportQuery,
) -> Result<impl Stream<Item = Result<Bytes, ApiError>> + Send + 'static, ApiError> {
    let limit = pagination::limit_within(query.limit, DEFAULT_EXPORT_LIMIT, MAX_EXPORT_LIMIT)?;
    let mut walk = Walk {
        db,
        statistics,
        principal,
        query,
        remaining: limit,
        exported: 0,
        next: None,
    };
    let cursor = walk.query.cursor.take();
    walk.next = Some(walk.page(cursor).await?);
    Ok(futures_util::stream::unfold(walk, |mut walk| async move {
        let page = walk.next.take()?;
        match walk.lines(page).await {
            Ok(lines) => Some((Ok(lines), walk)),
            Err(e) => {
                // Headers are sent: ending the body early is the only way left to say so,
                // and the missing last line tells the loader.
                tracing::error!(error = %e, "export stream failed");
                Some((Err(e), walk))
            }
        }
    }))
}

/// Where an NDJSON export is.
struct Walk {
    db: PgPool,
    statistics: Arc<SearchStatistics>,
    principal: Principal,
    query: ExportQuery,
    /// Documents this response may still hold.
    remaining: i64,
    exported: u64,
    /// The batch to write next; `None` once the last line is written.
    next: Option<Page<Call>>,
}

impl Walk {
    /// A batch of calls from the call list, so filters, scoping and cursors are the list's.
    async fn page(&self, cursor: Option<String>) -> Result<Page<Call>, ApiError> {
        let q = &self.query;
        let list = CallListParams {
            status: q.status,
            caller: q.caller.clone(),
            created_after: q.created_after,
            created_before: q.created_before,
            q: q.q.clone(),
            limit: Some(self.remaining.min(BATCH)),
            cursor,
            ..Default::default()
        };
        crate::calls::list(&self.db, &self.statistics, &self.principal, list).await
    }

    /// The lines of one batch, and after the last batch the closing line; reads the batch
    /// after it.
    async fn lines(&mut self, page: Page<Call>) -> Result<Bytes, ApiError> {
        let ids: Vec<Uuid> = page.items.iter().map(|c| c.id).collect();
        let mut out = Vec::new();
        if !ids.is_empty() {
            for doc in assemble(&self.db, &ids).await? {
                write_line(&mut out, &doc)?;
            }
        }
        self.exported += ids.len() as u64;
        self.remaining -= ids.len() as i64;
        match page.next_cursor {
            Some(cursor) if self.remaining > 0 => {
                self.next = Some(self.page(Some(cursor)).await?);
            }
            next_cursor => {
                let end = ExportEnd {
                    exported: self.exported,
                    next_cursor,
                };
                write_line(&mut out, &end)?;
            }
        }
        Ok(Bytes::from(out))
    }
}

fn write_line(out: &mut Vec<u8>, value: &impl serde::Serialize) -> Result<(), ApiError> {
    serde_json::to_writer(&mut *out, value).map_err(anyhow::Error::from)?;
    out.push(b'\n');
    Ok(())
}

/// The export documents of these calls, in the order of `ids` (calls that do not exist are
/// left out), read in one snapshot with one statement per kind of record.
pub async fn assemble(db: &PgPool, ids: &[Uuid]) -> Result<Vec<CallExport>, ApiError> {
    let mut tx = store::snapshot(db).await?;
    let calls = crate::calls::store::by_ids(&mut *tx, ids).await?;
    let transfers = crate::transfers::store::for_calls(&mut *tx, ids).await?;
    let segments = crate::transcripts::store::for_calls(&mut *tx, ids).await?;
    let summaries = crate::summaries::store::for_calls(&mut *tx, ids).await?;
    let events = crate::events::store::for_calls(&mut *tx, ids).await?;
    let reviews = crate::reviews::store::for_calls(&mut *tx, ids).await?;
    let transfer_ids: Vec<Uuid> = transfers.iter().map(|t| t.id).collect();
    let jobs = crate::jobs::store::for_transfers(&mut *tx, &transfer_ids).await?;
    let mut rooms_of: HashMap<Uuid, Vec<String>> = HashMap::new();
    for call in &calls {
        rooms_of.insert(call.id, vec![call.room_name.clone()]);
    }
    for t in &transfers {
        let rooms = rooms_of.entry(t.call_id).or_default();
        for room in [
            Some(&t.caller_room),
            Some(&t.briefing_room),
            t.final_room.as_ref(),
        ]
        .into_iter()
        .flatten()
        {
            if !rooms.contains(room) {
                rooms.push(room.clone());
            }
        }
    }
    let all_rooms: Vec<String> = rooms_of.values().flatten().cloned().collect();
    let sessions = crate::participants::store::history_of_rooms(&mut *tx, &all_rooms).await?;
    tx.commit().await?;

    let mut transfers_of = group(transfers, |t| t.call_id);
    let mut segments_of = group(segments, |s| s.call_id);
    let mut summaries_of = group(summaries, |s| s.call_id);
    let mut events_of = group(events, |e| e.call_id);
    let mut reviews_of = group(reviews, |r| r.call_id);
    let mut jobs_of = group(jobs, |j| j.transfer_id);
    let mut sessions_of = group(sessions, |s| s.room.clone());
    let mut calls: HashMap<Uuid, Call> = calls.into_iter().map(|c| (c.id, c)).collect();

    let mut docs = Vec::with_capacity(ids.len());
    for id in ids {
        let Some(call) = calls.remove(id) else {
            continue;
        };
        let transcript: Vec<Segment> = segments_of
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .map(|s| s.segment)
            .collect();
        let summaries = summaries_of.remove(id).unwrap_or_default();
        let events = events_of.remove(id).unwrap_or_default();
        // The call's own room first, then its transfers' rooms as they came.
        let participants: Vec<RoomHistory> = rooms_of
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .map(|room| {
                let sessions = sessions_of.remove(&room).unwrap_or_default();
                RoomHistory {
                    room,
                    participants: sessions.into_iter().map(|s| s.participant).collect(),
                }
            })
            .collect();
        let transfers = transfers_of
            .remove(id)
            .unwrap_or_default()
            .into_iter()
            .map(|transfer| {
                let jobs = jobs_of
                    .remove(&transfer.id)
                    .unwrap_or_default()
                    .into_iter()
                    .map(|j| j.job)
                    .collect();
                replay(
                    transfer,
                    &call,
                    &transcript,
                    &summaries,
                    &events,
                    &participants,
                    jobs,
                )
            })
            .collect();
        docs.push(CallExport {
            format_version: FORMAT_VERSION,
            call,
            transcript,
            transfers,
            summaries,
            participants,
            reviews: reviews_of.remove(id).unwrap_or_default(),
            events,
        });
    }
    Ok(docs)
}

/// Rows grouped by a key, each group in the rows' order.
fn group<T, K: std::hash::Hash + Eq>(rows: Vec<T>, key: impl Fn(&T) -> K) -> HashMap<K, Vec<T>> {
    let mut groups: HashMap<K, Vec<T>> = HashMap::new();
    for row in rows {
        groups.entry(key(&row)).or_default().push(row);
    }
    groups
}

/// A transfer's replay from its call's records, as `transfers::replay` builds it from the
/// database: the same steps, durations, summaries, transcript, events, rooms and jobs.
fn replay(
    transfer: Transfer,
    call: &Call,
    transcript: &[Segment],
    summaries: &[Summary],
    events: &[Event],
    rooms: &[RoomHistory],
    jobs: Vec<JobRecord>,
) -> TransferReplay {
    let (steps, durations, ended_at) = crate::transfers::model::phases(&transfer);

    let own: Vec<&Summary> = summaries
        .iter()
        .filter(|s| s.transfer_id == Some(transfer.id))
        .collect();
    // What `accept` would have answered when the briefing began: the newest from a model,
    // else the newest of any kind, written by then.
    let briefing_summary_id = transfer.briefing_at.and_then(|began| {
        own.iter()
            .filter(|s| s.created_at <= began)
            .max_by_key(|s| {
                let from_model = s.provider == Provider::OpenaiCompatible && !s.fallback;
                (from_model, s.created_at, s.id)
            })
            .map(|s| s.id)
    });
    let summaries: Vec<Summary> = own[own.len().saturating_sub(REPLAY_SUMMARIES)..]
        .iter()
        .map(|s| (*s).clone())
        .collect();
    let transcript: Vec<Segment> = transcript[transcript.len().saturating_sub(REPLAY_SEGMENTS)..]
        .iter()
        .filter(|s| {
            transfer
                .connecting_at
                .is_none_or(|handoff| s.received_at <= handoff)
        })
        .cloned()
        .collect();
    let room_names = [&transfer.caller_room, &transfer.briefing_room];
    let events = events
        .iter()
        .filter(|e| {
            e.transfer_id == Some(transfer.id)
                || (e.kind.starts_with("participant.")
                    && e.data
                        .get("room")
                        .and_then(|r| r.as_str())
                        .is_some_and(|r| room_names.iter().any(|n| n.as_str() == r))
                    && e.created_at >= transfer.initiated_at
                    && ended_at.is_none_or(|to| e.created_at <= to))
        })
        .cloned()
        .collect();
    let rooms = room_names
        .iter()
        .map(|name| RoomHistory {
            room: (*name).clone(),
            participants: rooms
                .iter()
                .find(|r| &r.room == *name)
                .map(|r| r.participants.clone())
                .unwrap_or_default(),
        })
        .collect();
    TransferReplay {
        transfer,
        call: call.clone(),
        steps,
        durations,
        summaries,
        briefing_summary_id,
        transcript,
        events,
        rooms,
        jobs,
    }
}
