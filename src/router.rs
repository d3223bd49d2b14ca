//! The router: every module's routes, the middleware around them, and the OpenAPI document.

use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::{DefaultBodyLimit, MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue, Method, header};
use tower_governor::GovernorLayer;
use tower_governor::governor::GovernorConfigBuilder;
use tower_governor::key_extractor::KeyExtractor;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_swagger_ui::SwaggerUi;

use crate::app::AppState;
use crate::auth::limits::{PerAddress, PerKey};
use crate::error::{ApiError, Problem};

const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

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
        (name = "agents", description = "The agents who take calls"),
        (name = "reviews", description = "QA reviews of transfers, scored on versioned scorecards"),
        (name = "stats", description = "Transfer statistics computed from the records"),
        (name = "access", description = "API keys and their roles"),
        (name = "prototype-compatible", description = "The prototype's routes, served over the same services. Deprecated: use /v1"),
        (name = "health", description = "Liveness and readiness"),
    ),
    components(schemas(Problem, crate::error::FieldError, crate::participants::model::Include))
)]
struct ApiDoc;

/// POST routes that ignore `Idempotency-Key`: LiveKit's event id already makes a webhook
/// delivery idempotent.
const WITHOUT_IDEMPOTENCY_KEY: [&str; 1] = ["/v1/webhooks/livekit"];

fn api_router() -> OpenApiRouter<AppState> {
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(crate::health::router())
        .merge(crate::calls::routes::router())
        .merge(crate::export::routes::router())
        .merge(crate::transcripts::routes::router())
        .merge(crate::events::routes::router())
        .merge(crate::transfers::routes::router())
        .merge(crate::tokens::routes::router())
        .merge(crate::participants::routes::router())
        .merge(crate::webhooks::routes::router())
        .merge(crate::summaries::routes::router())
        .merge(crate::agents::routes::router())
        .merge(crate::reviews::routes::router())
        .merge(crate::stats::routes::router())
        .merge(crate::auth::routes::router())
        .merge(crate::compat::routes::router())
}

/// The OpenAPI document of every route, as served at `/openapi.json`.
pub fn openapi() -> utoipa::openapi::OpenApi {
    documented(api_router().into_openapi())
}

/// Everything the router adds to every route, written into the document.
fn documented(spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    with_access_rules(with_idempotency_keys(with_body_errors(with_common_errors(
        spec,
    ))))
}

/// A problem+json answer, for the document.
fn problem_response(description: &str) -> utoipa::openapi::Response {
    use utoipa::openapi::{ContentBuilder, Ref, ResponseBuilder};
    ResponseBuilder::new()
        .description(description)
        .content(
            "application/problem+json",
            ContentBuilder::new()
                .schema(Some(Ref::from_schema_name("Problem")))
                .build(),
        )
        .build()
}

/// Writes the access table into the document: the bearer scheme, and on each operation the
/// roles it allows (as the security requirement's scopes, which OpenAPI 3.1 allows for role
/// names) and the 401/403/429 it can answer.
fn with_access_rules(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::security::{
        HttpAuthScheme, HttpBuilder, SecurityRequirement, SecurityScheme,
    };

    use crate::auth::policy::{Access, access};

    let scheme = SecurityScheme::Http(
        HttpBuilder::new()
            .scheme(HttpAuthScheme::Bearer)
            .bearer_format("wl_<prefix>_<secret>")
            .description(Some(
                "An API key from `warmline keys create` or `POST /v1/api-keys`. With no key \
                 in the database and the service on a loopback address, no key is needed.",
            ))
            .build(),
    );
    spec.components
        .get_or_insert_with(Default::default)
        .security_schemes
        .insert(API_KEY_SCHEME.to_owned(), scheme.into());
    each_operation(&mut spec, |method, path, operation| {
        let Some(Access::Roles(roles)) = access(&method, path) else {
            return;
        };
        let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
        operation.security = Some(vec![SecurityRequirement::new(
            API_KEY_SCHEME,
            names.clone(),
        )]);
        let note = format!("\n\nRoles: {}.", names.join(", "));
        operation.description = Some(operation.description.take().unwrap_or_default() + &note);
        add_error(operation, "401", "No API key, or an unknown or revoked one");
        add_error(
            operation,
            "403",
            "The key's role may not use this route, or not on this record",
        );
        if method != Method::GET {
            add_error(
                operation,
                "429",
                "Too many writes from this key or address; see Retry-After",
            );
        }
    });
    spec
}

/// The name of the bearer scheme in the document.
const API_KEY_SCHEME: &str = "api_key";

/// Adds the errors any route can answer (an unavailable database, an internal error, a
/// request that ran too long) to every operation, so the document lists them all.
fn with_common_errors(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let common = [
        ("408", "The request took longer than REQUEST_TIMEOUT_SECS"),
        ("500", "Internal error (logged with the request id)"),
        ("503", "The database is unavailable; retry later"),
    ];
    each_operation(&mut spec, |_, _, operation| {
        for (status, description) in common {
            add_error(operation, status, description);
        }
    });
    spec
}

