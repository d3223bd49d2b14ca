//! LiveKit webhooks: verified, stored raw, applied once, in any order.
//!
//! livekit-server signs each delivery with a JWT (API key as issuer) whose `sha256` claim is
//! the base64 SHA-256 of the exact body; it delivers at least once and not in order. So the
//! body is checked as received, every delivery is stored under its event id (a redelivery
//! changes nothing), and facts are merged by the event's own time.

pub mod routes;
pub mod store;

use chrono::{DateTime, Utc};
use livekit_api::access_token::TokenVerifier;
use livekit_api::webhooks::{WebhookError, WebhookReceiver};
use livekit_protocol as proto;
use secrecy::ExposeSecret;
use serde::Serialize;
use sqlx::PgConnection;
use utoipa::ToSchema;

use crate::app::AppState;
use crate::error::ApiError;
use crate::participants::model::ParticipantRole;
use crate::participants::store::Sighting;

/// What became of a delivery.
#[derive(Debug, Clone, Copy, Serialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum DeliveryResult {
    /// It changed a transfer or a call.
    Applied,
    /// Stored, and its facts recorded (participants, rooms, tracks).
    Recorded,
    /// Stored; warmline does not act on this event type.
    Ignored,
    /// This event id was received before; nothing changed.
    Duplicate,
}

impl DeliveryResult {
    /// The name stored and reported.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Applied => "applied",
            Self::Recorded => "recorded",
            Self::Ignored => "ignored",
            Self::Duplicate => "duplicate",
        }
    }
}

/// The answer to LiveKit.
#[derive(Debug, Serialize, ToSchema)]
pub struct WebhookAck {
    #[schema(example = "EV_4fK2pQ")]
    pub event_id: String,
    /// The event type, as LiveKit named it.
    #[schema(example = "participant_joined")]
    pub event: String,
    pub result: DeliveryResult,
    /// What the event changed, when it changed something.
    pub detail: Option<String>,
}

/// Verifies, stores and applies one delivery.
pub async fn receive(
    state: &AppState,
    content_type: Option<&str>,
    authorization: Option<&str>,
    body: &[u8],
) -> Result<WebhookAck, ApiError> {
    let media = content_type
        .and_then(|c| c.split(';').next())
        .map(str::trim);
    if !matches!(media, Some("application/webhook+json" | "application/json")) {
        return Err(ApiError::UnsupportedMediaType(
            "LiveKit webhooks are `application/webhook+json` (or `application/json`)".into(),
        ));
    }
    // livekit-server sends the bare token; accept a `Bearer ` prefix from other senders.
    let token = authorization
        .map(|a| a.strip_prefix("Bearer ").unwrap_or(a).trim())
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::Unauthorized("missing Authorization header (the signed webhook token)".into())
        })?;
    let body = std::str::from_utf8(body)
        .map_err(|_| ApiError::BadRequest("the body is not UTF-8".into()))?;
    let lk = &state.config.livekit;
    let receiver = WebhookReceiver::new(TokenVerifier::with_api_key(
        &lk.api_key,
        lk.api_secret.expose_secret(),
    ));
    let event = receiver.receive(body, token).map_err(explain)?;
    // Signed by LiveKit's key, yet still input: Postgres refuses a NUL in any text we store.
    if let Some(field) = serde_json::from_str(body)
        .ok()
        .and_then(|value| crate::domain::nul_in_json(&value))
    {
        return Err(ApiError::invalid(field, crate::domain::NUL_REFUSED));
    }
    // protojson leaves out empty fields: no `event` means the body is no event at all.
    if event.event.is_empty() {
        return Err(ApiError::BadRequest(
            "the body is not a LiveKit webhook event: it has no `event` type".into(),
        ));
    }
    if event.id.is_empty() {
        return Err(ApiError::invalid("id", "the event has no id"));
    }
    let occurred_at = DateTime::from_timestamp(event.created_at, 0)
        .filter(|at| event.created_at > 0 && crate::domain::instant(*at).is_ok())
        .unwrap_or_else(Utc::now);
    let room = event
        .room
        .as_ref()
        .map(|r| r.name.as_str())
        .filter(|r| !r.is_empty());

    let mut tx = state.db.begin().await?;
    if !store::insert_delivery(&mut *tx, &event.id, &event.event, room, occurred_at, body).await? {
        tracing::debug!(event_id = %event.id, "webhook redelivered; ignored");
        return Ok(WebhookAck {
            event_id: event.id,
            event: event.event,
            result: DeliveryResult::Duplicate,
            detail: None,
        });
    }
    let (result, detail) = apply(&mut tx, state, &event, occurred_at).await?;
    store::set_result(&mut *tx, &event.id, result.as_str(), detail.as_deref()).await?;
    tx.commit().await?;
    tracing::info!(event_id = %event.id, event = %event.event, room, result = result.as_str(), detail, "webhook");
    Ok(WebhookAck {
        event_id: event.id,
        event: event.event,
        result,
        detail,
    })
}

