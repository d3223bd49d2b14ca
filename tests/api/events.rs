//! Live events over Server-Sent Events, on a real socket.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, id};

/// A connected SSE stream and what has been read of it.
pub(crate) struct EventStream {
    response: reqwest::Response,
    buffer: String,
}

impl EventStream {
    pub(crate) async fn open(app: &TestApp, query: &str, last_event_id: Option<&str>) -> Self {
        Self::open_with(app, query, last_event_id, None).await
    }

    /// A stream opened with an API key.
    pub(crate) async fn open_as(app: &TestApp, key: &str, query: &str) -> Self {
        Self::open_with(app, query, None, Some(key)).await
    }

    async fn open_with(
        app: &TestApp,
        query: &str,
        last_event_id: Option<&str>,
        key: Option<&str>,
    ) -> Self {
        let mut request = app.client.get(format!("{}/v1/events{query}", app.base));
        if let Some(key) = key {
            request = request.bearer_auth(key);
        }
        if let Some(last) = last_event_id {
            request = request.header("last-event-id", last);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["content-type"], "text/event-stream");
        Self {
            response,
            buffer: String::new(),
        }
    }

    /// The next message: (id, event name, data).
    pub(crate) async fn next(&mut self) -> (i64, String, Value) {
        let read = async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let message: String = self.buffer.drain(..end + 2).collect();
                    let field = |name: &str| {
                        message
                            .lines()
                            .find_map(|l| l.strip_prefix(name).map(|v| v.trim_start().to_owned()))
                    };
                    // Keep-alive comments carry no event.
                    if let (Some(id), Some(event), Some(data)) =
                        (field("id:"), field("event:"), field("data:"))
                    {
                        return (
                            id.parse().unwrap(),
                            event,
                            serde_json::from_str(&data).unwrap(),
                        );
                    }
                    continue;
                }
                let chunk = self
                    .response
                    .chunk()
                    .await
                    .unwrap()
                    .expect("the stream stays open");
                self.buffer.push_str(&String::from_utf8_lossy(&chunk));
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("an event within 10 s")
    }

    /// The next event's id, or a comment's text (keep-alives, notices); `None` once the
    /// server has ended the stream.
    async fn next_or_end(&mut self) -> Option<Result<i64, String>> {
        let read = async {
            loop {
                if let Some(end) = self.buffer.find("\n\n") {
                    let message: String = self.buffer.drain(..end + 2).collect();
                    let id = message.lines().find_map(|l| l.strip_prefix("id:"));
                    return Some(match id {
                        Some(id) => Ok(id.trim().parse().unwrap()),
                        None => Err(message.trim_start_matches(':').trim().to_owned()),
                    });
                }
                match self.response.chunk().await {
                    Ok(Some(chunk)) => self.buffer.push_str(&String::from_utf8_lossy(&chunk)),
                    _ => return None,
                }
            }
        };
        tokio::time::timeout(Duration::from_secs(10), read)
            .await
            .expect("a message or the end within 10 s")
    }

    /// Whether the server ends the stream within 10 s.
    async fn ends(mut self) -> bool {
        let drained = async { while let Ok(Some(_)) = self.response.chunk().await {} };
        tokio::time::timeout(Duration::from_secs(10), drained)
            .await
            .is_ok()
    }
}

#[tokio::test]
async fn a_stream_delivers_new_events_of_its_call_as_they_happen() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let other = app.create_call("John").await;
    let mut stream = EventStream::open(&app, &format!("?call_id={}", id(&call)), None).await;

    app.post_ok(
        &format!("/v1/calls/{}/transcript", id(&other)),
        json!({"segments": [{"segment_id": "1", "speaker": "John", "role": "caller", "text": "hi", "start_ms": 0}]}),
    )
    .await;
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let (event_id, kind, data) = stream.next().await;
    assert_eq!(
        kind, "call.ended",
        "only this call's events, and only new ones"
    );
    assert_eq!(data["call_id"], call["id"]);
    assert_eq!(data["id"], event_id);
}

#[tokio::test]
async fn a_reconnecting_client_gets_what_it_missed() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let t = id(&created["transfer"]);
    let mut stream = EventStream::open(&app, &format!("?transfer_id={t}&after=0"), None).await;
    let (first_id, kind, _) = stream.next().await;
    assert_eq!(kind, "transfer.initiated");

    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    let mut resumed = EventStream::open(
        &app,
        &format!("?transfer_id={t}&kind=transfer."),
        Some(&first_id.to_string()),
    )
    .await;
    let (_, kind, data) = resumed.next().await;
    assert_eq!(kind, "transfer.briefing");
    assert_eq!(data["data"]["from"], "initiated");
}

