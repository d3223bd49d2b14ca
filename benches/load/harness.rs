//! What every scenario stands on: the service binary as a child process on a database of its
//! own, concurrent timed clients, and the rows of the results table.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use sqlx::{Connection, PgConnection};

use crate::support::{TestDb, livekit};

/// One line of the results table.
#[derive(Debug, Clone)]
pub struct Row {
    pub scenario: String,
    pub per_second: f64,
    pub p50: Duration,
    pub p95: Duration,
    pub p99: Duration,
    /// Anything the scenario wants next to its figures (ratios, counts).
    pub note: String,
}

impl Row {
    /// A row for a figure that is not a rate (counts, memory): only the note is shown.
    pub fn note(scenario: impl Into<String>, note: impl Into<String>) -> Self {
        Self {
            scenario: scenario.into(),
            per_second: f64::NAN,
            p50: Duration::ZERO,
            p95: Duration::ZERO,
            p99: Duration::ZERO,
            note: note.into(),
        }
    }

    /// Adds `text` to the note, after what it already says.
    pub fn add_note(&mut self, text: impl AsRef<str>) {
        if !self.note.is_empty() {
            self.note.push_str("; ");
        }
        self.note.push_str(text.as_ref());
    }
}

/// Prints the table; rates also as a ratio to `baseline` (per second).
pub fn print(rows: &[Row], baseline: f64) {
    println!(
        "{:<46} {:>9} {:>9} {:>9} {:>9} {:>9}  note",
        "scenario", "per s", "vs /hz", "p50", "p95", "p99"
    );
    for r in rows {
        if r.per_second.is_nan() {
            println!(
                "{:<46} {:>9} {:>9} {:>9} {:>9} {:>9}  {}",
                r.scenario, "", "", "", "", "", r.note
            );
            continue;
        }
        println!(
            "{:<46} {:>9.1} {:>8.4}x {:>9} {:>9} {:>9}  {}",
            r.scenario,
            r.per_second,
            r.per_second / baseline,
            ms(r.p50),
            ms(r.p95),
            ms(r.p99),
            r.note
        );
    }
}

fn ms(d: Duration) -> String {
    format!("{:.1}ms", d.as_secs_f64() * 1000.0)
}

/// Runs `count` calls of `step` over `concurrency` workers (each call gets its sequence
/// number) and times each one.
pub async fn measure<F, Fut>(scenario: &str, count: usize, concurrency: usize, step: F) -> Row
where
    F: Fn(usize) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let step = Arc::new(step);
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers: Vec<_> = (0..concurrency)
        .map(|_| {
            let (step, next) = (step.clone(), next.clone());
            tokio::spawn(async move {
                let mut latencies = Vec::new();
                loop {
                    let n = next.fetch_add(1, Ordering::Relaxed);
                    if n >= count {
                        break latencies;
                    }
                    let t = Instant::now();
                    step(n).await;
                    latencies.push(t.elapsed());
                }
            })
        })
        .collect();
    let mut latencies = Vec::new();
    for w in workers {
        latencies.extend(w.await.expect("a benchmark worker failed"));
    }
    let elapsed = started.elapsed();
    let mut row = summarize(scenario, &mut latencies);
    row.per_second = count as f64 / elapsed.as_secs_f64();
    row
}

/// Percentiles of `latencies` (sorted in place); the rate is left to the caller.
pub fn summarize(scenario: &str, latencies: &mut [Duration]) -> Row {
    latencies.sort();
    let at = |q: f64| {
        latencies
            .get(((latencies.len() as f64 * q) as usize).min(latencies.len().saturating_sub(1)))
            .copied()
            .unwrap_or_default()
    };
    Row {
        scenario: scenario.to_owned(),
        per_second: 0.0,
        p50: at(0.5),
        p95: at(0.95),
        p99: at(0.99),
        note: String::new(),
    }
}

/// The service binary, running on a free port against its own database and a fake LiveKit.
pub struct Service {
    pub base: String,
    pub client: reqwest::Client,
    pub db_url: String,
    /// The fake LiveKit the service talks to (a flow's clients join rooms in it).
    pub livekit: livekit::FakeLiveKit,
    /// Where the service's log goes (stderr and stdout).
    pub log: PathBuf,
    child: Child,
    _db: Option<TestDb>,
}

