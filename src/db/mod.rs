//! The connection pool, database creation and migrations.

pub mod embedded;

use std::str::FromStr;

use anyhow::{Context, bail};
use sqlx::postgres::{PgConnectOptions, PgPoolOptions, PgSslMode};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};

use crate::config::{Config, DEFAULT_DATABASE_URL};
pub use embedded::EmbeddedPostgres;

/// The migrations in `migrations/`, embedded in the binary.
pub static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("./migrations");

/// A connected database, and the private cluster behind it when one had to be started.
pub struct Database {
    pub pool: PgPool,
    pub embedded: Option<EmbeddedPostgres>,
}

/// Connects as configured: the given `DATABASE_URL`, or the local server, or, when no server
/// answers and Postgres is installed, a private cluster under the data directory.
pub async fn connect(config: &Config) -> anyhow::Result<Database> {
    if let Some(url) = &config.database_url {
        let pool = open(url, config).await?;
        return Ok(Database {
            pool,
            embedded: None,
        });
    }
    match open(DEFAULT_DATABASE_URL, config).await {
        Ok(pool) => Ok(Database {
            pool,
            embedded: None,
        }),
        Err(err) if is_unreachable(&err) => {
            tracing::info!(
                "no Postgres answers at {DEFAULT_DATABASE_URL}; trying a private cluster"
            );
            let Some(binaries) = embedded::find_binaries() else {
                bail!(
                    "no Postgres server answers at {DEFAULT_DATABASE_URL} and no Postgres binaries \
                     (initdb, pg_ctl) are installed.\nFix one of:\n  - set DATABASE_URL to a \
                     reachable server (postgres://user@host:port/warmline)\n  - run `docker compose \
                     up -d postgres` and start again\n  - install PostgreSQL (e.g. `apt install \
                     postgresql`) so warmline can start a private cluster"
                );
            };
            let cluster = EmbeddedPostgres::start(binaries, &config.data_dir.join("postgres"))
                .await
                .context("starting a private Postgres cluster")?;
            let pool = open(&cluster.url("warmline"), config).await?;
            Ok(Database {
                pool,
                embedded: Some(cluster),
            })
        }
        Err(err) => Err(err),
    }
}

fn is_unreachable(err: &anyhow::Error) -> bool {
    err.chain().any(|cause| {
        cause.downcast_ref::<std::io::Error>().is_some()
            || matches!(
                cause.downcast_ref::<sqlx::Error>(),
                Some(sqlx::Error::Io(_))
            )
    })
}

/// `options` with the session settings the service runs with, unless the URL's `options`
/// set them. JIT compiles a plan once its estimated cost passes a threshold: 10 ms of
/// compiling for a query that runs in a fraction of one, as short as ours are. Parallel
/// workers: starting two took ~12 ms before a relevance sort's 1 ms of work, and the longest
/// statements (stats, full counts) ran no faster with them, while requests share the cores.
fn with_session_defaults(mut options: PgConnectOptions) -> PgConnectOptions {
    for (setting, value) in [("jit", "off"), ("max_parallel_workers_per_gather", "0")] {
        if !options.get_options().is_some_and(|o| o.contains(setting)) {
            options = options.options([(setting, value)]);
        }
    }
    options
}

/// Opens a pool on `url`, creating its database first when the server does not have it.
pub async fn open(url: &str, config: &Config) -> anyhow::Result<PgPool> {
    let mut options = PgConnectOptions::from_str(url)
        .with_context(|| format!("DATABASE_URL {:?} is not a Postgres URL", redact(url)))?;
    options = with_session_defaults(options);
    // TLS to a server on this machine protects nothing, and costs both sides CPU on every
    // statement: plain, unless the URL (or PGSSLMODE) asks for a mode.
    if is_loopback(options.get_host()) && !names_ssl_mode(url) {
        options = options.ssl_mode(PgSslMode::Disable);
    }
    create_database_if_missing(&options)
        .await
        .with_context(|| format!("preparing the database at {}", redact(url)))?;
    PgPoolOptions::new()
        .max_connections(config.database_max_connections)
        // While the database is down, a request waits this long for a connection before it
        // is answered 503: short, so clients and load balancers learn it at once.
        .acquire_timeout(config.database_acquire_timeout)
        .connect_with(options.clone())
        .await
        .with_context(|| format!("connecting to {}", redact(url)))
}

