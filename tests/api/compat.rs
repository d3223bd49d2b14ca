//! The prototype's frontend, replayed against warmline: every field it reads, and the same
//! records visible on /v1.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Body, TestApp, count, lk_event, verify_token};

fn s(v: &Value) -> String {
    v.as_str()
        .unwrap_or_else(|| panic!("expected a string, got {v}"))
        .to_owned()
}

/// The prototype sent `POST /transfer` with query parameters only.
async fn post_query(app: &TestApp, path: &str, params: &[(&str, &str)]) -> crate::support::Reply {
    let query: Vec<String> = params
        .iter()
        .map(|(k, v)| {
            format!(
                "{k}={}",
                url::form_urlencoded::byte_serialize(v.as_bytes()).collect::<String>()
            )
        })
        .collect();
    app.send(
        Method::POST,
        &format!("{path}?{}", query.join("&")),
        Body::None,
    )
    .await
}

#[tokio::test]
async fn the_prototypes_whole_flow_works_unchanged_and_lands_in_v1() {
    let app = TestApp::spawn().await;

    // 1. The caller starts a call and polls its transfer status.
    let started = app
        .post("/call/start", json!({"caller_name": "Jane Doe", "caller_info": {"name": "Jane Doe", "phone": "+1 415 555 0100", "issue": "Damaged order"}}))
        .await;
    assert_eq!(started.status, StatusCode::OK, "{}", started.body);
    let call_id = s(&started.body["call_id"]);
    let room = s(&started.body["room_name"]);
    assert_eq!(room, format!("call_{call_id}"));
    assert_eq!(started.body["status"], "initiated");
    assert_eq!(started.body["livekit_url"], app.livekit.url.as_str());
    let caller = verify_token(&s(&started.body["caller_token"]));
    assert_eq!(
        (caller.sub.as_str(), caller.video.room.as_str()),
        ("Jane Doe", room.as_str())
    );
    assert_eq!(
        verify_token(&s(&started.body["agent_a_token"])).video.room,
        room
    );
    let poll = app.get("/caller/Jane%20Doe/transfer-status").await;
    poll.assert_ok();
    assert_eq!(poll.body, json!({"transfer_complete": false}));

    // 2. Agent A finds the latest call and gets a token for its room.
    let latest = app.get("/calls/latest").await;
    latest.assert_ok();
    assert_eq!(
        (s(&latest.body["call_id"]), s(&latest.body["room_name"])),
        (call_id.clone(), room.clone())
    );
    assert_eq!(latest.body["caller_name"], "Jane Doe");
    let a_token = app
        .get(&format!("/token?identity=agent_a_alice&room={room}"))
        .await;
    assert_eq!(a_token.status, StatusCode::OK, "{}", a_token.body);
    assert_eq!(a_token.body["url"], app.livekit.url.as_str());
    assert_eq!(
        verify_token(&s(&a_token.body["token"])).sub,
        "agent_a_alice"
    );

    // 3. Agent A summarizes what was said, then transfers with a briefing room of its choosing.
    let transcript =
        "Caller says order 4411 arrived damaged and wants a replacement before Friday.";
    let summary = app
        .post(
            "/summarize",
            json!({"transcript": transcript, "call_id": call_id}),
        )
        .await;
    assert_eq!(summary.status, StatusCode::OK, "{}", summary.body);
    assert!(
        s(&summary.body["summary"]).contains("Damaged order"),
        "{}",
        summary.body
    );
    let briefing = "transfer_1764064800000";
    let transfer = post_query(
        &app,
        "/transfer",
        &[
            ("original_room", &room),
            ("new_room", briefing),
            ("agent_a", "agent_a"),
            ("agent_b", "agent_b_bob"),
            ("transcript", transcript),
            ("caller_name", "Jane Doe"),
        ],
    )
    .await;
    assert_eq!(transfer.status, StatusCode::OK, "{}", transfer.body);
    let t = &transfer.body;
    let transfer_id = s(&t["transfer_id"]);
    assert_eq!(t["transfer_room"], briefing);
    assert_eq!(t["status"], "initiated");
    assert_eq!(t["livekit_url"], app.livekit.url.as_str());
    assert!(!s(&t["summary"]).is_empty() && !s(&t["agent_script"]).is_empty());
    assert_eq!(
        verify_token(&s(&t["agentA_transfer_token"])).video.room,
        briefing
    );
    let b = verify_token(&s(&t["agentB_token"]));
    assert_eq!(
        (b.sub.as_str(), b.video.room.as_str()),
        ("agent_b_bob", briefing)
    );

    // 4. Agent B polls the active transfers, reads one, gets a token and joins the briefing.
    let active = app.get("/transfers/active").await;
    active.assert_ok();
    let item = &active.body["active_transfers"][0];
    assert_eq!(s(&item["transfer_id"]), transfer_id);
    assert_eq!(item["caller_name"], "Jane Doe");
    assert_eq!(
        item["agent_a"], "agent_a_alice",
        "the agent who has the call transfers it"
    );
    assert!(!s(&item["summary"]).is_empty() && item["created_at"].is_string());
    let shown = app.get(&format!("/transfer/{transfer_id}")).await;
    shown.assert_ok();
    assert_eq!(shown.body["transfer_room"], briefing);
    assert_eq!(shown.body["original_room"], room.as_str());
    let b_token = app
        .get(&format!("/token?identity=agent_b_bob&room={briefing}"))
        .await;
    assert_eq!(b_token.status, StatusCode::OK, "{}", b_token.body);
    assert_eq!(
        app.get_ok("/agent/agent_b_bob/transfer-status").await,
        json!({"transfer_complete": false})
    );

    // 5. Agent A completes; caller and Agent B polls now say where to go.
    let done = app
        .post("/transfer/complete", json!({"transfer_id": transfer_id}))
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["status"], "transfer_completed");
    assert_eq!(done.body["final_room"], briefing);
    assert_eq!(done.body["agent_b"], "agent_b_bob");
    assert_eq!(
        verify_token(&s(&done.body["caller_token"])).video.room,
        briefing
    );

    let caller_poll = app.get("/caller/Jane%20Doe/transfer-status").await;
    caller_poll.assert_ok();
    let c = &caller_poll.body;
    assert_eq!(c["transfer_complete"], true);
    assert_eq!(c["final_room"], briefing);
    assert_eq!(c["livekit_url"], app.livekit.url.as_str());
    let caller_final = verify_token(&s(&c["caller_token"]));
    assert_eq!(
        (caller_final.sub.as_str(), caller_final.video.room.as_str()),
        ("Jane Doe", briefing)
    );
    let agent_poll = app.get("/agent/agent_b_bob/transfer-status").await;
    agent_poll.assert_ok();
    let a = &agent_poll.body;
    assert_eq!(a["transfer_complete"], true);
    assert_eq!(a["final_room"], briefing);
    assert_eq!(a["caller_name"], "Jane Doe");
    assert_eq!(verify_token(&s(&a["agent_token"])).video.room, briefing);
    assert_eq!(
        app.get_ok("/agent/bob/transfer-status").await["transfer_complete"],
        true,
        "the bare name works too"
    );
    assert_eq!(
        app.get_ok(&format!("/transfer/{transfer_id}")).await["status"],
        "completed"
    );

    // The caller reconnects to the briefing room: the hand-off is seen and the transfer completes.
    app.livekit.join(briefing, "agent_b_bob");
    app.livekit.join(briefing, "Jane Doe");
    let completed = app.wait_for_state(&transfer_id, "completed").await;
    assert_eq!(completed["final_room"], briefing);

    // The same records, seen through /v1.
    let v1_call = app.get_ok(&format!("/v1/calls/{call_id}")).await;
    assert_eq!(
        (
            v1_call["caller_name"].as_str(),
            v1_call["current_agent"].as_str()
        ),
        (Some("Jane Doe"), Some("agent_b_bob"))
    );
    assert_eq!(v1_call["caller_phone"], "+1 415 555 0100");
    let v1_transfer = app.get_ok(&format!("/v1/transfers/{transfer_id}")).await;
    assert_eq!(
        (
            v1_transfer["handoff"].as_str(),
            v1_transfer["from_agent"].as_str()
        ),
        (Some("move_caller"), Some("agent_a_alice"))
    );
    let transcript_rows = app.get_ok(&format!("/v1/calls/{call_id}/transcript")).await;
    assert_eq!(
        transcript_rows["items"].as_array().unwrap().len(),
        1,
        "the same typed text is stored once"
    );
    let kinds = app.timeline_kinds(&call_id).await;
    for kind in [
        "call.created",
        "transcript.appended",
        "summary.created",
        "transfer.initiated",
        "transfer.briefing",
        "transfer.connecting",
        "transfer.completed",
    ] {
        assert!(
            kinds.contains(&kind.to_owned()),
            "{kind} missing from {kinds:?}"
        );
    }
}

