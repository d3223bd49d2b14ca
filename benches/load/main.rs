//! The load benchmark, run on demand: `cargo bench --bench load [-- OPTIONS]`.
//!
//! Starts the real binary on a random port against a fresh database (and the test fake of
//! LiveKit), drives each scenario with concurrent HTTP clients, and prints one table.
//! Machines here are shared and noisy, so rates are also given as a ratio to `/healthz`
//! measured in the same run: compare ratios, not raw numbers.
//!
//! Options: `--lifecycles N` (default 1000), `--concurrency C` (16), `--only a,b` to run some
//! scenarios only (`flow`, `statements`, `versus`, `events`, `scale`); `--idle-streams N` (1000)
//! and `--held-streams N` (5000) size the `events` scenario; `--scale-calls N` runs `scale`
//! (history at scale on N generated calls; off by default) with `--scale-runs R` (100);
//! `--prototype URL` runs `versus` against the prototype started afresh at URL, in
//! `--rounds R` (6) alternating rounds of N lifecycles per side.

#[path = "../../tests/support/mod.rs"]
mod support;

mod events;
mod flow;
mod harness;
mod scale;
mod statements;
mod versus;

use harness::{Row, Service, arg};

/// Where the flow's warm-up numbers its lifecycles from: apart from the measured ones.
const WARM_UP: usize = 3_000_000;

#[tokio::main]
async fn main() {
    // RUST_LOG=error shows what went wrong if a scenario fails.
    warmline::telemetry::init(false);
    let lifecycles: usize = arg("--lifecycles", 1000);
    let concurrency: usize = arg("--concurrency", 16);
    let only: String = arg("--only", String::new());
    // A running prototype (its `backend/app.py` under uvicorn) to compare with, side by side.
    let prototype: Option<String> =
        Some(arg("--prototype", String::new())).filter(|p| !p.is_empty());
    let runs = |name: &str| only.is_empty() || only.split(',').any(|o| o == name);
    let mut rows: Vec<Row> = Vec::new();

    let service = Service::start(None, &[]).await;
    let baseline = service.baseline(lifecycles * 10, concurrency).await;
    let healthz = baseline.per_second;
    rows.push(baseline);

    if runs("flow") {
        // Not counted: a new service opens its connections and prepares its statements on
        // each during its first lifecycles (pgbench's rate leaves its connections out too).
        let warm_up = (lifecycles / 5).max(concurrency);
        let (warm, _) = flow::run_flow_at(
            &service.base,
            "warm-up",
            WARM_UP..WARM_UP + warm_up,
            concurrency,
            flow::on_warmline(&service.livekit),
        )
        .await;
        harness::wait_until_idle(&service.db_url).await;
        let busy_before = harness::machine_busy();
        let (mut row, routes) = flow::run_flow(
            &service,
            "prototype flow (lifecycles)",
            lifecycles,
            concurrency,
            flow::on_warmline(&service.livekit),
        )
        .await;
        let warmline_rate = row.per_second;
        let drained = harness::wait_until_idle(&service.db_url).await;
        // What a lifecycle costs, counted until its background work is done too: a rate taken
        // while requests run would reward work left for after the last one.
        let cpu = harness::cpu_per(busy_before, lifecycles).map_or(String::new(), |ms| {
            format!("; {ms:.2} ms of CPU per lifecycle with it (the whole machine)")
        });
        row.add_note(format!(
            "after {warm_up} lifecycles of warm-up at {:.1}/s; its background work (rooms, \
             hand-off checks) done {:.1} s after the last request{cpu}",
            warm.per_second,
            drained.as_secs_f64()
        ));
        rows.push(row);
        rows.extend(routes);

        // The ceiling: the same SQL, run by pgbench at the same concurrency on the same server,
        // with the service (idle by now) suspended: its sweeps and job worker would otherwise
        // take the script's jobs and share the cores.
        let ceiling = {
            let _paused = service.paused();
            flow::pgbench_ceiling(&service.db_url, lifecycles, concurrency)
        };
        match ceiling {
            Ok(tps) => rows.push(Row::note(
                "prototype flow's SQL in pgbench (the ceiling)",
                format!(
                    "{tps:.1} lifecycles/s; warmline reaches {:.2} of it",
                    warmline_rate / tps
                ),
            )),
            Err(e) => rows.push(Row::note("prototype flow's SQL in pgbench", e)),
        }
        // Latency below saturation: the same flow at half the rate just measured.
        harness::wait_until_idle(&service.db_url).await;
        let (mut row, routes) = flow::run_paced(
            &service.base,
            "prototype flow at half that rate (requests)",
            lifecycles,
            warmline_rate / 2.0,
            flow::on_warmline(&service.livekit),
        )
        .await;
        row.add_note("p99 target < 25 ms");
        rows.push(row);
        rows.extend(routes);

        let (row, routes) = flow::run_flow(
            &service,
            "/v1 lifecycle (lifecycles)",
            lifecycles,
            concurrency,
            |c, b, n, r| async move { flow::v1_lifecycle(&c, &b, n, &r).await },
        )
        .await;
        rows.push(row);
        rows.extend(routes);
    }
    rows.push(Row::note(
        "service RSS after the flows",
        format!("{} MiB (pid {})", service.rss_kib() / 1024, service.pid()),
    ));
    service.stop();

    if runs("statements") {
        let cost = statements::count(20, &[], |c, b, n, r, lk| async move {
            flow::prototype_lifecycle(&c, &b, n, &r, Some(&lk)).await
        })
        .await;
        rows.extend(cost.rows("prototype flow"));
        let cost = statements::count(20, &[], |c, b, n, r, _| async move {
            flow::v1_lifecycle(&c, &b, n, &r).await
        })
        .await;
        rows.extend(cost.rows("/v1 lifecycle"));
    }

    // The prototype beside warmline, in alternating rounds (a fresh service of its own).
    if let Some(prototype) = prototype.as_deref().filter(|_| runs("versus")) {
        let rounds: usize = arg("--rounds", 6);
        rows.extend(versus::run(prototype, lifecycles, concurrency, rounds).await);
    }

    if runs("events") {
        let idle: usize = arg("--idle-streams", 1000);
        let held: usize = arg("--held-streams", 5000);
        rows.extend(events::run(lifecycles, concurrency, idle, held).await);
    }

    // History at scale only on request: its data set takes minutes to generate the first time.
    let scale_calls: u64 = arg("--scale-calls", 0);
    if scale_calls > 0 && runs("scale") {
        rows.extend(scale::run(scale_calls, lifecycles, concurrency).await);
    }

    println!("\nlifecycles {lifecycles}, concurrency {concurrency}\n");
    harness::print(&rows, healthz);
}
