//! Waking what waits on new rows: idle job workers on new jobs, the live event reader on new
//! events. Writes in this process wake them directly once committed ([`Signals::wrote`]);
//! other processes on the same database learn of them from a NOTIFY sent outside the writing
//! transaction, and this one from theirs through one LISTEN connection. Everything also polls,
//! so a lost wake-up only slows things down until the next poll.
//!
//! Processes find each other on a channel of their own (a hello when one starts listening,
//! answered by the others); a process that has met no other sends no NOTIFY at all.
//!
//! Why not NOTIFY from the writing transaction: Postgres serializes the commits of every
//! transaction that notified (a database-wide lock held from before the commit record until
//! it is flushed), which cost a fifth of the throughput of the prototype's flow.

pub mod store;

use std::cell::Cell;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The channel on which processes announce new jobs.
pub const JOBS_CHANNEL: &str = "warmline_jobs";
/// The channel on which processes announce new events.
pub const EVENTS_CHANNEL: &str = "warmline_events";
/// The channel on which processes on one database find each other.
pub const PEERS_CHANNEL: &str = "warmline_peers";
/// The channel the `api_keys` trigger notifies when a key is created or revoked.
pub const API_KEYS_CHANNEL: &str = "warmline_api_keys";

/// What listeners can wait on.
#[derive(Debug)]
pub struct Signals {
    /// Woken when a job is enqueued.
    pub jobs: Notify,
    /// Bumped when an event is written (the value only changes; readers query what is new).
    pub events: watch::Sender<u64>,
    /// Bumped when an API key changes, and on every (re)connection, when changes may have
    /// been missed.
    pub api_keys: watch::Sender<u64>,
    /// Woken when other processes should be told of this one's writes.
    announce: Notify,
    /// This process's payload on its announcements, so it ignores its own.
    instance: String,
    /// Whether another process has been heard from on this database.
    peers: AtomicBool,
}

impl Signals {
    /// Fresh signals, nobody waiting.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            jobs: Notify::new(),
            events: watch::Sender::new(0),
            api_keys: watch::Sender::new(0),
            announce: Notify::new(),
            instance: uuid::Uuid::new_v4().simple().to_string(),
            peers: AtomicBool::new(false),
        })
    }

    /// Says that a write of this process has committed (or may have): new events and jobs are
    /// looked for here at once, and other processes are told.
    pub fn wrote(&self) {
        self.jobs.notify_waiters();
        self.wrote_events();
    }

    fn wrote_events(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
        self.announce.notify_one();
    }
}

/// Keeps the passes of a loop at least `least` apart: a pass due sooner waits for its time,
/// so under load one pass (a read, a claim) serves everything that arrived meanwhile, where a
/// pass per wake-up cost a query per write.
#[derive(Debug)]
pub struct Spacing {
    least: Duration,
    last: Option<tokio::time::Instant>,
}

impl Spacing {
    /// Passes at least `least` apart; the first is not held back.
    pub fn new(least: Duration) -> Self {
        Self { least, last: None }
    }

    /// Waits until `least` has passed since the last [`Spacing::mark`].
    pub async fn wait(&self) {
        if let Some(at) = self.last {
            tokio::time::sleep_until(at + self.least).await;
        }
    }

    /// Notes that a pass starts now.
    pub fn mark(&mut self) {
        self.last = Some(tokio::time::Instant::now());
    }
}

tokio::task_local! {
    static QUEUED_JOBS: Cell<bool>;
}

/// Notes that the current request queued a job: the workers are woken once it is answered
/// (see [`wake_after`]). Outside a request it does nothing.
pub fn queued_jobs() {
    let _ = QUEUED_JOBS.try_with(|queued| queued.set(true));
}

