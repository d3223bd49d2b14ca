//! The prototype's request and response shapes, field for field. Unknown request fields are
//! ignored, as the prototype (FastAPI) ignored them.

#![allow(non_snake_case)]

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// `GET /`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ServiceInfo {
    pub message: String,
    pub version: String,
    #[schema(example = "running")]
    pub status: String,
    pub timestamp: DateTime<Utc>,
}

/// `GET /health`.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrototypeHealth {
    #[schema(example = "healthy")]
    pub status: String,
    pub livekit_configured: bool,
    pub llm_configured: bool,
}

/// A token for a room, asked by identity and room name.
#[derive(Debug, Deserialize, ToSchema, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct RoomTokenRequest {
    pub identity: String,
    pub room: String,
}

/// A token, the prototype's way.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrototypeToken {
    pub token: String,
    pub url: String,
    pub identity: String,
    pub room: String,
}

/// Caller details.
#[derive(Debug, Default, Clone, Serialize, Deserialize, ToSchema)]
pub struct CallerInfo {
    pub name: Option<String>,
    pub phone: Option<String>,
    pub issue: Option<String>,
}

/// `POST /call/start`.
#[derive(Debug, Default, Deserialize, ToSchema)]
pub struct StartCall {
    /// Defaults to `caller_info.name`, then to `caller_<8 hex>`.
    pub caller_name: Option<String>,
    pub caller_info: Option<CallerInfo>,
}

/// A started call.
#[derive(Debug, Serialize, ToSchema)]
pub struct StartedCall {
    pub call_id: String,
    pub room_name: String,
    pub caller_token: String,
    /// A token for the call's room for the prototype's unnamed Agent A seat (identity `agent_a`).
    pub agent_a_token: String,
    pub livekit_url: String,
    #[schema(example = "initiated")]
    pub status: String,
}

/// `GET /calls/latest`.
#[derive(Debug, Serialize, ToSchema)]
pub struct LatestCall {
    pub call_id: String,
    pub room_name: String,
    pub caller_name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
}

/// A call as the prototype listed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrototypeCall {
    pub call_id: String,
    pub room_name: String,
    pub caller_name: String,
    pub caller_info: CallerInfo,
    pub agent_a: Option<String>,
    pub agent_b: Option<String>,
    pub status: String,
    pub created_at: DateTime<Utc>,
    /// The transcript as text, one `speaker: text` line per segment.
    pub transcript: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<DateTime<Utc>>,
}

/// `GET /calls/active`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveCalls {
    pub active_calls: Vec<PrototypeCall>,
}

/// `POST /call/end`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct EndCall {
    pub call_id: String,
}

/// An ended call.
#[derive(Debug, Serialize, ToSchema)]
pub struct CallEnded {
    #[schema(example = "call_ended")]
    pub status: String,
    pub call_id: String,
}

/// `POST /summarize`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct Summarize {
    pub transcript: String,
    /// When known, the transcript is stored on the call and the summary with it.
    pub call_id: Option<String>,
    pub caller_info: Option<CallerInfo>,
}

/// A summary as text.
#[derive(Debug, Serialize, ToSchema)]
pub struct Summarized {
    pub summary: String,
}

/// `POST /transfer` (query parameters only, as in the prototype).
#[derive(Debug, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct TransferQuery {
    /// The caller's room (`call_<id>`).
    pub original_room: String,
    /// The briefing room the client chose (`transfer_<ms>`); used when valid and free.
    pub new_room: String,
    /// Agent A as the client names it; the call's own agent is who transfers.
    pub agent_a: String,
    /// Agent B's identity (`agent_b_<name>`; a bare name gets that prefix).
    pub agent_b: String,
    /// Text typed by Agent A; stored on the call's transcript.
    #[serde(default)]
    pub transcript: String,
    #[serde(default = "unknown_caller")]
    pub caller_name: String,
}

fn unknown_caller() -> String {
    "Unknown Caller".into()
}

/// `POST /call/{call_id}/transfer`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CallTransfer {
    pub agent_b: String,
    pub agent_a: Option<String>,
    pub transcript: Option<String>,
    pub new_room: Option<String>,
}

/// A started transfer.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferCreated {
    pub transfer_id: String,
    pub agentA_transfer_token: String,
    pub agentB_token: String,
    /// Absent until the hand-off: the caller gets its token from
    /// `/caller/{caller_name}/transfer-status` (the briefing room is private until then).
    pub caller_token: Option<String>,
    pub transfer_room: String,
    pub livekit_url: String,
    pub summary: String,
    pub agent_script: String,
    #[schema(example = "initiated")]
    pub status: String,
}

/// A transfer as the prototype showed it.
#[derive(Debug, Serialize, ToSchema)]
pub struct PrototypeTransfer {
    pub transfer_id: String,
    pub original_room: String,
    pub transfer_room: String,
    pub agent_a: String,
    pub agent_b: String,
    pub caller_name: String,
    pub summary: String,
    pub agent_script: String,
    /// `initiated`, `briefing`, `completed` (from the hand-off on), or how it ended.
    pub status: String,
    pub created_at: DateTime<Utc>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub completed_at: Option<DateTime<Utc>>,
}

/// A transfer waiting for Agent B or in its briefing.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTransfer {
    pub transfer_id: String,
    pub agent_a: String,
    pub agent_b: String,
    pub caller_name: String,
    pub status: String,
    pub created_at: DateTime<Utc>,
    pub summary: String,
}

/// `GET /transfers/active`.
#[derive(Debug, Serialize, ToSchema)]
pub struct ActiveTransfers {
    pub active_transfers: Vec<ActiveTransfer>,
}

/// `POST /transfer/complete`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct CompleteTransfer {
    pub transfer_id: String,
    pub original_room: Option<String>,
    pub caller_name: Option<String>,
    pub agent_b: Option<String>,
}

/// A completed hand-off.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferCompleted {
    #[schema(example = "transfer_completed")]
    pub status: String,
    pub caller_token: String,
    pub final_room: String,
    pub agent_b: String,
    pub livekit_url: String,
}

/// The caller's poll.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct CallerTransferStatus {
    pub transfer_complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_room: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_b: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub livekit_url: Option<String>,
}

/// Agent B's poll.
#[derive(Debug, Default, Serialize, ToSchema)]
pub struct AgentTransferStatus {
    pub transfer_complete: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub transfer_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub final_room: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub caller_name: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub agent_token: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub livekit_url: Option<String>,
}

/// `POST /room/participants`: a client's view of a room.
#[derive(Debug, Deserialize, ToSchema)]
pub struct RoomReport {
    pub room_name: String,
    pub participants: Vec<String>,
}

/// A recorded room report.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomReported {
    #[schema(example = "updated")]
    pub status: String,
    pub room: String,
    pub participants: Vec<String>,
}

/// Who is in a room, by identity.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomMembers {
    pub room: String,
    pub participants: Vec<String>,
}

/// `POST /call/{call_id}/join`.
#[derive(Debug, Deserialize, ToSchema)]
pub struct JoinCallRequest {
    pub identity: Option<String>,
    pub agent_name: Option<String>,
    /// `caller` or `agent`; by default `agent` for `agent_name`, else inferred from the call.
    pub role: Option<String>,
}