#[tokio::test]
async fn the_readme_aliases_reach_the_same_services() {
    let app = TestApp::spawn().await;
    let root = app.get("/").await;
    root.assert_ok();
    assert_eq!(root.body["status"], "running");
    let health = app.get("/health").await;
    health.assert_ok();
    assert_eq!(
        (
            health.body["status"].as_str(),
            health.body["llm_configured"].as_bool()
        ),
        (Some("healthy"), Some(false))
    );

    let started = app.post("/call/start", json!({})).await;
    started.assert_ok();
    let call_id = s(&started.body["call_id"]);
    let caller_name = s(&app.get_ok(&format!("/call/{call_id}")).await["caller_name"]);
    assert!(
        caller_name.starts_with("caller_") && caller_name.len() == 15,
        "{caller_name}"
    );

    let joined = app
        .post(
            &format!("/call/{call_id}/join"),
            json!({"agent_name": "agent_a_alice"}),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["identity"], "agent_a_alice");
    let caller = app
        .post(
            &format!("/call/{call_id}/join"),
            json!({"identity": caller_name}),
        )
        .await;
    caller.assert_ok();
    assert_eq!(verify_token(&s(&caller.body["token"])).sub, caller_name);
    let by_body = app
        .post(
            "/token",
            json!({"identity": "agent_a_alice", "room": format!("call_{call_id}")}),
        )
        .await;
    assert_eq!(by_body.status, StatusCode::OK);

    let transfer = app
        .post(
            &format!("/call/{call_id}/transfer"),
            json!({"agent_b": "bob", "new_room": "has spaces"}),
        )
        .await;
    assert_eq!(transfer.status, StatusCode::OK, "{}", transfer.body);
    assert!(
        s(&transfer.body["transfer_room"]).starts_with("transfer_"),
        "an invalid room name is replaced"
    );
    assert_eq!(
        verify_token(&s(&transfer.body["agentB_token"])).sub,
        "agent_b_bob"
    );
    let id = s(&transfer.body["transfer_id"]);
    let done = app.post_empty(&format!("/transfer/{id}/complete")).await;
    done.assert_ok();
    assert_eq!(done.body["status"], "transfer_completed");
    let again = app.post_empty(&format!("/transfer/{id}/complete")).await;
    assert!(again.problem(StatusCode::CONFLICT)["detail"].is_string());

    let call = app.get_ok(&format!("/call/{call_id}")).await;
    assert_eq!(
        (call["agent_a"].as_str(), call["agent_b"].as_str()),
        (Some("agent_a_alice"), Some("agent_b_bob"))
    );
    let listed = app.get_ok("/calls/active").await;
    assert_eq!(listed["active_calls"].as_array().unwrap().len(), 1);
    let ended = app.post("/call/end", json!({"call_id": call_id})).await;
    ended.assert_ok();
    assert_eq!(
        ended.body,
        json!({"status": "call_ended", "call_id": call_id})
    );
    assert_eq!(app.get_ok("/calls/active").await["active_calls"], json!([]));
    app.get("/calls/latest")
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get_ok(&format!("/call/{call_id}")).await["status"],
        "ended"
    );
}

