//! Exports: one call's whole record as a document, and many calls as an NDJSON stream that a
//! warehouse loader resumes from its cursor.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Body, TestApp, eventually, id};

/// Every page of a list route, items in order.
async fn all_items(app: &TestApp, path: &str) -> Vec<Value> {
    let sep = if path.contains('?') { '&' } else { '?' };
    let mut items = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let url = match &cursor {
            Some(c) => format!("{path}{sep}limit=200&cursor={c}"),
            None => format!("{path}{sep}limit=200"),
        };
        let page = app.get_ok(&url).await;
        items.extend(page["items"].as_array().expect("items").iter().cloned());
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => return items,
        }
    }
}

/// Waits until no LiveKit or summary job of the app is still to run, so two reads agree.
async fn jobs_settle(app: &TestApp) {
    eventually("every job has run", || async {
        let open: i64 =
            sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status IN ('pending', 'running')")
                .fetch_one(&app.pool)
                .await
                .expect("count jobs");
        open == 0
    })
    .await;
}

/// The call's export once jobs have run and LiveKit's webhooks stopped changing it, so the
/// routes it is compared with read the same records.
async fn settled_export(app: &TestApp, call_id: &str) -> Value {
    jobs_settle(app).await;
    let path = format!("/v1/calls/{call_id}/export");
    let mut last = app.get_ok(&path).await;
    for _ in 0..50 {
        tokio::time::sleep(std::time::Duration::from_millis(300)).await;
        let now = app.get_ok(&path).await;
        if now == last {
            return now;
        }
        last = now;
    }
    panic!("the export kept changing: {last}");
}

/// An NDJSON export: its documents, and its closing line.
async fn ndjson(app: &TestApp, key: Option<&str>, query: &str) -> (Vec<Value>, Value) {
    let mut request = app
        .client
        .get(format!("{}/v1/calls/export{query}", app.base));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    let response = request.send().await.expect("request reaches the app");
    assert_eq!(response.status(), StatusCode::OK, "export{query}");
    assert_eq!(
        response.headers()["content-type"],
        "application/x-ndjson",
        "export{query}"
    );
    let text = response.text().await.expect("the whole body");
    assert!(text.ends_with('\n'), "every line ends with a newline");
    let spec = serde_json::to_value(warmline::openapi()).expect("document");
    let schema = json!({"$ref": "#/components/schemas/ExportLine"});
    let mut lines: Vec<Value> = text
        .lines()
        .map(|line| {
            let value: Value = serde_json::from_str(line).expect("each line is JSON");
            let errors = crate::matrix::schema_errors(&spec, &schema, &value, "line");
            assert!(errors.is_empty(), "{}", errors.join("\n"));
            value
        })
        .collect();
    let end = lines.pop().expect("a closing line");
    assert!(
        end.get("format_version").is_none(),
        "the last line closes: {end}"
    );
    assert_eq!(end["exported"], lines.len(), "{end}");
    assert!(lines.iter().all(|l| l["format_version"] == 1));
    (lines, end)
}

