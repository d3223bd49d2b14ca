//! LiveKit tokens and participants as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

/// A LiveKit access token for one identity in one room.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IssuedToken {
    /// The JWT to pass to a LiveKit client SDK.
    #[schema(example = "eyJhbGciOiJIUzI1NiJ9...")]
    pub token: String,
    /// The LiveKit server to connect to.
    #[schema(example = "ws://localhost:7880")]
    pub url: String,
    /// The only room the token admits to.
    #[schema(example = "call_0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80")]
    pub room: String,
    #[schema(example = "agent_alice")]
    pub identity: String,
    pub expires_at: DateTime<Utc>,
}

/// Who asks for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum TokenRole {
    Caller,
    Agent,
}

/// Joining a call's room.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"identity": "agent_alice", "role": "agent"}))]
pub struct JoinCall {
    /// The LiveKit identity to join as. A caller must use the call's `caller_identity`; an agent
    /// must be the call's agent (the first agent to join a waiting call becomes it) or the
    /// receiving agent of a transfer being handed over.
    #[schema(min_length = 1, max_length = 128)]
    pub identity: String,
    pub role: TokenRole,
    /// Display name; defaults to the identity (the caller's name for a caller).
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
}

/// A token for the room of a call or a transfer; exactly one of `call_id`, `transfer_id`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"transfer_id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f81", "identity": "agent_bob", "role": "agent"}))]
pub struct TokenRequest {
    /// For the call's room.
    pub call_id: Option<Uuid>,
    /// For the transfer's briefing room (agents of the transfer; the caller only while a
    /// `move_caller` hand-off brings it there).
    pub transfer_id: Option<Uuid>,
    #[schema(min_length = 1, max_length = 128)]
    pub identity: String,
    pub role: TokenRole,
    /// Display name; defaults to the identity.
    #[schema(min_length = 1, max_length = 128)]
    pub name: Option<String>,
}
