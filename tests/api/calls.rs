use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Body, TestApp, count};

#[tokio::test]
async fn a_created_call_can_be_read_back_with_its_room_and_status() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/calls",
            json!({"caller_name": "  Jane Doe ", "caller_phone": "+1 415 555 0100",
                   "issue": "Order 4411 arrived damaged", "metadata": {"crm_id": "C-1029"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let call = reply.body;
    let id = call["id"].as_str().unwrap();
    assert_eq!(
        reply.headers["location"],
        format!("/v1/calls/{id}").as_str()
    );
    assert_eq!(call["caller_name"], "Jane Doe");
    assert_eq!(call["caller_identity"], "Jane Doe");
    assert_eq!(call["room_name"], format!("call_{id}"));
    assert_eq!(call["status"], "waiting");
    assert_eq!(call["metadata"], json!({"crm_id": "C-1029"}));

    let fetched = app.get(&format!("/v1/calls/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, call);
}

#[tokio::test]
async fn invalid_calls_are_refused_with_every_bad_field_named_and_nothing_stored() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/calls",
            json!({"caller_name": "   ", "caller_phone": "call me maybe", "issue": "x".repeat(4001)}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        ["caller_name", "caller_phone", "issue"]
    );

    let too_long = app
        .post("/v1/calls", json!({"caller_name": "n".repeat(129)}))
        .await;
    assert_eq!(
        too_long.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "caller_name"
    );

    let big_metadata = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "metadata": {"blob": "x".repeat(17_000)}}),
        )
        .await;
    assert_eq!(big_metadata.error_fields(), ["metadata"]);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn malformed_bodies_get_clear_client_errors() {
    let app = TestApp::spawn().await;
    let raw = |content_type, bytes: &str| Body::Raw {
        content_type,
        bytes: bytes.as_bytes().to_vec(),
    };

    let broken = app
        .send(
            Method::POST,
            "/v1/calls",
            raw("application/json", "{\"caller_name\": "),
        )
        .await;
    assert!(
        broken.problem(StatusCode::BAD_REQUEST)["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let wrong_type = app.post("/v1/calls", json!({"caller_name": 42})).await;
    assert_eq!(
        wrong_type.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "caller_name"
    );

    let typo = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "caler_phone": "123"}),
        )
        .await;
    let detail = typo.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("unknown field `caler_phone`"), "{detail}");

    let missing = app.post("/v1/calls", json!({})).await;
    assert!(
        missing.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
            .as_str()
            .unwrap()
            .contains("caller_name")
    );

    let not_json = app
        .send(
            Method::POST,
            "/v1/calls",
            raw("text/plain", "caller_name=Jane"),
        )
        .await;
    not_json.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let not_object = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "metadata": [1, 2]}),
        )
        .await;
    not_object.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let reply = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "issue": "x".repeat(3000)}),
        )
        .await;
    reply.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_and_422() {
    let app = TestApp::spawn().await;
    let unknown = app
        .get("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80")
        .await;
    assert!(
        unknown.problem(StatusCode::NOT_FOUND)["detail"]
            .as_str()
            .unwrap()
            .contains("call")
    );
    let malformed = app.get("/v1/calls/not-a-uuid").await;
    assert_eq!(
        malformed.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "id"
    );
    app.post_empty("/v1/calls/not-a-uuid/end")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post_empty("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/end")
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_list_is_newest_first_and_pages_with_an_opaque_cursor() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_call(&format!("Caller {i}")).await["id"].clone());
    }
    ids.reverse();

    let first = app.get("/v1/calls?limit=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let page_ids = |body: &serde_json::Value| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(page_ids(&first.body), ids[..2]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/v1/calls?limit=2&cursor={cursor}")).await;
    second.assert_ok();
    assert_eq!(page_ids(&second.body), ids[2..4]);
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let last = app.get(&format!("/v1/calls?limit=2&cursor={cursor}")).await;
    last.assert_ok();
    assert_eq!(page_ids(&last.body), ids[4..]);
    assert!(last.body.get("next_cursor").is_none());
}

