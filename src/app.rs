//! The shared state every handler reaches, and the parts of it a handler may take alone.

use std::sync::Arc;

use axum::extract::FromRef;
use tokio_util::sync::CancellationToken;

use crate::config::Config;

/// What every handler can reach. Shared behind one `Arc`: every layer and extractor of every
/// request takes a copy, and copying the parts (a dozen counts, a cancellation token's lock,
/// LiveKit's settings) was most of a light request's CPU.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

/// The parts of [`AppState`].
#[derive(Clone)]
pub struct Shared {
    pub db: sqlx::PgPool,
    pub config: Arc<Config>,
    pub livekit: crate::livekit::LiveKit,
    /// The model client, when a model is configured.
    pub summarizer: Option<Arc<crate::summaries::llm::LlmSummarizer>>,
    /// Counters and histograms served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// API keys seen recently, and whether any exists.
    pub keys: Arc<crate::auth::keys::KeyCache>,
    /// Secret values scrubbed from stored and shown errors.
    pub secrets: Arc<crate::secrets::Secrets>,
    /// Event streams open per API key.
    pub streams: Arc<crate::auth::limits::StreamCounts>,
    /// Wake-ups from the database's NOTIFY channels.
    pub signals: Arc<crate::notify::Signals>,
    /// New events, fanned out to this process's event streams by one reader.
    pub live: Arc<crate::events::live::LiveEvents>,
    /// The word statistics call searches choose their way by.
    pub search_statistics: Arc<crate::calls::statistics::SearchStatistics>,
    /// Cancelled when the service stops; long-lived responses (event streams) end with it.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// The state for a pool and a config.
    pub fn new(db: sqlx::PgPool, config: Config) -> anyhow::Result<Self> {
        let livekit = crate::livekit::LiveKit::new(config.livekit.clone());
        let summarizer = match &config.summary_model {
            Some(model) => Some(Arc::new(crate::summaries::llm::LlmSummarizer::new(
                model.clone(),
            )?)),
            None => None,
        };
        let config_ttl = config.auth.key_cache_ttl;
        let secrets = Arc::new(crate::secrets::Secrets::from_config(&config));
        let live = Arc::new(crate::events::live::LiveEvents::new(
            config.event_stream_buffer,
        ));
        Ok(Self(Arc::new(Shared {
            db,
            config: Arc::new(config),
            livekit,
            summarizer,
            metrics: crate::metrics::Metrics::new(),
            keys: Arc::new(crate::auth::keys::KeyCache::new(config_ttl)),
            streams: Arc::default(),
            secrets,
            signals: crate::notify::Signals::new(),
            live,
            search_statistics: Arc::default(),
            shutdown: CancellationToken::new(),
        })))
    }

    /// The same state, whose long-lived responses end with `shutdown`.
    pub fn with_shutdown(self, shutdown: CancellationToken) -> Self {
        let mut shared = Arc::unwrap_or_clone(self.0);
        shared.shutdown = shutdown;
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

impl FromRef<AppState> for sqlx::PgPool {
    fn from_ref(state: &AppState) -> Self {
        state.db.clone()
    }
}

impl FromRef<AppState> for Arc<crate::metrics::Metrics> {
    fn from_ref(state: &AppState) -> Self {
        state.metrics.clone()
    }
}

/// Runs `tick` every `interval` (after the first wait) until `shutdown`: the background sweeps
/// that look for due work in one query instead of a job per row.
pub async fn every<F, Fut>(interval: std::time::Duration, shutdown: CancellationToken, mut tick: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(interval) => {}
        }
        tick().await;
    }
}
