//! warmline beside the prototype on the prototype's page flow, in alternating rounds: each
//! round runs the flow once on each side, so a burst of the machine's other work falls on
//! both sides rather than on one measurement, and both sides have served the same number of
//! lifecycles when a round starts (the prototype scans every transfer it holds on its status
//! routes, so its rate depends on that history).

use crate::flow;
use crate::harness::{self, Row, Service};

/// Where the rounds number their lifecycles from: apart from every other scenario's.
const FROM: usize = 2_000_000;

/// `rounds` rounds of `lifecycles` lifecycles per side at `concurrency`, against a fresh
/// service and the prototype at `prototype` (which must be started afresh for its first
/// round to be at no history).
pub async fn run(
    prototype: &str,
    lifecycles: usize,
    concurrency: usize,
    rounds: usize,
) -> Vec<Row> {
    // Logging as shipped on both sides: warmline's default logs each request, as uvicorn's
    // default access log does the prototype's. The other scenarios run warmline quiet.
    let service = Service::start(None, &[("RUST_LOG", "")]).await;
    let mut rows = Vec::new();
    let mut ratios = Vec::new();
    for round in 0..rounds {
        let numbers = FROM + round * lifecycles..FROM + (round + 1) * lifecycles;
        let history = round * lifecycles;
        let warmline_first = round % 2 == 0;
        rows.push(Row::note(
            format!("side by side, round {} of {rounds}", round + 1),
            format!(
                "each side has served {history} lifecycles before it; {} goes first",
                if warmline_first {
                    "warmline"
                } else {
                    "the prototype"
                }
            ),
        ));
        let ((mut ours, our_cpu), (mut theirs, their_cpu)) = if warmline_first {
            let ours = warmline_round(&service, numbers.clone(), concurrency).await;
            (ours, prototype_round(prototype, numbers, concurrency).await)
        } else {
            let theirs = prototype_round(prototype, numbers.clone(), concurrency).await;
            (warmline_round(&service, numbers, concurrency).await, theirs)
        };
        let ratio = ours.per_second / theirs.per_second;
        ratios.push(ratio);
        if let Some(ms) = our_cpu {
            ours.add_note(format!(
                "{ms:.2} ms of CPU per lifecycle, its background work included"
            ));
        }
        let cpu = match (our_cpu, their_cpu) {
            (Some(o), Some(t)) => {
                format!(
                    "; {t:.2} ms of CPU per lifecycle: warmline costs {:.2}x",
                    o / t
                )
            }
            _ => String::new(),
        };
        theirs.add_note(format!("warmline is {ratio:.2}x the prototype{cpu}"));
        rows.push(ours);
        rows.push(theirs);
    }
    let listed: Vec<String> = ratios.iter().map(|r| format!("{r:.2}x")).collect();
    rows.push(Row::note(
        "warmline / the prototype, round by round",
        format!("{}; median {:.2}x", listed.join(", "), median(&mut ratios)),
    ));
    rows.push(Row::note(
        "service RSS after the rounds",
        format!("{} MiB", service.rss_kib() / 1024),
    ));
    service.stop();
    rows
}

/// One round's flow on warmline: its rate while requests run, and the machine's CPU per
/// lifecycle until the work it left (rooms, hand-off checks) is done.
async fn warmline_round(
    service: &Service,
    numbers: std::ops::Range<usize>,
    concurrency: usize,
) -> (Row, Option<f64>) {
    let count = numbers.len();
    harness::wait_until_idle(&service.db_url).await;
    let busy_before = harness::machine_busy();
    let (row, _) = flow::run_flow_at(
        &service.base,
        "  warmline",
        numbers,
        concurrency,
        flow::on_warmline(&service.livekit),
    )
    .await;
    harness::wait_until_idle(&service.db_url).await;
    (row, harness::cpu_per(busy_before, count))
}

/// One round's flow on the prototype, and the machine's CPU per lifecycle during it.
async fn prototype_round(
    prototype: &str,
    numbers: std::ops::Range<usize>,
    concurrency: usize,
) -> (Row, Option<f64>) {
    let count = numbers.len();
    let busy_before = harness::machine_busy();
    let (row, _) = flow::run_flow_at(
        prototype,
        "  the prototype",
        numbers,
        concurrency,
        |c, b, n, r| async move { flow::prototype_lifecycle(&c, &b, n, &r, None).await },
    )
    .await;
    (row, harness::cpu_per(busy_before, count))
}

fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}
