use rand::SeedableRng;
use rand::seq::SliceRandom;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, count, id, lk_event, sign_webhook};

fn now() -> i64 {
    chrono::Utc::now().timestamp()
}

#[tokio::test]
async fn a_signed_delivery_is_stored_and_a_redelivery_changes_nothing() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap();
    let event = lk_event(
        "EV_1",
        "participant_joined",
        room,
        Some(("Jane", "PA_1")),
        now(),
    );
    let first = app.webhook(&event).await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body["result"], "recorded");
    let again = app.webhook(&event).await;
    assert_eq!(
        (again.status, again.body["result"].clone()),
        (StatusCode::OK, json!("duplicate"))
    );
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 1);
    assert_eq!(count(&app.pool, "participants").await, 1);
    let joined = app
        .timeline_kinds(&id(&call))
        .await
        .iter()
        .filter(|k| *k == "participant.joined")
        .count();
    assert_eq!(joined, 1);

    let stored: (String, String) = sqlx::query_as("SELECT body, result FROM webhook_deliveries")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(
        stored,
        (event.to_string(), "recorded".to_owned()),
        "the raw body is kept byte for byte"
    );

    let who = app.get(&format!("/v1/rooms/{room}/participants")).await;
    who.assert_ok();
    assert_eq!(who.body["source"], "webhooks");
    assert_eq!(who.body["participants"][0]["identity"], "Jane");
    assert_eq!(who.body["participants"][0]["role"], "caller");
}

#[tokio::test]
async fn forged_expired_mismatched_or_missing_signatures_are_401_and_store_nothing() {
    let app = TestApp::spawn().await;
    let body = lk_event("EV_1", "room_started", "call_x", None, now()).to_string();
    let other = lk_event("EV_2", "room_started", "call_y", None, now()).to_string();
    let forged = livekit_api::access_token::AccessToken::with_api_key(
        crate::support::livekit::API_KEY,
        "not-the-secret-not-the-secret!!!",
    )
    .with_sha256("irrelevant")
    .to_jwt()
    .unwrap();
    let expired = {
        use base64::Engine;
        use sha2::Digest;
        let hash =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes()));
        let claims = json!({"iss": crate::support::livekit::API_KEY, "nbf": now() - 900, "exp": now() - 600, "sha256": hash});
        crate::support::hs256_jwt(&claims, crate::support::livekit::API_SECRET)
    };
    let signed_with = |claims: serde_json::Value| {
        use base64::Engine;
        use sha2::Digest;
        let hash =
            base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(body.as_bytes()));
        let mut claims = claims;
        claims["sha256"] = json!(hash);
        crate::support::hs256_jwt(&claims, crate::support::livekit::API_SECRET)
    };
    let key = crate::support::livekit::API_KEY;
    let other_key =
        signed_with(json!({"iss": "another-key", "nbf": now() - 10, "exp": now() + 300}));
    let not_yet = signed_with(json!({"iss": key, "nbf": now() + 600, "exp": now() + 900}));
    let no_expiry = signed_with(json!({"iss": key, "nbf": now() - 10}));
    let cases = [
        (None, "missing"),
        (Some(forged), "not signed with"),
        (Some(expired), "expired"),
        (Some(other_key), "another API key"),
        (Some(not_yet), "not valid yet"),
        (Some(no_expiry), "no `exp` claim"),
        (Some(sign_webhook(&other)), "does not match"),
        (Some("not.a.jwt".to_owned()), "not a valid JWT"),
    ];
    for (token, why) in cases {
        let reply = app
            .webhook_raw(&body, token.as_deref(), "application/webhook+json")
            .await;
        let detail = reply.problem(StatusCode::UNAUTHORIZED)["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains(why), "{why}: {detail}");
    }
    // A Bearer prefix (other senders) and plain JSON are fine.
    let bearer = format!("Bearer {}", sign_webhook(&body));
    assert_eq!(
        app.webhook_raw(&body, Some(&bearer), "application/json")
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 1);
}

#[tokio::test]
async fn bodies_that_are_not_webhook_events_are_refused() {
    let app = TestApp::spawn().await;
    let signed = |body: &str| sign_webhook(body);
    let text = "event=room_started";
    app.webhook_raw(text, Some(&signed(text)), "text/plain")
        .await
        .problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);
    let not_json = "{not json";
    app.webhook_raw(
        not_json,
        Some(&signed(not_json)),
        "application/webhook+json",
    )
    .await
    .problem(StatusCode::BAD_REQUEST);
    let no_id = json!({"event": "room_started", "createdAt": "1"}).to_string();
    app.webhook_raw(&no_id, Some(&signed(&no_id)), "application/webhook+json")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 0);
}

