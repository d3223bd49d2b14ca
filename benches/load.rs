//! Load harness, run on demand: `cargo bench --bench load [-- --requests N --concurrency C]`.
//!
//! Starts the real app on a random port against a fresh database (and the test fakes of
//! LiveKit), drives each scenario with concurrent HTTP clients, and reports throughput and
//! latency. Machines here are shared and noisy, so each scenario is also given as a ratio to
//! the `/healthz` baseline measured in the same run: compare ratios, not raw numbers.

#[path = "../tests/support/mod.rs"]
mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use reqwest::StatusCode;
use serde_json::{Value, json};
use support::{TestApp, id, lk_event, sign_webhook};

struct Outcome {
    name: &'static str,
    per_second: f64,
    p50: Duration,
    p99: Duration,
}

/// Runs `requests` calls of `step` over `concurrency` workers; each call gets its sequence number.
async fn measure<F, Fut>(
    name: &'static str,
    requests: usize,
    concurrency: usize,
    step: F,
) -> Outcome
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
                    if n >= requests {
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
        latencies.extend(w.await.expect("worker"));
    }
    let elapsed = started.elapsed();
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() as f64 * q) as usize).min(latencies.len() - 1)];
    Outcome {
        name,
        per_second: requests as f64 / elapsed.as_secs_f64(),
        p50: at(0.5),
        p99: at(0.99),
    }
}

fn arg(name: &str, default: usize) -> usize {
    let args: Vec<String> = std::env::args().collect();
    args.iter()
        .position(|a| a == name)
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main]
async fn main() {
    // RUST_LOG=error shows what went wrong if a scenario fails.
    warmline::telemetry::init(false);
    let requests = arg("--requests", 2000);
    let concurrency = arg("--concurrency", 16);
    let app = Arc::new(TestApp::spawn_with(&[("DATABASE_MAX_CONNECTIONS", "20")]).await);
    let client = app.client.clone();
    let base = app.base.clone();
    let mut outcomes = Vec::new();

    let (c, b) = (client.clone(), base.clone());
    outcomes.push(
        measure(
            "GET /healthz (baseline)",
            requests,
            concurrency,
            move |_| {
                let (c, b) = (c.clone(), b.clone());
                async move {
                    assert_eq!(
                        c.get(format!("{b}/healthz")).send().await.unwrap().status(),
                        StatusCode::OK
                    );
                }
            },
        )
        .await,
    );

    let (c, b) = (client.clone(), base.clone());
    outcomes.push(
        measure("POST /v1/calls", requests, concurrency, move |n| {
            let (c, b) = (c.clone(), b.clone());
            async move {
                let r = c
                    .post(format!("{b}/v1/calls"))
                    .json(&json!({"caller_name": format!("Caller {n}")}))
                    .send()
                    .await
                    .unwrap();
                assert_eq!(r.status(), StatusCode::CREATED);
            }
        })
        .await,
    );

    let call = app.create_call("Bench").await;
    let call_id = id(&call);
    let (c, b) = (client.clone(), base.clone());
    outcomes.push(
        measure("POST transcript (20 segments)", requests / 4, concurrency, move |n| {
            let (c, b, call_id) = (c.clone(), b.clone(), call_id.clone());
            async move {
                let segments: Vec<Value> = (0..20)
                    .map(|i| json!({"segment_id": format!("{n}-{i}"), "speaker": "Bench", "role": "caller",
                                    "text": "My order 4411 arrived damaged and I would like a replacement.", "start_ms": n * 100 + i}))
                    .collect();
                let r = c.post(format!("{b}/v1/calls/{call_id}/transcript")).json(&json!({"segments": segments})).send().await.unwrap();
                assert_eq!(r.status(), StatusCode::OK);
            }
        })
        .await,
    );

    let (c, b) = (client.clone(), base.clone());
    let room = call["room_name"].as_str().unwrap().to_owned();
    outcomes.push(
        measure(
            "POST /v1/webhooks/livekit",
            requests,
            concurrency,
            move |n| {
                let (c, b, room) = (c.clone(), b.clone(), room.clone());
                async move {
                    let event = lk_event(
                        &format!("EV_{n}"),
                        "participant_joined",
                        &room,
                        Some(("agent", &format!("PA_{n}"))),
                        1_764_000_000 + n as i64,
                    );
                    let body = event.to_string();
                    let r = c
                        .post(format!("{b}/v1/webhooks/livekit"))
                        .header("content-type", "application/webhook+json")
                        .header("authorization", sign_webhook(&body))
                        .body(body)
                        .send()
                        .await
                        .unwrap();
                    assert_eq!(r.status(), StatusCode::OK);
                }
            },
        )
        .await,
    );

    let bench_app = app.clone();
    outcomes.push(
        measure(
            "transfer: create + accept + complete",
            requests / 10,
            concurrency,
            move |n| {
                let app = bench_app.clone();
                async move {
                    let call = app
                        .call_with_agent(&format!("Transfer {n}"), "agent_alice")
                        .await;
                    let created = app
                        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
                        .await;
                    let t = id(&created["transfer"]);
                    assert_eq!(
                        app.post_empty(&format!("/v1/transfers/{t}/accept"))
                            .await
                            .status,
                        StatusCode::OK
                    );
                    assert_eq!(
                        app.post_empty(&format!("/v1/transfers/{t}/complete"))
                            .await
                            .status,
                        StatusCode::OK
                    );
                }
            },
        )
        .await,
    );

    let baseline = outcomes[0].per_second;
    println!("\n{requests} requests, concurrency {concurrency} (transcript: /4, transfers: /10)\n");
    println!(
        "{:<40} {:>10} {:>12} {:>10} {:>10}",
        "scenario", "per s", "vs baseline", "p50", "p99"
    );
    for o in &outcomes {
        println!(
            "{:<40} {:>10.0} {:>11.3}x {:>10.1?} {:>10.1?}",
            o.name,
            o.per_second,
            o.per_second / baseline,
            o.p50,
            o.p99
        );
    }
}
