//! A fake of LiveKit's RoomService, faithful on the wire: Twirp over HTTP with protobuf bodies
//! (`livekit-protocol` types), JSON `{code, msg}` errors, and the same JWT checks as
//! livekit-server (signature by the API secret, `roomCreate` for room methods, `roomAdmin` +
//! `room` for participant methods, `destinationRoom` for moves). It keeps rooms and
//! participants in memory and records every call, so tests can assert what was asked of
//! LiveKit; it can be told to fail. A request without a field its method needs (an empty body
//! decodes to an all-default message) is refused with `invalid_argument`, as livekit-server
//! refuses it.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use livekit_api::access_token::{TokenVerifier, VideoGrants};
use livekit_protocol as proto;
use prost::Message;

pub const API_KEY: &str = "test-key";
pub const API_SECRET: &str = "test-secret-of-at-least-32-bytes!!";

/// One RoomService request as the fake received it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RecordedCall {
    pub method: String,
    pub room: String,
    pub identity: Option<String>,
    pub destination: Option<String>,
}

#[derive(Default)]
struct Inner {
    rooms: BTreeMap<String, Vec<proto::ParticipantInfo>>,
    calls: Vec<RecordedCall>,
    fail_next: u32,
    down: bool,
    next_sid: u64,
    /// Where the webhooks of membership changes go, when a test turned them on.
    webhooks: Option<tokio::sync::mpsc::UnboundedSender<serde_json::Value>>,
    next_event: u64,
}

impl Inner {
    /// Queues the webhook livekit-server would send for this change, when webhooks are on.
    fn notify(&mut self, event: &str, room: &str, participant: Option<&proto::ParticipantInfo>) {
        let Some(sender) = &self.webhooks else {
            return;
        };
        self.next_event += 1;
        let body = super::lk_event(
            &format!("EV_fake_{}", self.next_event),
            event,
            room,
            participant.map(|p| (p.identity.as_str(), p.sid.as_str())),
            chrono::Utc::now().timestamp(),
        );
        let _ = sender.send(body);
    }

    /// Adds a participant to a room (creating it), with the webhooks that go with it.
    fn add(&mut self, room: &str, participant: proto::ParticipantInfo) {
        if !self.rooms.contains_key(room) {
            self.rooms.insert(room.to_owned(), Vec::new());
            self.notify("room_started", room, None);
        }
        self.notify("participant_joined", room, Some(&participant));
        self.rooms
            .get_mut(room)
            .expect("just made")
            .push(participant);
    }

    /// Takes a participant out of a room, with its webhook; `None` when it is not there.
    fn take(&mut self, room: &str, identity: &str) -> Option<proto::ParticipantInfo> {
        let people = self.rooms.get_mut(room)?;
        let at = people.iter().position(|p| p.identity == identity)?;
        let gone = people.remove(at);
        self.notify("participant_left", room, Some(&gone));
        Some(gone)
    }
}

/// The running fake; cheap to clone.
#[derive(Clone)]
pub struct FakeLiveKit {
    pub url: String,
    inner: Arc<Mutex<Inner>>,
}

impl FakeLiveKit {
    /// Starts the fake on a random local port.
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route(
                "/twirp/livekit.RoomService/{method}",
                axum::routing::post(handle),
            )
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake LiveKit");
        let url = format!("ws://{}", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { url, inner }
    }

    /// A participant joins a room (as a client SDK connecting with a token would).
    pub fn join(&self, room: &str, identity: &str) {
        let mut inner = self.inner.lock().unwrap();
        inner.next_sid += 1;
        let sid = format!("PA_{}", inner.next_sid);
        let participant = proto::ParticipantInfo {
            sid,
            identity: identity.to_owned(),
            name: identity.to_owned(),
            state: proto::participant_info::State::Active as i32,
            joined_at: chrono::Utc::now().timestamp(),
            ..Default::default()
        };
        inner.add(room, participant);
    }

    /// A participant leaves by itself.
    pub fn leave(&self, room: &str, identity: &str) {
        self.inner.lock().unwrap().take(room, identity);
    }

