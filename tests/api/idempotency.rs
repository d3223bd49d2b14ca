//! `Idempotency-Key` on POSTs: a retry gets the first answer, never a second execution.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Body, Reply, TestApp, count, eventually, id, lk_event};

async fn post_keyed(app: &TestApp, path: &str, key: &str, body: Value) -> Reply {
    app.send_with_headers(
        Method::POST,
        path,
        &[("idempotency-key", key)],
        Body::Json(body),
    )
    .await
}

fn replayed(reply: &Reply) -> bool {
    reply
        .headers
        .get("idempotent-replayed")
        .is_some_and(|v| v == "true")
}

/// Holds a call's row locked, so a request that ends the call waits on it, in flight.
async fn lock_call(app: &TestApp, call_id: &str) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query("SELECT 1 FROM calls WHERE id = $1::uuid FOR UPDATE")
        .bind(call_id)
        .execute(&mut *holder)
        .await
        .unwrap();
    holder
}

async fn keys_in_flight(app: &TestApp) -> i64 {
    sqlx::query_scalar("SELECT count(*) FROM idempotency_keys WHERE status IS NULL")
        .fetch_one(&app.pool)
        .await
        .unwrap()
}

#[tokio::test]
async fn a_retry_with_the_same_key_gets_the_first_answer_and_creates_nothing() {
    let app = TestApp::spawn().await;
    let body = json!({"caller_name": "Jane"});
    let first = post_keyed(&app, "/v1/calls", "key-1", body.clone()).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert!(!replayed(&first));
    let retry = post_keyed(&app, "/v1/calls", "key-1", body.clone()).await;
    assert_eq!(retry.status, StatusCode::CREATED);
    assert!(replayed(&retry), "{:?}", retry.headers);
    assert_eq!(retry.body, first.body);
    assert_eq!(retry.headers["location"], first.headers["location"]);
    assert_eq!(retry.headers["content-type"], "application/json");
    assert_eq!(count(&app.pool, "calls").await, 1);

    let other = post_keyed(&app, "/v1/calls", "key-2", body.clone()).await;
    assert_eq!(other.status, StatusCode::CREATED);
    assert_ne!(
        id(&other.body),
        id(&first.body),
        "a new key is a new request"
    );
    let unkeyed = app.post("/v1/calls", body).await;
    assert_eq!(unkeyed.status, StatusCode::CREATED);
    assert_eq!(count(&app.pool, "calls").await, 3);
}

#[tokio::test]
async fn the_same_key_for_a_different_request_is_422() {
    let app = TestApp::spawn().await;
    let first = post_keyed(&app, "/v1/calls", "key-1", json!({"caller_name": "Jane"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    let other_body = post_keyed(&app, "/v1/calls", "key-1", json!({"caller_name": "John"})).await;
    other_body.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(other_body.error_fields(), ["Idempotency-Key"]);
    let call = id(&first.body);
    let other_path = post_keyed(&app, &format!("/v1/calls/{call}/end"), "key-1", json!({})).await;
    other_path.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app.pool, "calls").await, 1);
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{call}")).await["status"],
        "waiting"
    );
}

#[tokio::test]
async fn two_concurrent_identical_posts_create_one_call() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let key = format!("race-{round}");
        let body = json!({"caller_name": format!("Caller {round}")});
        let (a, b) = tokio::join!(
            post_keyed(&app, "/v1/calls", &key, body.clone()),
            post_keyed(&app, "/v1/calls", &key, body.clone()),
        );
        let mut statuses = [a.status, b.status];
        statuses.sort();
        assert!(
            statuses == [StatusCode::CREATED, StatusCode::CREATED]
                || statuses == [StatusCode::CREATED, StatusCode::CONFLICT],
            "{statuses:?}"
        );
        if statuses[1] == StatusCode::CREATED {
            assert_eq!(a.body, b.body, "the second is the first's replay");
            assert!(replayed(&a) != replayed(&b));
        }
        assert_eq!(count(&app.pool, "calls").await, round + 1);
    }
    assert_eq!(keys_in_flight(&app).await, 0);
}

