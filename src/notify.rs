//! Waking what waits on new rows: idle job workers on new jobs, the live event reader on new
//! events. Writes in this process wake them directly once committed ([`Signals::wrote`]);
//! other processes on the same database learn of them from a NOTIFY sent outside the writing
//! transaction, and this one from theirs through one LISTEN connection. Everything also polls,
//! so a lost wake-up only slows things down until the next poll.
//!
//! Why not NOTIFY from the writing transaction: Postgres serializes the commits of every
//! transaction that notified (a database-wide lock held from before the commit record until
//! it is flushed), which cost a fifth of the throughput of the prototype's flow.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The channel on which processes announce new jobs.
pub const JOBS_CHANNEL: &str = "warmline_jobs";
/// The channel on which processes announce new events.
pub const EVENTS_CHANNEL: &str = "warmline_events";
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
        })
    }

    /// Says that a write of this process has committed (or may have): new events and jobs are
    /// looked for here at once, and other processes are told.
    pub fn wrote(&self) {
        self.events.send_modify(|n| *n = n.wrapping_add(1));
        self.jobs.notify_waiters();
        self.announce.notify_one();
    }
}

/// Tells other processes of this one's writes until `shutdown`: one NOTIFY per channel from a
/// transaction of its own, and at most one per `gap`, however many writes there were.
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
        let sent = sqlx::query("SELECT pg_notify($1, $3), pg_notify($2, $3)")
            .bind(EVENTS_CHANNEL)
            .bind(JOBS_CHANNEL)
            .bind(&signals.instance)
            .execute(&db)
            .await;
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
                .listen_all([JOBS_CHANNEL, EVENTS_CHANNEL, API_KEYS_CHANNEL])
                .await?;
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
                            Ok(n) if n.payload() == signals.instance => {}
                            Ok(n) if n.channel() == JOBS_CHANNEL => signals.jobs.notify_waiters(),
                            Ok(n) if n.channel() == API_KEYS_CHANNEL => {
                                signals.api_keys.send_modify(|n| *n = n.wrapping_add(1));
                            }
                            Ok(_) => signals.events.send_modify(|n| *n = n.wrapping_add(1)),
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
