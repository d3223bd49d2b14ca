use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, count, eventually, id, verify_token};

#[tokio::test]
async fn a_warm_transfer_from_first_word_to_hand_off() {
    let app = TestApp::spawn().await;
    let lk = &app.livekit;

    // The caller calls and joins its room.
    let call = app.create_call("Jane Doe").await;
    let call_id = id(&call);
    let room = call["room_name"].as_str().unwrap().to_owned();
    let caller = app
        .post(
            &format!("/v1/calls/{call_id}/join"),
            json!({"identity": "Jane Doe", "role": "caller"}),
        )
        .await;
    assert_eq!(caller.status, StatusCode::OK, "{}", caller.body);
    assert_eq!(caller.body["room"], room.as_str());
    lk.join(&room, "Jane Doe");

    // Agent A takes the call.
    let a = app
        .post(
            &format!("/v1/calls/{call_id}/join"),
            json!({"identity": "agent_alice", "role": "agent"}),
        )
        .await;
    assert_eq!(a.status, StatusCode::OK);
    lk.join(&room, "agent_alice");
    let call = app.get_ok(&format!("/v1/calls/{call_id}")).await;
    assert_eq!(
        (call["status"].as_str(), call["current_agent"].as_str()),
        (Some("active"), Some("agent_alice"))
    );

    // Agent A starts a transfer to Agent B and joins the briefing room.
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"reason": "Billing specialist"}),
        )
        .await;
    let transfer_id = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(created["transfer"]["state"], "initiated");
    assert_eq!(created["token"]["room"], briefing.as_str());
    assert_eq!(created["token"]["identity"], "agent_alice");
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{call_id}")).await["status"],
        "transferring"
    );
    eventually("the briefing room is created in LiveKit", || async {
        lk.room_exists(&briefing)
    })
    .await;
    lk.join(&briefing, "agent_alice");

    // Agent B accepts and joins the briefing.
    let accepted = app
        .post(
            &format!("/v1/transfers/{transfer_id}/accept"),
            json!({"agent": "agent_bob"}),
        )
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    assert_eq!(accepted.body["transfer"]["state"], "briefing");
    assert_eq!(accepted.body["token"]["identity"], "agent_bob");
    assert_eq!(accepted.body["token"]["room"], briefing.as_str());
    lk.join(&briefing, "agent_bob");

    // Agent A hands over: Agent B gets a token for the caller's room.
    let completing = app
        .post(
            &format!("/v1/transfers/{transfer_id}/complete"),
            json!({"agent": "agent_alice"}),
        )
        .await;
    assert_eq!(completing.status, StatusCode::OK, "{}", completing.body);
    assert_eq!(completing.body["transfer"]["state"], "connecting");
    let b_token = &completing.body["token"];
    assert_eq!(
        (b_token["identity"].as_str(), b_token["room"].as_str()),
        (Some("agent_bob"), Some(room.as_str()))
    );
    assert_eq!(
        verify_token(b_token["token"].as_str().unwrap()).video.room,
        room
    );

    // Agent B shows up in the caller's room: the worker sees it and completes the transfer.
    lk.join(&room, "agent_bob");
    let done = app.wait_for_state(&transfer_id, "completed").await;
    assert_eq!(done["handoff_confirmed"], true);
    assert_eq!(done["final_room"], room.as_str());
    for stamp in [
        "initiated_at",
        "briefing_at",
        "connecting_at",
        "completed_at",
    ] {
        assert!(done[stamp].is_string(), "{stamp} is set");
    }

    // LiveKit is asked to take Agent A out of the caller's room and to close the briefing room.
    eventually(
        "Agent A is removed and the briefing room closed",
        || async { lk.members(&room) == ["Jane Doe", "agent_bob"] && !lk.room_exists(&briefing) },
    )
    .await;
    let removals = lk.calls_of("RemoveParticipant");
    assert_eq!(removals.len(), 1);
    assert_eq!(
        (removals[0].room.as_str(), removals[0].identity.as_deref()),
        (room.as_str(), Some("agent_alice"))
    );

    let call = app.get_ok(&format!("/v1/calls/{call_id}")).await;
    assert_eq!(
        (call["status"].as_str(), call["current_agent"].as_str()),
        (Some("active"), Some("agent_bob"))
    );
    let kinds = app.timeline_kinds(&call_id).await;
    let transfer_kinds: Vec<_> = kinds
        .iter()
        .filter(|k| k.starts_with("transfer."))
        .cloned()
        .collect();
    assert_eq!(
        transfer_kinds,
        [
            "transfer.initiated",
            "transfer.briefing",
            "transfer.connecting",
            "transfer.completed"
        ]
    );

    // Agent B can now transfer the call on (A -> B -> C).
    let call = app.get_ok(&format!("/v1/calls/{call_id}")).await;
    app.start_transfer(&call, "agent_bob", "agent_carol", json!({}))
        .await;
}

#[tokio::test]
async fn tokens_carry_only_the_grants_their_holder_needs() {
    let app = TestApp::spawn_with(&[("LIVEKIT_TOKEN_TTL_SECS", "600")]).await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let reply = app
        .post(
            &format!("/v1/calls/{}/join", id(&call)),
            json!({"identity": "Jane", "role": "caller"}),
        )
        .await;
    reply.assert_ok();
    let claims = verify_token(reply.body["token"].as_str().unwrap());
    assert_eq!(claims.sub, "Jane");
    assert_eq!(claims.name, "Jane");
    assert_eq!(claims.exp - claims.nbf, 600);
    let video = &claims.video;
    assert!(video.room_join);
    assert_eq!(video.room, call["room_name"].as_str().unwrap());
    assert!(!video.room_admin && !video.room_create && !video.room_list && !video.room_record);
    assert_eq!(
        (
            video.can_publish,
            video.can_subscribe,
            video.can_publish_data
        ),
        (Some(true), Some(true), Some(true))
    );
    assert_eq!(video.can_update_own_metadata, Some(false));
    assert!(video.destination_room.is_empty() && !video.hidden);
}