#[tokio::test]
async fn keys_are_scoped_by_the_callers_credentials() {
    let app = TestApp::spawn().await;
    let one = format!("Bearer {}", app.api_key("frontend", None).await);
    let two = format!("Bearer {}", app.api_key("frontend", None).await);
    let body = Body::Json(json!({"caller_name": "Jane"}));
    let as_one = [("idempotency-key", "k"), ("authorization", one.as_str())];
    let as_two = [("idempotency-key", "k"), ("authorization", two.as_str())];
    let one = app
        .send_with_headers(Method::POST, "/v1/calls", &as_one, body)
        .await;
    let body = Body::Json(json!({"caller_name": "Jane"}));
    let two = app
        .send_with_headers(Method::POST, "/v1/calls", &as_two, body)
        .await;
    assert_eq!(
        (one.status, two.status),
        (StatusCode::CREATED, StatusCode::CREATED)
    );
    assert!(!replayed(&two));
    assert_ne!(id(&one.body), id(&two.body));
    assert_eq!(count(&app.pool, "calls").await, 2);
}

#[tokio::test]
async fn a_client_error_is_replayed_but_a_conflict_of_the_moment_is_not() {
    let app = TestApp::spawn().await;
    let invalid = post_keyed(&app, "/v1/calls", "bad", json!({"caller_name": ""})).await;
    invalid.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let again = post_keyed(&app, "/v1/calls", "bad", json!({"caller_name": ""})).await;
    again.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert!(replayed(&again));

    // Nobody has joined the call yet: 409. Once an agent has, the same request succeeds.
    let call = app.create_call("Jane").await;
    let path = format!("/v1/calls/{}/transfers", id(&call));
    let request = json!({"from_agent": "agent_alice", "to_agent": "agent_bob"});
    post_keyed(&app, &path, "transfer-1", request.clone())
        .await
        .problem(StatusCode::CONFLICT);
    let joined = app
        .post(
            &format!("/v1/calls/{}/join", id(&call)),
            json!({"identity": "agent_alice", "role": "agent"}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK);
    let retry = post_keyed(&app, &path, "transfer-1", request).await;
    assert_eq!(retry.status, StatusCode::CREATED, "{}", retry.body);
    assert!(!replayed(&retry));
}

#[tokio::test]
async fn a_server_failure_lets_the_key_go_so_the_retry_runs() {
    let app = TestApp::spawn().await;
    let call = id(&app.create_call("Jane").await);
    let path = format!("/v1/calls/{call}/end");
    let holder = lock_call(&app, &call).await;
    let failing = post_keyed(&app, &path, "end-1", json!({}));
    let restart = async {
        // The database goes away under the request: 503.
        eventually("the request waits on the lock", || async {
            let killed: Option<bool> = sqlx::query_scalar(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
                 WHERE datname = current_database() AND wait_event_type = 'Lock'",
            )
            .fetch_optional(&app.pool)
            .await
            .unwrap();
            killed == Some(true)
        })
        .await;
    };
    let (failed, ()) = tokio::join!(failing, restart);
    failed.problem(StatusCode::SERVICE_UNAVAILABLE);
    holder.rollback().await.unwrap();
    assert_eq!(count(&app.pool, "idempotency_keys").await, 0);
    let retry = post_keyed(&app, &path, "end-1", json!({})).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(!replayed(&retry));
    assert_eq!(retry.body["status"], "ended");
}

#[tokio::test]
async fn a_request_that_runs_out_of_time_lets_its_key_go() {
    let app = TestApp::spawn_with(&[("REQUEST_TIMEOUT_SECS", "1")]).await;
    let call = id(&app.create_call("Jane").await);
    let path = format!("/v1/calls/{call}/end");
    let holder = lock_call(&app, &call).await;
    let timed_out = post_keyed(&app, &path, "end-1", json!({})).await;
    assert_eq!(timed_out.status, StatusCode::REQUEST_TIMEOUT);
    holder.rollback().await.unwrap();
    eventually("the key is let go", || async {
        count(&app.pool, "idempotency_keys").await == 0
    })
    .await;
    let retry = post_keyed(&app, &path, "end-1", json!({})).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
    assert!(!replayed(&retry));
}

#[tokio::test]
async fn a_key_still_in_flight_is_409_until_its_holder_is_presumed_dead() {
    // Two requests wait on the lock, each on a connection of the pool the test shares.
    let app = TestApp::spawn_with(&[("DATABASE_MAX_CONNECTIONS", "8")]).await;
    let call = id(&app.create_call("Jane").await);
    let path = format!("/v1/calls/{call}/end");
    let holder = lock_call(&app, &call).await;
    let first = post_keyed(&app, &path, "end-1", json!({}));
    let meanwhile = async {
        eventually("the first request holds the key", || async {
            keys_in_flight(&app).await == 1
        })
        .await;
        let second = post_keyed(&app, &path, "end-1", json!({})).await;
        second.problem(StatusCode::CONFLICT);
        // As if the first request's process had died: its lease has run out.
        sqlx::query("UPDATE idempotency_keys SET locked_until = now() - interval '1 second'")
            .execute(&app.pool)
            .await
            .unwrap();
        let taking_over = post_keyed(&app, &path, "end-1", json!({}));
        let release = async {
            eventually("the third request holds the key", || async {
                let leased: i64 = sqlx::query_scalar(
                    "SELECT count(*) FROM idempotency_keys WHERE locked_until > now()",
                )
                .fetch_one(&app.pool)
                .await
                .unwrap();
                leased == 1
            })
            .await;
            holder.rollback().await.unwrap();
        };
        tokio::join!(taking_over, release).0
    };
    let (_, third) = tokio::join!(first, meanwhile);
    assert_eq!(third.status, StatusCode::OK, "{}", third.body);
    assert!(!replayed(&third));
    let replay = post_keyed(&app, &path, "end-1", json!({})).await;
    replay.assert_ok();
    assert!(replayed(&replay));
    assert_eq!(
        replay.body, third.body,
        "the holder's answer is the one kept"
    );
}

#[tokio::test]
async fn expired_keys_are_purged_and_may_be_used_again() {
    let app = TestApp::spawn_with(&[("IDEMPOTENCY_KEY_TTL_SECS", "1")]).await;
    let first = post_keyed(&app, "/v1/calls", "k", json!({"caller_name": "Jane"})).await;
    assert_eq!(first.status, StatusCode::CREATED);
    eventually("the expired key is purged", || async {
        count(&app.pool, "idempotency_keys").await == 0
    })
    .await;
    let reused = post_keyed(&app, "/v1/calls", "k", json!({"caller_name": "John"})).await;
    assert_eq!(reused.status, StatusCode::CREATED, "{}", reused.body);
    assert!(!replayed(&reused));
    assert_eq!(count(&app.pool, "calls").await, 2);
}

#[tokio::test]
async fn a_malformed_key_is_422_and_runs_nothing() {
    let app = TestApp::spawn().await;
    let long = "k".repeat(256);
    let reply = post_keyed(&app, "/v1/calls", &long, json!({"caller_name": "Jane"})).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["Idempotency-Key"]);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn webhooks_ignore_the_key_as_livekits_event_id_dedupes_them() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap();
    let now = chrono::Utc::now().timestamp();
    for (event_id, result) in [("EV_1", "recorded"), ("EV_2", "recorded")] {
        let event = lk_event(
            event_id,
            "participant_joined",
            room,
            Some(("Jane", event_id)),
            now,
        );
        let body = event.to_string();
        let token = crate::support::sign_webhook(&body);
        let headers = [
            ("idempotency-key", "same"),
            ("authorization", token.as_str()),
        ];
        let reply = app
            .send_with_headers(
                Method::POST,
                "/v1/webhooks/livekit",
                &headers,
                Body::Raw {
                    content_type: "application/webhook+json",
                    bytes: body.into_bytes(),
                },
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(reply.body["result"], result);
        assert!(!replayed(&reply));
    }
    assert_eq!(count(&app.pool, "idempotency_keys").await, 0);
}