/// Calls `visit` with every operation of the document, its method and its path.
fn each_operation(
    spec: &mut utoipa::openapi::OpenApi,
    mut visit: impl FnMut(Method, &str, &mut utoipa::openapi::path::Operation),
) {
    for (path, item) in spec.paths.paths.iter_mut() {
        let operations = [
            (Method::GET, &mut item.get),
            (Method::PUT, &mut item.put),
            (Method::POST, &mut item.post),
            (Method::DELETE, &mut item.delete),
            (Method::PATCH, &mut item.patch),
        ];
        for (method, operation) in operations {
            if let Some(operation) = operation {
                visit(method, path, operation);
            }
        }
    }
}

/// Adds the error `status` to an operation that does not list it yet.
fn add_error(operation: &mut utoipa::openapi::path::Operation, status: &str, description: &str) {
    operation
        .responses
        .responses
        .entry(status.to_owned())
        .or_insert_with(|| problem_response(description).into());
}

/// Every POST of a route runs under its `Idempotency-Key`, when it sends one. Inside the
/// timeout, so a request that runs out of time lets its key go instead of storing a 408.
async fn idempotent_posts(
    axum::extract::State(state): axum::extract::State<AppState>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map(MatchedPath::as_str);
    let keyed = request.method() == axum::http::Method::POST
        && route.is_some_and(|route| !WITHOUT_IDEMPOTENCY_KEY.contains(&route));
    if keyed {
        crate::idempotency::run(&state, request, next).await
    } else {
        next.run(request).await
    }
}

/// Adds the answers of a request body that cannot be read (400), is too large (413) or is not
/// JSON (415) to every operation that takes a body: the extractors give them on every route.
fn with_body_errors(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    let body_errors = [
        ("400", "The body is not valid JSON"),
        ("413", "The body is larger than MAX_BODY_BYTES"),
        (
            "415",
            "The body is not JSON (`Content-Type: application/json`)",
        ),
    ];
    each_operation(&mut spec, |_, _, operation| {
        if operation.request_body.is_some() {
            for (status, description) in body_errors {
                add_error(operation, status, description);
            }
        }
    });
    spec
}

/// Documents `Idempotency-Key` on every POST that honours it: the header, the replay marker on
/// its successful answers, and what its 409 and 422 then also mean.
fn with_idempotency_keys(mut spec: utoipa::openapi::OpenApi) -> utoipa::openapi::OpenApi {
    use utoipa::openapi::path::{ParameterBuilder, ParameterIn};
    use utoipa::openapi::{HeaderBuilder, ObjectBuilder, RefOr, Required, Type};
    let parameter = ParameterBuilder::new()
        .name("Idempotency-Key")
        .parameter_in(ParameterIn::Header)
        .required(Required::False)
        .description(Some(format!(
            "Makes a retry safe: the first response to this key (and this request) is stored \
             for IDEMPOTENCY_KEY_TTL_SECS (24 h) and replayed, with `Idempotent-Replayed: true`, \
             to any request with the same key and the same method, path and body. Keys are \
             scoped by the `Authorization` header. 5xx, 409 and 429 answers are not stored: \
             the retry runs again. 1 to {} printable ASCII characters; a UUID is a good key.",
            crate::idempotency::MAX_KEY_CHARS
        )))
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .min_length(Some(1))
                .max_length(Some(crate::idempotency::MAX_KEY_CHARS)),
        ))
        .build();
    let replayed = HeaderBuilder::new()
        .schema(Some(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(["true"])),
        ))
        .description(Some(
            "`true` when this is a stored response played back (Idempotency-Key)",
        ))
        .build();
    let meanings = [
        (
            "409",
            "A request with the same Idempotency-Key is still in progress",
        ),
        (
            "422",
            "The Idempotency-Key was used for a different request, or is malformed",
        ),
    ];
    for (path, item) in spec.paths.paths.iter_mut() {
        if WITHOUT_IDEMPOTENCY_KEY.contains(&path.as_str()) {
            continue;
        }
        let Some(operation) = item.post.as_mut() else {
            continue;
        };
        operation
            .parameters
            .get_or_insert_with(Vec::new)
            .push(RefOr::T(parameter.clone()));
        for (status, response) in operation.responses.responses.iter_mut() {
            if let (true, RefOr::T(response)) = (status.starts_with('2'), response) {
                response
                    .headers
                    .insert("Idempotent-Replayed".to_owned(), RefOr::T(replayed.clone()));
            }
        }
        for (status, meaning) in meanings {
            match operation.responses.responses.get_mut(status) {
                Some(RefOr::T(response)) => {
                    let (first, rest) = meaning.split_at(1);
                    response.description = format!(
                        "{}; or {}{rest}",
                        response.description,
                        first.to_lowercase()
                    );
                }
                Some(RefOr::Ref(_)) => {}
                None => {
                    let response = problem_response(meaning);
                    operation
                        .responses
                        .responses
                        .insert(status.to_owned(), response.into());
                }
            }
        }
    }
    spec
}

