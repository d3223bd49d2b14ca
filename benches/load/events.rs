//! Live event streams: what open, idle `GET /v1/events` streams cost the writes and the
//! service's memory. An idle stream has a filter no event matches, as most of a
//! supervisor console's streams do most of the time.

use futures_util::StreamExt;
use reqwest::StatusCode;
use serde_json::json;

use crate::harness::{Row, Service, measure};

/// Streams opened at once while setting up.
const OPENING: usize = 64;

/// Opens `count` idle streams, each on a connection of its own; they stay open while the
/// responses are held.
async fn open_idle_streams(service: &Service, count: usize) -> Vec<reqwest::Response> {
    let client = reqwest::Client::new();
    futures_util::stream::iter(0..count)
        .map(|_| {
            let url = format!(
                "{}/v1/events?call_id={}",
                service.base,
                uuid::Uuid::new_v4()
            );
            let client = client.clone();
            async move {
                let response = client.get(url).send().await.expect("open a stream");
                assert_eq!(response.status(), StatusCode::OK, "open a stream");
                response
            }
        })
        .buffer_unordered(OPENING)
        .collect()
        .await
}

/// `count` calls created over `concurrency` clients. (Commits are not counted here: the
/// statistics lag and the calls' jobs blur them; the API tests count them exactly.)
async fn create_calls(service: &Service, scenario: &str, count: usize, concurrency: usize) -> Row {
    let (client, base) = (service.client.clone(), service.base.clone());
    measure(scenario, count, concurrency, move |n| {
        let (client, base) = (client.clone(), base.clone());
        async move {
            let reply = client
                .post(format!("{base}/v1/calls"))
                .json(&json!({"caller_name": format!("Caller {n}")}))
                .send()
                .await
                .expect("create a call");
            assert_eq!(reply.status(), StatusCode::CREATED);
        }
    })
    .await
}

/// Write throughput with no stream and with `idle` idle streams open, then the service's
/// memory idle and with `held` streams open.
pub async fn run(writes: usize, concurrency: usize, idle: usize, held: usize) -> Vec<Row> {
    let mut rows = Vec::new();
    let service = Service::start(None, &[]).await;
    // A round first, so both measured rounds run beside the jobs of earlier calls.
    create_calls(&service, "warm-up", writes, concurrency).await;
    // Rounds alternate, twice each, so a drift of the machine or of the growing tables
    // weighs on both alike; each row is the better round of its two.
    let (mut without, mut with): (Option<Row>, Option<Row>) = (None, None);
    for _ in 0..2 {
        let row = create_calls(
            &service,
            "POST /v1/calls, no stream open",
            writes,
            concurrency,
        )
        .await;
        without = Some(better(without, row));
        let streams = open_idle_streams(&service, idle).await;
        let row = create_calls(
            &service,
            &format!("POST /v1/calls, {idle} idle streams open"),
            writes,
            concurrency,
        )
        .await;
        with = Some(better(with, row));
        drop(streams);
    }
    let (without, mut with) = (without.expect("a round"), with.expect("a round"));
    with.note = format!(
        "{:.2}x the rate with no stream (best of two alternating rounds each)",
        with.per_second / without.per_second
    );
    rows.push(without);
    rows.push(with);
    service.stop();

    // A fresh service, so the memory is the streams' and not the writes'.
    let service = Service::start(None, &[]).await;
    let before = service.rss_kib();
    let streams = open_idle_streams(&service, held).await;
    let after = service.rss_kib();
    rows.push(Row::note(
        format!("service RSS, idle / {held} idle streams open"),
        format!(
            "{} MiB / {} MiB: {:.1} KiB per stream",
            before / 1024,
            after / 1024,
            after.saturating_sub(before) as f64 / held.max(1) as f64
        ),
    ));
    drop(streams);
    service.stop();
    rows
}

/// The faster of two rounds of one scenario.
fn better(kept: Option<Row>, row: Row) -> Row {
    match kept {
        Some(kept) if kept.per_second >= row.per_second => kept,
        _ => row,
    }
}