#[tokio::test]
async fn open_streams_end_when_the_service_stops() {
    let app = TestApp::spawn().await;
    let stream = EventStream::open(&app, "", None).await;
    let stopping = tokio::spawn(app.shut_down());
    assert!(
        stream.ends().await,
        "the stream is closed, so shutdown does not wait on it"
    );
    tokio::time::timeout(Duration::from_secs(10), stopping)
        .await
        .expect("shutdown finishes")
        .unwrap();
}

#[tokio::test]
async fn bad_stream_parameters_are_422() {
    let app = TestApp::spawn().await;
    // A NUL in `kind` used to answer 200 and then deliver nothing (the query failed).
    for query in [
        "?after=-1",
        "?call_id=nope",
        "?kind=",
        "?agent=",
        "?colour=red",
        "?kind=a%00b",
    ] {
        app.get(&format!("/v1/events{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    let reply = app
        .client
        .get(format!("{}/v1/events", app.base))
        .header("last-event-id", "abc")
        .send()
        .await
        .unwrap();
    assert_eq!(reply.status(), StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_idle_stream_wakes_on_a_notification_without_polling() {
    // Streams look for events once an hour: only the wake-up after the commit finds them in time.
    let app = TestApp::spawn_with(&[("EVENT_STREAM_POLL_MS", "3600000")]).await;
    app.wait_until_listening().await;
    let call = app.create_call("Jane").await;
    let mut stream = EventStream::open(&app, &format!("?call_id={}", id(&call)), None).await;
    app.post_ok(
        &format!("/v1/calls/{}/transcript", id(&call)),
        json!({"segments": [{"segment_id": "1", "speaker": "Jane", "role": "caller", "text": "hi", "start_ms": 0}]}),
    )
    .await;
    let (_, kind, _) = stream.next().await;
    assert_eq!(kind, "transcript.appended");
    // The stream has caught up and sleeps; the next event must wake it.
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let (_, kind, _) = stream.next().await;
    assert_eq!(kind, "call.ended");
}

/// Appends one transcript segment in a transaction of the test's own, left open: its
/// `transcript.appended` event has drawn its id but is not visible yet.
async fn uncommitted_segment(
    app: &TestApp,
    call: &Value,
    segment: &str,
) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms)
         VALUES ($1, $2, 'Jane', 'caller', 'hello', 0)",
    )
    .bind(uuid::Uuid::parse_str(&id(call)).unwrap())
    .bind(segment)
    .execute(&mut *tx)
    .await
    .unwrap();
    tx
}

/// The ids of a call's events, in order.
async fn event_ids(app: &TestApp, call: &Value) -> Vec<i64> {
    sqlx::query_scalar("SELECT id FROM events WHERE call_id = $1 ORDER BY id")
        .bind(uuid::Uuid::parse_str(&id(call)).unwrap())
        .fetch_all(&app.pool)
        .await
        .unwrap()
}

/// Writes `count` events of about 1 KB for `call` in one transaction.
async fn flood(app: &TestApp, call: &Value, count: i64) {
    sqlx::query(
        "INSERT INTO events (call_id, kind, data)
         SELECT $1, 'test.flood', jsonb_build_object('n', n, 'padding', repeat('x', 1000))
         FROM generate_series(1, $2) AS n",
    )
    .bind(uuid::Uuid::parse_str(&id(call)).unwrap())
    .bind(count)
    .execute(&app.pool)
    .await
    .unwrap();
}

#[tokio::test]
async fn an_event_committed_after_one_with_a_higher_id_still_reaches_the_stream() {
    let app = TestApp::spawn().await;
    app.wait_until_listening().await;
    // Two calls: appends to one call wait for each other (its words' row), as the API's do.
    let call = app.create_call("Jane").await;
    let other = app.create_call("John").await;
    let mut stream = EventStream::open(&app, "", None).await;

    let slow = uncommitted_segment(&app, &call, "1").await;
    let fast = uncommitted_segment(&app, &other, "2").await;
    fast.commit().await.unwrap();
    let (second, kind, _) = stream.next().await;
    assert_eq!(kind, "transcript.appended");
    slow.commit().await.unwrap();
    let (first, kind, _) = stream.next().await;
    assert_eq!(kind, "transcript.appended");
    assert!(
        first < second,
        "the late event has the lower id: {first} after {second}"
    );
    assert_eq!(event_ids(&app, &call).await[1..], [first]);
    assert_eq!(event_ids(&app, &other).await[1..], [second]);
}

#[tokio::test]
async fn a_resumed_stream_reads_what_it_missed_then_goes_live_without_gap_or_repeat() {
    let app = TestApp::spawn().await;
    app.wait_until_listening().await;
    let call = app.create_call("Jane").await;
    // More than one catch-up batch, then events written while the stream catches up.
    flood(&app, &call, 250).await;
    let mut stream =
        EventStream::open(&app, &format!("?call_id={}&after=0", id(&call)), None).await;
    let writer = {
        let pool = app.pool.clone();
        let call_id = uuid::Uuid::parse_str(&id(&call)).unwrap();
        tokio::spawn(async move {
            for n in 0..50 {
                sqlx::query("INSERT INTO events (call_id, kind) VALUES ($1, $2)")
                    .bind(call_id)
                    .bind(format!("test.live.{n}"))
                    .execute(&pool)
                    .await
                    .unwrap();
            }
        })
    };
    let mut received = Vec::new();
    while received.len() < 1 + 250 + 50 {
        received.push(stream.next().await.0);
    }
    writer.await.unwrap();
    assert_eq!(
        received,
        event_ids(&app, &call).await,
        "every event once, in order"
    );
    // And it stays live.
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let (_, kind, _) = stream.next().await;
    assert_eq!(kind, "call.ended");
}

#[tokio::test]
async fn a_client_too_slow_to_read_is_dropped_and_resumes_where_it_stopped() {
    let app = TestApp::spawn_with(&[("EVENT_STREAM_BUFFER", "64")]).await;
    app.wait_until_listening().await;
    let call = app.create_call("Jane").await;
    let filter = format!("?call_id={}", id(&call));
    let mut stream = EventStream::open(&app, &filter, None).await;
    let mut watcher = EventStream::open(&app, "?kind=test.marker", None).await;
    // Far more than the socket buffers hold while the client reads nothing.
    flood(&app, &call, 20_000).await;
    let all = event_ids(&app, &call).await;
    // Once the marker after the flood is out, the reader has published the whole flood,
    // and the client that read none of it has fallen behind for sure.
    sqlx::query("INSERT INTO events (call_id, kind, data) VALUES ($1, 'test.marker', '{}')")
        .bind(uuid::Uuid::parse_str(&id(&call)).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    // The watcher can fall behind the flood too: then it resumes, and reads the table.
    let after_flood = all.last().copied().unwrap_or_default().to_string();
    loop {
        match watcher.next_or_end().await {
            Some(Ok(_marker)) => break,
            Some(Err(_comment)) => {}
            None => {
                watcher = EventStream::open(&app, "?kind=test.marker", Some(&after_flood)).await;
            }
        }
    }

    // A client that reconnects with Last-Event-ID whenever it is dropped.
    let (mut got, mut drops, mut told) = (Vec::new(), 0, false);
    while got.len() < all.len() - 1 {
        match stream.next_or_end().await {
            Some(Ok(id)) => got.push(id),
            Some(Err(comment)) => told |= comment.contains("reconnect with Last-Event-ID"),
            None => {
                // Nothing else ends a stream here: the service dropped this slow client.
                drops += 1;
                assert!(drops <= 1000, "resuming makes progress");
                // Dropped before it read anything: it resumes from where it opened, after
                // call.created.
                let last = got.last().copied().unwrap_or(all[0]);
                stream = EventStream::open(&app, &filter, Some(&last.to_string())).await;
            }
        }
    }
    assert!(drops >= 1, "the client that read nothing was dropped");
    assert!(
        told,
        "a dropped client is told to reconnect with Last-Event-ID"
    );
    got.truncate(all.len() - 1);
    assert_eq!(
        got,
        all[1..],
        "everything after call.created, once, in order"
    );
}

#[tokio::test]
async fn idle_streams_cost_the_database_no_query_per_event() {
    const STREAMS: usize = 50;
    const WRITES: usize = 20;
    async fn commits_with(streams: usize) -> i64 {
        // No timers: only the writes and the streams make the database work.
        let app = TestApp::spawn_with(&[
            ("EVENT_STREAM_POLL_MS", "3600000"),
            ("JOB_POLL_INTERVAL_MS", "3600000"),
            ("JOB_CONCURRENCY", "1"),
        ])
        .await;
        app.wait_until_listening().await;
        let mut watcher = EventStream::open(&app, "?kind=call.created", None).await;
        let mut idle = Vec::new();
        for _ in 0..streams {
            let nobody = uuid::Uuid::new_v4();
            idle.push(EventStream::open(&app, &format!("?call_id={nobody}"), None).await);
        }
        for n in 0..WRITES {
            app.create_call(&format!("Caller {n}")).await;
        }
        for _ in 0..WRITES {
            watcher.next().await;
        }
        drop(idle);
        drop(watcher);
        app.stop_and_count_commits().await
    }
    let without = commits_with(0).await;
    let with = commits_with(STREAMS).await;
    // Opening a stream reads where the log ends: one query each. Anything per event would
    // be at least another STREAMS.
    assert!(
        with - without < 2 * STREAMS as i64,
        "{with} commits with {STREAMS} idle streams, {without} without"
    );
    eprintln!(
        "commits over {WRITES} writes: {without} with no stream, {with} with {STREAMS} idle streams"
    );
}

/// A call taken by `from`, transferred to `to`, set up with an admin key; returns (call, transfer).
async fn offer(app: &TestApp, admin: &str, caller: &str, from: &str, to: &str) -> (String, String) {
    use crate::support::Body;
    use reqwest::Method;
    let call = app
        .send_as(
            admin,
            Method::POST,
            "/v1/calls",
            Body::Json(json!({"caller_name": caller})),
        )
        .await;
    assert_eq!(call.status, StatusCode::CREATED, "{}", call.body);
    let call_id = id(&call.body);
    let joined = app
        .send_as(
            admin,
            Method::POST,
            &format!("/v1/calls/{call_id}/join"),
            Body::Json(json!({"identity": from, "role": "agent"})),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let created = app
        .send_as(
            admin,
            Method::POST,
            &format!("/v1/calls/{call_id}/transfers"),
            Body::Json(json!({"from_agent": from, "to_agent": to})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    (call_id, id(&created.body["transfer"]))
}

#[tokio::test]
async fn an_agent_key_is_told_of_its_own_offers_and_nothing_else() {
    let app = TestApp::spawn().await;
    for agent in ["agent_alice", "agent_bob", "agent_carol"] {
        app.register_agent(agent).await;
    }
    let admin = app.api_key("admin", None).await;
    let bob = app.api_key("agent", Some("agent_bob")).await;
    let mut bobs = EventStream::open_as(&app, &bob, "").await;
    let mut supervisors = EventStream::open_as(
        &app,
        &app.api_key("supervisor", None).await,
        "?agent=agent_bob&kind=transfer.",
    )
    .await;

    let (not_bobs_call, _) = offer(&app, &admin, "Jane", "agent_alice", "agent_carol").await;
    let (bobs_call, to_bob) = offer(&app, &admin, "Omar", "agent_alice", "agent_bob").await;

    // Bob's stream: the offer to him arrives, and nothing of a call he was never on.
    loop {
        let (_, kind, data) = bobs.next().await;
        assert_ne!(data["call_id"], not_bobs_call.as_str(), "{kind}: {data}");
        if kind == "transfer.initiated" {
            assert_eq!(data["transfer_id"], to_bob.as_str());
            assert_eq!(data["data"]["to_agent"], "agent_bob");
            break;
        }
    }
    // A supervisor may follow one agent the same way.
    let (_, kind, data) = supervisors.next().await;
    assert_eq!(kind, "transfer.initiated");
    assert_eq!(data["call_id"], bobs_call.as_str());

    // An agent key never follows another agent.
    let refused = app
        .client
        .get(format!("{}/v1/events?agent=agent_alice", app.base))
        .bearer_auth(&bob)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::FORBIDDEN);
    // A frontend key follows no agent: only a call it started (tests/api/console.rs).
    let frontend = app.api_key("frontend", None).await;
    let refused = app
        .client
        .get(format!("{}/v1/events", app.base))
        .bearer_auth(&frontend)
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNPROCESSABLE_ENTITY);
}