/// Says what was wrong with a delivery's signature. The token errors all display as "failed
/// to encode jwt", so the cause is the kind of the JWT error inside.
fn explain(err: WebhookError) -> ApiError {
    use jsonwebtoken::errors::ErrorKind;
    use livekit_api::access_token::AccessTokenError;
    match err {
        WebhookError::InvalidData(e) => {
            ApiError::BadRequest(format!("the body is not a LiveKit webhook event: {e}"))
        }
        WebhookError::InvalidSignature => {
            ApiError::Unauthorized("the body does not match the token's sha256".into())
        }
        WebhookError::InvalidBase64(_) => {
            ApiError::Unauthorized("the token's sha256 claim is not base64".into())
        }
        WebhookError::InvalidAuth(AccessTokenError::Encoding(jwt)) => {
            ApiError::Unauthorized(match jwt.kind() {
                ErrorKind::ExpiredSignature => "the token has expired".into(),
                ErrorKind::InvalidSignature => {
                    "the token is not signed with this server's API secret".into()
                }
                ErrorKind::InvalidIssuer => "the token was issued for another API key".into(),
                ErrorKind::ImmatureSignature => "the token is not valid yet".into(),
                ErrorKind::MissingRequiredClaim(claim) => {
                    format!("the token has no `{claim}` claim")
                }
                _ => "the token is not a valid JWT".into(),
            })
        }
        WebhookError::InvalidAuth(_) => {
            ApiError::Unauthorized("the token is not a valid JWT".into())
        }
    }
}

async fn apply(
    tx: &mut PgConnection,
    state: &AppState,
    event: &proto::WebhookEvent,
    at: DateTime<Utc>,
) -> Result<(DeliveryResult, Option<String>), ApiError> {
    let room = event.room.as_ref();
    let changed = |detail: Option<String>| match detail {
        Some(d) => (DeliveryResult::Applied, Some(d)),
        None => (DeliveryResult::Recorded, None),
    };
    match event.event.as_str() {
        "participant_joined" | "participant_left" | "participant_connection_aborted" => {
            let (Some(room), Some(p)) = (room, event.participant.as_ref()) else {
                return Ok((
                    DeliveryResult::Ignored,
                    Some("no room or participant in the event".into()),
                ));
            };
            let joined = event.event == "participant_joined";
            Ok(changed(
                participant(tx, state, &room.name, p, joined, at).await?,
            ))
        }
        "room_started" | "room_finished" => {
            let Some(room) = room else {
                return Ok((DeliveryResult::Ignored, Some("no room in the event".into())));
            };
            let sid = if room.sid.is_empty() {
                room.name.as_str()
            } else {
                room.sid.as_str()
            };
            if event.event == "room_started" {
                crate::participants::store::record_room(&mut *tx, sid, &room.name, Some(at), None)
                    .await?;
                return Ok((DeliveryResult::Recorded, None));
            }
            crate::participants::store::record_room(&mut *tx, sid, &room.name, None, Some(at))
                .await?;
            Ok(changed(
                crate::calls::on_room_finished(tx, state, &room.name, at).await?,
            ))
        }
        "track_published" | "track_unpublished" => Ok((DeliveryResult::Recorded, None)),
        _ => Ok((DeliveryResult::Ignored, None)),
    }
}

async fn participant(
    tx: &mut PgConnection,
    state: &AppState,
    room: &str,
    p: &proto::ParticipantInfo,
    joined: bool,
    at: DateTime<Utc>,
) -> Result<Option<String>, ApiError> {
    // Locked now, read once: what the event means for a transfer is decided on this row.
    let call = crate::calls::store::lock_of_room(&mut *tx, room).await?;
    let role = match &call {
        Some(c) if c.caller_identity == p.identity => ParticipantRole::Caller,
        Some(_) => ParticipantRole::Agent,
        None => ParticipantRole::Unknown,
    };
    let sighting = Sighting {
        room,
        identity: &p.identity,
        sid: if p.sid.is_empty() {
            &p.identity
        } else {
            &p.sid
        },
        name: Some(p.name.as_str()).filter(|n| !n.is_empty()),
        call_id: call.as_ref().map(|c| c.id),
        role,
        at,
    };
    if joined {
        crate::participants::store::record_join(&mut *tx, &sighting).await?;
    } else {
        crate::participants::store::record_leave(&mut *tx, &sighting).await?;
    }
    let Some(call) = call else { return Ok(None) };
    if joined {
        crate::transfers::on_participant_joined(tx, state, &call, room, &p.identity, at).await
    } else {
        crate::transfers::on_participant_left(tx, state, &call, room, &p.identity, sighting.sid, at)
            .await
    }
}