/// Runs one request's `work`, then wakes what its writes concern: the event reader when it
/// `may_write` (it cannot know whether a trigger wrote an event), the job workers only when
/// it queued a job, so reads and writes without jobs cost the workers no query.
pub async fn wake_after<F: std::future::Future>(
    signals: &Signals,
    may_write: bool,
    work: F,
) -> F::Output {
    let (output, queued) = QUEUED_JOBS
        .scope(Cell::new(false), async {
            let output = work.await;
            (output, QUEUED_JOBS.with(Cell::get))
        })
        .await;
    if queued {
        signals.wrote();
    } else if may_write {
        signals.wrote_events();
    }
    output
}

/// Tells other processes of this one's writes until `shutdown`: one NOTIFY per channel from a
/// transaction of its own, and at most one per `gap`, however many writes there were; none
/// while no other process has been heard from.
pub async fn announce(
    db: PgPool,
    signals: Arc<Signals>,
    shutdown: CancellationToken,
    gap: Duration,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = signals.announce.notified() => {}
        }
        if !signals.peers.load(Ordering::Relaxed) {
            continue;
        }
        let me = signals.instance.as_str();
        let sent = store::send(&db, &[(EVENTS_CHANNEL, me), (JOBS_CHANNEL, me)]).await;
        if let Err(e) = sent {
            // Other processes find the rows at their next poll.
            tracing::warn!(error = %e, "announcing new rows to other processes failed");
        }
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(gap) => {}
        }
    }
}

/// LISTENs until `shutdown`, reconnecting after `retry` when the connection drops.
pub async fn listen(
    db: PgPool,
    signals: Arc<Signals>,
    shutdown: CancellationToken,
    retry: Duration,
) {
    while !shutdown.is_cancelled() {
        let connected = async {
            let mut listener = PgListener::connect_with(&db).await?;
            listener
                .listen_all([
                    JOBS_CHANNEL,
                    EVENTS_CHANNEL,
                    API_KEYS_CHANNEL,
                    PEERS_CHANNEL,
                ])
                .await?;
            greet(&db, &signals, "hello").await?;
            Ok::<_, sqlx::Error>(listener)
        };
        let error = match connected.await {
            Ok(mut listener) => {
                // Whatever was notified while no one listened was missed: key changes must
                // not stay cached, and idle workers and streams look now, not at their next poll.
                signals.api_keys.send_modify(|n| *n = n.wrapping_add(1));
                signals.jobs.notify_waiters();
                signals.events.send_modify(|n| *n = n.wrapping_add(1));
                loop {
                    tokio::select! {
                        _ = shutdown.cancelled() => return,
                        received = listener.recv() => match received {
                            // Our own writes woke everything here already.
                            Ok(n) if n.payload().ends_with(signals.instance.as_str()) => {}
                            Ok(n) if n.channel() == PEERS_CHANNEL => {
                                signals.peers.store(true, Ordering::Relaxed);
                                // A newcomer learns of us from the answer.
                                if n.payload().starts_with("hello:")
                                    && let Err(e) = greet(&db, &signals, "here").await
                                {
                                    break e;
                                }
                            }
                            Ok(n) if n.channel() == JOBS_CHANNEL => {
                                signals.peers.store(true, Ordering::Relaxed);
                                signals.jobs.notify_waiters();
                            }
                            Ok(n) if n.channel() == API_KEYS_CHANNEL => {
                                signals.api_keys.send_modify(|n| *n = n.wrapping_add(1));
                            }
                            Ok(_) => {
                                signals.peers.store(true, Ordering::Relaxed);
                                signals.events.send_modify(|n| *n = n.wrapping_add(1));
                            }
                            Err(e) => break e,
                        },
                    }
                }
            }
            Err(e) => e,
        };
        tracing::warn!(error = %error, "database notifications lost; polling until they are back");
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(retry) => {}
        }
    }
}

/// Tells the other processes on this database that this one exists (`hello` when it starts
/// listening, `here` to answer another's hello).
async fn greet(db: &PgPool, signals: &Signals, word: &str) -> sqlx::Result<()> {
    let greeting = format!("{word}:{}", signals.instance);
    store::send(db, &[(PEERS_CHANNEL, &greeting)]).await
}
