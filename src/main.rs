//! The `warmline` command: serve (default), migrate, openapi.

use anyhow::Context;
use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(version, about = "warmline: warm call transfers over LiveKit", long_about = None)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Subcommand)]
enum Command {
    /// Serve the API and run the workers (the default).
    Serve,
    /// Apply pending database migrations and exit.
    Migrate,
    /// Print the OpenAPI document as JSON.
    Openapi,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    match Cli::parse().command.unwrap_or(Command::Serve) {
        Command::Openapi => {
            let spec = warmline::openapi()
                .to_pretty_json()
                .context("serializing the OpenAPI document")?;
            println!("{spec}");
            Ok(())
        }
        Command::Serve => warmline::run(start_up()?).await,
        Command::Migrate => {
            let database = warmline::db::connect(&start_up()?).await?;
            warmline::db::migrate(&database.pool).await?;
            tracing::info!("migrations applied");
            if let Some(cluster) = database.embedded {
                cluster.stop()?;
            }
            Ok(())
        }
    }
}

/// Config, logging and TLS, shared by the commands that talk to other services.
fn start_up() -> anyhow::Result<warmline::Config> {
    // Every TLS client in the process (sqlx, reqwest, LiveKit) uses this provider.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let config = warmline::Config::from_env()?;
    warmline::telemetry::init(config.log_json);
    Ok(config)
}