#[tokio::test]
async fn unknown_ids_and_missing_parameters_get_a_clear_detail() {
    let app = TestApp::spawn().await;
    let unknown = "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80";
    for path in [
        format!("/call/{unknown}"),
        "/call/not-an-id".to_owned(),
        format!("/transfer/{unknown}"),
    ] {
        let reply = app.get(&path).await;
        assert!(
            reply.problem(StatusCode::NOT_FOUND)["detail"]
                .as_str()
                .unwrap()
                .contains("not found"),
            "{path}"
        );
    }
    app.post("/transfer/complete", json!({"transfer_id": unknown}))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post_empty(&format!("/transfer/{unknown}/complete"))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post("/call/end", json!({"call_id": unknown}))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.post("/call/end", json!({}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(&format!("/call/{unknown}/join"), json!({"identity": "x"}))
        .await
        .problem(StatusCode::NOT_FOUND);

    let missing = post_query(
        &app,
        "/transfer",
        &[
            ("original_room", "call_x"),
            ("new_room", "r"),
            ("agent_a", "a"),
        ],
    )
    .await;
    assert!(
        missing.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
            .as_str()
            .unwrap()
            .contains("agent_b")
    );
    let no_room = post_query(
        &app,
        "/transfer",
        &[
            ("original_room", "call_nope"),
            ("new_room", "r"),
            ("agent_a", "a"),
            ("agent_b", "b"),
        ],
    )
    .await;
    no_room.problem(StatusCode::NOT_FOUND);

    app.get("/token?identity=agent_x&room=call_nope")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/token?identity=agent_x")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post("/summarize", json!({"transcript": "   "}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post(
        "/summarize",
        json!({"transcript": "hello", "call_id": unknown}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(count(&app.pool, "transcript_segments").await, 0);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn tokens_on_the_old_routes_are_as_scoped_as_on_v1() {
    let app = TestApp::spawn().await;
    let started = app
        .post("/call/start", json!({"caller_name": "Jane"}))
        .await;
    started.assert_ok();
    let room = s(&started.body["room_name"]);
    app.get_ok(&format!("/token?identity=agent_a_alice&room={room}"))
        .await;
    // The call is Agent A's now: another agent, or someone posing as another caller, is refused.
    app.get(&format!("/token?identity=agent_mallory&room={room}"))
        .await
        .problem(StatusCode::FORBIDDEN);
    let transfer = post_query(
        &app,
        "/transfer",
        &[
            ("original_room", &room),
            ("new_room", "transfer_1"),
            ("agent_a", "agent_a"),
            ("agent_b", "agent_b_bob"),
        ],
    )
    .await;
    assert_eq!(transfer.status, StatusCode::OK, "{}", transfer.body);
    assert!(
        transfer.body["caller_token"].is_null(),
        "the briefing room is private until the hand-off"
    );
    app.get("/token?identity=agent_b_mallory&room=transfer_1")
        .await
        .problem(StatusCode::FORBIDDEN);
    app.get("/token?identity=Jane&room=transfer_1")
        .await
        .problem(StatusCode::FORBIDDEN);
    assert_eq!(
        app.get("/token?identity=agent_b_bob&room=transfer_1")
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_second_call_of_the_same_caller_sees_only_its_own_transfer() {
    let app = TestApp::spawn().await;
    let first = app
        .post("/call/start", json!({"caller_name": "Jane"}))
        .await;
    first.assert_ok();
    let room = s(&first.body["room_name"]);
    app.get_ok(&format!("/token?identity=agent_a_alice&room={room}"))
        .await;
    let t = post_query(
        &app,
        "/transfer",
        &[
            ("original_room", &room),
            ("new_room", "transfer_2"),
            ("agent_a", "agent_a"),
            ("agent_b", "bob"),
        ],
    )
    .await;
    t.assert_ok();
    app.post_ok(
        "/transfer/complete",
        json!({"transfer_id": t.body["transfer_id"]}),
    )
    .await;
    assert_eq!(
        app.get_ok("/caller/Jane/transfer-status").await["transfer_complete"],
        true
    );
    app.post_ok("/call/end", json!({"call_id": first.body["call_id"]}))
        .await;
    app.post_ok("/call/start", json!({"caller_name": "Jane"}))
        .await;
    assert_eq!(
        app.get_ok("/caller/Jane/transfer-status").await,
        json!({"transfer_complete": false})
    );
    assert_eq!(
        app.get_ok("/agent/bob/transfer-status").await,
        json!({"transfer_complete": false}),
        "that call is over"
    );
}

#[tokio::test]
async fn client_room_reports_are_kept_beside_webhook_membership() {
    let app = TestApp::spawn().await;
    let started = app
        .post("/call/start", json!({"caller_name": "Jane"}))
        .await;
    started.assert_ok();
    let room = s(&started.body["room_name"]);
    let reported = app
        .post(
            "/room/participants",
            json!({"room_name": room, "participants": ["Jane", "agent_a_alice"]}),
        )
        .await;
    reported.assert_ok();
    assert_eq!(
        reported.body,
        json!({"status": "updated", "room": room, "participants": ["Jane", "agent_a_alice"]})
    );
    assert_eq!(
        app.get_ok(&format!("/room/{room}/participants")).await["participants"],
        json!(["Jane", "agent_a_alice"])
    );

    // Once LiveKit reports the room, its word is the record; the client's report stays stored.
    app.webhook(&lk_event(
        "EV_1",
        "participant_joined",
        &room,
        Some(("Jane", "PA_1")),
        chrono::Utc::now().timestamp(),
    ))
    .await;
    assert_eq!(
        app.get_ok(&format!("/rooms/{room}/participants")).await["participants"],
        json!(["Jane"])
    );
    assert_eq!(count(&app.pool, "room_reports").await, 1);

    app.post(
        "/room/participants",
        json!({"room_name": "nope", "participants": []}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.post(
        "/room/participants",
        json!({"room_name": room, "participants": [""]}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        app.get_ok("/room/unknown/participants").await,
        json!({"room": "unknown", "participants": []})
    );
}

#[tokio::test]
async fn summarize_without_a_call_summarizes_the_text_alone() {
    let app = TestApp::spawn().await;
    let reply = app
        .post("/summarize", json!({"transcript": "My invoice 7781 charged me twice. Can you refund $40?", "caller_info": {"name": "Sam"}}))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let summary = s(&reply.body["summary"]);
    assert!(
        summary.contains("7781") && summary.contains("$40"),
        "{summary}"
    );
    assert_eq!(count(&app.pool, "summaries").await, 0);
}

#[tokio::test]
async fn a_nul_in_a_name_on_the_old_routes_is_422_not_a_database_error() {
    let app = TestApp::spawn().await;
    for path in [
        "/caller/a%00b/transfer-status",
        "/agent/a%00b/transfer-status",
        "/room/a%00b/participants",
        "/rooms/a%00b/participants",
    ] {
        app.get(path)
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let reply = app
        .post(
            "/room/participants",
            json!({"room_name": "a\u{0}b", "participants": []}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["room_name"]);
}

#[tokio::test]
async fn a_re_sent_running_transcript_is_stored_once_and_joining_the_briefing_accepts() {
    let app = TestApp::spawn().await;
    let started = app
        .post("/call/start", json!({"caller_name": "Jane"}))
        .await;
    started.assert_ok();
    let call_id = s(&started.body["call_id"]);
    let room = s(&started.body["room_name"]);
    let joined = app
        .get(&format!("/token?identity=agent_a_alice&room={room}"))
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    // The page sends the whole text each time, with a leading space.
    for text in [
        " Hello, my order is broken",
        "Hello, my order is broken\nI want a refund ",
        " Hello, my order is broken I want a refund",
    ] {
        let reply = app
            .post(
                "/summarize",
                json!({"transcript": text, "call_id": call_id}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    let briefing = "transfer_1764064800001";
    let transfer = post_query(
        &app,
        "/transfer",
        &[
            ("original_room", &room),
            ("new_room", briefing),
            ("agent_a", "agent_a"),
            ("agent_b", "bob"),
            ("transcript", " Hello, my order is broken I want a refund"),
        ],
    )
    .await;
    assert_eq!(transfer.status, StatusCode::OK, "{}", transfer.body);
    let transcript = app.get(&format!("/v1/calls/{call_id}/transcript")).await;
    transcript.assert_ok();
    let texts: Vec<&str> = transcript.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|seg| seg["text"].as_str().unwrap())
        .collect();
    assert_eq!(texts, ["Hello, my order is broken", "I want a refund"]);

    // Agent B's "Join Briefing" asks for a token: that is accepting the transfer.
    let transfer_id = s(&transfer.body["transfer_id"]);
    let token = app
        .get(&format!("/token?identity=agent_b_bob&room={briefing}"))
        .await;
    assert_eq!(token.status, StatusCode::OK, "{}", token.body);
    let shown = app.get(&format!("/v1/transfers/{transfer_id}")).await;
    shown.assert_ok();
    assert_eq!(shown.body["state"], "briefing", "{}", shown.body);
    assert!(shown.body["briefing_at"].is_string());
    // Asking again changes nothing.
    let again = app
        .get(&format!("/token?identity=agent_b_bob&room={briefing}"))
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);
}
