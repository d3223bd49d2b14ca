//! No secret leaves the service: a whole run of the binary, with LiveKit and the model failing
//! (so their errors are stored and served), leaves no credential in its logs, its answers,
//! its metrics, its document or its records.

use std::process::Stdio;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{free_port, stop_with_sigterm, wait_until_ready, warmline};
use crate::support::{TestDb, eventually, livekit};

const DB_PASSWORD: &str = "db-pass-Zq81x";
const MODEL_KEY: &str = "sk-model-key-Zq82x";
/// Not the secret the fake LiveKit knows: every room operation is refused and recorded.
const LIVEKIT_SECRET: &str = "lk-secret-Zq83x-at-least-32-bytes-long";
const MODEL_URL_PASSWORD: &str = "model-pass-Zq84x";

struct Client {
    http: reqwest::Client,
    base: String,
    /// Every answer except the one that shows a new key's secret (shown once, on purpose).
    seen: Vec<String>,
}

impl Client {
    async fn send(
        &mut self,
        key: &str,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> Value {
        let mut request = self
            .http
            .request(method, format!("{}{path}", self.base))
            .bearer_auth(key);
        if let Some(body) = body {
            request = request.json(&body);
        }
        let response = request.send().await.expect("request reaches the app");
        let status = response.status();
        let text = response.text().await.unwrap_or_default();
        assert!(status.is_success(), "{path}: {status} {text}");
        self.seen.push(text.clone());
        serde_json::from_str(&text).unwrap_or(Value::Null)
    }
}

#[tokio::test]
async fn no_secret_reaches_logs_answers_metrics_the_document_or_the_records() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::create().await;
    let fake_livekit = livekit::FakeLiveKit::start().await;
    // Trust auth ignores the password, but it is in the URL like any production one.
    let database_url = db
        .url
        .replacen("postgres@", &format!("postgres:{DB_PASSWORD}@"), 1);
    assert_ne!(database_url, db.url);
    let logs = std::env::temp_dir().join(format!(
        "warmline-secrets-{}.log",
        uuid::Uuid::new_v4().simple()
    ));
    let env = |command: &mut std::process::Command| {
        command
            .env("DATABASE_URL", &database_url)
            .env("LIVEKIT_URL", &fake_livekit.url)
            .env("LIVEKIT_API_KEY", livekit::API_KEY)
            .env("LIVEKIT_API_SECRET", LIVEKIT_SECRET)
            // Nothing listens on port 1: the model call fails with its URL in the error.
            .env(
                "SUMMARY_BASE_URL",
                format!("http://modeluser:{MODEL_URL_PASSWORD}@127.0.0.1:1/v1"),
            )
            .env("SUMMARY_API_KEY", MODEL_KEY)
            .env("SUMMARY_MAX_RETRIES", "0")
            .env("JOB_MAX_ATTEMPTS", "1")
            .env("JOB_POLL_INTERVAL_MS", "50")
            .env("RUST_LOG", "debug");
    };

    // The first admin key, from the command line; its output is the one place a key shows.
    let mut create = warmline();
    env(&mut create);
    let created = create
        .args(["keys", "create", "--role", "admin"])
        .output()
        .unwrap();
    assert!(
        created.status.success(),
        "{}",
        String::from_utf8_lossy(&created.stderr)
    );
    let admin = String::from_utf8(created.stdout).unwrap().trim().to_owned();
    assert!(admin.starts_with("wl_"), "{admin}");

    let port = free_port();
    let mut serve = warmline();
    env(&mut serve);
    let log_file = std::fs::File::create(&logs).unwrap();
    let child = serve
        .arg("serve")
        .env("PORT", port.to_string())
        .stdout(Stdio::from(log_file.try_clone().unwrap()))
        .stderr(Stdio::from(log_file))
        .spawn()
        .unwrap();
    wait_until_ready(port).await;

    let mut api = Client {
        http: reqwest::Client::new(),
        base: format!("http://127.0.0.1:{port}"),
        seen: Vec::new(),
    };
    let mut keys = vec![admin.clone()];
    for agent in ["agent_alice", "agent_bob"] {
        api.send(
            &admin,
            reqwest::Method::POST,
            "/v1/agents",
            Some(json!({"identity": agent})),
        )
        .await;
    }
    let new_key = |body: Value| {
        let http = api.http.clone();
        let url = format!("{}/v1/api-keys", api.base);
        let admin = admin.clone();
        async move {
            let reply = http
                .post(url)
                .bearer_auth(admin)
                .json(&body)
                .send()
                .await
                .unwrap();
            assert_eq!(reply.status(), StatusCode::CREATED);
            reply.json::<Value>().await.unwrap()["secret"]
                .as_str()
                .unwrap()
                .to_owned()
        }
    };
    let alice = new_key(json!({"role": "agent", "agent": "agent_alice"})).await;
    let bob = new_key(json!({"role": "agent", "agent": "agent_bob"})).await;
    let frontend = new_key(json!({"role": "frontend"})).await;
    keys.extend([alice.clone(), bob.clone(), frontend.clone()]);