#[tokio::test]
async fn transfers_that_make_no_sense_are_refused_and_store_nothing() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let path = format!("/v1/calls/{}/transfers", id(&call));

    let to_self = app
        .post(
            &path,
            json!({"from_agent": "agent_alice", "to_agent": "agent_alice"}),
        )
        .await;
    assert_eq!(
        to_self.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "to_agent"
    );
    let not_the_agent = app
        .post(
            &path,
            json!({"from_agent": "agent_mallory", "to_agent": "agent_bob"}),
        )
        .await;
    not_the_agent.problem(StatusCode::CONFLICT);
    let bad_fields = app
        .post(
            &path,
            json!({"from_agent": " ", "to_agent": "b", "mode": "telepathy"}),
        )
        .await;
    bad_fields.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let bad_room = app
        .post(
            &path,
            json!({"from_agent": "agent_alice", "to_agent": "b", "briefing_room": "no spaces"}),
        )
        .await;
    assert_eq!(bad_room.error_fields(), ["briefing_room"]);
    let taken_room = app
        .post(&path, json!({"from_agent": "agent_alice", "to_agent": "b", "briefing_room": call["room_name"]}))
        .await;
    taken_room.problem(StatusCode::CONFLICT);
    app.post(
        "/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/transfers",
        json!({"from_agent": "a", "to_agent": "b"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.post(
        "/v1/calls/nope/transfers",
        json!({"from_agent": "a", "to_agent": "b"}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);

    let waiting = app.create_call("John").await;
    app.post(
        &format!("/v1/calls/{}/transfers", id(&waiting)),
        json!({"from_agent": "a", "to_agent": "b"}),
    )
    .await
    .problem(StatusCode::CONFLICT);
    assert_eq!(count(&app.pool, "transfers").await, 0);
    let transfer_jobs: i64 =
        sqlx::query_scalar("SELECT count(*) FROM jobs WHERE transfer_id IS NOT NULL")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(transfer_jobs, 0);

    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let ended = app
        .post(
            &path,
            json!({"from_agent": "agent_alice", "to_agent": "agent_bob"}),
        )
        .await;
    assert!(
        ended.problem(StatusCode::CONFLICT)["detail"]
            .as_str()
            .unwrap()
            .contains("ended")
    );
    assert_eq!(count(&app.pool, "transfers").await, 0);
}

#[tokio::test]
async fn a_call_has_at_most_one_transfer_under_way() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    app.start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let second = app
        .post(
            &format!("/v1/calls/{}/transfers", id(&call)),
            json!({"from_agent": "agent_alice", "to_agent": "agent_carol"}),
        )
        .await;
    assert_eq!(
        second.problem(StatusCode::CONFLICT)["current_state"],
        "initiated"
    );
    assert_eq!(count(&app.pool, "transfers").await, 1);
}

#[tokio::test]
async fn actions_out_of_order_or_by_the_wrong_agent_are_refused() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);

    let early = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(
        early.problem(StatusCode::CONFLICT)["current_state"],
        "initiated"
    );
    let wrong_accepter = app
        .post(
            &format!("/v1/transfers/{t}/accept"),
            json!({"agent": "agent_alice"}),
        )
        .await;
    wrong_accepter.problem(StatusCode::FORBIDDEN);
    let wrong_canceller = app
        .post(
            &format!("/v1/transfers/{t}/cancel"),
            json!({"agent": "agent_carol"}),
        )
        .await;
    wrong_canceller.problem(StatusCode::FORBIDDEN);
    let bad_reason = app
        .post(
            &format!("/v1/transfers/{t}/decline"),
            json!({"reason": "bored"}),
        )
        .await;
    bad_reason.problem(StatusCode::UNPROCESSABLE_ENTITY);
    let typo = app
        .post(
            &format!("/v1/transfers/{t}/accept"),
            json!({"agnt": "agent_bob"}),
        )
        .await;
    typo.problem(StatusCode::UNPROCESSABLE_ENTITY);

    assert_eq!(
        app.post_empty(&format!("/v1/transfers/{t}/accept"))
            .await
            .status,
        StatusCode::OK
    );
    let again = app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
    assert_eq!(
        again.problem(StatusCode::CONFLICT)["current_state"],
        "briefing"
    );
    let late_decline = app
        .post(
            &format!("/v1/transfers/{t}/decline"),
            json!({"reason": "busy"}),
        )
        .await;
    late_decline.problem(StatusCode::CONFLICT);

    assert_eq!(
        app.post_empty(&format!("/v1/transfers/{t}/complete"))
            .await
            .status,
        StatusCode::OK
    );
    let double = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(
        double.problem(StatusCode::CONFLICT)["current_state"],
        "connecting"
    );
    app.post_empty(&format!("/v1/transfers/{t}/cancel"))
        .await
        .problem(StatusCode::CONFLICT);
    assert_eq!(app.transfer(&t).await["state"], "connecting");

    let unknown = "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80";
    for action in ["accept", "complete", "cancel"] {
        app.post_empty(&format!("/v1/transfers/{unknown}/{action}"))
            .await
            .problem(StatusCode::NOT_FOUND);
        app.post_empty(&format!("/v1/transfers/x/{action}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    app.post(
        &format!("/v1/transfers/{unknown}/decline"),
        json!({"reason": "busy"}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.get(&format!("/v1/transfers/{unknown}"))
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn two_concurrent_completes_of_one_transfer_one_wins_one_conflicts() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let (_, t) = app.transfer_in_briefing(&format!("Caller {round}")).await;
        let path = format!("/v1/transfers/{t}/complete");
        let (first, second) = tokio::join!(app.post_empty(&path), app.post_empty(&path));
        let mut statuses = [first.status, second.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
        let connecting: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM events WHERE kind = 'transfer.connecting' AND transfer_id = $1",
        )
        .bind(uuid::Uuid::parse_str(&t).unwrap())
        .fetch_one(&app.pool)
        .await
        .unwrap();
        assert_eq!(connecting, 1, "the hand-off was recorded once");
    }
}

#[tokio::test]
async fn a_concurrent_complete_and_cancel_never_both_succeed() {
    let app = TestApp::spawn().await;
    for round in 0..5 {
        let (_, t) = app.transfer_in_briefing(&format!("Caller {round}")).await;
        let (complete_path, cancel_path) = (
            format!("/v1/transfers/{t}/complete"),
            format!("/v1/transfers/{t}/cancel"),
        );
        let (complete, cancel) =
            tokio::join!(app.post_empty(&complete_path), app.post_empty(&cancel_path));
        let mut statuses = [complete.status, cancel.status];
        statuses.sort();
        assert_eq!(
            statuses,
            [StatusCode::OK, StatusCode::CONFLICT],
            "round {round}"
        );
        let state = app.transfer(&t).await["state"].clone();
        let expected = if complete.status == StatusCode::OK {
            "connecting"
        } else {
            "cancelled"
        };
        assert_eq!(state, expected);
    }
}

#[tokio::test]
async fn a_transfer_nobody_accepts_expires_by_itself() {
    let app = TestApp::spawn_with(&[("TRANSFER_ACCEPT_TTL_SECS", "1")]).await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let expired = app.wait_for_state(&t, "expired").await;
    assert_eq!(expired["outcome"], "no_answer");
    assert!(expired["expired_at"].is_string());
    let call = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(
        (call["status"].as_str(), call["current_agent"].as_str()),
        (Some("active"), Some("agent_alice"))
    );
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the briefing room is closed", || async {
        app.livekit
            .calls_of("DeleteRoom")
            .iter()
            .any(|c| c.room == briefing)
    })
    .await;
    app.post_empty(&format!("/v1/transfers/{t}/accept"))
        .await
        .problem(StatusCode::CONFLICT);
}

#[tokio::test]
async fn deadlines_that_passed_unwatched_end_their_transfers() {
    // A transfer's timers are its own deadline columns: however one came to pass while nobody
    // looked (a restart, say), the sweep ends the transfer once it sees it.
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let offered = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let offered = id(&offered["transfer"]);
    let (_, handing_off) = app.transfer_in_briefing("Omar").await;
    app.post_empty_ok(&format!("/v1/transfers/{handing_off}/complete"))
        .await;
    assert_eq!(app.transfer(&offered).await["state"], "initiated");
    assert_eq!(app.transfer(&handing_off).await["state"], "connecting");
    sqlx::query(
        "UPDATE transfers SET accept_deadline = now() - interval '1 second',
                              handoff_deadline = now() - interval '1 second'
         WHERE id = ANY($1::uuid[])",
    )
    .bind([&offered, &handing_off].map(|t| t.parse::<uuid::Uuid>().unwrap()))
    .execute(&app.pool)
    .await
    .unwrap();
    let expired = app.wait_for_state(&offered, "expired").await;
    assert_eq!(expired["outcome"], "no_answer");
    let failed = app.wait_for_state(&handing_off, "failed").await;
    assert_eq!(failed["outcome"], "handoff_timeout");
}

#[tokio::test]
async fn an_accepted_transfer_does_not_expire() {
    // Time enough to accept however slow the machine: a transfer that expired before it was
    // accepted would fail this test for the wrong reason. (A short time to accept, never
    // accepted, is `a_transfer_nobody_accepts_expires_by_itself`.)
    let app = TestApp::spawn_with(&[("TRANSFER_ACCEPT_TTL_SECS", "5")]).await;
    let (_, t) = app.transfer_in_briefing("Jane").await;
    // Its deadline is a column the sweep reads, not a job: nothing is queued to cancel.
    let timers: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE transfer_id = $1::uuid
           AND kind IN ('expire_transfer', 'handoff_timeout', 'confirm_handoff')",
    )
    .bind(&t)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(timers, 0);
    // Well past its time to accept (a second beyond its deadline), it is still in its briefing.
    let deadline: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(app.transfer(&t).await["accept_deadline"].clone()).unwrap();
    let until_past_it = (deadline - chrono::Utc::now()).to_std().unwrap_or_default();
    tokio::time::sleep(until_past_it + std::time::Duration::from_secs(1)).await;
    assert_eq!(app.transfer(&t).await["state"], "briefing");
}

