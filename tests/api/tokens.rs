use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, id, verify_token};

#[tokio::test]
async fn the_first_agent_takes_a_waiting_call_and_nobody_else_gets_in() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let join = format!("/v1/calls/{}/join", id(&call));
    let first = app
        .post(
            &join,
            json!({"identity": "agent_alice", "role": "agent", "name": "Alice"}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(
        verify_token(first.body["token"].as_str().unwrap()).name,
        "Alice"
    );
    assert_eq!(first.body["url"], app.livekit.url.as_str());
    // The same agent may rejoin (a dropped connection); another agent may not.
    assert_eq!(
        app.post(&join, json!({"identity": "agent_alice", "role": "agent"}))
            .await
            .status,
        StatusCode::OK
    );
    app.post(&join, json!({"identity": "agent_mallory", "role": "agent"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    // A caller joins only as the call's own caller identity.
    app.post(&join, json!({"identity": "Not Jane", "role": "caller"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    let timeline = app.timeline_kinds(&id(&call)).await;
    assert!(
        timeline.contains(&"call.status_changed".to_owned()),
        "{timeline:?}"
    );
}

#[tokio::test]
async fn join_rejects_bad_input_and_ended_or_unknown_calls() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let join = format!("/v1/calls/{}/join", id(&call));
    let reply = app
        .post(&join, json!({"identity": "", "role": "agent", "name": ""}))
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["identity", "name"]);
    app.post(&join, json!({"identity": "x", "role": "admin"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(&join, json!({"identity": "x"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/join",
        json!({"identity": "x", "role": "agent"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    app.post(&join, json!({"identity": "Jane", "role": "caller"}))
        .await
        .problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn transfer_tokens_go_to_the_transfers_agents_only_and_only_while_it_runs() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"].as_str().unwrap();

    for agent in ["agent_alice", "agent_bob"] {
        let reply = app
            .post(
                "/v1/tokens",
                json!({"transfer_id": t, "identity": agent, "role": "agent"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        assert_eq!(
            verify_token(reply.body["token"].as_str().unwrap())
                .video
                .room,
            briefing
        );
    }
    let stranger = app
        .post(
            "/v1/tokens",
            json!({"transfer_id": t, "identity": "agent_mallory", "role": "agent"}),
        )
        .await;
    stranger.problem(StatusCode::FORBIDDEN);
    let caller = app
        .post(
            "/v1/tokens",
            json!({"transfer_id": t, "identity": "Jane", "role": "caller"}),
        )
        .await;
    caller.problem(StatusCode::FORBIDDEN);

    // Agent B is not on the call yet: no token for the caller's room before the hand-off.
    let early = app
        .post(
            "/v1/tokens",
            json!({"call_id": call["id"], "identity": "agent_bob", "role": "agent"}),
        )
        .await;
    early.problem(StatusCode::FORBIDDEN);
    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    app.post_empty_ok(&format!("/v1/transfers/{t}/complete"))
        .await;
    let handing_over = app
        .post(
            "/v1/tokens",
            json!({"call_id": call["id"], "identity": "agent_bob", "role": "agent"}),
        )
        .await;
    assert_eq!(handing_over.status, StatusCode::OK, "{}", handing_over.body);
    assert_eq!(handing_over.body["room"], call["room_name"]);

    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let over = app
        .post(
            "/v1/tokens",
            json!({"transfer_id": t, "identity": "agent_bob", "role": "agent"}),
        )
        .await;
    assert_eq!(
        over.problem(StatusCode::CONFLICT)["current_state"],
        "abandoned"
    );
}

#[tokio::test]
async fn token_requests_must_name_exactly_one_known_call_or_transfer() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let unknown = "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80";
    app.post("/v1/tokens", json!({"identity": "a", "role": "agent"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/v1/tokens",
        json!({"call_id": call["id"], "transfer_id": unknown, "identity": "a", "role": "agent"}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/v1/tokens",
        json!({"transfer_id": unknown, "identity": "a", "role": "agent"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.post(
        "/v1/tokens",
        json!({"call_id": unknown, "identity": "a", "role": "agent"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    // A room name is not a way in.
    app.post(
        "/v1/tokens",
        json!({"room": call["room_name"], "identity": "a", "role": "agent"}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let ok = app
        .post(
            "/v1/tokens",
            json!({"call_id": call["id"], "identity": "agent_alice", "role": "agent"}),
        )
        .await;
    assert_eq!(ok.status, StatusCode::OK);
}

#[tokio::test]
async fn tokens_publish_microphone_audio_only_unless_configured() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let join = format!("/v1/calls/{}/join", id(&call));
    for body in [
        json!({"identity": "Jane", "role": "caller"}),
        json!({"identity": "agent_alice", "role": "agent"}),
    ] {
        let reply = app.post(&join, body).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
        let claims = verify_token(reply.body["token"].as_str().unwrap());
        assert_eq!(claims.video.can_publish_sources, vec!["microphone"]);
        assert_eq!(claims.video.can_publish, Some(true));
    }

    let app = TestApp::spawn_with(&[("LIVEKIT_PUBLISH_SOURCES", "microphone, camera")]).await;
    let call = app.create_call("Jane").await;
    let reply = app
        .post(
            &format!("/v1/calls/{}/join", id(&call)),
            json!({"identity": "Jane", "role": "caller"}),
        )
        .await;
    reply.assert_ok();
    let claims = verify_token(reply.body["token"].as_str().unwrap());
    assert_eq!(
        claims.video.can_publish_sources,
        vec!["microphone", "camera"]
    );
    let refused = warmline::Config::from_lookup(|k| {
        (k == "LIVEKIT_PUBLISH_SOURCES").then(|| "webcam".into())
    });
    assert!(refused.is_err(), "an unknown source is refused at start-up");
}