    use reqwest::Method;
    let call = api
        .send(
            &frontend,
            Method::POST,
            "/v1/calls",
            Some(json!({"caller_name": "Jane", "issue": "Damaged order"})),
        )
        .await;
    let call_id = call["id"].as_str().unwrap().to_owned();
    api.send(
        &alice,
        Method::POST,
        &format!("/v1/calls/{call_id}/join"),
        Some(json!({"identity": "agent_alice", "role": "agent"})),
    )
    .await;
    api.send(
        &alice,
        Method::POST,
        &format!("/v1/calls/{call_id}/transcript"),
        Some(json!({"segments": [{"segment_id": "s1", "speaker": "Jane", "role": "caller", "text": "My order arrived broken", "start_ms": 0}]})),
    )
    .await;
    let transfer = api
        .send(
            &alice,
            Method::POST,
            &format!("/v1/calls/{call_id}/transfers"),
            Some(json!({"from_agent": "agent_alice", "to_agent": "agent_bob"})),
        )
        .await;
    let transfer_id = transfer["transfer"]["id"].as_str().unwrap().to_owned();
    api.send(
        &bob,
        Method::POST,
        &format!("/v1/transfers/{transfer_id}/accept"),
        Some(json!({})),
    )
    .await;

    // The model's failure and LiveKit's refusals are stored, and served below.
    let pool = db.pool().await;
    eventually(
        "the model's failure and LiveKit's refusals are recorded",
        || async {
            let failed_summaries: i64 =
                sqlx::query_scalar("SELECT count(*) FROM summaries WHERE error IS NOT NULL")
                    .fetch_one(&pool)
                    .await
                    .unwrap();
            let dead_jobs: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM jobs WHERE status = 'dead' AND kind = 'create_room'",
            )
            .fetch_one(&pool)
            .await
            .unwrap();
            failed_summaries > 0 && dead_jobs > 0
        },
    )
    .await;
    let summaries = api
        .send(
            &alice,
            Method::GET,
            &format!("/v1/calls/{call_id}/summaries"),
            None,
        )
        .await;
    let stored_error = summaries["items"][0]["error"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(
        stored_error.contains("127.0.0.1:1"),
        "the error says where it failed: {stored_error}"
    );
    api.send(
        &admin,
        Method::GET,
        &format!("/v1/transfers/{transfer_id}/replay"),
        None,
    )
    .await;
    api.send(
        &admin,
        Method::GET,
        &format!("/v1/calls/{call_id}/timeline"),
        None,
    )
    .await;
    api.send(
        &admin,
        Method::GET,
        "/v1/api-keys?include_revoked=true",
        None,
    )
    .await;
    api.send(&admin, Method::GET, "/metrics", None).await;
    api.send(&admin, Method::GET, "/openapi.json", None).await;
    api.send(
        &admin,
        Method::DELETE,
        &format!("/v1/api-keys/{}", frontend.split('_').nth(1).unwrap()),
        None,
    )
    .await;

    let (status, _, _) = stop_with_sigterm(child).await;
    assert!(status.success());
    let logs_text = std::fs::read_to_string(&logs).unwrap();
    std::fs::remove_file(&logs).ok();
    assert!(
        logs_text.contains("the model gave no summary"),
        "the failure is logged"
    );

    let mut records = String::new();
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables WHERE table_schema = 'public'",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    for table in tables {
        let rows: Option<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT string_agg(row_to_json(t)::text, E'\\n') FROM {table} t"
        )))
        .fetch_one(&pool)
        .await
        .unwrap();
        records.push_str(&rows.unwrap_or_default());
    }
    pool.close().await;

    let mut secrets: Vec<String> = [DB_PASSWORD, MODEL_KEY, LIVEKIT_SECRET, MODEL_URL_PASSWORD]
        .map(str::to_owned)
        .to_vec();
    for key in &keys {
        secrets.push(key.clone());
        // The part after the public prefix, alone.
        secrets.push(key["wl_".len() + key[3..].find('_').unwrap() + 1..].to_owned());
    }
    let places = [
        ("the logs", logs_text),
        ("the answers", api.seen.join("\n")),
        ("the records", records),
    ];
    for (place, text) in &places {
        for secret in &secrets {
            assert!(
                !text.contains(secret.as_str()),
                "{place} contain the secret {secret}"
            );
        }
    }
}