#[tokio::test]
async fn a_hand_off_never_seen_in_the_room_fails_after_the_timeout() {
    let app = TestApp::spawn_with(&[("HANDOFF_TIMEOUT_SECS", "1")]).await;
    let (call, t) = app.transfer_in_briefing("Jane").await;
    app.post_empty_ok(&format!("/v1/transfers/{t}/complete"))
        .await;
    let failed = app.wait_for_state(&t, "failed").await;
    assert_eq!(failed["outcome"], "handoff_timeout");
    let call = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(
        call["current_agent"], "agent_alice",
        "the caller stays with Agent A"
    );
    assert!(app.livekit.calls_of("RemoveParticipant").is_empty());
}

#[tokio::test]
async fn agent_b_arriving_unwatched_is_found_by_the_last_look_before_the_timeout() {
    // No regular checks here: only the timeout's last look can see Agent B. The timeout leaves
    // time for Agent B to arrive first however slow the machine.
    let app = TestApp::spawn_with(&[
        ("HANDOFF_TIMEOUT_SECS", "3"),
        ("HANDOFF_CHECK_INTERVAL_MS", "600000"),
    ])
    .await;
    let (call, t) = app.transfer_in_briefing("Jane").await;
    let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    // Agent B arrives, and no webhook says so (warmline was away, say).
    app.livekit
        .join(call["room_name"].as_str().unwrap(), "agent_bob");
    let completed = app.wait_for_state(&t, "completed").await;
    assert_eq!(completed["handoff_confirmed"], true);
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{}", id(&call))).await["current_agent"],
        "agent_bob"
    );
}