    /// From now on every change of rooms and membership (joins, leaves, and what RoomService
    /// requests do) is told to `url` as livekit-server does: a signed webhook, in order.
    /// Returns the log of deliveries (event, HTTP status).
    pub fn send_webhooks_to(&self, url: String) -> Arc<Mutex<Vec<(String, u16)>>> {
        let (sender, mut queued) = tokio::sync::mpsc::unbounded_channel::<serde_json::Value>();
        let delivered = Arc::new(Mutex::new(Vec::new()));
        let log = delivered.clone();
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            while let Some(event) = queued.recv().await {
                let body = event.to_string();
                let status = client
                    .post(&url)
                    .header("content-type", "application/webhook+json")
                    .header("authorization", super::sign_webhook(&body))
                    .body(body)
                    .send()
                    .await
                    .map_or(0, |r| r.status().as_u16());
                let kind = event["event"].as_str().unwrap_or_default().to_owned();
                log.lock().unwrap().push((kind, status));
            }
        });
        self.inner.lock().unwrap().webhooks = Some(sender);
        delivered
    }

    /// Identities now in a room.
    pub fn members(&self, room: &str) -> Vec<String> {
        let inner = self.inner.lock().unwrap();
        inner
            .rooms
            .get(room)
            .map(|ps| ps.iter().map(|p| p.identity.clone()).collect())
            .unwrap_or_default()
    }

    pub fn room_exists(&self, room: &str) -> bool {
        self.inner.lock().unwrap().rooms.contains_key(room)
    }

    /// Every request so far, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.inner.lock().unwrap().calls.clone()
    }

    /// Requests so far of one method.
    pub fn calls_of(&self, method: &str) -> Vec<RecordedCall> {
        self.calls()
            .into_iter()
            .filter(|c| c.method == method)
            .collect()
    }

    /// The next `n` requests fail with 503 `unavailable`.
    pub fn fail_next(&self, n: u32) {
        self.inner.lock().unwrap().fail_next = n;
    }

    /// Every request fails with 503 until set back.
    pub fn set_down(&self, down: bool) {
        self.inner.lock().unwrap().down = down;
    }
}

fn twirp_error(status: StatusCode, code: &str, msg: &str) -> Response {
    (
        status,
        axum::Json(serde_json::json!({"code": code, "msg": msg})),
    )
        .into_response()
}

fn protobuf(message: impl Message) -> Response {
    (
        [("content-type", "application/protobuf")],
        message.encode_to_vec(),
    )
        .into_response()
}

/// Checks the bearer token as livekit-server does; returns its video grant, or why not.
fn authorize(headers: &HeaderMap) -> Result<VideoGrants, &'static str> {
    let header = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .ok_or("no authorization")?;
    let token = header.strip_prefix("Bearer ").ok_or("not a bearer token")?;
    let claims = TokenVerifier::with_api_key(API_KEY, API_SECRET)
        .verify(token)
        .map_err(|_| "invalid token")?;
    Ok(claims.video)
}

