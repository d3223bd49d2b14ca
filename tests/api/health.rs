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
    app.pool.close().await;
    app.post("/v1/calls", json!({"caller_name": "Jane"}))
        .await
        .problem(StatusCode::SERVICE_UNAVAILABLE);
}

#[tokio::test]
async fn metrics_count_requests_by_route_jobs_and_transfers_by_state() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    app.get(&format!("/v1/calls/{}", call["id"].as_str().unwrap()))
        .await;
    app.get("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80")
        .await;
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
