//! What the black-box tests stand on: a fresh database per test and the real app on a random
//! port, spoken to over HTTP.

#![allow(dead_code)]

pub mod livekit;
pub mod openai;

use std::collections::HashMap;
use std::sync::Arc;

use reqwest::{Method, StatusCode};
use serde_json::Value;
use sqlx::postgres::PgPoolOptions;
use sqlx::{Connection, PgConnection, PgPool};
use tokio_util::sync::CancellationToken;

/// The server test databases are created on; override with `WARMLINE_TEST_DATABASE_URL`.
const DEFAULT_ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";

fn admin_url() -> String {
    std::env::var("WARMLINE_TEST_DATABASE_URL").unwrap_or_else(|_| DEFAULT_ADMIN_URL.to_owned())
}

/// A database of its own for one test, migrated, dropped when the test passes.
pub struct TestDb {
    pub name: String,
    pub url: String,
}

impl TestDb {
    pub async fn create() -> Self {
        let admin = admin_url();
        let name = format!("warmline_test_{}", uuid::Uuid::new_v4().simple());
        let mut conn = PgConnection::connect(&admin)
            .await
            .expect("the test Postgres server (WARMLINE_TEST_DATABASE_URL) must be reachable");
        sqlx::query(sqlx::AssertSqlSafe(format!("CREATE DATABASE {name}")))
            .execute(&mut conn)
            .await
            .expect("create test database");
        conn.close().await.ok();
        let (base, _) = admin.rsplit_once('/').expect("admin URL has a database");
        Self {
            url: format!("{base}/{name}"),
            name,
        }
    }

    /// A small pool: tests run in parallel and the server allows 100 connections.
    pub async fn pool(&self) -> PgPool {
        self.pool_of(4).await
    }

    /// A pool of `size` connections.
    pub async fn pool_of(&self, size: u32) -> PgPool {
        PgPoolOptions::new()
            .max_connections(size)
            .connect(&self.url)
            .await
            .expect("connect to test database")
    }
}

impl Drop for TestDb {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!(
                "test failed: its database {} is kept for inspection",
                self.name
            );
            return;
        }
        let name = self.name.clone();
        // Drop runs outside async; a thread of its own can block on a runtime of its own.
        let _ = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = PgConnection::connect(&admin_url()).await.ok()?;
                sqlx::query(sqlx::AssertSqlSafe(format!(
                    "DROP DATABASE IF EXISTS {name} WITH (FORCE)"
                )))
                .execute(&mut conn)
                .await
                .ok()
            })
        })
        .join();
    }
}

/// The app, running on a random port against its own database.
pub struct TestApp {
    pub base: String,
    pub client: reqwest::Client,
    pub pool: PgPool,
    pub config: Arc<warmline::Config>,
    pub livekit: livekit::FakeLiveKit,
    shutdown: CancellationToken,
    server: Option<tokio::task::JoinHandle<anyhow::Result<()>>>,
    /// The settings the app was started with, for its replicas.
    env: HashMap<String, String>,
    db: Arc<TestDb>,
}

/// What a test sends as the body of a request.
pub enum Body {
    Json(Value),
    Raw {
        content_type: &'static str,
        bytes: Vec<u8>,
    },
    None,
}

impl TestApp {
    /// The app with its default settings.
    pub async fn spawn() -> Self {
        Self::spawn_with(&[]).await
    }