/// The full router with its middleware, ready to serve (tests can `oneshot` it).
pub fn router(state: AppState) -> Router {
    let (api, spec) = api_router().split_for_parts();
    let spec = documented(spec);
    let config = state.config.clone();
    // Innermost first: a replayed POST is still authorized, and only authorized requests
    // claim idempotency keys. Routes only: the docs stay readable without a key.
    let mut api = api
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            wake_on_writes,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            idempotent_posts,
        ))
        .layer(axum::middleware::from_fn_with_state(
            state.clone(),
            crate::auth::authorize,
        ));
    api = limit_writes(api, PerKey, config.auth.writes_per_key_per_sec, &state);
    api = limit_writes(
        api,
        PerAddress,
        config.auth.writes_per_address_per_sec,
        &state,
    );
    api.merge(SwaggerUi::new("/docs").url("/openapi.json", spec))
        .merge(crate::console::router(&config.livekit.public_url))
        .fallback(|| async { ApiError::RouteNotFound("no route matches this path".into()) })
        .method_not_allowed_fallback(|| async {
            ApiError::MethodNotAllowed("this route does not accept that method".into())
        })
        .layer(axum::middleware::from_fn_with_state(state.clone(), crate::metrics::track))
        .layer(DefaultBodyLimit::max(config.max_body_bytes))
        .layer(axum::middleware::from_fn_with_state(config.request_timeout, time_limit))
        .layer(cors(&config.auth.cors_origins))
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

/// Once a request that may have written is answered (its transaction committed or rolled
/// back), wakes the event reader, and the job workers when it queued a job. GETs only read,
/// but for `GET /token`, which wakes the reader itself.
async fn wake_on_writes(
    axum::extract::State(state): axum::extract::State<AppState>,
    req: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let may_write = !matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    crate::notify::wake_after(&state.signals, may_write, next.run(req)).await
}

/// Answers a request still running after `limit` with a 408 problem, like every other error
/// (tower-http's timeout answers an empty body). Dropping the handler rolls its transaction
/// back. An event stream is timed until its headers only.
async fn time_limit(
    axum::extract::State(limit): axum::extract::State<Duration>,
    request: Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    match tokio::time::timeout(limit, next.run(request)).await {
        Ok(response) => response,
        Err(_) => ApiError::RequestTimeout(format!(
            "the request took longer than {} s (REQUEST_TIMEOUT_SECS) and was abandoned",
            limit.as_secs()
        ))
        .into_response(),
    }
}

/// Browsers may call the API only from the configured origins (never `*`).
fn cors(origins: &[String]) -> CorsLayer {
    let origins: Vec<HeaderValue> = origins
        .iter()
        .filter_map(|o| HeaderValue::from_str(o).ok())
        .collect();
    CorsLayer::new()
        .allow_origin(AllowOrigin::list(origins))
        .allow_methods([Method::GET, Method::POST, Method::PATCH, Method::DELETE])
        .allow_headers([
            header::AUTHORIZATION,
            header::CONTENT_TYPE,
            HeaderName::from_static("idempotency-key"),
            HeaderName::from_static("last-event-id"),
        ])
        .expose_headers([REQUEST_ID, header::LOCATION, header::RETRY_AFTER])
}

/// Limits `api` to `per_sec` writes per second (bursts of twice that) per key of `extractor`;
/// 0 switches the limit off.
fn limit_writes<K>(
    api: Router<AppState>,
    extractor: K,
    per_sec: u32,
    state: &AppState,
) -> Router<AppState>
where
    K: KeyExtractor + Send + Sync + 'static,
    K::Key: Send + Sync + 'static,
{
    if per_sec == 0 {
        return api;
    }
    let config = GovernorConfigBuilder::default()
        .key_extractor(extractor)
        .per_nanosecond(1_000_000_000 / u64::from(per_sec))
        .burst_size(per_sec.saturating_mul(2))
        .methods(crate::auth::limits::write_methods())
        .finish()
        .expect("a rate of at least one per second is a valid quota");
    let config = Arc::new(config);
    // The limiter remembers every key it saw; forget the idle ones now and then.
    if let Ok(runtime) = tokio::runtime::Handle::try_current() {
        let limiter = config.limiter().clone();
        let shutdown = state.shutdown.clone();
        runtime.spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => return,
                    _ = tokio::time::sleep(Duration::from_secs(60)) => limiter.retain_recent(),
                }
            }
        });
    }
    api.layer(GovernorLayer::new(config).error_handler(crate::auth::limits::too_many_requests))
}
