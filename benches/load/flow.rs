//! The request path: the prototype's page flow on the compatibility routes, the `/v1`
//! lifecycle, and the SQL statements and commits one lifecycle costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Row, Service, measure, summarize};
use crate::support::{livekit::FakeLiveKit, lk_event, sign_webhook, verify_token};

/// Latencies per route, gathered across workers, and the reads that failed.
#[derive(Default, Clone)]
pub struct Routes(
    Arc<Mutex<BTreeMap<&'static str, Vec<Duration>>>>,
    Arc<std::sync::atomic::AtomicUsize>,
);

impl Routes {
    fn add(&self, route: &'static str, took: Duration) {
        self.0.lock().unwrap().entry(route).or_default().push(took);
    }

    /// Counts a read the page can do without (the active list, a status poll) that failed
    /// with a server error or a broken connection: the prototype fails some under load.
    fn failed(&self) {
        self.1.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn failures(&self) -> usize {
        self.1.load(std::sync::atomic::Ordering::Relaxed)
    }

    /// Every request's latency, whatever its route.
    fn all(&self) -> Vec<Duration> {
        self.0.lock().unwrap().values().flatten().copied().collect()
    }

    /// One row per route: its percentiles (the rate column is left empty).
    pub fn rows(&self, prefix: &str) -> Vec<Row> {
        let mut map = self.0.lock().unwrap();
        map.iter_mut()
            .map(|(route, latencies)| {
                let mut row = summarize(&format!("{prefix}{route}"), latencies);
                row.per_second = f64::NAN;
                row.note = format!(
                    "p50 {:.1}ms p99 {:.1}ms",
                    row.p50.as_secs_f64() * 1e3,
                    row.p99.as_secs_f64() * 1e3
                );
                row
            })
            .collect()
    }
}

async fn timed(
    routes: &Routes,
    route: &'static str,
    request: reqwest::RequestBuilder,
) -> (StatusCode, Value) {
    try_timed(routes, route, request).await.expect("request")
}

/// [`timed`], with a failure to send or to read the reply returned.
async fn try_timed(
    routes: &Routes,
    route: &'static str,
    request: reqwest::RequestBuilder,
) -> reqwest::Result<(StatusCode, Value)> {
    let t = Instant::now();
    let reply = request.send().await?;
    let status = reply.status();
    let body = reply.json().await.unwrap_or(Value::Null);
    routes.add(route, t.elapsed());
    Ok((status, body))
}

const TRANSCRIPT: &str = "Caller: my order 4411 arrived damaged and I would like a replacement. \
    Agent: I am sorry to hear that, let me check the order. Caller: it was a birthday present.";

/// One lifecycle of the prototype's page, one request per step, as the measurement
/// ran it: start, transfer (with a transcript), the active list, complete, and the caller's
/// status poll until it says the transfer is complete. With `livekit`, the caller's page then
/// joins the new room, as a real one does, so the hand-off is confirmed (by the service's
/// presence check) instead of waiting out its timeout.
pub async fn prototype_lifecycle(
    c: &Client,
    base: &str,
    n: usize,
    routes: &Routes,
    livekit: Option<&FakeLiveKit>,
) {
    let caller = format!("bench_caller_{n}");
    let (status, call) = timed(
        routes,
        "POST /call/start",
        c.post(format!("{base}/call/start")).json(&json!({
            "caller_name": caller,
            "caller_info": {"name": caller, "phone": "+15550100", "issue": "damaged order"}
        })),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{call}");
    let room = call["room_name"].as_str().expect("room_name");
    let new_room = format!("transfer_{n}_{}", std::process::id());
    let (status, transfer) = timed(
        routes,
        "POST /transfer",
        c.post(format!("{base}/transfer")).query(&[
            ("original_room", room),
            ("new_room", &new_room),
            ("agent_a", &format!("agent_a_{}", n % 16)),
            ("agent_b", &format!("bench_{}", (n + 1) % 16)),
            ("transcript", TRANSCRIPT),
            ("caller_name", &caller),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{transfer}");
    let transfer_id = transfer["transfer_id"].as_str().expect("transfer_id");
    // The page only shows this list, so a failure is counted, as for the status polls below.
    match try_timed(
        routes,
        "GET /transfers/active",
        c.get(format!("{base}/transfers/active")),
    )
    .await
    {
        Ok((status, _)) if !status.is_server_error() => {
            assert_eq!(status, StatusCode::OK);
        }
        _ => routes.failed(),
    }
    let (status, done) = timed(
        routes,
        "POST /transfer/complete",
        c.post(format!("{base}/transfer/complete"))
            .json(&json!({"transfer_id": transfer_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    for attempt in 0.. {
        let polled = try_timed(
            routes,
            "GET /caller/{name}/transfer-status",
            c.get(format!("{base}/caller/{caller}/transfer-status")),
        )
        .await;
        match polled {
            Ok((status, polled)) if !status.is_server_error() => {
                assert_eq!(status, StatusCode::OK, "{polled}");
                if polled["transfer_complete"] == json!(true) {
                    break;
                }
            }
            // Polled again, as a page does.
            _ => routes.failed(),
        }
        assert!(attempt < 100, "the caller never saw the transfer complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    if let Some(livekit) = livekit {
        let token = call["caller_token"].as_str().expect("caller_token");
        livekit.join(&new_room, &verify_token(token).sub);
    }
}

/// [`prototype_lifecycle`] against warmline with its fake LiveKit, in the form the runners
/// take.
pub fn on_warmline(
    livekit: &FakeLiveKit,
) -> impl Fn(Client, String, usize, Routes) -> futures_util::future::BoxFuture<'static, ()>
+ Send
+ Sync
+ 'static {
    let livekit = livekit.clone();
    move |c, b, n, r| {
        let livekit = livekit.clone();
        Box::pin(async move { prototype_lifecycle(&c, &b, n, &r, Some(&livekit)).await })
    }
}

/// How the `/v1` lifecycle's callers are named, followed by a number.
pub const V1_CALLER: &str = "V1 caller ";

/// One `/v1` lifecycle: create, Agent A joins, a 20-segment transcript, transfer, accept,
/// complete, and the webhooks LiveKit sends as the caller and Agent B arrive in the briefing
/// room.
pub async fn v1_lifecycle(c: &Client, base: &str, n: usize, routes: &Routes) {
    let post = |route: &'static str, path: String, body: Value| {
        let request = c.post(format!("{base}{path}")).json(&body);
        async move {
            let (status, body) = timed(routes, route, request).await;
            assert!(status.is_success(), "{route}: {status} {body}");
            body
        }
    };
    let call = post(
        "POST /v1/calls",
        "/v1/calls".into(),
        json!({"caller_name": format!("{V1_CALLER}{n}")}),
    )
    .await;
    let id = call["id"].as_str().expect("call id").to_owned();
    let room = call["room_name"].as_str().expect("room").to_owned();
    let (a, b) = (
        format!("agent_v1_{}", n % 16),
        format!("agent_v1_{}", (n + 1) % 16),
    );
    post(
        "POST /v1/calls/{id}/join",
        format!("/v1/calls/{id}/join"),
        json!({"identity": a, "role": "agent"}),
    )
    .await;
    let segments: Vec<Value> = (0..20)
        .map(|i| json!({"segment_id": format!("{n}-{i}"), "speaker": if i % 2 == 0 { "caller" } else { a.as_str() },
                        "role": if i % 2 == 0 { "caller" } else { "agent" },
                        "text": "My order 4411 arrived damaged and I would like a replacement.", "start_ms": i * 1000}))
        .collect();
    post(
        "POST /v1/calls/{id}/transcript",
        format!("/v1/calls/{id}/transcript"),
        json!({"segments": segments}),
    )
    .await;
    let created = post(
        "POST /v1/calls/{id}/transfers",
        format!("/v1/calls/{id}/transfers"),
        json!({"from_agent": a, "to_agent": b}),
    )
    .await;
    let t = created["transfer"]["id"]
        .as_str()
        .expect("transfer id")
        .to_owned();
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .expect("briefing room")
        .to_owned();
    post(
        "POST /v1/transfers/{id}/accept",
        format!("/v1/transfers/{t}/accept"),
        json!({}),
    )
    .await;
    post(
        "POST /v1/transfers/{id}/complete",
        format!("/v1/transfers/{t}/complete"),
        json!({}),
    )
    .await;
    let caller = call["caller_identity"].as_str().expect("caller identity");
    for (i, (who, identity)) in [("agent", b.as_str()), ("caller", caller)]
        .into_iter()
        .enumerate()
    {
        let event = lk_event(
            &format!("EV_{n}_{i}_{}", std::process::id()),
            "participant_joined",
            &briefing,
            Some((who, identity)),
            1_764_000_000 + n as i64,
        );
        let body = event.to_string();
        let request = c
            .post(format!("{base}/v1/webhooks/livekit"))
            .header("content-type", "application/webhook+json")
            .header("authorization", sign_webhook(&body))
            .body(body);
        let (status, reply) = timed(routes, "POST /v1/webhooks/livekit", request).await;
        assert!(status.is_success(), "webhook: {status} {reply}");
    }
    let _ = room;
}

/// Lifecycles per second of `lifecycle` at `concurrency`, and a row per route.
pub async fn run_flow<F, Fut>(
    service: &Service,
    name: &str,
    count: usize,
    concurrency: usize,
    lifecycle: F,
) -> (Row, Vec<Row>)
where
    F: Fn(Client, String, usize, Routes) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    run_flow_at(&service.base, name, 0..count, concurrency, lifecycle).await
}

/// [`run_flow`] against any server at `base`, the lifecycles numbered `numbers` (so names and
/// rooms stay new across runs on one server).
pub async fn run_flow_at<F, Fut>(
    base: &str,
    name: &str,
    numbers: std::ops::Range<usize>,
    concurrency: usize,
    lifecycle: F,
) -> (Row, Vec<Row>)
where
    F: Fn(Client, String, usize, Routes) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send,
{
    let routes = Routes::default();
    let client = Client::builder()
        .pool_max_idle_per_host(64)
        .build()
        .expect("HTTP client");
    let (c, b, r) = (client, base.to_owned(), routes.clone());
    let lifecycle = Arc::new(lifecycle);
    let from = numbers.start;
    let mut row = measure(name, numbers.len(), concurrency, move |n| {
        let (c, b, r, l) = (c.clone(), b.clone(), r.clone(), lifecycle.clone());
        async move { l(c, b, from + n, r).await }
    })
    .await;
    if routes.failures() > 0 {
        row.note = format!(
            "{} active-list reads and status polls failed (a server error or a broken \
             connection); the polls were made again",
            routes.failures()
        );
    }
    (row, routes.rows("  "))
}

/// Where [`run_paced`] numbers its lifecycles from.
const PACED_FROM: usize = 1_000_000;

/// `count` lifecycles started at a fixed `rate` per second (open loop: each starts on its
/// schedule whether or not those before it have finished, as users arrive), against the
/// server at `base`. The row's percentiles are of every request, and a row per route follows.
pub async fn run_paced<F, Fut>(
    base: &str,
    name: &str,
    count: usize,
    rate: f64,
    lifecycle: F,
) -> (Row, Vec<Row>)
where
    F: Fn(Client, String, usize, Routes) -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let routes = Routes::default();
    let client = Client::builder()
        .pool_max_idle_per_host(256)
        .build()
        .expect("HTTP client");
    let lifecycle = Arc::new(lifecycle);
    let started = tokio::time::Instant::now();
    let interval = Duration::from_secs_f64(1.0 / rate.max(0.001));
    let mut running = Vec::with_capacity(count);
    for n in 0..count {
        tokio::time::sleep_until(started + interval * n as u32).await;
        let (c, b, r, l) = (
            client.clone(),
            base.to_owned(),
            routes.clone(),
            lifecycle.clone(),
        );
        // Numbered apart from earlier runs on the same service: names and rooms stay new.
        running.push(tokio::spawn(
            async move { l(c, b, PACED_FROM + n, r).await },
        ));
    }
    for lifecycle in running {
        lifecycle.await.expect("a paced lifecycle failed");
    }
    let elapsed = started.elapsed();
    let mut row = summarize(name, &mut routes.all());
    row.per_second = count as f64 / elapsed.as_secs_f64();
    row.note = format!("{rate:.1} lifecycles/s asked; percentiles of every request");
    (row, routes.rows("  "))
}

/// Lifecycles per second of the prototype flow's SQL (`benches/prototype_flow.pgbench`) run by
/// pgbench, prepared, at `concurrency`, `count` lifecycles in all, on the database at `db_url`
/// (whose agents the flow registered).
pub fn pgbench_ceiling(db_url: &str, count: usize, concurrency: usize) -> Result<f64, String> {
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/benches/prototype_flow.pgbench"
    );
    let per_client = count.div_ceil(concurrency).to_string();
    let tps = run_pgbench(script, &per_client, concurrency, db_url);
    // A claim can miss a job another client held locked: whatever is left is done, so the
    // service does not ask the fake LiveKit about rooms that never were.
    let ended = std::process::Command::new("psql")
        .args([db_url, "-qc"])
        .arg(
            "UPDATE jobs SET status = 'done', locked_until = NULL, finished_at = now()
             WHERE status IN ('pending', 'running')
               AND call_id IN (SELECT id FROM calls WHERE caller_name LIKE 'pgb\\_%')",
        )
        .status();
    if !ended.is_ok_and(|s| s.success()) {
        return Err("finishing the pgbench lifecycles' jobs failed".into());
    }
    tps
}

fn run_pgbench(
    script: &str,
    per_client: &str,
    concurrency: usize,
    db_url: &str,
) -> Result<f64, String> {
    let output = std::process::Command::new("pgbench")
        // The service's own session settings (src/db), so both run the same plans, and its
        // plain connection to a server on this machine.
        .env("PGOPTIONS", "-c jit=off")
        .env("PGSSLMODE", "disable")
        .args(["-n", "-M", "prepared", "-j", "2", "-f", script])
        .args(["-c", &concurrency.to_string(), "-t", per_client, db_url])
        .output()
        .map_err(|e| format!("pgbench did not run ({e}); install PostgreSQL's client tools"))?;
    let text = String::from_utf8_lossy(&output.stdout);
    text.lines()
        .find_map(|l| l.strip_prefix("tps = "))
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(|tps| tps.parse().ok())
        .filter(|_| output.status.success())
        .ok_or_else(|| {
            format!(
                "pgbench failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )
        })
}