#[tokio::test]
async fn unknown_event_types_and_tracks_are_stored_not_acted_on() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap();
    let egress = app
        .webhook(&lk_event("EV_1", "egress_started", room, None, now()))
        .await;
    egress.assert_ok();
    assert_eq!(egress.body["result"], "ignored");
    let track = app
        .webhook(&lk_event(
            "EV_2",
            "track_published",
            room,
            Some(("Jane", "PA_1")),
            now(),
        ))
        .await;
    track.assert_ok();
    assert_eq!(track.body["result"], "recorded");
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 2);
    assert_eq!(count(&app.pool, "participants").await, 0);
}

#[tokio::test]
async fn transfers_follow_what_livekit_reports() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();

    // Agent B joining the briefing room is as good as accepting.
    let joined = app
        .webhook(&lk_event(
            "EV_1",
            "participant_joined",
            &briefing,
            Some(("agent_bob", "PA_B1")),
            now(),
        ))
        .await;
    joined.assert_ok();
    assert_eq!(joined.body["result"], "applied", "{}", joined.body);
    assert_eq!(app.transfer(&t).await["state"], "briefing");

    app.post_empty_ok(&format!("/v1/transfers/{t}/complete"))
        .await;
    // Someone else joining the caller's room does not complete the hand-off.
    let other = app
        .webhook(&lk_event(
            "EV_2",
            "participant_joined",
            &room,
            Some(("agent_mallory", "PA_M")),
            now(),
        ))
        .await;
    other.assert_ok();
    assert_eq!(other.body["result"], "recorded");
    assert_eq!(app.transfer(&t).await["state"], "connecting");
    // Agent B in the caller's room completes it.
    let b = app
        .webhook(&lk_event(
            "EV_3",
            "participant_joined",
            &room,
            Some(("agent_bob", "PA_B2")),
            now(),
        ))
        .await;
    b.assert_ok();
    assert_eq!(b.body["result"], "applied");
    let done = app.transfer(&t).await;
    assert_eq!(
        (done["state"].as_str(), done["handoff_confirmed"].as_bool()),
        (Some("completed"), Some(true))
    );
    let rows: (String, String) =
        sqlx::query_as("SELECT result, detail FROM webhook_deliveries WHERE event_id = 'EV_3'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(rows.0, "applied");
    assert!(rows.1.contains("completed"), "{}", rows.1);
}

#[tokio::test]
async fn the_caller_leaving_during_a_transfer_abandons_it_unless_they_are_back() {
    let app = TestApp::spawn().await;
    let (room, t) = transfer_with_caller_present(&app).await;

    // A reconnect: the new session is reported before the old one's leave.
    app.webhook_ok(&lk_event(
        "EV_2",
        "participant_joined",
        &room,
        Some(("Jane", "PA_2")),
        now(),
    ))
    .await;
    let stale = app
        .webhook(&lk_event(
            "EV_3",
            "participant_left",
            &room,
            Some(("Jane", "PA_1")),
            now(),
        ))
        .await;
    stale.assert_ok();
    assert_eq!(stale.body["result"], "recorded");
    assert_eq!(app.transfer(&t).await["state"], "initiated");

    let gone = app
        .webhook(&lk_event(
            "EV_4",
            "participant_left",
            &room,
            Some(("Jane", "PA_2")),
            now() + 1,
        ))
        .await;
    gone.assert_ok();
    assert_eq!(gone.body["result"], "applied");
    let abandoned = app.transfer(&t).await;
    assert_eq!(
        (abandoned["state"].as_str(), abandoned["outcome"].as_str()),
        (Some("abandoned"), Some("caller_left"))
    );
}

#[tokio::test]
async fn the_call_rooms_finish_ends_the_call_but_a_briefing_rooms_does_not() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    let closed = app
        .webhook(&lk_event("EV_1", "room_finished", &briefing, None, now()))
        .await;
    closed.assert_ok();
    assert_eq!(closed.body["result"], "recorded");
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{}", id(&call))).await["status"],
        "transferring"
    );

    let finished = app
        .webhook(&lk_event(
            "EV_2",
            "room_finished",
            call["room_name"].as_str().unwrap(),
            None,
            now(),
        ))
        .await;
    finished.assert_ok();
    assert_eq!(finished.body["result"], "applied");
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{}", id(&call))).await["status"],
        "ended"
    );
    assert_eq!(
        app.transfer(&id(&created["transfer"])).await["outcome"],
        "call_ended"
    );
}

