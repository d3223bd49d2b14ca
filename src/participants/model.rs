//! Who was in which room, as the API shows it.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Who a participant is to the room's call, as warmline's records say.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum ParticipantRole {
    /// The call's caller.
    Caller,
    /// Anyone else in a room of a call: its agents.
    Agent,
    /// In a room no call owns.
    Unknown,
}

impl ParticipantRole {
    /// Every role (the database's `participants_role_known` lists the same).
    pub const ALL: [Self; 3] = [Self::Caller, Self::Agent, Self::Unknown];
}

/// One participant session in a room.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Participant {
    #[schema(example = "agent_alice")]
    pub identity: String,
    /// LiveKit's id of this session (a rejoin is a new session).
    #[schema(example = "PA_3x9QzK")]
    pub sid: String,
    pub name: Option<String>,
    /// From the records of the room's call; `null` in a live listing.
    pub role: Option<ParticipantRole>,
    /// From webhooks: `present` or `left`. Live: LiveKit's state (`joining`, `joined`, `active`, `disconnected`).
    #[schema(example = "present")]
    pub state: String,
    pub joined_at: Option<DateTime<Utc>>,
    pub left_at: Option<DateTime<Utc>>,
}

impl From<livekit_protocol::ParticipantInfo> for Participant {
    fn from(p: livekit_protocol::ParticipantInfo) -> Self {
        let state = livekit_protocol::participant_info::State::try_from(p.state)
            .map(|s| s.as_str_name().to_ascii_lowercase())
            .unwrap_or_else(|_| "unknown".into());
        Self {
            identity: p.identity,
            sid: p.sid,
            name: Some(p.name).filter(|n| !n.is_empty()),
            role: None,
            state,
            joined_at: DateTime::from_timestamp(p.joined_at, 0).filter(|_| p.joined_at > 0),
            left_at: None,
        }
    }
}

/// Where a participant list came from.
#[derive(Debug, Clone, Copy, Serialize, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum ParticipantSource {
    /// warmline's records, kept from LiveKit's webhooks.
    Webhooks,
    /// Asked of LiveKit just now.
    Live,
}

/// Who is (or was) in a room.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomParticipants {
    pub room: String,
    pub source: ParticipantSource,
    pub participants: Vec<Participant>,
}

/// What to include in a participant list.
#[derive(Debug, Clone, Copy, Deserialize, ToSchema, PartialEq, Eq)]
#[serde(rename_all = "lowercase")]
pub enum Include {
    /// Every session, with join and leave times, not only those present now.
    History,
}

/// Options of the participant list.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ParticipantsQuery {
    /// `history`: every session with its join and leave times.
    pub include: Option<Include>,
    /// `true`: ask LiveKit now instead of the webhook records.
    pub live: Option<bool>,
}