#[tokio::test]
async fn the_regular_check_finds_every_hand_off_with_one_look_per_room() {
    // The timeout is far away: only the regular check can complete these.
    let app = TestApp::spawn_with(&[("HANDOFF_TIMEOUT_SECS", "600")]).await;
    let mut waiting = Vec::new();
    for caller in ["Jane", "Omar", "Ines"] {
        let (call, t) = app.transfer_in_briefing(caller).await;
        let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
        assert_eq!(done.status, StatusCode::OK, "{}", done.body);
        waiting.push((call, t));
    }
    // Nobody has arrived: the check looks, and leaves them waiting.
    eventually("the check looked in every room", || async {
        let asked: std::collections::BTreeSet<String> = app
            .livekit
            .calls_of("ListParticipants")
            .into_iter()
            .map(|c| c.room)
            .collect();
        waiting
            .iter()
            .all(|(call, _)| asked.contains(call["room_name"].as_str().unwrap()))
    })
    .await;
    for (_, t) in &waiting {
        assert_eq!(app.transfer(t).await["state"], "connecting");
    }
    // Agent B arrives in two of the rooms, unannounced.
    for (call, _) in &waiting[..2] {
        app.livekit
            .join(call["room_name"].as_str().unwrap(), "agent_bob");
    }
    for (_, t) in &waiting[..2] {
        let completed = app.wait_for_state(t, "completed").await;
        assert_eq!(completed["handoff_confirmed"], true);
    }
    assert_eq!(app.transfer(&waiting[2].1).await["state"], "connecting");
    // No job work is left for a finished transfer.
    let pending: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE transfer_id = ANY($1::uuid[]) AND status = 'pending'",
    )
    .bind(
        waiting[..2]
            .iter()
            .map(|(_, t)| t.parse::<uuid::Uuid>().unwrap())
            .collect::<Vec<_>>(),
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(pending, 0);
}

#[tokio::test]
async fn a_hand_off_livekit_cannot_confirm_fails_saying_so_and_keeps_the_callers_room() {
    let app =
        TestApp::spawn_with(&[("HANDOFF_TIMEOUT_SECS", "1"), ("JOB_MAX_ATTEMPTS", "1000")]).await;
    let lk = &app.livekit;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"handoff": "move_caller"}),
        )
        .await;
    let t = created["transfer"]["id"].as_str().unwrap().to_owned();
    let accepted = app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    lk.set_down(true);
    let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    let failed = app.wait_for_state(&t, "failed").await;
    assert_eq!(failed["outcome"], "livekit_error");
    assert!(
        failed["outcome_detail"]
            .as_str()
            .is_some_and(|d| d.contains("could not be reached")),
        "{failed}"
    );
    // The caller may already be with Agent B in the briefing room: it is not closed.
    let briefing = created["transfer"]["briefing_room"].as_str().unwrap();
    let deletes: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'delete_room' AND payload->>'room' = $1",
    )
    .bind(briefing)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(deletes, 0);
}

#[tokio::test]
async fn with_agent_confirmation_complete_finishes_at_once_and_says_so() {
    let app = TestApp::spawn_with(&[("HANDOFF_CONFIRMATION", "agent")]).await;
    let (_, t) = app.transfer_in_briefing("Jane").await;
    let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    done.assert_ok();
    assert_eq!(done.body["transfer"]["state"], "completed");
    assert_eq!(done.body["transfer"]["handoff_confirmed"], false);
    assert_eq!(done.body["token"]["identity"], "agent_bob");
}

#[tokio::test]
async fn move_caller_hands_the_caller_a_token_for_the_briefing_room() {
    let app = TestApp::spawn().await;
    let lk = &app.livekit;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    lk.join(&room, "Jane");
    lk.join(&room, "agent_alice");
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"handoff": "move_caller", "briefing_room": "transfer_1732500000000"}),
        )
        .await;
    let t = id(&created["transfer"]);
    assert_eq!(
        created["transfer"]["briefing_room"],
        "transfer_1732500000000"
    );
    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    lk.join("transfer_1732500000000", "agent_alice");
    lk.join("transfer_1732500000000", "agent_bob");

    // Before the hand-off the caller may not enter the briefing room.
    let early = app
        .post(
            "/v1/tokens",
            json!({"transfer_id": t, "identity": "Jane", "role": "caller"}),
        )
        .await;
    early.problem(StatusCode::FORBIDDEN);

    let completing = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    completing.assert_ok();
    let token = &completing.body["token"];
    assert_eq!(
        (token["identity"].as_str(), token["room"].as_str()),
        (Some("Jane"), Some("transfer_1732500000000"))
    );
    // The caller can fetch the same token again while connecting.
    let again = app
        .post(
            "/v1/tokens",
            json!({"transfer_id": t, "identity": "Jane", "role": "caller"}),
        )
        .await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.body);

    lk.leave(&room, "Jane");
    lk.join("transfer_1732500000000", "Jane");
    let done = app.wait_for_state(&t, "completed").await;
    assert_eq!(done["final_room"], "transfer_1732500000000");
    eventually(
        "Agent A leaves the final room and the old room is closed",
        || async {
            lk.members("transfer_1732500000000") == ["agent_bob", "Jane"] && !lk.room_exists(&room)
        },
    )
    .await;
    assert!(
        lk.calls_of("MoveParticipant").is_empty(),
        "self-hosted LiveKit has no MoveParticipant"
    );

    // The caller's room is now the briefing room.
    let rejoin = app
        .post(
            &format!("/v1/calls/{}/join", id(&call)),
            json!({"identity": "Jane", "role": "caller"}),
        )
        .await;
    rejoin.assert_ok();
    assert_eq!(rejoin.body["room"], "transfer_1732500000000");
}