    /// The app with some settings (environment variable names and values) changed.
    pub async fn spawn_with(settings: &[(&str, &str)]) -> Self {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let db = TestDb::create().await;
        let size = settings
            .iter()
            .find(|(k, _)| *k == "DATABASE_MAX_CONNECTIONS")
            .and_then(|(_, v)| v.parse().ok())
            .unwrap_or(4);
        let pool = db.pool_of(size).await;
        warmline::db::migrate(&pool).await.expect("migrate");
        let fake = livekit::FakeLiveKit::start().await;
        // Quick timers so the worker's retries and checks fit in a test; settings can override.
        let mut env: HashMap<String, String> = [
            ("LIVEKIT_URL", fake.url.as_str()),
            ("LIVEKIT_API_KEY", livekit::API_KEY),
            ("LIVEKIT_API_SECRET", livekit::API_SECRET),
            ("JOB_POLL_INTERVAL_MS", "50"),
            ("HANDOFF_CHECK_INTERVAL_MS", "50"),
            ("JOB_BACKOFF_BASE_MS", "20"),
            // Tests fire writes faster than any client; the limit has tests of its own.
            ("RATE_LIMIT_WRITES_PER_KEY", "0"),
            ("RATE_LIMIT_WRITES_PER_ADDRESS", "0"),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        env.extend(settings.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        Self::serve(Arc::new(db), pool, fake, env).await
    }

    /// Another replica of the service on the same database and the same LiveKit, as a
    /// deployment scales out: its own pool, workers, listener and port.
    pub async fn replica(&self) -> Self {
        let pool = self
            .db
            .pool_of(self.pool.options().get_max_connections())
            .await;
        Self::serve(
            self.db.clone(),
            pool,
            self.livekit.clone(),
            self.env.clone(),
        )
        .await
    }

    async fn serve(
        db: Arc<TestDb>,
        pool: PgPool,
        livekit: livekit::FakeLiveKit,
        env: HashMap<String, String>,
    ) -> Self {
        let config = warmline::Config::from_lookup(|k| env.get(k).cloned()).expect("test config");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let base = format!("http://{}", listener.local_addr().expect("addr"));
        let state = warmline::AppState::new(pool.clone(), config).expect("app state");
        let config = state.config.clone();
        let shutdown = CancellationToken::new();
        let server = tokio::spawn(warmline::serve(listener, state, shutdown.clone()));
        Self {
            base,
            client: reqwest::Client::new(),
            pool,
            config,
            livekit,
            shutdown,
            server: Some(server),
            env,
            db,
        }
    }

    /// Sends a request and returns the status, headers and parsed body (`Null` when empty).
    pub async fn send(&self, method: Method, path: &str, body: Body) -> Reply {
        self.send_with_headers(method, path, &[], body).await
    }

    /// Sends a request as the holder of an API key.
    pub async fn send_as(&self, key: &str, method: Method, path: &str, body: Body) -> Reply {
        let bearer = format!("Bearer {key}");
        self.send_with_headers(method, path, &[("authorization", &bearer)], body)
            .await
    }

    /// Registers an agent, as an admin would.
    pub async fn register_agent(&self, identity: &str) {
        let request = serde_json::from_value(serde_json::json!({"identity": identity}))
            .expect("agent request");
        warmline::agents::create(&self.pool, request)
            .await
            .expect("register agent");
    }

    /// Makes an API key (`role`, bound to `agent` for agent keys), as `warmline keys create`
    /// does, and waits until the app requires keys.
    pub async fn api_key(&self, role: &str, agent: Option<&str>) -> String {
        let request = serde_json::from_value(
            serde_json::json!({"role": role, "agent": agent, "label": "test"}),
        )
        .expect("key request");
        let created = warmline::auth::create_key(&self.pool, request)
            .await
            .expect("create key");
        eventually("the app requires API keys", || async {
            self.get("/v1/calls").await.status == StatusCode::UNAUTHORIZED
        })
        .await;
        created.secret
    }

    /// Sends a request with extra headers (`Idempotency-Key`, `Authorization`, …).
    pub async fn send_with_headers(
        &self,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: Body,
    ) -> Reply {
        let mut request = self.client.request(method, format!("{}{path}", self.base));
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        request = match body {
            Body::Json(value) => request.json(&value),
            Body::Raw {
                content_type,
                bytes,
            } => request.header("content-type", content_type).body(bytes),
            Body::None => request,
        };
        let response = request.send().await.expect("request reaches the app");
        Reply::read(response).await
    }

    pub async fn get(&self, path: &str) -> Reply {
        self.send(Method::GET, path, Body::None).await
    }

    pub async fn post(&self, path: &str, body: Value) -> Reply {
        self.send(Method::POST, path, Body::Json(body)).await
    }

    pub async fn post_empty(&self, path: &str) -> Reply {
        self.send(Method::POST, path, Body::None).await
    }

    /// Sends a request the test needs to succeed: asserts a 2xx and returns the body.
    pub async fn send_ok(&self, method: Method, path: &str, body: Body) -> Value {
        let what = format!("{method} {path}");
        let reply = self.send(method, path, body).await;
        assert!(
            reply.status.is_success(),
            "{what} failed: {}; body: {}",
            reply.status,
            reply.body
        );
        reply.body
    }

    /// `GET path`, which must succeed; the body.
    pub async fn get_ok(&self, path: &str) -> Value {
        self.send_ok(Method::GET, path, Body::None).await
    }

    /// `POST path` with a JSON body, which must succeed; the reply's body.
    pub async fn post_ok(&self, path: &str, body: Value) -> Value {
        self.send_ok(Method::POST, path, Body::Json(body)).await
    }

    /// `POST path` without a body, which must succeed; the reply's body.
    pub async fn post_empty_ok(&self, path: &str) -> Value {
        self.send_ok(Method::POST, path, Body::None).await
    }

    /// Creates a call for `caller` and returns its JSON.
    pub async fn create_call(&self, caller: &str) -> Value {
        let reply = self
            .post(
                "/v1/calls",
                serde_json::json!({"caller_name": caller, "issue": "Order 4411 arrived damaged"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// Stops the server the way SIGTERM does and waits for it.
    pub async fn shut_down(mut self) {
        self.shutdown.cancel();
        if let Some(server) = self.server.take() {
            server
                .await
                .expect("server task")
                .expect("server stopped cleanly");
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        self.shutdown.cancel();
    }
}

impl From<Value> for Body {
    fn from(value: Value) -> Self {
        Body::Json(value)
    }
}

/// A response, read whole.
#[derive(Debug)]
pub struct Reply {
    pub status: StatusCode,
    pub headers: reqwest::header::HeaderMap,
    pub body: Value,
}

impl Reply {
    async fn read(response: reqwest::Response) -> Self {
        let status = response.status();
        let headers = response.headers().clone();
        let bytes = response.bytes().await.expect("body");
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes)
                .unwrap_or_else(|_| Value::String(String::from_utf8_lossy(&bytes).into_owned()))
        };
        Self {
            status,
            headers,
            body,
        }
    }

    /// Asserts the reply is a problem+json document with `status`, and returns it.
    #[track_caller]
    pub fn problem(&self, status: StatusCode) -> &Value {
        assert_eq!(
            self.status, status,
            "unexpected status; body: {}",
            self.body
        );
        assert_eq!(
            self.headers
                .get("content-type")
                .and_then(|v| v.to_str().ok()),
            Some("application/problem+json"),
            "errors are problem+json"
        );
        assert_eq!(self.body["status"], status.as_u16(), "{}", self.body);
        assert!(
            self.body["type"]
                .as_str()
                .is_some_and(|t| t.starts_with("/problems/")),
            "{}",
            self.body
        );
        assert!(
            self.body["title"].is_string() && self.body["detail"].is_string(),
            "{}",
            self.body
        );
        &self.body
    }

    /// Asserts the request succeeded (any 2xx) and returns its body: for the requests a test
    /// makes to set the scene, so a failure shows where it happened, not later as a puzzle.
    #[track_caller]
    pub fn ok_body(self) -> Value {
        self.assert_ok();
        self.body
    }

    /// Asserts the request succeeded (any 2xx), before its body is looked at.
    #[track_caller]
    pub fn assert_ok(&self) {
        assert!(
            self.status.is_success(),
            "the request failed: {}; body: {}",
            self.status,
            self.body
        );
    }

    /// The field names of a validation problem.
    pub fn error_fields(&self) -> Vec<String> {
        self.body["errors"]
            .as_array()
            .map(|errors| {
                errors
                    .iter()
                    .filter_map(|e| e["field"].as_str().map(str::to_owned))
                    .collect()
            })
            .unwrap_or_default()
    }
}

/// Counts rows of a table, to prove a refused request wrote nothing.
pub async fn count(pool: &PgPool, table: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!("SELECT count(*) FROM {table}")))
        .fetch_one(pool)
        .await
        .expect("count rows")
}

impl TestApp {
    /// A call whose caller is `caller` and whose agent (by joining) is `agent`.
    pub async fn call_with_agent(&self, caller: &str, agent: &str) -> Value {
        let call = self.create_call(caller).await;
        let id = call["id"].as_str().expect("call id");
        let joined = self
            .post(
                &format!("/v1/calls/{id}/join"),
                serde_json::json!({"identity": agent, "role": "agent"}),
            )
            .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
        self.get_ok(&format!("/v1/calls/{id}")).await
    }

    /// Starts a transfer of `call` from `from` to `to`; returns the 201 body.
    pub async fn start_transfer(&self, call: &Value, from: &str, to: &str, extra: Value) -> Value {
        let mut body = serde_json::json!({"from_agent": from, "to_agent": to});
        if let (Some(body), Some(extra)) = (body.as_object_mut(), extra.as_object()) {
            body.extend(extra.clone());
        }
        let id = call["id"].as_str().expect("call id");
        let reply = self.post(&format!("/v1/calls/{id}/transfers"), body).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }

    /// The transfer as the API shows it now.
    pub async fn transfer(&self, id: &str) -> Value {
        self.get_ok(&format!("/v1/transfers/{id}")).await
    }

    /// Waits (up to 10 s) for the transfer to reach `state`, and returns it.
    pub async fn wait_for_state(&self, id: &str, state: &str) -> Value {
        let mut last = Value::Null;
        for _ in 0..200 {
            last = self.transfer(id).await;
            if last["state"] == state {
                return last;
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        panic!("transfer {id} never reached {state}; it is {}", last);
    }

    /// The kinds of a call's timeline events, in order.
    pub async fn timeline_kinds(&self, call_id: &str) -> Vec<String> {
        let timeline = self
            .get_ok(&format!("/v1/calls/{call_id}/timeline?limit=200"))
            .await;
        timeline["items"]
            .as_array()
            .expect("timeline items")
            .iter()
            .map(|e| e["kind"].as_str().unwrap_or_default().to_owned())
            .collect()
    }
}

/// Waits (up to 10 s) until `check` holds.
pub async fn eventually<F, Fut>(what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    for _ in 0..200 {
        if check().await {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting until {what}");
}

/// The claims of a LiveKit token, verified with the test secret.
pub fn verify_token(token: &str) -> livekit_api::access_token::Claims {
    livekit_api::access_token::TokenVerifier::with_api_key(livekit::API_KEY, livekit::API_SECRET)
        .verify(token)
        .expect("a valid LiveKit token signed with the API secret")
}

/// Signs a webhook body exactly as livekit-server does: a JWT from the API key and secret,
/// valid 5 minutes, whose `sha256` claim is the standard base64 SHA-256 of the body.
pub fn sign_webhook(body: &str) -> String {
    use base64::Engine;
    use sha2::Digest;
    let hash =
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes()));
    livekit_api::access_token::AccessToken::with_api_key(livekit::API_KEY, livekit::API_SECRET)
        .with_ttl(std::time::Duration::from_secs(300))
        .with_sha256(&hash)
        .to_jwt()
        .expect("sign webhook")
}

/// A LiveKit webhook event in protobuf JSON, as livekit-server writes it (int64 as strings).
pub fn lk_event(
    id: &str,
    event: &str,
    room: &str,
    participant: Option<(&str, &str)>,
    created_at: i64,
) -> Value {
    let mut body = serde_json::json!({
        "event": event,
        "id": id,
        "createdAt": created_at.to_string(),
        "room": {"sid": format!("RM_{room}"), "name": room},
    });
    if let Some((identity, sid)) = participant {
        body["participant"] = serde_json::json!({
            "sid": sid, "identity": identity, "name": identity,
            "state": if event == "participant_joined" { "ACTIVE" } else { "DISCONNECTED" },
            "joinedAt": created_at.to_string(),
        });
    }
    body
}

impl TestApp {
    /// The fake LiveKit tells this app of every room and membership change, by webhook, as
    /// livekit-server would; returns the log of deliveries (event, HTTP status).
    pub fn livekit_sends_webhooks(&self) -> Arc<std::sync::Mutex<Vec<(String, u16)>>> {
        self.livekit
            .send_webhooks_to(format!("{}/v1/webhooks/livekit", self.base))
    }

    /// Delivers a webhook, signed as LiveKit signs it.
    pub async fn webhook(&self, event: &Value) -> Reply {
        let body = event.to_string();
        let token = sign_webhook(&body);
        self.webhook_raw(&body, Some(&token), "application/webhook+json")
            .await
    }

    /// Delivers a webhook the test needs recorded (a 200), and returns the reply's body.
    pub async fn webhook_ok(&self, event: &Value) -> Value {
        let reply = self.webhook(event).await;
        assert_eq!(
            reply.status,
            StatusCode::OK,
            "webhook {} was refused: {}",
            event["event"],
            reply.body
        );
        reply.body
    }

    /// Delivers a webhook body with whatever signature and content type the test chooses.
    pub async fn webhook_raw(
        &self,
        body: &str,
        authorization: Option<&str>,
        content_type: &str,
    ) -> Reply {
        let mut request = self
            .client
            .post(format!("{}/v1/webhooks/livekit", self.base))
            .header("content-type", content_type)
            .body(body.to_owned());
        if let Some(token) = authorization {
            request = request.header("authorization", token);
        }
        Reply::read(request.send().await.expect("webhook reaches the app")).await
    }
}

/// A hand-made HS256 JWT with any claims, for tokens the SDK will not mint (expired ones).
pub fn hs256_jwt(claims: &Value, secret: &str) -> String {
    use base64::Engine;
    use hmac::Mac;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let signing_input = format!(
        "{}.{}",
        b64.encode(br#"{"alg":"HS256","typ":"JWT"}"#),
        b64.encode(claims.to_string())
    );
    let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes()).expect("hmac key");
    mac.update(signing_input.as_bytes());
    format!(
        "{signing_input}.{}",
        b64.encode(mac.finalize().into_bytes())
    )
}

/// The `id` of a JSON resource.
pub fn id(v: &Value) -> String {
    v["id"].as_str().expect("id").to_owned()
}

impl TestApp {
    /// A call of `caller` handled by `agent_alice`, with a transfer to `agent_bob` that Bob
    /// accepted: the call and the transfer's id.
    pub async fn transfer_in_briefing(&self, caller: &str) -> (Value, String) {
        let call = self.call_with_agent(caller, "agent_alice").await;
        let created = self
            .start_transfer(&call, "agent_alice", "agent_bob", serde_json::json!({}))
            .await;
        let transfer = id(&created["transfer"]);
        let accepted = self
            .post_empty(&format!("/v1/transfers/{transfer}/accept"))
            .await;
        assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
        (call, transfer)
    }
}

/// The SQLSTATE a statement fails with (`$1`, when present, bound to `id`); `None` if it runs.
pub async fn sqlstate(pool: &PgPool, sql: &str, id: Option<uuid::Uuid>) -> Option<String> {
    let mut query = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    if let Some(id) = id {
        query = query.bind(id);
    }
    match query.execute(pool).await {
        Ok(_) => None,
        Err(e) => Some(
            e.as_database_error()
                .and_then(|d| d.code())
                .map(|c| c.into_owned())
                .unwrap_or_else(|| e.to_string()),
        ),
    }
}

impl TestApp {
    /// Waits until the app's LISTEN connection is up, so a notification sent from now on
    /// reaches it (sqlx sends all of a listener's `LISTEN`s as one statement).
    pub async fn wait_until_listening(&self) {
        eventually("the app listens for database notifications", || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                                WHERE datname = current_database() AND state = 'idle'
                                  AND query LIKE 'LISTEN %')",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap_or(false)
        })
        .await;
    }

    /// Waits until another connection to the app's database waits on a lock (a request the
    /// test holds up with a transaction of its own).
    pub async fn wait_until_blocked_on_a_lock(&self) {
        eventually("a request waits on the test's lock", || async {
            sqlx::query_scalar::<_, bool>(
                "SELECT EXISTS (SELECT 1 FROM pg_stat_activity
                                WHERE datname = current_database() AND wait_event_type = 'Lock')",
            )
            .fetch_one(&self.pool)
            .await
            .unwrap_or(false)
        })
        .await;
    }
}

impl TestApp {
    /// Stops the app, closes its connections and returns how many transactions its database
    /// has committed. Read once every connection has ended: a connection reports its counts
    /// to the statistics when it ends, and otherwise up to a second or more later.
    pub async fn stop_and_count_commits(self) -> i64 {
        let db = self.db.clone();
        let pool = self.pool.clone();
        self.shut_down().await;
        pool.close().await;
        let admin = PgPoolOptions::new()
            .max_connections(1)
            .connect(&admin_url())
            .await
            .expect("connect to the test server");
        eventually("every connection to the app's database has ended", || {
            let (admin, name) = (admin.clone(), db.name.clone());
            async move {
                sqlx::query_scalar::<_, i64>(
                    "SELECT count(*) FROM pg_stat_activity WHERE datname = $1",
                )
                .bind(name)
                .fetch_one(&admin)
                .await
                .is_ok_and(|n| n == 0)
            }
        })
        .await;
        sqlx::query_scalar("SELECT xact_commit FROM pg_stat_database WHERE datname = $1")
            .bind(&db.name)
            .fetch_one(&admin)
            .await
            .expect("the database's statistics")
    }
}

impl TestApp {
    /// Like [`TestApp::api_key`], with the key's label chosen (`None`: no label).
    pub async fn api_key_labelled(&self, role: &str, label: Option<&str>) -> String {
        let request = serde_json::from_value(serde_json::json!({"role": role, "label": label}))
            .expect("key request");
        let created = warmline::auth::create_key(&self.pool, request)
            .await
            .expect("create key");
        eventually("the app requires API keys", || async {
            self.get("/v1/calls").await.status == StatusCode::UNAUTHORIZED
        })
        .await;
        created.secret
    }

    /// A transfer of a new call of `caller` from `from` to `to`, cancelled by `from` (an ended
    /// transfer, open mode): the call and the transfer's id.
    pub async fn ended_transfer(&self, caller: &str, from: &str, to: &str) -> (Value, String) {
        let call = self.call_with_agent(caller, from).await;
        let created = self
            .start_transfer(&call, from, to, serde_json::json!({}))
            .await;
        let transfer = id(&created["transfer"]);
        let cancelled = self
            .post(
                &format!("/v1/transfers/{transfer}/cancel"),
                serde_json::json!({}),
            )
            .await;
        assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
        (call, transfer)
    }
}
