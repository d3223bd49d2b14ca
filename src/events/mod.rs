//! The append-only event log: call timelines and live event streams.

pub mod live;
pub mod model;
pub mod routes;
pub mod store;

use std::collections::VecDeque;
use std::sync::Arc;

use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::model::Principal;
use crate::error::ApiError;
use crate::pagination::{self, Page};
use model::{Event, EventStreamQuery, TimelineQuery};

/// A page of a call's timeline, oldest first.
pub async fn timeline(
    db: &PgPool,
    principal: &Principal,
    call_id: Uuid,
    query: TimelineQuery,
) -> Result<Page<Event>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<i64> = pagination::decode_cursor(query.cursor.as_deref())?;
    crate::calls::get(db, principal, call_id).await?;
    let rows = store::list_for_call(db, call_id, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |e| e.id))
}

/// The events a frontend key's stream carries: its call's status and agent, not the
/// transfers' or transcripts' details.
const FRONTEND_KINDS: &str = "call.";

/// Events fetched per query while a stream catches up.
const STREAM_BATCH: i64 = 100;

/// What a live stream sends.
#[derive(Debug)]
pub enum StreamMessage {
    /// An event matching the stream's filters.
    Event(Arc<Event>),
    /// The client fell too far behind; the stream ends after this, and the client resumes
    /// with `Last-Event-ID`.
    Lagged,
}

/// A live stream of events matching `query`, starting after `last_event_id` (a reconnecting
/// client's `Last-Event-ID`), `query.after`, or now. Ends when the service stops, or after
/// [`StreamMessage::Lagged`] when the client reads too slowly.
pub async fn stream(
    state: &crate::app::AppState,
    principal: &Principal,
    query: EventStreamQuery,
    last_event_id: Option<&str>,
) -> Result<impl futures_util::Stream<Item = StreamMessage> + use<>, ApiError> {
    let resume = match last_event_id.map(str::trim) {
        Some(raw) => Some(
            raw.parse::<i64>()
                .map_err(|_| ApiError::invalid("Last-Event-ID", "must be an event id"))?,
        ),
        None => query.after,
    };
    if resume.is_some_and(|id| id < 0) {
        return Err(ApiError::invalid("after", "must not be negative"));
    }
    if query
        .kind
        .as_deref()
        .is_some_and(|k| k.trim().is_empty() || k.len() > 100)
    {
        return Err(ApiError::invalid("kind", "must be 1 to 100 characters"));
    }
    let mut query = query;
    if let Some(agent) = query.agent.as_deref() {
        crate::domain::Identity::parse(agent).map_err(|m| ApiError::invalid("agent", m))?;
    }
    // An agent key follows its own calls and offers, never another agent's.
    if let Some(own) = principal.agent() {
        match query.agent.as_deref() {
            Some(asked) if asked.trim() != own => {
                return Err(ApiError::Forbidden(format!(
                    "this key is agent {own}; it may not follow {}'s events",
                    asked.trim()
                )));
            }
            _ => query.agent = Some(own.to_owned()),
        }
    }
    query.agent = query.agent.map(|a| a.trim().to_owned());
    // A frontend key follows the status of one call it started (its caller's page), no more.
    if principal.frontend().is_some() {
        let Some(call_id) = query.call_id else {
            return Err(ApiError::invalid(
                "call_id",
                "a frontend key follows one call it started: name it",
            ));
        };
        match query.kind.as_deref() {
            None => query.kind = Some(FRONTEND_KINDS.to_owned()),
            Some(kind) if kind.starts_with(FRONTEND_KINDS) => {}
            Some(_) => {
                return Err(ApiError::Forbidden(format!(
                    "a frontend key follows only `{FRONTEND_KINDS}` events"
                )));
            }
        }
        crate::calls::get(&state.db, principal, call_id).await?;
    }
    // A key holds a bounded number of streams; the slot lives as long as the stream.
    let slot = match principal.key_id() {
        Some(key) => Some(
            state
                .streams
                .open(key, state.config.auth.max_event_streams_per_key)
                .ok_or_else(|| {
                    ApiError::TooManyRequests(format!(
                        "this key already holds {} open event streams; close one first",
                        state.config.auth.max_event_streams_per_key
                    ))
                })?,
        ),
        None => None,
    };
    let start = match resume {
        Some(id) => id,
        None => store::latest_id(&state.db).await?,
    };
    // Joined before the catch-up read, so nothing written meanwhile falls between the two.
    let joined = state.live.join(start, &query);
    let catch_up = (start < joined.settled).then(|| CatchUp {
        db: state.db.clone(),
        next: start,
        until: joined.settled,
    });
    let feed = Feed {
        _slot: slot,
        shutdown: state.shutdown.clone(),
        live: joined.subscription,
        query,
        start,
        catch_up,
        caught_up: VecDeque::new(),
        published: joined.unsettled.into(),
        ended: false,
    };
    Ok(futures_util::stream::unfold(feed, Feed::next))
}

/// The settled part of the log a resuming stream still has to read from the table.
struct CatchUp {
    db: PgPool,
    next: i64,
    until: i64,
}

/// One stream's state; kept small, since thousands of streams may sit idle.
struct Feed {
    _slot: Option<crate::auth::limits::StreamSlot>,
    shutdown: tokio_util::sync::CancellationToken,
    live: live::Subscription,
    query: EventStreamQuery,
    /// Live events up to here were read before the stream started.
    start: i64,
    catch_up: Option<CatchUp>,
    /// Events read from the table and not yet sent.
    caught_up: VecDeque<Arc<Event>>,
    /// Events published before the stream joined, sent once the table is read.
    published: VecDeque<Arc<Event>>,
    ended: bool,
}

impl Feed {
    async fn next(mut self) -> Option<(StreamMessage, Self)> {
        if self.ended {
            return None;
        }
        loop {
            if let Some(event) = self.caught_up.pop_front() {
                return Some((StreamMessage::Event(event), self));
            }
            let Some(catch_up) = &mut self.catch_up else {
                // Let go of the catch-up's buffer: the stream may now idle for hours.
                self.caught_up = VecDeque::new();
                break;
            };
            if self.shutdown.is_cancelled() {
                return None;
            }
            // Boxed: an idle stream should not carry the query's state inline.
            let rows = Box::pin(store::list_after(
                &catch_up.db,
                &self.query,
                catch_up.next,
                catch_up.until,
                STREAM_BATCH,
            ))
            .await;
            match rows {
                Ok(rows) => {
                    match rows.last() {
                        Some(last) if rows.len() as i64 == STREAM_BATCH => catch_up.next = last.id,
                        _ => self.catch_up = None,
                    }
                    self.caught_up.extend(rows.into_iter().map(Arc::new));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "reading missed events for a stream failed");
                    return None;
                }
            }
        }
        if let Some(event) = self.published.pop_front() {
            return Some((StreamMessage::Event(event), self));
        }
        loop {
            let received = tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                received = self.live.recv() => received,
            };
            match received {
                live::Received::Event(event) if event.id > self.start => {
                    return Some((StreamMessage::Event(event), self));
                }
                live::Received::Event(_) => {}
                live::Received::Lagged => {
                    tracing::info!("an event stream fell behind and was closed");
                    self.ended = true;
                    return Some((StreamMessage::Lagged, self));
                }
                live::Received::Closed => return None,
            }
        }
    }
}
