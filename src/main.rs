//! The `warmline` command: serve (default), migrate, openapi, keys.

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
    /// Manage API keys (the first admin key ends open mode).
    #[command(subcommand)]
    Keys(KeysCommand),
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key and print it once; only its hash is stored.
    Create {
        /// admin, supervisor, agent or frontend.
        #[arg(long)]
        role: String,
        /// For agent keys: the registered agent identity the key acts as.
        #[arg(long)]
        agent: Option<String>,
        /// A note for admins.
        #[arg(long)]
        label: Option<String>,
    },
    /// List keys, newest first (never their secrets).
    List {
        /// Include revoked keys.
        #[arg(long)]
        all: bool,
    },
    /// Revoke a key by id or prefix; every running process stops accepting it at once.
    Revoke {
        /// The key's id or prefix.
        key: String,
    },
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
        Command::Keys(command) => {
            let config = start_up()?;
            let database = warmline::db::connect(&config).await?;
            if config.auto_migrate {
                warmline::db::migrate(&database.pool).await?;
            }
            let done = manage_keys(&database.pool, command).await;
            database.pool.close().await;
            if let Some(cluster) = database.embedded {
                cluster.stop().await?;
            }
            done
        }
        Command::Migrate => {
            let database = warmline::db::connect(&start_up()?).await?;
            warmline::db::migrate(&database.pool).await?;
            tracing::info!("migrations applied");
            if let Some(cluster) = database.embedded {
                cluster.stop().await?;
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

async fn manage_keys(db: &sqlx::PgPool, command: KeysCommand) -> anyhow::Result<()> {
    let shown = |e: warmline::error::ApiError| anyhow::anyhow!(e.to_problem().detail);
    match command {
        KeysCommand::Create { role, agent, label } => {
            let request = serde_json::from_value(serde_json::json!({
                "role": role.trim(), "agent": agent, "label": label,
            }))
            .context("--role must be admin, supervisor, agent or frontend")?;
            let created = warmline::auth::create_key(db, request)
                .await
                .map_err(shown)?;
            eprintln!(
                "created {} key {} (id {}); it is shown only now:",
                created.key.role.as_str(),
                created.key.prefix,
                created.key.id
            );
            println!("{}", created.secret);
        }
        KeysCommand::List { all } => {
            let mut cursor = None;
            println!(
                "{:<36}  {:<12}  {:<10}  {:<20}  {:<8}  label",
                "id", "prefix", "role", "agent", "state"
            );
            loop {
                let query = serde_json::from_value(serde_json::json!({
                    "include_revoked": all, "limit": 200, "cursor": cursor,
                }))?;
                let page = warmline::auth::list_keys(db, query).await.map_err(shown)?;
                for k in &page.items {
                    let state = if k.revoked_at.is_some() {
                        "revoked"
                    } else {
                        "active"
                    };
                    println!(
                        "{:<36}  {:<12}  {:<10}  {:<20}  {:<8}  {}",
                        k.id,
                        k.prefix,
                        k.role.as_str(),
                        k.agent.as_deref().unwrap_or("-"),
                        state,
                        k.label.as_deref().unwrap_or("")
                    );
                }
                match page.next_cursor {
                    Some(next) => cursor = Some(next),
                    None => break,
                }
            }
        }
        KeysCommand::Revoke { key } => {
            let revoked = warmline::auth::revoke_key(db, &key).await.map_err(shown)?;
            println!("revoked {} ({})", revoked.prefix, revoked.id);
        }
    }
    Ok(())
}