#[tokio::test]
async fn participant_history_is_the_same_whatever_order_the_events_arrive_in() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    let t0 = now() - 1000;
    // One recorded call: caller and agent join, the caller drops and rejoins, the room finishes
    // before the last `left` is sent.
    let recorded = [
        ("room_started", None, 0),
        ("participant_joined", Some(("Jane", "PA_1")), 1),
        ("participant_joined", Some(("agent_alice", "PA_2")), 2),
        ("participant_left", Some(("Jane", "PA_1")), 30),
        ("participant_joined", Some(("Jane", "PA_3")), 35),
        ("participant_left", Some(("agent_alice", "PA_2")), 50),
        ("room_finished", None, 60),
        ("participant_left", Some(("Jane", "PA_3")), 59),
    ];
    let mut expected: Option<(Value, Value)> = None;
    let mut rng = rand::rngs::StdRng::seed_from_u64(7);
    for round in 0..12 {
        // Each round is the same story in a call of its own, delivered in another order.
        let room_name = if round == 0 {
            room.clone()
        } else {
            app.create_call("Jane").await["room_name"]
                .as_str()
                .unwrap()
                .to_owned()
        };
        let mut events: Vec<Value> = recorded
            .iter()
            .enumerate()
            .map(|(i, (kind, who, offset))| {
                lk_event(
                    &format!("EV_{round}_{i}"),
                    kind,
                    &room_name,
                    *who,
                    t0 + offset,
                )
            })
            .collect();
        events.shuffle(&mut rng);
        for event in &events {
            assert_eq!(app.webhook(event).await.status, StatusCode::OK);
        }
        let history = app
            .get(&format!(
                "/v1/rooms/{room_name}/participants?include=history"
            ))
            .await;
        history.assert_ok();
        let present = app
            .get(&format!("/v1/rooms/{room_name}/participants"))
            .await;
        present.assert_ok();
        let summary = |body: &Value| -> Value {
            Value::Array(
                body["participants"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|p| {
                        json!([
                            p["identity"],
                            p["sid"],
                            p["state"],
                            p["joined_at"],
                            p["left_at"]
                        ])
                    })
                    .collect(),
            )
        };
        let result = (summary(&history.body), summary(&present.body));
        match &expected {
            None => expected = Some(result),
            Some(first) => assert_eq!(&result, first, "round {round} differs"),
        }
    }
    let (history, present) = expected.unwrap();
    assert_eq!(history.as_array().unwrap().len(), 3);
    assert_eq!(present, json!([]), "the room finished: nobody is in it");
}

#[tokio::test]
async fn concurrent_deliveries_for_one_room_do_not_deadlock() {
    let app = TestApp::spawn_with(&[("DATABASE_MAX_CONNECTIONS", "8")]).await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    let deliveries = (0..40).map(|n| {
        let event = lk_event(
            &format!("EV_{n}"),
            "participant_joined",
            &room,
            Some(("agent", &format!("PA_{n}"))),
            now(),
        );
        let app = &app;
        async move { app.webhook(&event).await.status }
    });
    let statuses = futures_util::future::join_all(deliveries).await;
    assert!(
        statuses.iter().all(|s| *s == StatusCode::OK),
        "{statuses:?}"
    );
    assert_eq!(count(&app.pool, "participants").await, 40);
}

#[tokio::test]
async fn a_signed_event_with_a_nul_in_any_text_is_422_and_stores_nothing() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap();
    let joined = |id: &str, event: &str, room: &str, identity: &str| {
        lk_event(id, event, room, Some((identity, "PA_1")), now())
    };
    for (event, field) in [
        (joined("EV_\u{0}", "participant_joined", room, "Jane"), "id"),
        (
            joined("EV_1", "participant_\u{0}joined", room, "Jane"),
            "event",
        ),
        (
            joined("EV_2", "participant_joined", room, "Ja\u{0}ne"),
            "participant.identity",
        ),
        (
            joined("EV_3", "participant_joined", "call_\u{0}", "Jane"),
            "room.name",
        ),
    ] {
        let reply = app.webhook(&event).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 0);
}

#[tokio::test]
async fn a_signed_body_without_an_event_type_is_400_not_ignored() {
    let app = TestApp::spawn().await;
    let reply = app
        .webhook(&json!({"id": "EV_1", "createdAt": now().to_string()}))
        .await;
    reply.problem(StatusCode::BAD_REQUEST);
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 0);
}

