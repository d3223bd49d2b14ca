//! Statements and commits per lifecycle: the service runs with every SQL statement logged
//! (sqlx's `sqlx::query` events, as JSON lines carrying the request's span), a few lifecycles
//! run one at a time, and the log is counted per route.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::Value;

use crate::flow::Routes;
use crate::harness::{Row, Service, commits};
use crate::support::livekit::FakeLiveKit;

/// What one lifecycle cost, counted from the service's statement log.
pub struct Cost {
    /// Statements per lifecycle on the request path, per route.
    pub per_route: BTreeMap<String, f64>,
    /// Explicit transactions per lifecycle on the request path (the driver logs their `COMMIT`,
    /// not their `BEGIN`, so the statement counts leave `BEGIN` out).
    pub transactions: f64,
    /// Statements per lifecycle outside any request (job workers, listeners).
    pub background: f64,
    /// Commits per lifecycle, requests and workers together (`pg_stat_database`).
    pub commits: f64,
}

impl Cost {
    /// The request path's statements per lifecycle.
    pub fn statements(&self) -> f64 {
        self.per_route.values().sum()
    }

    /// The table's rows for this cost.
    pub fn rows(&self, name: &str) -> Vec<Row> {
        let mut rows = vec![Row::note(
            format!("{name}: per lifecycle"),
            format!(
                "{:.1} statements (+{:.1} BEGIN) on the request path; {:.1} in the background; {:.1} commits",
                self.statements(),
                self.transactions,
                self.background,
                self.commits
            ),
        )];
        rows.extend(
            self.per_route
                .iter()
                .map(|(route, n)| Row::note(format!("  {route}"), format!("{n:.1} statements"))),
        );
        rows
    }
}

/// Runs `lifecycles` of `lifecycle` one after another on a service that logs every statement,
/// waits for its jobs to settle, and counts.
pub async fn count<F, Fut>(lifecycles: usize, settings: &[(&str, &str)], lifecycle: F) -> Cost
where
    F: Fn(reqwest::Client, String, usize, Routes, FakeLiveKit) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    let mut env = vec![
        ("LOG_JSON", "true"),
        ("RUST_LOG", "warn,warmline::router=info,sqlx::query=debug"),
    ];
    env.extend_from_slice(settings);
    let service = Service::start(None, &env).await;
    // Every pooled connection looks up the custom types once: warm them all up first, so the
    // counts are the steady state's. Start-up work is not counted either.
    let warm_up: Vec<_> = (0..20)
        .map(|n| {
            lifecycle(
                service.client.clone(),
                service.base.clone(),
                1_000_000 + n,
                Routes::default(),
                service.livekit.clone(),
            )
        })
        .collect();
    futures_util::future::join_all(warm_up).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    let skip = service.log_text().lines().count();
    let before = commits(&service.db_url).await;
    for n in 0..lifecycles {
        lifecycle(
            service.client.clone(),
            service.base.clone(),
            n,
            Routes::default(),
            service.livekit.clone(),
        )
        .await;
    }
    // The jobs a lifecycle queued (rooms, timers) run now or at their time: give them a moment.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = commits(&service.db_url).await;
    let log = service.log_text();
    service.stop();

    let mut per_route: BTreeMap<String, f64> = BTreeMap::new();
    let (mut transactions, mut background) = (0.0, 0.0);
    for line in log.lines().skip(skip) {
        let Ok(event) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        if event["target"] != "sqlx::query" {
            continue;
        }
        let statement = event["db.statement"]
            .as_str()
            .filter(|s| !s.trim().is_empty())
            .or(event["summary"].as_str())
            .unwrap_or_default()
            .trim()
            .to_ascii_uppercase();
        // The driver looks each custom type up once per pooled connection, whenever a
        // connection first meets it: start-up work, not the request's, however late it falls.
        if statement.starts_with("SELECT PG_TYPE.OID") {
            continue;
        }
        match event["span"]["route"].as_str() {
            Some(route) => {
                let method = event["span"]["method"].as_str().unwrap_or("?");
                *per_route.entry(format!("{method} {route}")).or_default() += 1.0;
                if statement.starts_with("COMMIT") {
                    transactions += 1.0;
                }
            }
            None => background += 1.0,
        }
    }
    let n = lifecycles as f64;
    per_route.values_mut().for_each(|v| *v /= n);
    Cost {
        per_route,
        transactions: transactions / n,
        background: background / n,
        commits: (after - before) as f64 / n,
    }
}