impl Service {
    /// Starts the service on `db_url` (a fresh database when `None`), with `settings` (environment
    /// variables) over the benchmark's defaults, an empty value leaving the variable unset so the
    /// service's own default applies; waits until it is ready.
    pub async fn start(db_url: Option<String>, settings: &[(&str, &str)]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let (db, db_url) = match db_url {
            Some(url) => (None, url),
            None => {
                let db = TestDb::create().await;
                let url = db.url.clone();
                (Some(db), url)
            }
        };
        let fake = livekit::FakeLiveKit::start().await;
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .port();
        let dir = std::env::temp_dir().join(format!("warmline-bench-{port}"));
        std::fs::create_dir_all(&dir).expect("a scratch directory");
        let log = dir.join("service.log");
        let out = std::fs::File::create(&log).expect("the service's log file");
        let mut command = Command::new(env!("CARGO_BIN_EXE_warmline"));
        command
            .current_dir(&dir)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("DATABASE_URL", &db_url)
            .env("PORT", port.to_string())
            .env("BIND", "127.0.0.1")
            .env("DATA_DIR", dir.join("data"))
            .env("LIVEKIT_URL", &fake.url)
            .env("LIVEKIT_API_KEY", livekit::API_KEY)
            .env("LIVEKIT_API_SECRET", livekit::API_SECRET)
            .env("DATABASE_MAX_CONNECTIONS", "20")
            // The load is the point: no client-side limits in the way.
            .env("RATE_LIMIT_WRITES_PER_KEY", "0")
            .env("RATE_LIMIT_WRITES_PER_ADDRESS", "0")
            .env("MAX_EVENT_STREAMS_PER_KEY", "100000")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::from(out.try_clone().expect("log file")))
            .stderr(Stdio::from(out));
        for (k, v) in settings {
            if v.is_empty() {
                command.env_remove(k);
            } else {
                command.env(k, v);
            }
        }
        let child = command
            .arg("serve")
            .spawn()
            .expect("start the warmline binary");
        let service = Self {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .pool_max_idle_per_host(64)
                .build()
                .expect("HTTP client"),
            db_url,
            livekit: fake,
            log,
            child,
            _db: db,
        };
        service.wait_until_ready().await;
        service
    }

    async fn wait_until_ready(&self) {
        let started = Instant::now();
        loop {
            if let Ok(r) = self
                .client
                .get(format!("{}/readyz", self.base))
                .send()
                .await
                && r.status().is_success()
            {
                return;
            }
            assert!(
                started.elapsed() < Duration::from_secs(120),
                "the service did not become ready; see {}",
                self.log.display()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The service's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The service's resident memory, in KiB (Linux).
    pub fn rss_kib(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid()))
            .ok()
            .and_then(|s| {
                s.lines()
                    .find_map(|l| l.strip_prefix("VmRSS:"))
                    .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            })
            .unwrap_or(0)
    }

    /// The service's log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Requests per second of `GET /healthz`: every rate in a run is compared with this.
    pub async fn baseline(&self, count: usize, concurrency: usize) -> Row {
        let (c, b) = (self.client.clone(), self.base.clone());
        measure("GET /healthz (baseline)", count, concurrency, move |_| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let r = c.get(format!("{b}/healthz")).send().await.expect("healthz");
                assert!(r.status().is_success());
            }
        })
        .await
    }

    /// Suspends the service (SIGSTOP) until the guard is dropped, so a measurement of the
    /// database alone does not share the machine with the service's own background work.
    pub fn paused(&self) -> Paused {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGSTOP);
        Paused(pid)
    }

    /// Stops the service with SIGTERM and waits for it.
    pub fn stop(mut self) {
        let pid = nix::unistd::Pid::from_raw(self.child.id() as i32);
        let _ = nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM);
        let _ = self.child.wait();
    }
}

/// A suspended service; dropping it resumes the service (SIGCONT).
pub struct Paused(nix::unistd::Pid);

impl Drop for Paused {
    fn drop(&mut self) {
        let _ = nix::sys::signal::kill(self.0, nix::sys::signal::Signal::SIGCONT);
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Commits and rolled-back transactions of a database so far (`pg_stat_database`).
pub async fn commits(db_url: &str) -> i64 {
    let mut conn = PgConnection::connect(db_url)
        .await
        .expect("connect for statistics");
    // The statistics collector publishes with a delay; ask for a fresh snapshot.
    sqlx::query("SELECT pg_stat_clear_snapshot()")
        .execute(&mut conn)
        .await
        .ok();
    let n: i64 = sqlx::query_scalar(
        "SELECT xact_commit FROM pg_stat_database WHERE datname = current_database()",
    )
    .fetch_one(&mut conn)
    .await
    .expect("pg_stat_database");
    conn.close().await.ok();
    n
}

/// CPU time the whole machine has spent busy so far (`/proc/stat`: all but idle, I/O wait
/// and steal, the time a virtual machine's host gave its CPUs to others), or `None` where
/// there is no such file. Differences between two readings are what a run cost every process
/// together: the service, Postgres and this driver.
pub fn machine_busy() -> Option<Duration> {
    let stat = std::fs::read_to_string("/proc/stat").ok()?;
    let fields: Vec<u64> = stat
        .lines()
        .next()?
        .split_whitespace()
        .skip(1)
        .map(|f| f.parse().ok())
        .collect::<Option<_>>()?;
    // user nice system idle iowait irq softirq: the kernel counts in 1/100 s (USER_HZ).
    let busy: u64 = fields
        .iter()
        .take(7)
        .enumerate()
        .filter(|(i, _)| !matches!(i, 3 | 4))
        .map(|(_, v)| v)
        .sum();
    Some(Duration::from_millis(busy * 10))
}

/// Milliseconds of the machine's CPU per lifecycle since `before` (see [`machine_busy`]).
pub fn cpu_per(before: Option<Duration>, lifecycles: usize) -> Option<f64> {
    let spent = machine_busy()? - before?;
    Some(spent.as_secs_f64() * 1000.0 / lifecycles as f64)
}

/// Waits until the service has no job due or running (the work a flow leaves behind: rooms to
/// close, hand-offs to confirm), so the next measurement does not share the machine with it.
/// Returns how long that took.
pub async fn wait_until_idle(db_url: &str) -> Duration {
    let started = Instant::now();
    let mut conn = PgConnection::connect(db_url)
        .await
        .expect("connect to wait for idle");
    loop {
        let busy: bool = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'running'
                                OR (status = 'pending' AND run_after <= now()))
                 OR EXISTS (SELECT 1 FROM transfers WHERE state = 'connecting'
                                                      AND handoff_deadline > now())",
        )
        .fetch_one(&mut conn)
        .await
        .expect("jobs and transfers");
        if !busy || started.elapsed() > Duration::from_secs(120) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    conn.close().await.ok();
    started.elapsed()
}

/// A command-line option's value (`--name value`), or `default`.
pub fn arg<T: std::str::FromStr>(name: &str, default: T) -> T {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}