async fn create_database_if_missing(options: &PgConnectOptions) -> anyhow::Result<()> {
    let name = options.get_database().unwrap_or("postgres").to_owned();
    // Ask the maintenance database, which every server has.
    let mut admin: PgConnection = options
        .clone()
        .database("postgres")
        .connect()
        .await
        .context("connecting to the Postgres server")?;
    let exists: bool =
        sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM pg_database WHERE datname = $1)")
            .bind(&name)
            .fetch_one(&mut admin)
            .await?;
    if !exists {
        let sql = format!("CREATE DATABASE \"{}\"", name.replace('"', "\"\""));
        match sqlx::query(sqlx::AssertSqlSafe(sql))
            .execute(&mut admin)
            .await
        {
            Ok(_) => tracing::info!(database = %name, "created the database"),
            // Another instance created it between our check and our CREATE.
            Err(e) if e.as_database_error().and_then(|d| d.code()).as_deref() == Some("42P04") => {}
            Err(e) => return Err(e).with_context(|| format!("creating database {name}")),
        }
    }
    admin.close().await.ok();
    Ok(())
}

/// Applies the embedded migrations that have not run yet.
pub async fn migrate(pool: &PgPool) -> anyhow::Result<()> {
    MIGRATOR.run(pool).await.context("applying migrations")?;
    Ok(())
}

/// Whether every embedded migration has been applied (for `/readyz`).
pub async fn migrations_current(pool: &PgPool) -> Result<bool, sqlx::Error> {
    let applied: Vec<i64> =
        sqlx::query_scalar("SELECT version FROM _sqlx_migrations WHERE success ORDER BY version")
            .fetch_all(pool)
            .await
            .or_else(|e| match &e {
                // No migration table yet: nothing applied.
                sqlx::Error::Database(d) if d.code().as_deref() == Some("42P01") => Ok(vec![]),
                _ => Err(e),
            })?;
    Ok(MIGRATOR
        .iter()
        .filter(|m| m.migration_type.is_up_migration())
        .all(|m| applied.binary_search(&m.version).is_ok()))
}

/// A host on this machine: a loopback address, `localhost`, or a Unix socket directory.
fn is_loopback(host: &str) -> bool {
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host.starts_with('/')
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// Whether the URL's query or the environment chose an `sslmode`.
fn names_ssl_mode(url: &str) -> bool {
    std::env::var_os("PGSSLMODE").is_some()
        || url::Url::parse(url).is_ok_and(|u| {
            u.query_pairs()
                .any(|(k, _)| k.eq_ignore_ascii_case("sslmode") || k == "ssl-mode")
        })
}

/// The URL without its password, for messages.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut parsed) if parsed.password().is_some() => {
            let _ = parsed.set_password(Some("***"));
            parsed.to_string()
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_only_for_this_machine() {
        for local in [
            "127.0.0.1",
            "127.0.0.53",
            "::1",
            "[::1]",
            "localhost",
            "/run/postgresql",
        ] {
            assert!(is_loopback(local), "{local}");
        }
        for remote in [
            "10.0.0.5",
            "db.example.com",
            "2001:db8::1",
            "localhost.example.com",
        ] {
            assert!(!is_loopback(remote), "{remote}");
        }
    }

    #[test]
    fn a_chosen_ssl_mode_is_kept() {
        assert!(names_ssl_mode("postgres://u@127.0.0.1/db?sslmode=require"));
        assert!(names_ssl_mode(
            "postgres://u@127.0.0.1/db?application_name=x&ssl-mode=verify-full"
        ));
        // Unless the environment chose one for every URL.
        if std::env::var_os("PGSSLMODE").is_none() {
            assert!(!names_ssl_mode("postgres://u@127.0.0.1/db"));
            assert!(!names_ssl_mode(
                "postgres://u@127.0.0.1/db?options=-c%20jit%3Don"
            ));
        }
    }

    #[test]
    fn sessions_run_without_jit_or_parallel_workers_unless_the_url_chooses() {
        let options = |url: &str| {
            with_session_defaults(PgConnectOptions::from_str(url).unwrap())
                .get_options()
                .unwrap_or_default()
                .to_owned()
        };
        assert_eq!(
            options("postgres://u@127.0.0.1/db"),
            "-c jit=off -c max_parallel_workers_per_gather=0"
        );
        assert_eq!(
            options("postgres://u@127.0.0.1/db?options=-c%20max_parallel_workers_per_gather%3D4"),
            "-c max_parallel_workers_per_gather=4 -c jit=off"
        );
    }
}