#[tokio::test]
async fn declining_and_cancelling_give_the_call_back_to_agent_a() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    let declined = app
        .post(
            &format!("/v1/transfers/{t}/decline"),
            json!({"agent": "agent_bob", "reason": "wrong_skill", "detail": "Try billing"}),
        )
        .await;
    assert_eq!(declined.status, StatusCode::OK, "{}", declined.body);
    assert_eq!(
        (
            declined.body["state"].as_str(),
            declined.body["outcome"].as_str()
        ),
        (Some("declined"), Some("wrong_skill"))
    );
    assert_eq!(declined.body["outcome_detail"], "Try billing");
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{}", id(&call))).await["status"],
        "active"
    );

    let t2 = id(&app
        .start_transfer(&call, "agent_alice", "agent_carol", json!({}))
        .await["transfer"]);
    app.post_empty_ok(&format!("/v1/transfers/{t2}/accept"))
        .await;
    let cancelled = app
        .post(
            &format!("/v1/transfers/{t2}/cancel"),
            json!({"agent": "agent_alice", "detail": "Caller solved it"}),
        )
        .await;
    cancelled.assert_ok();
    assert_eq!(
        (
            cancelled.body["state"].as_str(),
            cancelled.body["outcome"].as_str()
        ),
        (Some("cancelled"), Some("agent_cancelled"))
    );
    let call = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(
        (call["status"].as_str(), call["current_agent"].as_str()),
        (Some("active"), Some("agent_alice"))
    );
}

#[tokio::test]
async fn ending_the_call_abandons_its_transfer() {
    let app = TestApp::spawn().await;
    let (call, t) = app.transfer_in_briefing("Jane").await;
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let abandoned = app.transfer(&t).await;
    assert_eq!(
        (abandoned["state"].as_str(), abandoned["outcome"].as_str()),
        (Some("abandoned"), Some("call_ended"))
    );
    assert_eq!(
        app.get_ok(&format!("/v1/calls/{}", id(&call))).await["status"],
        "ended"
    );
}

