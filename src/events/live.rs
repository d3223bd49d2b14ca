//! One reader per process follows the event log and fans new events out in memory, so an
//! open stream costs no query while nothing it wants happens.
//!
//! Ids are drawn when a row is inserted but become visible when its transaction commits, so
//! an event can appear after one with a higher id. Reading `id > last` alone would skip it.
//! The reader therefore keeps two things: `settled`, an id up to which every event that will
//! ever commit has been published, and the events published above it (`unsettled`), which it
//! leaves out of its next reads. An id `h` drawn from the sequence settles once every
//! transaction that could hold an id up to `h` has ended: the reader notes `h` and then takes
//! a transaction id of its own (`marker`), which is newer than any transaction that had
//! drawn an id by then; once the oldest running transaction is newer than `marker`, all
//! of them have committed or rolled back, and a read from then on sees every id up to `h`.
//! This relies on what the schema does: events are written by triggers after the row that
//! caused them, so their transaction holds an id before it draws one from the sequence, and
//! the sequence has no per-session cache.

use std::collections::{BTreeMap, HashMap};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use sqlx::PgPool;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use uuid::Uuid;

use super::model::{Event, EventStreamQuery};
use super::store;

/// Events read per query, at most; a batch is sent at once, so it is also kept well within
/// what a stream may fall behind.
const MAX_READ_BATCH: usize = 256;
/// Published events waiting to settle, beyond which the reader settles anyway (a transaction
/// left prepared forever would otherwise hold them all).
const MAX_UNSETTLED: usize = 10_000;

/// The least time between two reads of the log: writes that land sooner after a read wait for
/// the next one, so under load one read serves many writes (a reader woken per write cost a
/// query per write). A stream sees an event at most this much later.
const READ_SPACING: Duration = Duration::from_millis(5);

/// The live end of the event log, shared by every stream of this process.
#[derive(Debug)]
pub struct LiveEvents {
    /// Events that may wait for a stream before it is dropped as too slow.
    capacity: usize,
    /// Events read per query.
    batch: i64,
    /// Changed together with each send, so a stream that joins sees every event exactly once:
    /// in the table (settled), in `unsettled`, or on its receiver.
    log: Mutex<Position>,
}

/// Where a stream is filed: under the filter of its that picks the fewest events, so an event
/// wakes only the streams that may want it, and an idle stream costs nothing per event.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Route {
    Transfer(Uuid),
    Call(Uuid),
    Agent(String),
    Every,
}

impl Route {
    fn of(query: &EventStreamQuery) -> Self {
        match (query.transfer_id, query.call_id, &query.agent) {
            (Some(id), _, _) => Route::Transfer(id),
            (None, Some(id), _) => Route::Call(id),
            (None, None, Some(agent)) => Route::Agent(agent.clone()),
            (None, None, None) => Route::Every,
        }
    }
}

/// One joined stream, as the publisher sees it.
#[derive(Debug)]
struct Subscriber {
    id: u64,
    query: EventStreamQuery,
    sender: mpsc::Sender<Arc<Event>>,
    lagged: Arc<AtomicBool>,
}

#[derive(Debug, Default)]
struct Position {
    /// Every event up to this id has been published; `None` until the reader has started.
    settled: Option<i64>,
    /// Published events above `settled`, by id.
    unsettled: BTreeMap<i64, Arc<Event>>,
    /// The earliest start of a stream that joined before the reader started.
    earliest_join: Option<i64>,
    /// Joined streams by route.
    streams: HashMap<Route, Vec<Subscriber>>,
    /// The id of the next stream to join.
    next_stream: u64,
}

