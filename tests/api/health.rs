use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Body, TestApp};

#[tokio::test]
async fn health_and_readiness_answer_when_the_database_is_migrated() {
    let app = TestApp::spawn().await;
    let health = app.get("/healthz").await;
    assert_eq!(
        (health.status, health.body.clone()),
        (StatusCode::OK, json!({"status": "ok"}))
    );
    let ready = app.get("/readyz").await;
    assert_eq!(ready.status, StatusCode::OK);
    assert_eq!(ready.body["migrations_current"], true);
}

#[tokio::test]
async fn readiness_fails_when_a_migration_is_missing() {
    let app = TestApp::spawn().await;
    sqlx::query(
        "DELETE FROM _sqlx_migrations WHERE version = (SELECT max(version) FROM _sqlx_migrations)",
    )
    .execute(&app.pool)
    .await
    .unwrap();
    app.get("/readyz")
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn readiness_fails_when_the_database_is_gone() {
    let app = TestApp::spawn().await;
    app.pool.close().await;
    app.get("/readyz")
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
}

#[tokio::test]
async fn every_response_carries_a_request_id_and_keeps_the_clients() {
    let app = TestApp::spawn().await;
    let generated = app.get("/healthz").await;
    let id = generated.headers["x-request-id"].to_str().unwrap();
    assert!(uuid::Uuid::parse_str(id).is_ok(), "{id}");

    let response = app
        .client
        .get(format!("{}/healthz", app.base))
        .header("x-request-id", "trace-me-42")
        .send()
        .await
        .unwrap();
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test]
async fn unknown_routes_and_methods_are_problem_json() {
    let app = TestApp::spawn().await;
    app.get("/v1/nothing-here")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.send(Method::DELETE, "/v1/calls", Body::None)
        .await
        .problem(StatusCode::METHOD_NOT_ALLOWED);
}

#[tokio::test]
async fn the_spec_and_swagger_ui_are_served() {
    let app = TestApp::spawn().await;
    let spec = app.get("/openapi.json").await;
    assert_eq!(spec.status, StatusCode::OK);
    assert!(spec.body["paths"]["/v1/calls"].is_object());
    let docs = app
        .client
        .get(format!("{}/docs/", app.base))
        .send()
        .await
        .unwrap();
    assert_eq!(docs.status(), StatusCode::OK);
    assert!(docs.text().await.unwrap().contains("swagger"));
}

#[tokio::test]
async fn shutdown_lets_the_server_stop_cleanly() {
    let app = TestApp::spawn().await;
    assert_eq!(app.get("/healthz").await.status, StatusCode::OK);
    let base = app.base.clone();
    tokio::time::timeout(std::time::Duration::from_secs(10), app.shut_down())
        .await
        .expect("stops promptly");
    assert!(
        reqwest::get(format!("{base}/healthz")).await.is_err(),
        "no longer listening"
    );
}

#[tokio::test]
async fn a_lost_database_is_a_503_not_a_500() {
    let app = TestApp::spawn().await;
    // Served open (it read that no key exists) before the database goes away.
    assert_eq!(app.get("/v1/calls").await.status, StatusCode::OK);
    app.pool.close().await;
    app.post("/v1/calls", json!({"caller_name": "Jane"}))
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn metrics_count_requests_by_route_jobs_and_transfers_by_state() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    app.get_ok(&format!("/v1/calls/{}", call["id"].as_str().unwrap()))
        .await;
    app.get("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    crate::support::eventually("the briefing room job ran", || async {
        !app.livekit.calls_of("CreateRoom").is_empty()
    })
    .await;
    let text = |reply: &crate::support::Reply| reply.body.as_str().unwrap_or_default().to_owned();
    let mut metrics = String::new();
    for _ in 0..100 {
        let reply = app.get("/metrics").await;
        assert_eq!(reply.status, StatusCode::OK);
        assert!(
            reply.headers["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/plain")
        );
        metrics = text(&reply);
        if metrics.contains("kind=\"create_room\",outcome=\"done\"") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    for line in [
        "warmline_http_requests_total{method=\"POST\",route=\"/v1/calls\",status=\"201\"} 1",
        "warmline_http_requests_total{method=\"GET\",route=\"/v1/calls/{id}\",status=\"200\"} ",
        "warmline_http_requests_total{method=\"GET\",route=\"/v1/calls/{id}\",status=\"404\"} 1",
        "warmline_job_runs_total{kind=\"create_room\",outcome=\"done\"} 1",
        "warmline_transfers{state=\"initiated\"} 1",
        "warmline_transfers{state=\"completed\"} 0",
    ] {
        assert!(metrics.contains(line), "{line} missing from:\n{metrics}");
    }
    assert!(metrics.contains("warmline_http_request_duration_seconds_bucket"));
    assert!(
        !metrics.contains("0193a5b0"),
        "routes, never raw paths, label requests"
    );
}

#[tokio::test]
async fn a_database_restart_under_a_request_is_a_503_with_retry_after() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let call_id = uuid::Uuid::parse_str(call["id"].as_str().unwrap()).unwrap();
    // Holding the call's row keeps the request's UPDATE waiting, in flight, on the server.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM calls WHERE id = $1 FOR UPDATE")
        .bind(call_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let path = format!("/v1/calls/{call_id}/end");
    let end = app.post_empty(&path);
    let terminate = async {
        // What a server shutdown does to every backend: SQLSTATE 57P01 in flight.
        let waiting = "SELECT pid FROM pg_stat_activity
                       WHERE datname = current_database() AND wait_event_type = 'Lock'";
        for _ in 0..200 {
            if let Some(pid) = sqlx::query_scalar::<_, i32>(waiting)
                .fetch_optional(&app.pool)
                .await
                .unwrap()
            {
                sqlx::query("SELECT pg_terminate_backend($1)")
                    .bind(pid)
                    .execute(&app.pool)
                    .await
                    .unwrap();
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(25)).await;
        }
        panic!("the request never waited on the lock");
    };
    let (reply, ()) = tokio::join!(end, terminate);
    reply.problem(StatusCode::SERVICE_UNAVAILABLE);
    let retry_after: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry_after), "{retry_after}");
    holder.rollback().await.unwrap();
}

