//! warmline: warm (attended) call transfers over LiveKit, stored in Postgres.
//!
//! Dependencies run one way, from the bottom up (`tests/api/structure.rs` fails on a cycle):
//! 1. foundations: `config`, `error`, `domain`, `extract`, `pagination`, `telemetry`, `notify`,
//!    `db`, and the outside clients `livekit` and `summaries::llm`;
//! 2. `app`: the shared state, and what it carries: `metrics`, and `events::live`, the one
//!    reader of the event log and its in-memory fan-out (it uses only the events' records);
//!    `idempotency`, the middleware that replays a POST's first response;
//! 3. records: each resource's `model` and `store` (its SQL), and `rooms`; a store uses
//!    models, never services;
//! 4. services, each using records of any resource and only the services listed before it:
//!    `participants`, `transcripts`, `summaries`, `transfers`, `calls` (a call's life, ending it
//!    ends its transfer), `tokens`, `webhooks`, `events`, `reviews` (QA scorecards and reviews
//!    of ended transfers), `stats` (figures over transfers' records), `jobs` (the worker),
//!    `compat`;
//! 5. each module's `routes`, and `console` (the web console's embedded files), then
//!    `router`, which assembles them, and `serve` here.

pub mod agents;
pub mod app;
pub mod auth;
pub mod calls;
pub mod compat;
pub mod config;
pub mod console;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod export;
pub mod extract;
pub mod health;
pub mod idempotency;
pub mod jobs;
pub mod livekit;
pub mod metrics;
pub mod notify;
pub mod pagination;
pub mod participants;
pub mod reviews;
pub mod rooms;
pub mod router;
pub mod secrets;
pub mod stats;
pub mod summaries;
pub mod telemetry;
pub mod tokens;
pub mod transcripts;
pub mod transfers;
pub mod webhooks;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use app::AppState;
pub use config::Config;
pub use router::{openapi, router};

/// Runs the service until SIGTERM or ctrl-c: database, migrations, HTTP.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let database = db::connect(&config).await?;
    if config.auto_migrate {
        db::migrate(&database.pool).await?;
    }
    let addr = config.listen_addr();
    check_open_mode(&database.pool, &config).await?;
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr} (set BIND/PORT to use another address)"))?;
    let state = AppState::new(database.pool.clone(), config)?;
    let shutdown = CancellationToken::new();
    tokio::spawn(cancel_on_signal(shutdown.clone()));

    tracing::info!(%addr, docs = %format!("http://{addr}/docs"), "warmline is listening");
    let served = serve(listener, state, shutdown).await;
    database.pool.close().await;
    if let Some(cluster) = database.embedded
        && let Err(e) = cluster.stop().await
    {
        tracing::warn!(error = %e, "stopping the private Postgres cluster failed");
    }
    tracing::info!("warmline stopped");
    served
}

/// Serves `router(state)` on `listener` and runs the job worker and the event reader, until `shutdown` is
/// cancelled; requests and jobs in flight finish first.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = state.with_shutdown(shutdown.clone());
    let retry = state.config.jobs.poll_interval * 5;
    // Until this succeeds keys are assumed to exist: nothing is served open by mistake.
    if let Err(e) = state.keys.refresh(&state.db).await {
        tracing::warn!(error = %e, "reading whether API keys exist failed; requiring keys until it works");
    }
    if auth::is_open(&state) {
        tracing::warn!(
            "no API key exists: serving WITHOUT authentication. Create one with `warmline keys create --role admin`"
        );
    }
    let keys = tokio::spawn(auth::follow_key_changes(state.clone(), shutdown.clone()));
    let notifications = tokio::spawn(crate::notify::listen(
        state.db.clone(),
        state.signals.clone(),
        shutdown.clone(),
        retry,
    ));
    // Other processes hear of this one's writes at most this late.
    tokio::spawn(crate::notify::announce(
        state.db.clone(),
        state.signals.clone(),
        shutdown.clone(),
        std::time::Duration::from_millis(10),
    ));
    let events = tokio::spawn(crate::events::live::follow(
        state.db.clone(),
        state.live.clone(),
        state.signals.clone(),
        shutdown.clone(),
        state.config.event_stream_poll,
    ));
    let workers = tokio::spawn(crate::jobs::run_workers(state.clone(), shutdown.clone()));
    tokio::spawn(crate::transfers::watch_handoffs(
        state.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::transfers::watch_deadlines(
        state.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::calls::expire_unanswered(
        state.clone(),
        shutdown.clone(),
    ));
    tokio::spawn(crate::idempotency::purge_expired_keys(
        state.db.clone(),
        state.config.idempotency_key_ttl,
        shutdown.clone(),
    ));
    let app = router(state).into_make_service_with_connect_info::<std::net::SocketAddr>();
    let served = axum::serve(listener, app)
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    if let Err(e) = workers.await {
        tracing::error!(error = %e, "the job workers panicked");
    }
    let _ = events.await;
    let _ = notifications.await;
    let _ = keys.await;
    Ok(served?)
}

/// With no API key, serving is open; that is only allowed on a loopback address, unless
/// `WARMLINE_AUTH=disabled` says so.
async fn check_open_mode(db: &sqlx::PgPool, config: &Config) -> anyhow::Result<()> {
    if config.auth.disabled {
        tracing::warn!(
            "WARMLINE_AUTH=disabled: every route is open to anyone who can reach {}",
            config.listen_addr()
        );
        return Ok(());
    }
    let has_keys = auth::store::any_key(db)
        .await
        .context("reading whether API keys exist")?;
    if !has_keys && !config.bind.is_loopback() {
        anyhow::bail!(
            "refusing to serve without authentication on {}: no API key exists. Create one with \
             `warmline keys create --role admin`, or bind to 127.0.0.1, or set WARMLINE_AUTH=disabled \
             to serve open on purpose",
            config.bind
        );
    }
    Ok(())
}

async fn cancel_on_signal(shutdown: CancellationToken) {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
    tracing::info!("shutdown requested; finishing requests in flight");
    shutdown.cancel();
}