#[tokio::test]
async fn the_caller_leaving_while_being_handed_over_abandons_the_transfer() {
    let app = TestApp::spawn().await;
    let (call, t) = app.transfer_in_briefing("Jane").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    app.livekit.join(&room, "Jane");
    caller_joined_a_minute_ago(&app, &room).await;
    let complete = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    complete.assert_ok();
    assert_eq!(
        complete.body["transfer"]["state"], "connecting",
        "{}",
        complete.body
    );

    app.livekit.leave(&room, "Jane");
    let gone = app
        .webhook(&lk_event(
            "EV_2",
            "participant_left",
            &room,
            Some(("Jane", "PA_1")),
            now(),
        ))
        .await;
    gone.assert_ok();
    assert_eq!(gone.body["result"], "applied", "{}", gone.body);
    let abandoned = app.transfer(&t).await;
    assert_eq!(
        (abandoned["state"].as_str(), abandoned["outcome"].as_str()),
        (Some("abandoned"), Some("caller_left"))
    );
    assert!(abandoned["abandoned_at"].is_string() && abandoned["completed_at"].is_null());
    let call = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(
        (call["status"].as_str(), call["current_agent"].as_str()),
        (Some("active"), Some("agent_alice")),
        "the call stays with Agent A"
    );
}

#[tokio::test]
async fn a_lost_connection_counts_as_leaving() {
    let app = TestApp::spawn().await;
    let (room, t) = transfer_with_caller_present(&app).await;
    let aborted = app
        .webhook(&lk_event(
            "EV_2",
            "participant_connection_aborted",
            &room,
            Some(("Jane", "PA_1")),
            now(),
        ))
        .await;
    aborted.assert_ok();
    assert_eq!(aborted.body["result"], "applied", "{}", aborted.body);
    let abandoned = app.transfer(&t).await;
    assert_eq!(
        (abandoned["state"].as_str(), abandoned["outcome"].as_str()),
        (Some("abandoned"), Some("caller_left"))
    );
    let history = app
        .get(&format!("/v1/rooms/{room}/participants?include=history"))
        .await;
    history.assert_ok();
    let jane = &history.body["participants"][0];
    assert_eq!(
        (jane["identity"].as_str(), jane["state"].as_str()),
        (Some("Jane"), Some("left")),
        "{}",
        history.body
    );
    assert!(jane["left_at"].is_string());
}

#[tokio::test]
async fn events_without_a_room_are_stored_and_ignored() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    let without_room = |id: &str, event: &str, participant: Option<(&str, &str)>| {
        let mut body = lk_event(id, event, &room, participant, now());
        body.as_object_mut().unwrap().remove("room");
        body
    };
    for (event, participant, detail) in [
        (
            "participant_joined",
            Some(("Jane", "PA_1")),
            "no room or participant in the event",
        ),
        (
            "participant_left",
            Some(("Jane", "PA_1")),
            "no room or participant in the event",
        ),
        ("room_started", None, "no room in the event"),
        ("room_finished", None, "no room in the event"),
    ] {
        let reply = app
            .webhook(&without_room(&format!("EV_{event}"), event, participant))
            .await;
        assert_eq!(reply.status, StatusCode::OK, "{event}: {}", reply.body);
        assert_eq!(
            (reply.body["result"].as_str(), reply.body["detail"].as_str()),
            (Some("ignored"), Some(detail)),
            "{event}"
        );
    }
    assert_eq!(count(&app.pool, "webhook_deliveries").await, 4);
    assert_eq!(count(&app.pool, "participants").await, 0);
    let call = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(
        call["status"], "active",
        "a room_finished without a room ends nothing"
    );
}

/// LiveKit reported Jane joining her call's room a minute ago.
async fn caller_joined_a_minute_ago(app: &TestApp, room: &str) {
    let joined = app
        .webhook(&lk_event(
            "EV_1",
            "participant_joined",
            room,
            Some(("Jane", "PA_1")),
            now() - 60,
        ))
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
}

/// Jane's call, taken by Agent A and seen by LiveKit with Jane in it, with a transfer to
/// Agent B: its room and the transfer's id.
async fn transfer_with_caller_present(app: &TestApp) -> (String, String) {
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    caller_joined_a_minute_ago(app, &room).await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    (room, t)
}

fn sorted<const N: usize>(identities: [&str; N]) -> Vec<String> {
    let mut identities: Vec<String> = identities.iter().map(|i| i.to_string()).collect();
    identities.sort();
    identities
}

