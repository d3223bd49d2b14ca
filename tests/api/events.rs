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
        let mut request = app.client.get(format!("{}/v1/events{query}", app.base));
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

    app.post(
        &format!("/v1/calls/{}/transcript", id(&other)),
        json!({"segments": [{"segment_id": "1", "speaker": "John", "role": "caller", "text": "hi", "start_ms": 0}]}),
    )
    .await;
    app.post_empty(&format!("/v1/calls/{}/end", id(&call)))
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

    app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
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
    // Streams look for events once an hour: only the database's NOTIFY wakes them in time.
    let app = TestApp::spawn_with(&[("EVENT_STREAM_POLL_MS", "3600000")]).await;
    app.wait_until_listening().await;
    let call = app.create_call("Jane").await;
    let mut stream = EventStream::open(&app, &format!("?call_id={}", id(&call)), None).await;
    app.post(
        &format!("/v1/calls/{}/transcript", id(&call)),
        json!({"segments": [{"segment_id": "1", "speaker": "Jane", "role": "caller", "text": "hi", "start_ms": 0}]}),
    )
    .await;
    let (_, kind, _) = stream.next().await;
    assert_eq!(kind, "transcript.appended");
    // The stream has caught up and sleeps; the next event must wake it.
    app.post_empty(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let (_, kind, _) = stream.next().await;
    assert_eq!(kind, "call.ended");
}