async fn handle(
    State(inner): State<Arc<Mutex<Inner>>>,
    Path(method): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    if headers.get("content-type").and_then(|v| v.to_str().ok()) != Some("application/protobuf") {
        return twirp_error(
            StatusCode::BAD_REQUEST,
            "malformed",
            "expected application/protobuf",
        );
    }
    let grants = match authorize(&headers) {
        Ok(g) => g,
        Err(why) => return twirp_error(StatusCode::UNAUTHORIZED, "unauthenticated", why),
    };
    let denied = || twirp_error(StatusCode::FORBIDDEN, "permission_denied", "missing grant");
    let malformed = || twirp_error(StatusCode::BAD_REQUEST, "malformed", "undecodable body");
    let missing = |field: &str| {
        twirp_error(
            StatusCode::BAD_REQUEST,
            "invalid_argument",
            &format!("{field} is required"),
        )
    };
    macro_rules! require {
        ($($field:expr => $name:literal),+) => {
            $(if $field.is_empty() {
                return missing($name);
            })+
        };
    }
    let mut inner = inner.lock().unwrap();
    let record =
        |inner: &mut Inner, room: &str, identity: Option<&str>, destination: Option<&str>| {
            inner.calls.push(RecordedCall {
                method: method.clone(),
                room: room.to_owned(),
                identity: identity.map(str::to_owned),
                destination: destination.map(str::to_owned),
            });
        };
    let admin_of = |room: &str| grants.room_admin && grants.room == room;

    macro_rules! decode {
        ($t:ty) => {
            match <$t>::decode(body.as_ref()) {
                Ok(m) => m,
                Err(_) => return malformed(),
            }
        };
    }
    macro_rules! maybe_fail {
        () => {
            if inner.down || inner.fail_next > 0 {
                inner.fail_next = inner.fail_next.saturating_sub(1);
                return twirp_error(
                    StatusCode::SERVICE_UNAVAILABLE,
                    "unavailable",
                    "injected failure",
                );
            }
        };
    }

    match method.as_str() {
        "CreateRoom" => {
            let req = decode!(proto::CreateRoomRequest);
            require!(req.name => "name");
            // A briefing room must close by itself once everybody has left.
            if req.empty_timeout != warmline::livekit::BRIEFING_ROOM_EMPTY_TIMEOUT_SECS {
                return twirp_error(
                    StatusCode::BAD_REQUEST,
                    "invalid_argument",
                    &format!("unexpected empty_timeout {}", req.empty_timeout),
                );
            }
            if !grants.room_create {
                return denied();
            }
            record(&mut inner, &req.name, None, None);
            maybe_fail!();
            if !inner.rooms.contains_key(&req.name) {
                inner.rooms.insert(req.name.clone(), Vec::new());
                inner.notify("room_started", &req.name, None);
            }
            protobuf(proto::Room {
                sid: format!("RM_{}", req.name),
                name: req.name,
                empty_timeout: req.empty_timeout,
                creation_time: chrono::Utc::now().timestamp(),
                ..Default::default()
            })
        }
        "DeleteRoom" => {
            let req = decode!(proto::DeleteRoomRequest);
            require!(req.room => "room");
            if !grants.room_create {
                return denied();
            }
            record(&mut inner, &req.room, None, None);
            maybe_fail!();
            match inner.rooms.get(&req.room).cloned() {
                Some(people) => {
                    for p in people {
                        inner.take(&req.room, &p.identity);
                    }
                    inner.rooms.remove(&req.room);
                    inner.notify("room_finished", &req.room, None);
                    protobuf(proto::DeleteRoomResponse::default())
                }
                None => twirp_error(StatusCode::NOT_FOUND, "not_found", "room not found"),
            }
        }
        "ListParticipants" => {
            let req = decode!(proto::ListParticipantsRequest);
            require!(req.room => "room");
            if !admin_of(&req.room) {
                return denied();
            }
            record(&mut inner, &req.room, None, None);
            maybe_fail!();
            match inner.rooms.get(&req.room) {
                Some(ps) => protobuf(proto::ListParticipantsResponse {
                    participants: ps.clone(),
                }),
                None => twirp_error(StatusCode::NOT_FOUND, "not_found", "room not found"),
            }
        }
        "RemoveParticipant" => {
            let req = decode!(proto::RoomParticipantIdentity);
            require!(req.room => "room", req.identity => "identity");
            if !admin_of(&req.room) {
                return denied();
            }
            record(&mut inner, &req.room, Some(&req.identity), None);
            maybe_fail!();
            if !inner.rooms.contains_key(&req.room) {
                return twirp_error(StatusCode::NOT_FOUND, "not_found", "room not found");
            }
            match inner.take(&req.room, &req.identity) {
                Some(_) => protobuf(proto::RemoveParticipantResponse::default()),
                None => twirp_error(StatusCode::NOT_FOUND, "not_found", "participant not found"),
            }
        }
        "MoveParticipant" => {
            let req = decode!(proto::MoveParticipantRequest);
            require!(req.room => "room", req.identity => "identity", req.destination_room => "destination_room");
            if !admin_of(&req.room) || grants.destination_room != req.destination_room {
                return denied();
            }
            record(
                &mut inner,
                &req.room,
                Some(&req.identity),
                Some(&req.destination_room),
            );
            maybe_fail!();
            match inner.take(&req.room, &req.identity) {
                Some(p) => {
                    inner.add(&req.destination_room, p);
                    protobuf(proto::MoveParticipantResponse::default())
                }
                None => twirp_error(StatusCode::NOT_FOUND, "not_found", "participant not found"),
            }
        }
        _ => twirp_error(StatusCode::NOT_FOUND, "bad_route", "no such method"),
    }
}