/// Members of a room as warmline tracked them from webhooks.
async fn tracked(app: &TestApp, room: &str) -> Vec<String> {
    let reply = app.get(&format!("/v1/rooms/{room}/participants")).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    let mut identities: Vec<String> = reply.body["participants"]
        .as_array()
        .expect("participants")
        .iter()
        .filter(|p| p["left_at"].is_null())
        .map(|p| p["identity"].as_str().expect("identity").to_owned())
        .collect();
    identities.sort();
    identities
}

#[tokio::test]
async fn a_whole_transfer_runs_on_what_livekit_tells_alone() {
    // No accept, no webhook sent by hand: people join and leave rooms, LiveKit says so, and
    // warmline's records follow. Only Agent A's two actions are API calls.
    let app = TestApp::spawn_with(&[("HANDOFF_TIMEOUT_SECS", "600")]).await;
    let deliveries = app.livekit_sends_webhooks();
    let lk = &app.livekit;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let caller_room = call["room_name"].as_str().unwrap().to_owned();
    let caller = call["caller_identity"].as_str().unwrap().to_owned();
    lk.join(&caller_room, &caller);
    lk.join(&caller_room, "agent_alice");
    crate::support::eventually("both are tracked in the caller's room", || async {
        tracked(&app, &caller_room).await == sorted([&caller, "agent_alice"])
    })
    .await;

    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::support::eventually("LiveKit made the briefing room", || async {
        lk.room_exists(&briefing)
    })
    .await;
    lk.join(&briefing, "agent_alice");
    lk.join(&briefing, "agent_bob");
    // Agent B arriving in the briefing room is the acceptance.
    app.wait_for_state(&t, "briefing").await;

    let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    assert_eq!(done.body["transfer"]["state"], "connecting");
    lk.leave(&briefing, "agent_bob");
    lk.join(&caller_room, "agent_bob");
    let completed = app.wait_for_state(&t, "completed").await;
    assert_eq!(completed["handoff_confirmed"], true);

    // LiveKit carries out the rest (Agent A removed, the briefing room closed) and says so.
    crate::support::eventually("Agent A is gone and the briefing room closed", || async {
        tracked(&app, &caller_room).await == sorted([&caller, "agent_bob"])
            && tracked(&app, &briefing).await.is_empty()
            && !lk.room_exists(&briefing)
    })
    .await;
    let call_now = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(call_now["current_agent"], "agent_bob");
    assert_eq!(call_now["status"], "active");
    let kinds = app.timeline_kinds(&id(&call)).await;
    for kind in [
        "transfer.initiated",
        "transfer.briefing",
        "transfer.connecting",
        "transfer.completed",
    ] {
        assert!(
            kinds.contains(&kind.to_owned()),
            "{kind} missing: {kinds:?}"
        );
    }
    let log = deliveries.lock().unwrap().clone();
    assert!(
        log.iter().all(|(_, status)| *status == 200),
        "every webhook was accepted: {log:?}"
    );
    for event in [
        "room_started",
        "participant_joined",
        "participant_left",
        "room_finished",
    ] {
        assert!(
            log.iter().any(|(e, _)| e == event),
            "{event} never sent: {log:?}"
        );
    }
}

#[tokio::test]
async fn a_caller_moved_by_livekit_completes_the_hand_off() {
    let app = TestApp::spawn_with(&[
        ("LIVEKIT_MOVE_PARTICIPANT", "true"),
        ("HANDOFF_TIMEOUT_SECS", "600"),
    ])
    .await;
    let deliveries = app.livekit_sends_webhooks();
    let lk = &app.livekit;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let caller_room = call["room_name"].as_str().unwrap().to_owned();
    let caller = call["caller_identity"].as_str().unwrap().to_owned();
    lk.join(&caller_room, &caller);
    lk.join(&caller_room, "agent_alice");
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"handoff": "move_caller"}),
        )
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    crate::support::eventually("LiveKit made the briefing room", || async {
        lk.room_exists(&briefing)
    })
    .await;
    lk.join(&briefing, "agent_bob");
    app.wait_for_state(&t, "briefing").await;
    let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    // warmline asks LiveKit to move the caller; LiveKit's webhooks confirm it.
    let completed = app.wait_for_state(&t, "completed").await;
    assert_eq!(completed["handoff_confirmed"], true);
    assert_eq!(completed["final_room"], briefing.as_str());
    crate::support::eventually("the caller is tracked in the briefing room", || async {
        tracked(&app, &briefing).await.contains(&caller)
            && !tracked(&app, &caller_room).await.contains(&caller)
    })
    .await;
    assert_eq!(lk.calls_of("MoveParticipant").len(), 1);
    assert!(deliveries.lock().unwrap().iter().all(|(_, s)| *s == 200));
}
