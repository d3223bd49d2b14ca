//! warmline: warm (attended) call transfers over LiveKit, stored in Postgres.

pub mod app;
pub mod calls;
pub mod compat;
pub mod config;
pub mod db;
pub mod domain;
pub mod error;
pub mod events;
pub mod extract;
pub mod jobs;
pub mod livekit;
pub mod metrics;
pub mod notify;
pub mod pagination;
pub mod participants;
pub mod summaries;
pub mod telemetry;
pub mod tokens;
pub mod transcripts;
pub mod transfers;
pub mod webhooks;

use anyhow::Context;
use tokio_util::sync::CancellationToken;

pub use app::{AppState, openapi, router, serve};
pub use config::Config;

/// Runs the service until SIGTERM or ctrl-c: database, migrations, HTTP.
pub async fn run(config: Config) -> anyhow::Result<()> {
    let database = db::connect(&config).await?;
    if config.auto_migrate {
        db::migrate(&database.pool).await?;
    }
    let addr = config.listen_addr();
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
        && let Err(e) = cluster.stop()
    {
        tracing::warn!(error = %e, "stopping the private Postgres cluster failed");
    }
    tracing::info!("warmline stopped");
    served
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