impl Position {
    /// Hands `event` to each stream that wants it; a stream whose buffer is full is dropped
    /// and told so.
    fn send(&mut self, event: &Arc<Event>) {
        let mut routes = Vec::with_capacity(3 + event.agents.len());
        routes.push(Route::Every);
        routes.push(Route::Call(event.call_id));
        routes.extend(event.transfer_id.map(Route::Transfer));
        for agent in &event.agents {
            let route = Route::Agent(agent.clone());
            if !routes.contains(&route) {
                routes.push(route);
            }
        }
        for route in routes {
            let Some(subscribers) = self.streams.get_mut(&route) else {
                continue;
            };
            subscribers.retain(|s| {
                if !s.query.wants(event) {
                    return true;
                }
                match s.sender.try_send(event.clone()) {
                    Ok(()) => true,
                    Err(mpsc::error::TrySendError::Full(_)) => {
                        // Dropping the sender ends the receiver once it has read what is
                        // queued; the flag tells it why.
                        s.lagged.store(true, Ordering::Release);
                        false
                    }
                    Err(mpsc::error::TrySendError::Closed(_)) => false,
                }
            });
            if subscribers.is_empty() {
                self.streams.remove(&route);
            }
        }
    }

    fn leave(&mut self, route: &Route, id: u64) {
        if let Some(subscribers) = self.streams.get_mut(route) {
            subscribers.retain(|s| s.id != id);
            if subscribers.is_empty() {
                self.streams.remove(route);
            }
        }
    }
}

/// A stream's place in the live log: new events it wants arrive here. Leaving is dropping it.
#[derive(Debug)]
pub struct Subscription {
    live: Arc<LiveEvents>,
    route: Route,
    id: u64,
    receiver: mpsc::Receiver<Arc<Event>>,
    lagged: Arc<AtomicBool>,
}

/// What a [`Subscription`] yields.
#[derive(Debug)]
pub enum Received {
    Event(Arc<Event>),
    /// The stream fell more than the buffer behind and was dropped.
    Lagged,
    /// The log is shutting down.
    Closed,
}

impl Subscription {
    /// The next event the stream wants.
    pub async fn recv(&mut self) -> Received {
        match self.receiver.recv().await {
            Some(event) => Received::Event(event),
            None if self.lagged.load(Ordering::Acquire) => Received::Lagged,
            None => Received::Closed,
        }
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.live.position().leave(&self.route, self.id);
    }
}

/// What a stream gets when it joins: where the table stops being enough, what was published
/// since, and a receiver for what comes next.
#[derive(Debug)]
pub struct Joined {
    /// New events it wants, from the moment of joining.
    pub subscription: Subscription,
    /// Events up to here are final: read them from the table.
    pub settled: i64,
    /// Events already published above `settled` and after the stream's start, in id order.
    pub unsettled: Vec<Arc<Event>>,
}

impl LiveEvents {
    /// A log no one reads yet; `capacity` events may wait for the slowest stream.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            batch: (capacity / 2).clamp(1, MAX_READ_BATCH) as i64,
            log: Mutex::default(),
        }
    }

    fn position(&self) -> std::sync::MutexGuard<'_, Position> {
        self.log.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Joins the live log for a stream that has seen everything up to `after` and wants what
    /// `query` picks.
    pub fn join(self: &Arc<Self>, after: i64, query: &EventStreamQuery) -> Joined {
        let mut log = self.position();
        let (sender, receiver) = mpsc::channel(self.capacity);
        let lagged = Arc::new(AtomicBool::new(false));
        let route = Route::of(query);
        let id = log.next_stream;
        log.next_stream += 1;
        log.streams
            .entry(route.clone())
            .or_default()
            .push(Subscriber {
                id,
                query: query.clone(),
                sender,
                lagged: lagged.clone(),
            });
        let subscription = Subscription {
            live: self.clone(),
            route,
            id,
            receiver,
            lagged,
        };
        match log.settled {
            Some(settled) => Joined {
                subscription,
                settled,
                unsettled: log
                    .unsettled
                    .range(after.saturating_add(1)..)
                    .map(|(_, e)| e)
                    .filter(|e| query.wants(e))
                    .cloned()
                    .collect(),
            },
            None => {
                // The reader will start no later than here, so this stream misses nothing.
                log.earliest_join = Some(log.earliest_join.map_or(after, |e| e.min(after)));
                Joined {
                    subscription,
                    settled: after,
                    unsettled: Vec::new(),
                }
            }
        }
    }

    fn start(&self, latest: i64) -> i64 {
        let mut log = self.position();
        let start = log.earliest_join.map_or(latest, |e| e.min(latest));
        log.settled = Some(start);
        start
    }

    /// What the next read wants: every event above the newest published one, and the ids
    /// between `settled` and it that were not published (drawn by transactions still open,
    /// or rolled back). Naming the few gaps keeps a read's cost apart from the many
    /// published events that wait to settle (excluding those by id cost each row a look at
    /// all of them).
    fn unread(&self) -> Unread {
        let log = self.position();
        let settled = log.settled.unwrap_or(0);
        let mut gaps = Vec::new();
        let mut next = settled.saturating_add(1);
        for &id in log.unsettled.keys() {
            gaps.extend(next..id);
            next = id.saturating_add(1);
        }
        Unread {
            after: next - 1,
            waiting: log.unsettled.len() + gaps.len(),
            gaps,
        }
    }

    fn publish(&self, events: Vec<Event>, settle: Option<i64>) {
        let mut log = self.position();
        for event in events {
            let event = Arc::new(event);
            log.unsettled.insert(event.id, event.clone());
            log.send(&event);
        }
        if let Some(up_to) = settle.filter(|&s| log.settled.is_none_or(|current| s > current)) {
            log.settled = Some(up_to);
            log.unsettled = log.unsettled.split_off(&up_to.saturating_add(1));
        }
    }
}

