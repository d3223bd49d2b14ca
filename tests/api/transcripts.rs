use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::{TestApp, count};

fn segment(id: &str, start_ms: i64, text: &str) -> Value {
    json!({"segment_id": id, "speaker": "Jane", "role": "caller", "text": text, "start_ms": start_ms})
}

#[tokio::test]
async fn segments_are_read_in_spoken_order_whatever_order_they_arrived_in() {
    let app = TestApp::spawn().await;
    let id = app.create_call("Jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/calls/{id}/transcript");
    let first = app
        .post(
            &path,
            json!({"segments": [segment("c", 3000, "third"), segment("a", 0, "first")]}),
        )
        .await;
    assert_eq!(first.status, StatusCode::OK, "{}", first.body);
    assert_eq!(first.body, json!({"accepted": 2, "duplicates": 0}));
    let second = app
        .post(&path, json!({"segments": [{"segment_id": "b", "speaker": "agent_a", "role": "agent", "text": "second",
                                           "start_ms": 1500, "end_ms": 2500, "spoken_at": "2026-11-25T10:00:01Z"}]}))
        .await;
    second.assert_ok();
    assert_eq!(second.body["accepted"], 1);

    let read = app.get(&path).await;
    read.assert_ok();
    let texts: Vec<_> = read.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["text"].clone())
        .collect();
    assert_eq!(texts, ["first", "second", "third"]);
    let b = &read.body["items"][1];
    assert_eq!(
        (b["role"].as_str(), b["end_ms"].as_i64()),
        (Some("agent"), Some(2500))
    );
    assert_eq!(b["spoken_at"], "2026-11-25T10:00:01Z");

    let page = app.get(&format!("{path}?limit=2")).await;
    page.assert_ok();
    assert_eq!(page.body["items"].as_array().unwrap().len(), 2);
    let rest = app
        .get(&format!(
            "{path}?limit=2&cursor={}",
            page.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    rest.assert_ok();
    assert_eq!(rest.body["items"][0]["text"], "third");
    assert!(rest.body.get("next_cursor").is_none());
}

#[tokio::test]
async fn a_retried_batch_never_duplicates_segments() {
    let app = TestApp::spawn().await;
    let id = app.create_call("Jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/calls/{id}/transcript");
    let batch = json!({"segments": [segment("s1", 0, "hello"), segment("s2", 10, "again")]});
    app.post_ok(&path, batch.clone()).await;
    let retry = app.post(&path, batch).await;
    retry.assert_ok();
    assert_eq!(retry.body, json!({"accepted": 0, "duplicates": 2}));
    let partly_new = app
        .post(
            &path,
            json!({"segments": [segment("s2", 10, "again"), segment("s3", 20, "new")]}),
        )
        .await;
    partly_new.assert_ok();
    assert_eq!(partly_new.body, json!({"accepted": 1, "duplicates": 1}));
    assert_eq!(count(&app.pool, "transcript_segments").await, 3);
}

#[tokio::test]
async fn invalid_segments_are_refused_by_position_and_nothing_of_the_batch_is_stored() {
    let app = TestApp::spawn().await;
    let id = app.create_call("Jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/calls/{id}/transcript");
    let reply = app
        .post(&path, json!({"segments": [
            segment("ok", 0, "fine"),
            {"segment_id": "", "speaker": " ", "role": "caller", "text": "", "start_ms": -1},
            {"segment_id": "x", "speaker": "Jane", "role": "caller", "text": "t", "start_ms": 10, "end_ms": 5},
            segment("ok", 20, "duplicate id"),
        ]}))
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        [
            "segments[1].segment_id",
            "segments[1].speaker",
            "segments[1].text",
            "segments[1].start_ms",
            "segments[2].end_ms",
            "segments[3].segment_id"
        ]
    );
    app.post(&path, json!({"segments": []}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let too_many: Vec<_> = (0..501)
        .map(|i| segment(&format!("s{i}"), i, "t"))
        .collect();
    app.post(&path, json!({"segments": too_many}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let bad_role = app.post(&path, json!({"segments": [{"segment_id": "r", "speaker": "J", "role": "bot", "text": "t", "start_ms": 0}]})).await;
    assert!(
        bad_role.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
            .as_str()
            .unwrap()
            .contains("role")
    );
    assert_eq!(count(&app.pool, "transcript_segments").await, 0);
}

#[tokio::test]
async fn segments_of_an_unknown_call_are_404() {
    let app = TestApp::spawn().await;
    let path = "/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/transcript";
    app.post(path, json!({"segments": [segment("a", 0, "t")]}))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get(path).await.problem(StatusCode::NOT_FOUND);
    app.get("/v1/calls/nope/transcript")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn an_ended_call_accepts_late_segments_during_the_grace_period_only() {
    let app = TestApp::spawn().await;
    let id = app.create_call("Jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let path = format!("/v1/calls/{id}/transcript");
    app.post_empty_ok(&format!("/v1/calls/{id}/end")).await;
    let late = app
        .post(&path, json!({"segments": [segment("late", 0, "bye")]}))
        .await;
    late.assert_ok();
    assert_eq!(late.body["accepted"], 1);

    // Move the end back past the default five-minute grace period.
    sqlx::query("UPDATE calls SET ended_at = now() - interval '6 minutes' WHERE id = $1")
        .bind(uuid::Uuid::parse_str(&id).unwrap())
        .execute(&app.pool)
        .await
        .unwrap();
    let too_late = app
        .post(
            &path,
            json!({"segments": [segment("too-late", 10, "hello?")]}),
        )
        .await;
    too_late.problem(StatusCode::CONFLICT);
    assert_eq!(count(&app.pool, "transcript_segments").await, 1);
}