#[tokio::test]
async fn a_calls_export_holds_each_of_its_records_exactly() {
    let app = TestApp::spawn_with(&[("HANDOFF_TIMEOUT_SECS", "600")]).await;
    let _deliveries = app.livekit_sends_webhooks();
    let lk = &app.livekit;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let call_id = id(&call);
    let room = call["room_name"].as_str().unwrap().to_owned();
    let caller = call["caller_identity"].as_str().unwrap().to_owned();
    lk.join(&room, &caller);
    lk.join(&room, "agent_alice");

    // Sent out of spoken order: the export keeps the spoken one.
    let segments = json!({"segments": [
        {"segment_id": "s2", "speaker": "agent_alice", "role": "agent", "text": "Let me get billing.", "start_ms": 4000},
        {"segment_id": "s1", "speaker": caller, "role": "caller", "text": "I was charged twice.", "start_ms": 1000},
        {"segment_id": "s3", "speaker": caller, "role": "caller", "text": "Thank you.", "start_ms": 9000}
    ]});
    app.post_ok(&format!("/v1/calls/{call_id}/transcript"), segments)
        .await;

    // A completed transfer to Bob: he joins the briefing, then the caller's room.
    let first = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    let accepted = app
        .post(&format!("/v1/transfers/{first}/accept"), json!({}))
        .await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let briefing = accepted.body["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("the briefing room is created in LiveKit", || async {
        lk.room_exists(&briefing)
    })
    .await;
    lk.join(&briefing, "agent_alice");
    lk.join(&briefing, "agent_bob");
    app.post_ok(&format!("/v1/transfers/{first}/complete"), json!({}))
        .await;
    lk.join(&room, "agent_bob");
    app.wait_for_state(&first, "completed").await;

    // A declined one from Bob to Carol.
    let second = id(&app
        .start_transfer(&call, "agent_bob", "agent_carol", json!({}))
        .await["transfer"]);
    app.post_ok(
        &format!("/v1/transfers/{second}/decline"),
        json!({"reason": "busy"}),
    )
    .await;
    app.post_ok(&format!("/v1/calls/{call_id}/summaries"), json!({}))
        .await;

    // A review of the completed transfer, and its revision.
    let card = app
        .post(
            "/v1/scorecards",
            json!({"name": "warm-transfer", "criteria": [
                {"key": "briefing", "label": "Briefed Agent B", "weight": 1, "scale": {"min": 1, "max": 5}}
            ]}),
        )
        .await;
    assert_eq!(card.status, StatusCode::CREATED, "{}", card.body);
    let review = |scores: Value, supersedes: Option<String>| json!({"scorecard": "warm-transfer", "scores": scores, "reviewer": "dana", "supersedes": supersedes});
    let reviews_path = format!("/v1/transfers/{first}/reviews");
    let reviewed = app
        .post(&reviews_path, review(json!({"briefing": 3}), None))
        .await;
    assert_eq!(reviewed.status, StatusCode::CREATED, "{}", reviewed.body);
    let revised = app
        .post(
            &reviews_path,
            review(json!({"briefing": 4}), Some(id(&reviewed.body))),
        )
        .await;
    assert_eq!(revised.status, StatusCode::CREATED, "{}", revised.body);

    eventually("LiveKit's webhooks are recorded", || async {
        let who = app
            .get_ok(&format!("/v1/rooms/{room}/participants?include=history"))
            .await;
        who["participants"].as_array().map_or(0, Vec::len) >= 3
    })
    .await;
    let export = settled_export(&app, &call_id).await;
    assert_eq!(export["format_version"], 1);
    assert_eq!(
        export["call"],
        app.get_ok(&format!("/v1/calls/{call_id}")).await
    );

    let transcript = all_items(&app, &format!("/v1/calls/{call_id}/transcript")).await;
    assert_eq!(export["transcript"], json!(transcript));
    let spoken: Vec<&str> = export["transcript"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["segment_id"].as_str().unwrap())
        .collect();
    assert_eq!(spoken, ["s1", "s2", "s3"]);

    let transfers = export["transfers"].as_array().expect("transfers");
    assert_eq!(transfers.len(), 2);
    for (exported, (t, state)) in transfers
        .iter()
        .zip([(&first, "completed"), (&second, "declined")])
    {
        assert_eq!(exported["transfer"]["state"], state);
        let replay = app.get_ok(&format!("/v1/transfers/{t}/replay")).await;
        assert_eq!(exported, &replay, "transfer {t} is exported as its replay");
    }
    assert!(
        !transfers[0]["jobs"].as_array().unwrap().is_empty()
            && transfers[0]["briefing_summary_id"].is_string(),
        "the replay is whole: {}",
        transfers[0]
    );

    let mut summaries = all_items(&app, &format!("/v1/calls/{call_id}/summaries")).await;
    summaries.reverse();
    assert!(
        summaries.len() >= 3,
        "one per transfer and the one asked for"
    );
    assert_eq!(export["summaries"], json!(summaries));

    let rooms: Vec<&str> = export["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["room"].as_str().unwrap())
        .collect();
    assert_eq!(rooms[..2], [room.as_str(), briefing.as_str()]);
    assert_eq!(rooms.len(), 3, "the call's room and both briefing rooms");
    let in_room = app
        .get_ok(&format!("/v1/rooms/{room}/participants?include=history"))
        .await;
    let mut identities: Vec<&str> = export["participants"][0]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    identities.sort();
    let mut expected = vec![caller.as_str(), "agent_alice", "agent_bob"];
    expected.sort();
    assert_eq!(identities, expected, "{in_room}");
    let in_briefing: Vec<&str> = export["participants"][1]["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].as_str().unwrap())
        .collect();
    assert_eq!(
        in_briefing.len(),
        2,
        "alice and bob briefed: {in_briefing:?}"
    );

    let reviews = export["reviews"].as_array().expect("reviews");
    assert_eq!(reviews.len(), 2, "current and superseded");
    assert_eq!(
        reviews[0],
        app.get_ok(&format!("/v1/reviews/{}", id(&reviewed.body)))
            .await
    );
    assert_eq!(reviews[0]["superseded_by"], revised.body["id"]);
    assert_eq!(reviews[1], revised.body);

    let timeline = all_items(&app, &format!("/v1/calls/{call_id}/timeline")).await;
    assert_eq!(export["events"], json!(timeline));
    let kinds: Vec<&str> = timeline.iter().filter_map(|e| e["kind"].as_str()).collect();
    for kind in [
        "call.created",
        "transfer.completed",
        "transfer.declined",
        "review.created",
    ] {
        assert!(kinds.contains(&kind), "{kind} in {kinds:?}");
    }
}

#[tokio::test]
async fn an_unknown_call_is_404_and_a_key_that_may_not_read_it_is_403() {
    let app = TestApp::spawn().await;
    app.register_agent("agent_alice").await;
    let supervisor = app.api_key("supervisor", None).await;
    let agent = app.api_key("agent", Some("agent_alice")).await;
    let frontend = app.api_key("frontend", None).await;
    let created = app
        .send_as(
            &frontend,
            Method::POST,
            "/v1/calls",
            json!({"caller_name": "Jane"}).into(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let path = format!("/v1/calls/{}/export", id(&created.body));

    let unknown = app
        .send_as(
            &supervisor,
            Method::GET,
            &format!("/v1/calls/{}/export", uuid::Uuid::now_v7()),
            Body::None,
        )
        .await;
    unknown.problem(StatusCode::NOT_FOUND);
    let not_a_uuid = app
        .send_as(
            &supervisor,
            Method::GET,
            "/v1/calls/nope/export",
            Body::None,
        )
        .await;
    not_a_uuid.problem(StatusCode::UNPROCESSABLE_ENTITY);
    // The call's own agent and the frontend that started it read the call, not its replays
    // and reviews.
    for key in [&agent, &frontend] {
        app.send_as(key, Method::GET, &path, Body::None)
            .await
            .problem(StatusCode::FORBIDDEN);
        let stream = app
            .send_as(key, Method::GET, "/v1/calls/export", Body::None)
            .await;
        stream.problem(StatusCode::FORBIDDEN);
    }
    let read = app
        .send_as(&supervisor, Method::GET, &path, Body::None)
        .await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.body);
    assert_eq!(read.body["call"]["id"], created.body["id"]);
    let (docs, _) = ndjson(&app, Some(&supervisor), "").await;
    assert_eq!(docs, vec![read.body]);
}

#[tokio::test]
async fn an_ndjson_export_streams_every_call_filters_and_resumes_from_its_cursor() {
    let app = TestApp::spawn().await;
    let mut calls = Vec::new();
    for n in 0..7 {
        let call = app
            .call_with_agent(&format!("Caller {}", n % 2), "agent_alice")
            .await;
        let segment = json!({"segments": [
            {"segment_id": format!("s{n}"), "speaker": "agent_alice", "role": "agent", "text": format!("Call number {n}"), "start_ms": 0}
        ]});
        app.post_ok(&format!("/v1/calls/{}/transcript", id(&call)), segment)
            .await;
        calls.push(id(&call));
    }
    for ended in &calls[..2] {
        app.post_empty_ok(&format!("/v1/calls/{ended}/end")).await;
    }
    app.ended_transfer("Caller 0", "agent_alice", "agent_bob")
        .await;
    jobs_settle(&app).await;
    let listed: Vec<String> = all_items(&app, "/v1/calls").await.iter().map(id).collect();
    assert_eq!(listed.len(), 8);

    // Three at a time, each resuming from the last line's cursor.
    let mut exported = Vec::new();
    let mut query = "?limit=3".to_owned();
    let mut responses = 0;
    loop {
        let (docs, end) = ndjson(&app, None, &query).await;
        responses += 1;
        assert!(docs.len() <= 3);
        for doc in docs {
            let call_id = doc["call"]["id"].as_str().unwrap().to_owned();
            let single = app.get_ok(&format!("/v1/calls/{call_id}/export")).await;
            assert_eq!(doc, single, "the line is the call's own export");
            exported.push(call_id);
        }
        match end["next_cursor"].as_str() {
            Some(cursor) => query = format!("?limit=3&cursor={cursor}"),
            None => break,
        }
    }
    assert_eq!(responses, 3);
    assert_eq!(exported, listed, "every call once, newest first, as listed");

    // All in one response, and with the list's filters.
    let (docs, end) = ndjson(&app, None, "").await;
    assert_eq!(docs.len(), 8);
    assert_eq!(end["next_cursor"], Value::Null);
    let (ended, _) = ndjson(&app, None, "?status=ended").await;
    let mut ended: Vec<&str> = ended
        .iter()
        .map(|d| d["call"]["id"].as_str().unwrap())
        .collect();
    ended.sort();
    let mut expected: Vec<&str> = calls[..2].iter().map(String::as_str).collect();
    expected.sort();
    assert_eq!(ended, expected);
    let (of_caller, _) = ndjson(&app, None, "?caller=caller%201").await;
    assert_eq!(of_caller.len(), 3);
    assert!(
        of_caller
            .iter()
            .all(|d| d["call"]["caller_name"] == "Caller 1")
    );
    let (found, _) = ndjson(&app, None, "?q=number%205").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["call"]["id"], calls[5].as_str());
    let (with_transfer, _) = ndjson(&app, None, "?limit=1").await;
    assert_eq!(
        with_transfer[0]["transfers"][0]["transfer"]["state"],
        "cancelled"
    );

    for bad in [
        "?limit=0",
        "?limit=10001",
        "?cursor=nope",
        "?status=dancing",
        "?colour=red",
    ] {
        app.get(&format!("/v1/calls/export{bad}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn an_export_larger_than_a_batch_is_whole_and_ends_where_its_limit_says() {
    let app = TestApp::spawn().await;
    for n in 0..105 {
        app.create_call(&format!("Caller {n}")).await;
    }
    let listed: Vec<String> = all_items(&app, "/v1/calls").await.iter().map(id).collect();
    let ids = |docs: &[Value]| -> Vec<String> {
        docs.iter()
            .map(|d| d["call"]["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let (docs, end) = ndjson(&app, None, "?limit=10000").await;
    assert_eq!(ids(&docs), listed, "batches join without a gap or a repeat");
    assert_eq!(end["next_cursor"], Value::Null);
    let (first, end) = ndjson(&app, None, "?limit=101").await;
    assert_eq!(ids(&first), listed[..101]);
    let cursor = end["next_cursor"].as_str().expect("more to come");
    let (rest, end) = ndjson(&app, None, &format!("?cursor={cursor}")).await;
    assert_eq!(ids(&rest), listed[101..]);
    assert_eq!(end, json!({"exported": 4, "next_cursor": null}));
}
