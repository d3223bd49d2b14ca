//! The append-only event log: call timelines and live event streams.

pub mod model;
pub mod routes;
pub mod store;

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

/// Events fetched per query while a stream catches up.
const STREAM_BATCH: i64 = 100;

/// A live stream of events matching `query`, starting after `last_event_id` (a reconnecting
/// client's `Last-Event-ID`), `query.after`, or now. Ends when the service stops.
pub async fn stream(
    state: &crate::app::AppState,
    principal: &Principal,
    query: EventStreamQuery,
    last_event_id: Option<&str>,
) -> Result<impl futures_util::Stream<Item = Event> + use<>, ApiError> {
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
    let feed = Feed {
        _slot: slot,
        db: state.db.clone(),
        shutdown: state.shutdown.clone(),
        wake: state.signals.events.subscribe(),
        poll: state.config.event_stream_poll,
        query,
        last_id: start,
        pending: std::collections::VecDeque::new(),
    };
    Ok(futures_util::stream::unfold(feed, Feed::next))
}

struct Feed {
    _slot: Option<crate::auth::limits::StreamSlot>,
    db: PgPool,
    shutdown: tokio_util::sync::CancellationToken,
    wake: tokio::sync::watch::Receiver<u64>,
    /// How often to look anyway, in case a notification was lost (`EVENT_STREAM_POLL_MS`).
    poll: std::time::Duration,
    query: EventStreamQuery,
    last_id: i64,
    pending: std::collections::VecDeque<Event>,
}

impl Feed {
    async fn next(mut self) -> Option<(Event, Self)> {
        loop {
            if let Some(event) = self.pending.pop_front() {
                return Some((event, self));
            }
            if self.shutdown.is_cancelled() {
                return None;
            }
            // Seen before querying, so an event written during the query still wakes us.
            self.wake.borrow_and_update();
            match store::list_after(&self.db, &self.query, self.last_id, STREAM_BATCH).await {
                Ok(rows) if !rows.is_empty() => {
                    self.last_id = rows.last().map_or(self.last_id, |e| e.id);
                    self.pending.extend(rows);
                    continue;
                }
                Ok(_) => {}
                Err(e) => tracing::warn!(error = %e, "reading events for a live stream failed"),
            }
            tokio::select! {
                _ = self.shutdown.cancelled() => return None,
                _ = self.wake.changed() => {}
                _ = tokio::time::sleep(self.poll) => {}
            }
        }
    }
}
