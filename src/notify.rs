//! One LISTEN connection for the whole process: it wakes idle job workers on new jobs and
//! live event streams on new events. Everything also polls, so a lost connection only slows
//! things down until it is back.

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgListener;
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

/// The channel the `jobs` insert trigger notifies.
pub const JOBS_CHANNEL: &str = "warmline_jobs";
/// The channel the `events` insert trigger notifies.
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
}

impl Signals {
    /// Fresh signals, nobody waiting.
    pub fn new() -> Arc<Self> {
        Arc::new(Self {
            jobs: Notify::new(),
            events: watch::Sender::new(0),
            api_keys: watch::Sender::new(0),
        })
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