/// A TCP relay to the test database that can be cut, as a network or a server going away.
struct Relay {
    url: String,
    cut: tokio_util::sync::CancellationToken,
}

impl Relay {
    async fn start(db_url: &str) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let parsed = url::Url::parse(db_url).unwrap();
        let upstream = format!(
            "{}:{}",
            parsed.host_str().unwrap(),
            parsed.port().unwrap_or(5432)
        );
        let mut relayed = parsed.clone();
        relayed.set_port(Some(port)).unwrap();
        let cut = tokio_util::sync::CancellationToken::new();
        let stop = cut.clone();
        tokio::spawn(async move {
            loop {
                let accepted = tokio::select! {
                    _ = stop.cancelled() => return,
                    accepted = listener.accept() => accepted,
                };
                let Ok((mut client, _)) = accepted else {
                    return;
                };
                let upstream = upstream.clone();
                let stop = stop.clone();
                tokio::spawn(async move {
                    let Ok(mut server) = tokio::net::TcpStream::connect(upstream).await else {
                        return;
                    };
                    tokio::select! {
                        _ = stop.cancelled() => {}
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                    }
                });
            }
        });
        Self {
            url: relayed.to_string(),
            cut,
        }
    }
}

#[tokio::test]
async fn while_the_database_is_down_requests_fail_fast_and_readiness_answers_within_a_second() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = crate::support::TestDb::create().await;
    let relay = Relay::start(&db.url).await;
    let fake = crate::support::livekit::FakeLiveKit::start().await;
    let settings = [
        ("DATABASE_URL", relay.url.as_str()),
        ("DATABASE_MAX_CONNECTIONS", "2"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1500"),
        ("LIVEKIT_URL", fake.url.as_str()),
    ];
    let config = warmline::Config::from_lookup(|k| {
        settings
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.to_string())
    })
    .unwrap();
    assert_eq!(config.database_acquire_timeout, Duration::from_millis(1500));
    let pool = warmline::db::open(&relay.url, &config).await.unwrap();
    warmline::db::migrate(&pool).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = warmline::AppState::new(pool.clone(), config).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(warmline::serve(listener, state, shutdown.clone()));
    let client = reqwest::Client::new();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    relay.cut.cancel();
    let started = Instant::now();
    let ready = client.get(format!("{base}/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(ready.headers().contains_key("retry-after"));
    assert!(
        started.elapsed() < Duration::from_secs(1),
        "readiness took {:?}",
        started.elapsed()
    );

    let started = Instant::now();
    let created = client
        .post(format!("{base}/v1/calls"))
        .json(&json!({"caller_name": "Jane"}))
        .send()
        .await
        .unwrap();
    assert_eq!(created.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(created.headers().contains_key("retry-after"));
    let waited = started.elapsed();
    assert!(
        waited < Duration::from_secs(4),
        "a request waited {waited:?} for a database that is down"
    );
    shutdown.cancel();
    let _ = server.await;
    pool.close().await;
}

#[test]
fn the_acquire_timeout_is_clamped_to_sane_bounds() {
    let acquire = |value: &str| {
        let value = value.to_owned();
        warmline::Config::from_lookup(move |k| {
            (k == "DATABASE_ACQUIRE_TIMEOUT_MS").then(|| value.clone())
        })
        .unwrap()
        .database_acquire_timeout
    };
    assert_eq!(acquire(""), Duration::from_secs(2), "the default");
    assert_eq!(acquire("750"), Duration::from_millis(750));
    assert_eq!(acquire("0"), Duration::from_millis(100));
    assert_eq!(acquire("3600000"), Duration::from_secs(30));
}

#[tokio::test]
async fn a_request_that_runs_too_long_is_a_408_problem_and_changes_nothing() {
    let app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let call = app.create_call("Jane").await;
    let call_id = call["id"].as_str().unwrap().to_owned();
    // The test holds the call, so ending it waits past the limit.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM calls WHERE id = $1::uuid FOR UPDATE")
        .bind(&call_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    let slow = app.post_empty(&format!("/v1/calls/{call_id}/end")).await;
    let problem = slow.problem(StatusCode::REQUEST_TIMEOUT);
    assert_eq!(problem["type"], "/problems/request-timeout");
    assert!(
        problem["detail"]
            .as_str()
            .unwrap()
            .contains("REQUEST_TIMEOUT_SECS"),
        "{problem}"
    );
    holder.rollback().await.unwrap();
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{call_id}")).await["status"],
        "waiting",
        "the abandoned request's transaction was rolled back"
    );
}