#[tokio::test]
async fn the_list_filters_by_status_caller_and_creation_time() {
    let app = TestApp::spawn().await;
    let jane = app.create_call("Jane Doe").await;
    let _john = app.create_call("John Roe").await;
    app.post_empty_ok(&format!("/v1/calls/{}/end", jane["id"].as_str().unwrap()))
        .await;

    let ended = app.get("/v1/calls?status=ended").await;
    ended.assert_ok();
    assert_eq!(ended.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(ended.body["items"][0]["id"], jane["id"]);

    let by_caller = app.get("/v1/calls?caller=jane%20doe").await;
    by_caller.assert_ok();
    assert_eq!(by_caller.body["items"].as_array().unwrap().len(), 1);

    let created = jane["created_at"].as_str().unwrap();
    let encoded = created.replace(':', "%3A").replace('+', "%2B");
    let after = app.get(&format!("/v1/calls?created_after={encoded}")).await;
    after.assert_ok();
    assert_eq!(after.body["items"].as_array().unwrap().len(), 2);
    let before = app
        .get(&format!("/v1/calls?created_before={encoded}"))
        .await;
    before.assert_ok();
    assert_eq!(before.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=bogus", "cursor"),
        (
            "created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z",
            "created_before",
        ),
    ] {
        let reply = app.get(&format!("/v1/calls?{query}")).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
            field,
            "{query}"
        );
    }
    for query in [
        "status=sleeping",
        "limit=ten",
        "created_after=yesterday",
        "colour=red",
    ] {
        app.get(&format!("/v1/calls?{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn ending_a_call_is_idempotent() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let path = format!("/v1/calls/{}/end", call["id"].as_str().unwrap());
    let first = app.post_empty(&path).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["status"], "ended");
    assert!(first.body["ended_at"].is_string());
    let second = app.post_empty(&path).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["ended_at"], first.body["ended_at"]);
}

#[tokio::test]
async fn the_timeline_records_creation_transcript_batches_and_the_end_in_order() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let id = call["id"].as_str().unwrap();
    let segments = json!({"segments": [
        {"segment_id": "s1", "speaker": "Jane", "role": "caller", "text": "Hello", "start_ms": 0},
        {"segment_id": "s2", "speaker": "agent_a", "role": "agent", "text": "Hi", "start_ms": 900}
    ]});
    app.post_ok(&format!("/v1/calls/{id}/transcript"), segments.clone())
        .await;
    // A retry stores nothing and so adds no event.
    app.post_ok(&format!("/v1/calls/{id}/transcript"), segments)
        .await;
    app.post_empty_ok(&format!("/v1/calls/{id}/end")).await;
    app.post_empty_ok(&format!("/v1/calls/{id}/end")).await;

    let timeline = app.get(&format!("/v1/calls/{id}/timeline")).await;
    assert_eq!(timeline.status, StatusCode::OK);
    let kinds: Vec<_> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["call.created", "transcript.appended", "call.ended"]);
    assert_eq!(timeline.body["items"][1]["data"]["segments"], 2);

    let paged = app.get(&format!("/v1/calls/{id}/timeline?limit=1")).await;
    paged.assert_ok();
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/calls/{id}/timeline?cursor={cursor}"))
        .await;
    rest.assert_ok();
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);

    app.get("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/timeline")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get(&format!("/v1/calls/{id}/timeline?limit=500"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn supervisors_find_calls_by_what_was_said_or_summarized() {
    let app = TestApp::spawn().await;
    let refund = app.create_call("Jane").await;
    let other = app
        .post(
            "/v1/calls",
            json!({"caller_name": "John", "issue": "Password reset"}),
        )
        .await
        .body;
    let id = refund["id"].as_str().unwrap();
    app.post_ok(
        &format!("/v1/calls/{id}/transcript"),
        json!({"segments": [{"segment_id": "1", "speaker": "Jane", "role": "caller", "start_ms": 0,
                             "text": "I want a refund for the blender"}]}),
    )
    .await;
    let ids = |reply: &crate::support::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&app.get("/v1/calls?q=blender").await), [id]);
    assert_eq!(
        ids(&app.get("/v1/calls?q=password").await),
        [other["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&app.get("/v1/calls?q=refund%20-blender").await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&app.get("/v1/calls?q=%22refund%20for%22").await), [id]);
    // Summaries are searched too.
    app.post_empty_ok(&format!(
        "/v1/calls/{}/summaries",
        other["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(ids(&app.get("/v1/calls?q=John").await).len(), 1);
    let long = "x".repeat(201);
    app.get(&format!("/v1/calls?q={long}"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Odd syntax is not an error: websearch syntax never fails to parse.
    assert_eq!(
        app.get("/v1/calls?q=%22%22%20or%20-").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn text_postgres_cannot_store_is_422_wherever_it_comes_in() {
    let app = TestApp::spawn().await;
    // A NUL in a metadata value and in a metadata key (jsonb refuses both).
    for (body, field) in [
        (
            json!({"caller_name": "a", "metadata": {"k": "\u{0}"}}),
            "metadata.k",
        ),
        (
            json!({"caller_name": "a", "metadata": {"k\u{0}": 1}}),
            "metadata.k\\u0000",
        ),
    ] {
        let reply = app.post("/v1/calls", body).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    assert_eq!(count(&app.pool, "calls").await, 0);
    // A NUL in a filter.
    for (query, field) in [("q=a%00b", "q"), ("caller=a%00b", "caller")] {
        let reply = app.get(&format!("/v1/calls?{query}")).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [field]);
    }
    // An instant chrono reads and Postgres does not: in a forged cursor and in a filter.
    use base64::Engine;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"["-9999-01-01T00:00:00Z","00000000-0000-0000-0000-000000000000"]"#);
    let reply = app.get(&format!("/v1/calls?cursor={cursor}")).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["cursor"]);
    app.get("/v1/calls?created_after=-9999-01-01T00:00:00Z")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let call = app.create_call("Jane").await;
    let reply = app
        .post(
            &format!("/v1/calls/{}/transcript", call["id"].as_str().unwrap()),
            json!({"segments": [{"segment_id": "1", "speaker": "Jane", "role": "caller",
                                 "text": "hi", "start_ms": 0, "spoken_at": "+99999-01-01T00:00:00Z"}]}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_body_must_be_a_json_object_not_an_array_or_null() {
    let app = TestApp::spawn().await;
    // serde would fill the struct's fields from an array, by position.
    for body in [
        json!(["Array Caller", null, null, null, null]),
        json!(null),
        json!("Jane"),
    ] {
        let reply = app.post("/v1/calls", body).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), ["body"], "{}", reply.body);
    }
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn a_call_no_agent_answers_ends_by_itself() {
    // Long enough for the answered call's agent to join in time however slow the machine.
    let app = TestApp::spawn_with(&[("CALL_UNANSWERED_TIMEOUT_SECS", "5")]).await;
    let unanswered = app.create_call("Jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answered = app.call_with_agent("John", "agent_alice").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The answered call was created before this.
    let answered_by = tokio::time::Instant::now();
    crate::support::eventually("the unanswered call has ended", || async {
        app.get_ok(&format!("/v1/calls/{unanswered}")).await["status"] == "ended"
    })
    .await;
    let ended = app.get_ok(&format!("/v1/calls/{unanswered}")).await;
    assert!(ended["ended_at"].is_string());
    assert!(
        app.timeline_kinds(&unanswered)
            .await
            .contains(&"call.ended".to_owned())
    );
    // Well past its time (a second beyond its timeout), the answered call goes on.
    tokio::time::sleep_until(answered_by + std::time::Duration::from_secs(6)).await;
    let going_on = app.get_ok(&format!("/v1/calls/{answered}")).await;
    assert_eq!(going_on["status"], "active", "an answered call goes on");
    // No job per call: the sweep needs none.
    assert_eq!(crate::support::count(&app.pool, "jobs").await, 0);
}