/// See [`LiveEvents::unread`].
struct Unread {
    after: i64,
    gaps: Vec<i64>,
    /// Ids above `settled`, published or not.
    waiting: usize,
}

/// An id that settles once the oldest running transaction is newer than `marker`.
#[derive(Debug, Clone, Copy)]
struct Pending {
    drawn: i64,
    marker: i64,
}

/// Follows the log until `shutdown`: woken by the events NOTIFY, and every `poll` in case a
/// notification was lost.
pub async fn follow(
    db: PgPool,
    live: Arc<LiveEvents>,
    signals: Arc<crate::notify::Signals>,
    shutdown: CancellationToken,
    poll: Duration,
) {
    let mut wake = signals.events.subscribe();
    let mut pending: Option<Pending> = None;
    let mut started = false;
    let mut spacing = crate::notify::Spacing::new(READ_SPACING);
    loop {
        spacing.wait().await;
        spacing.mark();
        // Seen before reading, so an event written during the read wakes us again.
        wake.borrow_and_update();
        if !started {
            match store::latest_id(&db).await {
                // What committed before is history: streams read it from the table.
                Ok(latest) => {
                    live.start(latest);
                    started = true;
                }
                Err(e) => tracing::warn!(error = %e, "reading where the event log ends failed"),
            }
        }
        if started {
            loop {
                match read_once(&db, &live, &mut pending).await {
                    Ok(true) => continue,
                    Ok(false) => break,
                    Err(e) => {
                        tracing::warn!(error = %e, "reading new events failed");
                        break;
                    }
                }
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = wake.changed() => if changed.is_err() {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(poll) => {}
                }
            },
            _ = tokio::time::sleep(poll) => {}
        }
    }
}

/// Reads one batch and publishes it; true when more may be waiting.
async fn read_once(
    db: &PgPool,
    live: &LiveEvents,
    pending: &mut Option<Pending>,
) -> sqlx::Result<bool> {
    let unread = live.unread();
    let page = store::read_log(
        db,
        unread.after,
        &unread.gaps,
        live.batch,
        pending.is_none(),
    )
    .await?;
    let more = page.events.len() as i64 == live.batch;
    let mut settle = None;
    if let Some(p) = *pending {
        let ended = page.oldest_running > p.marker;
        if ended || unread.waiting >= MAX_UNSETTLED {
            if !ended {
                tracing::warn!(
                    unsettled = unread.waiting,
                    "a transaction has been open for long; events it commits late may be missed"
                );
            }
            // A full page was cut short: only the ids up to its last are known to be all read.
            let up_to = match page.events.last() {
                Some(last) if more => last.id.min(p.drawn),
                _ => p.drawn,
            };
            settle = Some(up_to);
            if up_to == p.drawn {
                *pending = None;
            }
        }
    }
    if let Some(marker) = page.marker {
        *pending = Some(Pending {
            drawn: page.drawn,
            marker,
        });
    }
    live.publish(page.events, settle);
    Ok(more)
}
