//! The application: shared state, the router with its middleware, the OpenAPI document, and
//! serving on a listener until shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request, State};
use axum::http::{HeaderName, StatusCode};
use serde::Serialize;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower_http::cors::CorsLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::{OpenApi, ToSchema};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use utoipa_swagger_ui::SwaggerUi;

use crate::config::Config;
use crate::error::{ApiError, Problem};
use crate::extract::Json;

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub db: sqlx::PgPool,
    pub config: Arc<Config>,
    pub livekit: crate::livekit::LiveKit,
    /// The model client, when a model is configured.
    pub summarizer: Option<Arc<crate::summaries::llm::LlmSummarizer>>,
    /// Counters and histograms served at `/metrics`.
    pub metrics: Arc<crate::metrics::Metrics>,
    /// Wake-ups from the database's NOTIFY channels.
    pub signals: Arc<crate::notify::Signals>,
    /// Cancelled when the service stops; long-lived responses (event streams) end with it.
    pub shutdown: CancellationToken,
}

impl AppState {
    /// The state for a pool and a config.
    pub fn new(db: sqlx::PgPool, config: Config) -> anyhow::Result<Self> {
        let livekit = crate::livekit::LiveKit::new(config.livekit.clone());
        let summarizer = match &config.summary_model {
            Some(model) => Some(Arc::new(crate::summaries::llm::LlmSummarizer::new(
                model.clone(),
            )?)),
            None => None,
        };
        Ok(Self {
            db,
            config: Arc::new(config),
            livekit,
            summarizer,
            metrics: crate::metrics::Metrics::new(),
            signals: crate::notify::Signals::new(),
            shutdown: CancellationToken::new(),
        })
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "warmline",
        description = "Warm (attended) call transfers over LiveKit: calls, transcripts, transfers, \
                       participants and summaries, stored in Postgres.\n\nErrors are RFC 9457 \
                       `application/problem+json` documents with a stable `type`.",
        license(name = "Apache-2.0", identifier = "Apache-2.0"),
    ),
    tags(
        (name = "calls", description = "Calls and their timelines"),
        (name = "transcripts", description = "What was said on a call"),
        (name = "transfers", description = "Warm transfers and their state machine"),
        (name = "tokens", description = "Scoped LiveKit access tokens"),
        (name = "rooms", description = "LiveKit rooms and who was in them"),
        (name = "webhooks", description = "Events from LiveKit"),
        (name = "summaries", description = "Call summaries and briefing scripts"),
        (name = "prototype-compatible", description = "The prototype's routes, served over the same services. Deprecated: use /v1"),
        (name = "health", description = "Liveness and readiness"),
    ),
    components(schemas(Problem, crate::error::FieldError))
)]
struct ApiDoc;

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(healthz))
        .routes(routes!(readyz))
        .routes(routes!(metrics))
        .merge(crate::calls::routes::router())
        .merge(crate::transcripts::routes::router())
        .merge(crate::events::routes::router())
        .merge(crate::transfers::routes::router())
        .merge(crate::tokens::routes::router())
        .merge(crate::participants::routes::router())
        .merge(crate::webhooks::routes::router())
        .merge(crate::summaries::routes::router())
        .merge(crate::compat::routes::router())
}

/// The OpenAPI document of every route, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    with_common_errors(api_router().into_openapi())
}

/// Adds the errors any route can answer (an unavailable database, an internal error, a
/// request that ran too long) to every operation, so the document lists them all.
fn with_common_errors(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    let problem = |description: &str| {
        ResponseBuilder::new()
            .description(description)
            .content(
                "application/problem+json",
                ContentBuilder::new()
                    .schema(Some(Ref::from_schema_name("Problem")))
                    .build(),
            )
            .build()
    };
    let common = [
        ("408", "The request took longer than REQUEST_TIMEOUT_SECS"),
        ("500", "Internal error (logged with the request id)"),
        ("503", "The database is unavailable; retry later"),
    ];
    for item in spec.paths.paths.values_mut() {
        let operations = [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
        ];
        for operation in operations.into_iter().flatten() {
            for (status, description) in common {
                operation
                    .responses
                    .responses
                    .entry(status.to_owned())
                    .or_insert_with(|| problem(description).into());
            }
        }
    }
    spec
}