#[tokio::test]
async fn transfers_list_newest_first_with_filters_and_pages() {
    let app = TestApp::spawn().await;
    let one = app.call_with_agent("One", "agent_alice").await;
    let two = app.call_with_agent("Two", "agent_alice").await;
    let t1 = id(&app
        .start_transfer(&one, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    let t2 = id(&app
        .start_transfer(&two, "agent_alice", "agent_carol", json!({}))
        .await["transfer"]);
    app.post_ok(
        &format!("/v1/transfers/{t1}/decline"),
        json!({"reason": "busy"}),
    )
    .await;

    let ids = |reply: &crate::support::Reply| -> Vec<String> {
        reply.assert_ok();
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect()
    };
    assert_eq!(
        ids(&app.get("/v1/transfers").await),
        [t2.as_str(), t1.as_str()]
    );
    assert_eq!(
        ids(&app.get("/v1/transfers?active=true").await),
        [t2.as_str()]
    );
    assert_eq!(
        ids(&app.get("/v1/transfers?active=false").await),
        [t1.as_str()]
    );
    assert_eq!(
        ids(&app.get("/v1/transfers?state=declined").await),
        [t1.as_str()]
    );
    assert_eq!(
        ids(&app.get("/v1/transfers?to_agent=agent_carol").await),
        [t2.as_str()]
    );
    assert_eq!(
        ids(&app.get("/v1/transfers?from_agent=agent_alice").await).len(),
        2
    );
    assert_eq!(
        ids(&app
            .get(&format!("/v1/transfers?call_id={}", id(&one)))
            .await),
        [t1.as_str()]
    );
    let first = app.get("/v1/transfers?limit=1").await;
    first.assert_ok();
    assert_eq!(ids(&first), [t2]);
    let next = app
        .get(&format!(
            "/v1/transfers?limit=1&cursor={}",
            first.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    next.assert_ok();
    assert_eq!(ids(&next), [t1]);

    app.get("/v1/transfers?state=declined&active=true")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/v1/transfers?state=limbo")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.get("/v1/transfers?call_id=12")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_action_with_an_empty_json_body_is_an_action_without_details() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    let response = app
        .client
        .post(format!("{}/v1/transfers/{t}/accept", app.base))
        .header("content-type", "application/json")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let form = app
        .client
        .post(format!("{}/v1/transfers/{t}/cancel", app.base))
        .header("content-type", "text/plain")
        .body("agent=agent_alice")
        .send()
        .await
        .unwrap();
    assert_eq!(form.status(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
}

#[tokio::test]
async fn qa_can_replay_a_transfer_from_the_records_alone() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let call_id = id(&call);
    let room = call["room_name"].as_str().unwrap().to_owned();
    // LiveKit stamps an event when it happens, however slow the steps between: now, and never
    // before the event it sent last.
    let mut last = 0;
    let mut stamp = || {
        last = chrono::Utc::now().timestamp().max(last + 1);
        last
    };
    app.webhook_ok(&crate::support::lk_event(
        "EV_1",
        "participant_joined",
        &room,
        Some(("Jane", "PA_J")),
        stamp(),
    ))
    .await;
    app.post_ok(
        &format!("/v1/calls/{call_id}/transcript"),
        json!({"segments": [{"segment_id": "before", "speaker": "Jane", "role": "caller", "text": "My order 4411 is broken", "start_ms": 0}]}),
    )
    .await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    app.webhook_ok(&crate::support::lk_event(
        "EV_2",
        "participant_joined",
        &briefing,
        Some(("agent_bob", "PA_B")),
        stamp(),
    ))
    .await;
    app.post_empty_ok(&format!("/v1/transfers/{t}/complete"))
        .await;
    app.post_ok(
        &format!("/v1/calls/{call_id}/transcript"),
        json!({"segments": [{"segment_id": "after", "speaker": "agent_bob", "role": "agent", "text": "Hi, Bob here", "start_ms": 9000}]}),
    )
    .await;
    app.webhook_ok(&crate::support::lk_event(
        "EV_3",
        "participant_joined",
        &room,
        Some(("agent_bob", "PA_B2")),
        stamp(),
    ))
    .await;
    eventually("Agent A's removal ran", || async {
        !app.livekit.calls_of("RemoveParticipant").is_empty()
    })
    .await;

    let replay = app.get(&format!("/v1/transfers/{t}/replay")).await;
    assert_eq!(replay.status, StatusCode::OK, "{}", replay.body);
    let r = &replay.body;
    let steps: Vec<_> = r["steps"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["state"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(steps, ["initiated", "briefing", "connecting", "completed"]);
    assert_eq!(r["steps"][0]["after_ms"], 0);
    for phase in ["to_accept_ms", "briefing_ms", "handoff_ms", "total_ms"] {
        assert!(
            r["durations"][phase].as_i64().is_some_and(|ms| ms >= 0),
            "{phase}"
        );
    }
    assert_eq!(r["call"]["id"], call["id"]);
    assert_eq!(r["summaries"].as_array().unwrap().len(), 1);
    assert_eq!(
        r["briefing_summary_id"], r["summaries"][0]["id"],
        "Agent B was briefed with it"
    );
    let said: Vec<_> = r["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segment_id"].clone())
        .collect();
    assert_eq!(
        said,
        [json!("before")],
        "the transcript stops at the hand-off"
    );
    let kinds: Vec<_> = r["events"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        kinds.contains(&"participant.joined".to_owned())
            && kinds.contains(&"transfer.completed".to_owned()),
        "{kinds:?}"
    );
    assert!(
        !kinds.contains(&"call.created".to_owned()),
        "only what concerns the transfer"
    );
    let rooms: Vec<_> = r["rooms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|x| x["room"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(rooms, [room.clone(), briefing.clone()]);
    assert_eq!(r["rooms"][1]["participants"][0]["identity"], "agent_bob");
    let jobs: Vec<_> = r["jobs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|j| j["kind"].as_str().unwrap().to_owned())
        .collect();
    assert!(
        jobs.contains(&"create_room".to_owned()) && jobs.contains(&"remove_participant".to_owned()),
        "{jobs:?}"
    );

    app.get("/v1/transfers/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/replay")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/transfers/nope/replay")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_action_body_is_an_object_or_nothing_never_an_array() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    // serde would read `[agent, detail]` by position, and cancel the transfer.
    let array = app
        .post(&format!("/v1/transfers/{t}/cancel"), json!([null, null]))
        .await;
    array.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(array.error_fields(), ["body"]);
    assert_eq!(app.transfer(&t).await["state"], "initiated");
    // The spec allows `null` for these optional bodies: it means no details.
    let null = app
        .post(&format!("/v1/transfers/{t}/cancel"), json!(null))
        .await;
    assert_eq!(null.status, StatusCode::OK, "{}", null.body);
    assert_eq!(null.body["state"], "cancelled");
}

#[tokio::test]
async fn a_nul_in_an_agent_filter_is_422_not_a_database_error() {
    let app = TestApp::spawn().await;
    for query in ["to_agent=a%00b", "from_agent=a%00b"] {
        let reply = app.get(&format!("/v1/transfers?{query}")).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [query.split('=').next().unwrap()]);
    }
}

#[tokio::test]
async fn agent_a_can_withdraw_a_transfer_agent_b_has_not_accepted_yet() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    let cancelled = app
        .post(
            &format!("/v1/transfers/{t}/cancel"),
            json!({"agent": "agent_alice", "detail": "Caller found the answer"}),
        )
        .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    let body = &cancelled.body;
    assert_eq!(
        (body["state"].as_str(), body["outcome"].as_str()),
        (Some("cancelled"), Some("agent_cancelled"))
    );
    assert!(body["cancelled_at"].is_string() && body["briefing_at"].is_null());
    let call = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
    assert_eq!(
        (call["status"].as_str(), call["current_agent"].as_str()),
        (Some("active"), Some("agent_alice"))
    );
    eventually("the briefing room is closed", || async {
        app.livekit
            .calls_of("DeleteRoom")
            .iter()
            .any(|c| c.room == briefing)
    })
    .await;
    let late_accept = app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
    assert_eq!(
        late_accept.problem(StatusCode::CONFLICT)["current_state"],
        "cancelled"
    );
}

#[tokio::test]
async fn only_agent_b_may_decline_and_only_agent_a_may_complete() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    for agent in ["agent_alice", "agent_carol"] {
        let decline = app
            .post(
                &format!("/v1/transfers/{t}/decline"),
                json!({"agent": agent, "reason": "busy"}),
            )
            .await;
        let detail = decline.problem(StatusCode::FORBIDDEN)["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains("only agent_bob may decline"), "{detail}");
    }
    assert_eq!(app.transfer(&t).await["state"], "initiated");

    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    for agent in ["agent_bob", "agent_carol"] {
        let complete = app
            .post(
                &format!("/v1/transfers/{t}/complete"),
                json!({"agent": agent}),
            )
            .await;
        let detail = complete.problem(StatusCode::FORBIDDEN)["detail"]
            .as_str()
            .unwrap()
            .to_owned();
        assert!(detail.contains("only agent_alice may complete"), "{detail}");
    }
    assert_eq!(app.transfer(&t).await["state"], "briefing");
    let complete = app
        .post(
            &format!("/v1/transfers/{t}/complete"),
            json!({"agent": "agent_alice"}),
        )
        .await;
    assert_eq!(complete.status, StatusCode::OK, "{}", complete.body);
}

#[tokio::test]
async fn a_room_name_a_concurrent_transfer_takes_first_is_409_not_500() {
    let app = TestApp::spawn().await;
    let first = app.call_with_agent("Jane", "agent_alice").await;
    let second = app.call_with_agent("John", "agent_carol").await;
    // Another transfer has taken the name and not committed yet: the request's own check
    // cannot see it, so the database's unique constraint is what refuses the request.
    let mut holder = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff, caller_room,
                                briefing_room, accept_deadline)
         VALUES ($1, $2::uuid, 'agent_carol', 'agent_alice', 'consult', 'agent_joins_caller', $3,
                 'briefing_shared', now() + interval '1 minute')",
    )
    .bind(uuid::Uuid::new_v4())
    .bind(id(&second))
    .bind(second["room_name"].as_str().unwrap())
    .execute(&mut *holder)
    .await
    .unwrap();
    let path = format!("/v1/calls/{}/transfers", id(&first));
    let request = app.post(
        &path,
        json!({"from_agent": "agent_alice", "to_agent": "agent_bob", "briefing_room": "briefing_shared"}),
    );
    let commit = async {
        app.wait_until_blocked_on_a_lock().await;
        holder.commit().await.unwrap();
    };
    let (reply, ()) = tokio::join!(request, commit);
    let problem = reply.problem(StatusCode::CONFLICT);
    assert_eq!(problem["detail"], "that room name is already in use");
    let call = app.get_ok(&format!("/v1/calls/{}", id(&first))).await;
    assert_eq!(
        call["status"], "active",
        "the refused transfer left nothing"
    );
}

#[tokio::test]
async fn a_request_chosen_as_a_deadlock_victim_is_a_503_to_retry() {
    let app = TestApp::spawn_with(&[("DATABASE_MAX_CONNECTIONS", "6")]).await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    // The test takes the transfer, then the call: the opposite order of every request.
    let mut holder = app.pool.begin().await.unwrap();
    // Only the request's connection looks for the deadlock (after the server's 1 s), so the
    // request is the one Postgres ends.
    sqlx::query("SET LOCAL deadlock_timeout = '1h'")
        .execute(&mut *holder)
        .await
        .unwrap();
    sqlx::query("SELECT 1 FROM transfers WHERE id = $1::uuid FOR UPDATE")
        .bind(&t)
        .execute(&mut *holder)
        .await
        .unwrap();
    let path = format!("/v1/transfers/{t}/accept");
    let accept = app.post_empty(&path);
    let close_the_cycle = async {
        app.wait_until_blocked_on_a_lock().await;
        sqlx::query("SELECT 1 FROM calls WHERE id = $1::uuid FOR UPDATE")
            .bind(id(&call))
            .execute(&mut *holder)
            .await
            .unwrap();
        holder.rollback().await.unwrap();
    };
    let (reply, ()) = tokio::join!(accept, close_the_cycle);
    reply.problem(StatusCode::SERVICE_UNAVAILABLE);
    assert!(reply.headers.contains_key("retry-after"));
    assert_eq!(app.transfer(&t).await["state"], "initiated");
    let retry = app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
    assert_eq!(retry.status, StatusCode::OK, "{}", retry.body);
}

#[tokio::test]
async fn absurdly_long_timers_in_the_settings_are_clamped_not_a_panic() {
    let huge = u64::MAX.to_string();
    let app = TestApp::spawn_with(&[
        ("TRANSFER_ACCEPT_TTL_SECS", &huge),
        ("HANDOFF_TIMEOUT_SECS", &huge),
        ("TRANSCRIPT_GRACE_SECS", &huge),
        ("CALL_UNANSWERED_TIMEOUT_SECS", &huge),
        ("LIVEKIT_TOKEN_TTL_SECS", &huge),
    ])
    .await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let deadline: chrono::DateTime<chrono::Utc> =
        serde_json::from_value(created["transfer"]["accept_deadline"].clone()).unwrap();
    let month = chrono::Duration::days(30);
    assert!(deadline > chrono::Utc::now() + month - chrono::Duration::hours(1));
    assert!(deadline <= chrono::Utc::now() + month);
    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    let complete = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(complete.status, StatusCode::OK, "{}", complete.body);
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let late = app
        .post(
            &format!("/v1/calls/{}/transcript", id(&call)),
            json!({"segments": [{"segment_id": "late", "speaker": "Jane", "role": "caller", "text": "bye", "start_ms": 0}]}),
        )
        .await;
    assert!(late.status.is_success(), "{}", late.body);
}

/// Three transfers with known times: t1 alice→bob declined (busy) after 1.5 s, t3 carol→dave
/// cancelled after 40.0005 s an hour later, t2 alice→carol still under way two hours later.
async fn transfers_with_known_times(app: &TestApp) -> (String, String, String) {
    let one = app.call_with_agent("One", "agent_alice").await;
    let two = app.call_with_agent("Two", "agent_alice").await;
    let three = app.call_with_agent("Three", "agent_carol").await;
    let t1 = id(&app
        .start_transfer(&one, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    let t2 = id(&app
        .start_transfer(&two, "agent_alice", "agent_carol", json!({}))
        .await["transfer"]);
    let t3 = id(&app
        .start_transfer(&three, "agent_carol", "agent_dave", json!({}))
        .await["transfer"]);
    app.post_ok(
        &format!("/v1/transfers/{t1}/decline"),
        json!({"reason": "busy"}),
    )
    .await;
    app.post_ok(&format!("/v1/transfers/{t3}/cancel"), json!({}))
        .await;
    // Times set without touching `state`, so the state machine's trigger leaves them be.
    for (transfer, sql) in [
        (
            &t1,
            "UPDATE transfers SET initiated_at = '2026-01-01T00:00:00Z',
                    declined_at = '2026-01-01T00:00:01.5Z' WHERE id = $1",
        ),
        (
            &t3,
            "UPDATE transfers SET initiated_at = '2026-01-01T01:00:00Z',
                    cancelled_at = '2026-01-01T01:00:40.0005Z' WHERE id = $1",
        ),
        (
            &t2,
            "UPDATE transfers SET initiated_at = '2026-01-01T02:00:00Z' WHERE id = $1",
        ),
    ] {
        sqlx::query(sql)
            .bind(transfer.parse::<uuid::Uuid>().unwrap())
            .execute(&app.pool)
            .await
            .unwrap();
    }
    (t1, t2, t3)
}

fn listed(reply: &crate::support::Reply) -> Vec<String> {
    reply.assert_ok();
    reply.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(id)
        .collect()
}

#[tokio::test]
async fn transfers_filter_by_agent_outcome_time_and_duration_alone_and_together() {
    let app = TestApp::spawn().await;
    let (t1, t2, t3) = transfers_with_known_times(&app).await;
    let cases: Vec<(&str, Vec<&String>)> = vec![
        ("", vec![&t2, &t3, &t1]),
        ("agent=agent_carol", vec![&t2, &t3]),
        ("agent=agent_bob", vec![&t1]),
        ("agent=agent_nobody", vec![]),
        ("outcome=busy", vec![&t1]),
        ("outcome=agent_cancelled", vec![&t3]),
        ("outcome=no_answer", vec![]),
        ("initiated_after=2026-01-01T00:30:00Z", vec![&t2, &t3]),
        ("initiated_after=2026-01-01T01:00:00Z", vec![&t2, &t3]),
        ("initiated_before=2026-01-01T01:00:00Z", vec![&t1]),
        (
            "initiated_after=2026-01-01T00:30:00Z&initiated_before=2026-01-01T01:30:00Z",
            vec![&t3],
        ),
        // Only ended transfers have a duration: t2 matches none.
        ("min_duration_ms=0", vec![&t3, &t1]),
        ("min_duration_ms=1500", vec![&t3, &t1]),
        ("min_duration_ms=1501", vec![&t3]),
        ("min_duration_ms=40001", vec![]),
        ("max_duration_ms=1500", vec![&t1]),
        ("max_duration_ms=1499", vec![]),
        // 40.0005 s is 40000 whole milliseconds.
        ("max_duration_ms=40000", vec![&t3, &t1]),
        ("max_duration_ms=39999", vec![&t1]),
        ("min_duration_ms=1000&max_duration_ms=2000", vec![&t1]),
        ("min_duration_ms=1500&max_duration_ms=1500", vec![&t1]),
        ("agent=agent_carol&min_duration_ms=0", vec![&t3]),
        ("agent=agent_carol&active=true", vec![&t2]),
        (
            "agent=agent_alice&outcome=busy&max_duration_ms=2000",
            vec![&t1],
        ),
        ("agent=agent_alice&outcome=agent_cancelled", vec![]),
        ("agent=agent_carol&from_agent=agent_alice", vec![&t2]),
        (
            "state=cancelled&initiated_after=2026-01-01T00:30:00Z&min_duration_ms=40000",
            vec![&t3],
        ),
        ("outcome=busy&initiated_after=2026-01-01T00:30:00Z", vec![]),
    ];
    for (query, want) in cases {
        let got = listed(&app.get(&format!("/v1/transfers?{query}")).await);
        assert_eq!(got.iter().collect::<Vec<_>>(), want, "{query}");
    }
    // Pages of a filtered list keep to the filter.
    let first = app.get("/v1/transfers?agent=agent_carol&limit=1").await;
    assert_eq!(listed(&first), [t2.as_str()]);
    let next = app
        .get(&format!(
            "/v1/transfers?agent=agent_carol&limit=1&cursor={}",
            first.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(listed(&next), [t3.as_str()]);
    assert!(next.body["next_cursor"].is_null());
}

#[tokio::test]
async fn bad_transfer_filters_are_422_naming_each_parameter() {
    let app = TestApp::spawn().await;
    let cases: [(&str, &[&str]); 11] = [
        (
            "initiated_after=2026-01-01T00:00:00Z&initiated_before=2026-01-01T00:00:00Z",
            &["initiated_before"],
        ),
        (
            "initiated_after=2026-01-02T00:00:00Z&initiated_before=2026-01-01T00:00:00Z",
            &["initiated_before"],
        ),
        ("initiated_after=yesterday", &["initiated_after"]),
        ("initiated_before=2026-13-01", &["initiated_before"]),
        ("min_duration_ms=-1", &["min_duration_ms"]),
        ("max_duration_ms=315360000001", &["max_duration_ms"]),
        ("min_duration_ms=5&max_duration_ms=4", &["max_duration_ms"]),
        ("min_duration_ms=soon", &["min_duration_ms"]),
        ("outcome=sideways", &["outcome"]),
        ("agent=a%00b", &["agent"]),
        (
            "agent=%20&min_duration_ms=-5&initiated_after=2026-01-02T00:00:00Z&initiated_before=2026-01-01T00:00:00Z",
            &["initiated_before", "min_duration_ms", "agent"],
        ),
    ];
    for (query, fields) in cases {
        let reply = app.get(&format!("/v1/transfers?{query}")).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        // Fields the query string itself could not parse are named by the extractor.
        let got = reply.error_fields();
        for field in fields {
            assert!(
                got.iter().any(|g| g == field) || reply.body.to_string().contains(field),
                "{query}: {}",
                reply.body
            );
        }
    }
}

#[tokio::test]
async fn hand_offs_seen_by_one_presence_check_are_confirmed_together() {
    // One check asks about every room awaited and confirms every arrival it saw in one
    // transaction: the three transfers end at the same moment (the transaction's).
    let app = TestApp::spawn().await;
    let mut rooms = Vec::new();
    for caller in ["Jane", "Omar", "Lena"] {
        let (_, t) = app.transfer_in_briefing(caller).await;
        let connecting = app
            .post_empty_ok(&format!("/v1/transfers/{t}/complete"))
            .await;
        let connecting = &connecting["transfer"];
        assert_eq!(connecting["state"], "connecting", "{connecting}");
        let room = connecting["caller_room"].as_str().unwrap().to_owned();
        rooms.push((t, room));
    }
    // No await between the joins: the next check sees all three arrivals or none.
    for (_, room) in &rooms {
        app.livekit.join(room, "agent_bob");
    }
    let mut ended = Vec::new();
    for (t, _) in &rooms {
        let done = app.wait_for_state(t, "completed").await;
        assert_eq!(done["handoff_confirmed"], true, "{done}");
        ended.push(done["completed_at"].clone());
    }
    assert!(ended.iter().all(|at| at == &ended[0]), "{ended:?}");
}
