//! The request path: the prototype's page flow on the compatibility routes, the `/v1`
//! lifecycle, and the SQL statements and commits one lifecycle costs.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use reqwest::{Client, StatusCode};
use serde_json::{Value, json};

use crate::harness::{Row, Service, measure, summarize};
use crate::support::{lk_event, sign_webhook};

/// Latencies per route, gathered across workers.
#[derive(Default, Clone)]
pub struct Routes(Arc<Mutex<BTreeMap<&'static str, Vec<Duration>>>>);

impl Routes {
    fn add(&self, route: &'static str, took: Duration) {
        self.0.lock().unwrap().entry(route).or_default().push(took);
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
    let t = Instant::now();
    let reply = request.send().await.expect("request");
    let status = reply.status();
    let body = reply.json().await.unwrap_or(Value::Null);
    routes.add(route, t.elapsed());
    (status, body)
}

const TRANSCRIPT: &str = "Caller: my order 4411 arrived damaged and I would like a replacement. \
    Agent: I am sorry to hear that, let me check the order. Caller: it was a birthday present.";

/// One lifecycle of the prototype's page, one request per step, as the measurement
/// ran it: start, transfer (with a transcript), the active list, complete, and the caller's
/// status poll until it says the transfer is complete.
pub async fn prototype_lifecycle(c: &Client, base: &str, n: usize, routes: &Routes) {
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
    let (status, transfer) = timed(
        routes,
        "POST /transfer",
        c.post(format!("{base}/transfer")).query(&[
            ("original_room", room),
            ("new_room", &format!("transfer_{n}_{}", std::process::id())),
            ("agent_a", &format!("agent_a_{}", n % 16)),
            ("agent_b", &format!("bench_{}", (n + 1) % 16)),
            ("transcript", TRANSCRIPT),
            ("caller_name", &caller),
        ]),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{transfer}");
    let transfer_id = transfer["transfer_id"].as_str().expect("transfer_id");
    let (status, active) = timed(
        routes,
        "GET /transfers/active",
        c.get(format!("{base}/transfers/active")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{active}");
    let (status, done) = timed(
        routes,
        "POST /transfer/complete",
        c.post(format!("{base}/transfer/complete"))
            .json(&json!({"transfer_id": transfer_id})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{done}");
    for attempt in 0.. {
        let (status, polled) = timed(
            routes,
            "GET /caller/{name}/transfer-status",
            c.get(format!("{base}/caller/{caller}/transfer-status")),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{polled}");
        if polled["transfer_complete"] == json!(true) {
            break;
        }
        assert!(attempt < 100, "the caller never saw the transfer complete");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

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
        json!({"caller_name": format!("V1 caller {n}")}),
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
    let routes = Routes::default();
    let (c, b, r) = (service.client.clone(), service.base.clone(), routes.clone());
    let lifecycle = Arc::new(lifecycle);
    let row = measure(name, count, concurrency, move |n| {
        let (c, b, r, l) = (c.clone(), b.clone(), r.clone(), lifecycle.clone());
        async move { l(c, b, n, r).await }
    })
    .await;
    (row, routes.rows("  "))
}
