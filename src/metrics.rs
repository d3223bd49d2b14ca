//! Prometheus metrics: requests, job runs and webhook deliveries counted as they happen;
//! transfers and jobs by state read from the database at scrape time (so every replica reports
//! the same truth).

use std::sync::Arc;
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::encoding::text::encode;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::{Histogram, exponential_buckets};
use prometheus_client::registry::Registry;

use crate::jobs::model::JobStatus;
use crate::transfers::model::TransferState;

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RequestLabels {
    pub method: String,
    /// The route template (`/v1/calls/{id}`), never the raw path: bounded cardinality.
    pub route: String,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct RouteLabels {
    pub method: String,
    pub route: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct JobLabels {
    pub kind: String,
    /// `done`, `not_yet`, `retry` or `dead`.
    pub outcome: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct WebhookLabels {
    pub event: String,
    pub result: String,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct StateLabels {
    pub state: String,
}

/// The process's metrics.
pub struct Metrics {
    registry: Registry,
    pub requests: Family<RequestLabels, Counter>,
    pub request_seconds: Family<RouteLabels, Histogram>,
    pub job_runs: Family<JobLabels, Counter>,
    pub webhooks: Family<WebhookLabels, Counter>,
    transfers: Family<StateLabels, Gauge>,
    jobs: Family<StateLabels, Gauge>,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Metrics").finish_non_exhaustive()
    }
}

impl Metrics {
    /// A registry with every metric, all at zero.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::with_prefix("warmline");
        let requests = Family::<RequestLabels, Counter>::default();
        let request_seconds = Family::<RouteLabels, Histogram>::new_with_constructor(|| {
            Histogram::new(exponential_buckets(0.001, 2.0, 14))
        });
        let job_runs = Family::<JobLabels, Counter>::default();
        let webhooks = Family::<WebhookLabels, Counter>::default();
        let transfers = Family::<StateLabels, Gauge>::default();
        let jobs = Family::<StateLabels, Gauge>::default();
        registry.register("http_requests", "HTTP requests answered", requests.clone());
        registry.register(
            "http_request_duration_seconds",
            "Time to answer HTTP requests",
            request_seconds.clone(),
        );
        registry.register("job_runs", "Job runs by kind and outcome", job_runs.clone());
        registry.register(
            "webhook_deliveries",
            "LiveKit webhook deliveries by event and result",
            webhooks.clone(),
        );
        registry.register("transfers", "Transfers by state", transfers.clone());
        registry.register("jobs", "Queued jobs by status", jobs.clone());
        Arc::new(Self {
            registry,
            requests,
            request_seconds,
            job_runs,
            webhooks,
            transfers,
            jobs,
        })
    }

    /// Counts one run of a job.
    pub fn job_ran(&self, kind: &str, outcome: &str) {
        self.job_runs
            .get_or_create(&JobLabels {
                kind: kind.to_owned(),
                outcome: outcome.to_owned(),
            })
            .inc();
    }

    /// Counts one webhook delivery.
    pub fn webhook_received(&self, event: &str, result: &str) {
        self.webhooks
            .get_or_create(&WebhookLabels {
                event: event.to_owned(),
                result: result.to_owned(),
            })
            .inc();
    }

    /// The text exposition, with the database-backed gauges read now.
    pub async fn render(&self, db: &sqlx::PgPool) -> anyhow::Result<String> {
        let transfers = crate::transfers::store::count_by_state(db).await?;
        for state in TransferState::ALL {
            let n = transfers
                .iter()
                .find(|(s, _)| *s == state)
                .map_or(0, |(_, n)| *n);
            self.transfers
                .get_or_create(&StateLabels {
                    state: state.as_str().to_owned(),
                })
                .set(n);
        }
        let jobs = crate::jobs::store::count_by_status(db).await?;
        for status in JobStatus::ALL {
            let n = jobs
                .iter()
                .find(|(s, _)| *s == status)
                .map_or(0, |(_, n)| *n);
            self.jobs
                .get_or_create(&StateLabels {
                    state: status.as_str().to_owned(),
                })
                .set(n);
        }
        let mut out = String::new();
        encode(&mut out, &self.registry)?;
        Ok(out)
    }
}

/// Middleware: counts and times every request by its route template.
pub async fn track(State(metrics): State<Arc<Metrics>>, request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().to_string();
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let response = next.run(request).await;
    let status = response.status().as_u16();

    metrics
        .requests
        .get_or_create(&RequestLabels {
            method: method.clone(),
            route: route.clone(),
            status,
        })
        .inc();
    metrics
        .request_seconds
        .get_or_create(&RouteLabels { method, route })
        .observe(started.elapsed().as_secs_f64());
    response
}
