use reqwest::StatusCode;
use serde_json::json;

use crate::support::TestApp;

#[tokio::test]
async fn participants_of_a_known_room_come_live_from_livekit() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap();
    app.livekit.join(room, "Jane");
    app.livekit.join(room, "agent_alice");
    let reply = app
        .get(&format!("/v1/rooms/{room}/participants?live=true"))
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["source"], "live");
    let identities: Vec<_> = reply.body["participants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["identity"].clone())
        .collect();
    assert_eq!(identities, [json!("Jane"), json!("agent_alice")]);
    assert_eq!(reply.body["participants"][0]["state"], "active");
    let calls = app.livekit.calls_of("ListParticipants");
    assert_eq!(calls.last().map(|c| c.room.as_str()), Some(room));
}

#[tokio::test]
async fn an_unknown_room_is_404_and_a_room_nobody_joined_is_empty() {
    let app = TestApp::spawn().await;
    app.get("/v1/rooms/call_not_ours/participants")
        .await
        .problem(StatusCode::NOT_FOUND);
    assert!(
        app.livekit.calls().is_empty(),
        "LiveKit is not asked about rooms we do not know"
    );
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap();
    let stored = app.get(&format!("/v1/rooms/{room}/participants")).await;
    stored.assert_ok();
    assert_eq!(stored.body["participants"], json!([]));
    let live = app
        .get(&format!("/v1/rooms/{room}/participants?live=true"))
        .await;
    live.assert_ok();
    assert_eq!(live.body["participants"], json!([]));
}

#[tokio::test]
async fn livekit_being_down_is_a_502_not_a_500() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    app.livekit.set_down(true);
    let room = call["room_name"].as_str().unwrap();
    app.get(&format!("/v1/rooms/{room}/participants?live=true"))
        .await
        .problem(StatusCode::BAD_GATEWAY);
    // The records answer regardless.
    assert_eq!(
        app.get(&format!("/v1/rooms/{room}/participants"))
            .await
            .status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn contradictory_or_unknown_options_are_422() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let room = call["room_name"].as_str().unwrap();
    for query in [
        "live=true&include=history",
        "include=everything",
        "live=maybe",
        "colour=red",
    ] {
        app.get(&format!("/v1/rooms/{room}/participants?{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_nul_in_a_room_name_is_422_not_a_database_error() {
    let app = TestApp::spawn().await;
    let reply = app.get("/v1/rooms/a%00b/participants").await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["room"]);
}

#[tokio::test]
async fn the_livekit_fake_refuses_requests_without_the_fields_their_method_needs() {
    use livekit_api::services::room::{CreateRoomOptions, RoomClient};
    let app = TestApp::spawn().await;
    let rooms = RoomClient::with_api_key(
        &app.livekit.url,
        crate::support::livekit::API_KEY,
        crate::support::livekit::API_SECRET,
    );
    let refused = |result: Result<(), livekit_api::services::ServiceError>, why: &str| {
        let error = format!("{:?}", result.expect_err(why));
        assert!(
            error.contains("invalid_argument") && error.contains(why),
            "{why}: {error}"
        );
    };
    let options = |empty_timeout| CreateRoomOptions {
        empty_timeout,
        ..Default::default()
    };
    let briefing = warmline::livekit::BRIEFING_ROOM_EMPTY_TIMEOUT_SECS;
    refused(
        rooms.create_room("", options(briefing)).await.map(drop),
        "name is required",
    );
    refused(
        rooms.create_room("r", options(0)).await.map(drop),
        "unexpected empty_timeout 0",
    );
    refused(rooms.delete_room("").await, "room is required");
    refused(
        rooms.remove_participant("r", "").await,
        "identity is required",
    );
    refused(
        rooms.move_participant("r", "Jane", "").await,
        "destination_room is required",
    );
    refused(
        rooms.list_participants("").await.map(drop),
        "room is required",
    );
    assert!(
        app.livekit.calls().is_empty(),
        "nothing refused is recorded"
    );
    rooms
        .create_room("r", options(briefing))
        .await
        .expect("a complete request is served");
}