/// The full router with its middleware, ready to serve (tests can `oneshot` it).
pub fn router(state: AppState) -> Router {
    let (api, spec) = api_router().split_for_parts();
    let spec = with_common_errors(spec);
    let config = state.config.clone();
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .fallback(|| async { ApiError::RouteNotFound("no route matches this path".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not accept that method".into())
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, config.request_timeout))
        .layer(CorsLayer::permissive().expose_headers([REQUEST_ID]))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &Request| {
                    let route = req.extensions().get::<MatchedPath>().map(MatchedPath::as_str);
                    let request_id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok());
                    tracing::info_span!("request", method = %req.method(), route, path = %req.uri().path(), request_id)
                })
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid))
        .with_state(state)
}

/// Serves `router(state)` on `listener` and runs the job worker, until `shutdown` is
/// cancelled; requests and jobs in flight finish first.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> anyhow::Result<()> {
    let state = AppState {
        shutdown: shutdown.clone(),
        ..state
    };
    let retry = state.config.jobs.poll_interval * 5;
    let notifications = tokio::spawn(crate::notify::listen(
        state.db.clone(),
        state.signals.clone(),
        shutdown.clone(),
        retry,
    ));
    let workers = tokio::spawn(crate::jobs::run_workers(state.clone(), shutdown.clone()));
    let served = axum::serve(listener, router(state))
        .with_graceful_shutdown(shutdown.clone().cancelled_owned())
        .await;
    shutdown.cancel();
    if let Err(e) = workers.await {
        tracing::error!(error = %e, "the job workers panicked");
    }
    let _ = notifications.await;
    Ok(served?)
}

/// Liveness.
#[derive(Debug, Serialize, ToSchema)]
struct Health {
    #[schema(example = "ok")]
    status: &'static str,
}

/// Readiness details.
#[derive(Debug, Serialize, ToSchema)]
struct Readiness {
    #[schema(example = "ready")]
    status: &'static str,
    /// `true`: every migration this binary carries has been applied.
    migrations_current: bool,
}

/// Is the process up?
#[utoipa::path(get, path = "/healthz", tag = "health",
    responses((status = 200, description = "The process is up", body = Health)))]
async fn healthz() -> Json<Health> {
    Json(Health { status: "ok" })
}

/// Can the service do its work: database reachable and migrations current?
#[utoipa::path(get, path = "/readyz", tag = "health",
    responses(
        (status = 200, description = "Ready", body = Readiness),
        (status = 503, description = "Database unreachable or migrations missing", body = Problem, content_type = "application/problem+json"),
    ))]
async fn readyz(State(state): State<AppState>) -> Result<Json<Readiness>, ApiError> {
    let check = tokio::time::timeout(
        Duration::from_secs(5),
        crate::db::migrations_current(&state.db),
    );
    match check.await {
        Ok(Ok(true)) => Ok(Json(Readiness {
            status: "ready",
            migrations_current: true,
        })),
        Ok(Ok(false)) => Err(ApiError::Unavailable(
            "migrations are not all applied; run `warmline migrate`".into(),
        )),
        Ok(Err(e)) => {
            tracing::warn!(error = %e, "readiness: database check failed");
            Err(ApiError::Unavailable(
                "the database is not reachable".into(),
            ))
        }
        Err(_) => Err(ApiError::Unavailable(
            "the database did not answer within 5 s".into(),
        )),
    }
}

/// Prometheus metrics.
///
/// Requests by route and status, request durations, job runs by kind and outcome, webhook
/// deliveries by event and result, and (read at scrape time) transfers by state and jobs by
/// status. All prefixed `warmline_`.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses(
        (status = 200, description = "The Prometheus text exposition", content_type = "text/plain; version=0.0.4", body = String),
        (status = 503, description = "The database could not be read", body = Problem, content_type = "application/problem+json"),
    ))]
async fn metrics(
    State(state): State<AppState>,
) -> Result<impl axum::response::IntoResponse, ApiError> {
    let text = state.metrics.render(&state.db).await.map_err(|e| {
        tracing::warn!(error = format!("{e:#}"), "rendering metrics failed");
        ApiError::Unavailable("metrics could not be read from the database".into())
    })?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    ))
}
