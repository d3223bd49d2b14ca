//! The `warmline` binary itself: its commands, its start-up errors and its shutdown.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use crate::support::TestDb;

/// The binary, in a directory of its own, with info logs.
pub(crate) fn warmline() -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_warmline"));
    // A directory of its own, so no developer's .env is read.
    command
        .current_dir(std::env::temp_dir())
        .env_remove("DATABASE_URL")
        .env("RUST_LOG", "info");
    command
}

/// A port nobody listens on.
pub(crate) fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

#[test]
fn openapi_prints_the_committed_document() {
    let output = warmline().arg("openapi").output().unwrap();
    assert!(output.status.success());
    let committed =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json"))
            .unwrap();
    assert_eq!(String::from_utf8(output.stdout).unwrap(), committed);
}

#[tokio::test]
async fn migrate_creates_the_database_and_applies_every_migration() {
    let db = TestDb::create().await;
    // A database that does not exist yet: migrate creates it.
    let url = format!("{}_fresh", db.url);
    let output = warmline()
        .arg("migrate")
        .env("DATABASE_URL", &url)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let pool = sqlx::PgPool::connect(&url).await.unwrap();
    assert!(warmline::db::migrations_current(&pool).await.unwrap());
    pool.close().await;
    let mut admin = <sqlx::PgConnection as sqlx::Connection>::connect(&db.url)
        .await
        .unwrap();
    let name = url.rsplit('/').next().unwrap().to_owned();
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "DROP DATABASE {name} WITH (FORCE)"
    )))
    .execute(&mut admin)
    .await
    .unwrap();
}

#[test]
fn an_unreachable_database_is_a_clear_start_up_error() {
    let output = warmline()
        .arg("serve")
        .env("DATABASE_URL", "postgres://postgres@127.0.0.1:1/warmline")
        .env("PORT", free_port().to_string())
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("127.0.0.1:1"), "{stderr}");
}

#[test]
fn bad_settings_are_refused_with_the_variable_named() {
    let output = warmline()
        .arg("serve")
        .env("PORT", "eighty")
        .output()
        .unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("PORT"));
}

#[tokio::test]
async fn serve_answers_and_stops_cleanly_on_sigterm() {
    // The client below needs it; run alone, no other test has installed it yet.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::create().await;
    let port = free_port();
    let child = warmline()
        .env("DATABASE_URL", &db.url)
        .env("PORT", port.to_string())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    wait_until_ready(port).await;
    let (status, _, stderr) = stop_with_sigterm(child).await;
    assert!(status.success(), "{stderr}");
    assert!(stderr.contains("warmline stopped"), "{stderr}");
    // A pipe is not a terminal: a log file or a journal keeps no colour codes.
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
}

#[tokio::test]
async fn a_private_cluster_is_started_from_the_installed_binaries() {
    let Some(binaries) = warmline::db::embedded::find_binaries() else {
        // A skip that passes silently would hide the fallback breaking; only a developer who
        // asks for it skips, never CI (see the README's Development section). `.ci/run`
        // installs them.
        if std::env::var_os("WARMLINE_TEST_SKIP_PRIVATE_CLUSTER").is_some()
            && std::env::var_os("CI").is_none()
        {
            eprintln!(
                "WARMLINE_TEST_SKIP_PRIVATE_CLUSTER is set: the private-cluster fallback is not tested"
            );
            return;
        }
        panic!(
            "no initdb/pg_ctl on this machine (install PostgreSQL's server binaries, e.g. \
             `apt-get install postgresql`, or set WARMLINE_TEST_SKIP_PRIVATE_CLUSTER=1 to skip)"
        );
    };
    let dir = std::env::temp_dir().join(format!(
        "warmline-cluster-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let cluster = warmline::db::EmbeddedPostgres::start(binaries.clone(), &dir.join("postgres"))
        .await
        .unwrap();
    let config = warmline::Config::from_lookup(|key| {
        (key == "DATABASE_MAX_CONNECTIONS").then(|| "2".to_owned())
    })
    .unwrap();
    let pool = warmline::db::open(&cluster.url("warmline"), &config)
        .await
        .unwrap();
    warmline::db::migrate(&pool).await.unwrap();
    assert!(warmline::db::migrations_current(&pool).await.unwrap());
    pool.close().await;
    // A second start finds the cluster running and joins it.
    let again = warmline::db::EmbeddedPostgres::start(binaries, &dir.join("postgres"))
        .await
        .unwrap();
    assert_eq!(again.url("x"), cluster.url("x"));
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}

/// Waits until the binary serving on `port` is ready.
pub(crate) async fn wait_until_ready(port: u16) {
    let health = format!("http://127.0.0.1:{port}/readyz");
    let started = Instant::now();
    let client = reqwest::Client::new();
    loop {
        if let Ok(r) = client.get(&health).send().await
            && r.status().is_success()
        {
            return;
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the service did not become ready"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Stops the binary as an orchestrator does; its exit status, stdout and stderr (each
/// captured only when piped).
pub(crate) async fn stop_with_sigterm(
    mut child: std::process::Child,
) -> (std::process::ExitStatus, String, String) {
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let deadline = Instant::now() + Duration::from_secs(15);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            Instant::now() < deadline,
            "the service did not stop on SIGTERM"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let read = |pipe: Option<&mut dyn std::io::Read>| {
        let mut text = String::new();
        if let Some(pipe) = pipe {
            pipe.read_to_string(&mut text).unwrap();
        }
        text
    };
    let stdout = read(child.stdout.as_mut().map(|p| p as &mut dyn std::io::Read));
    let stderr = read(child.stderr.as_mut().map(|p| p as &mut dyn std::io::Read));
    (status, stdout, stderr)
}
