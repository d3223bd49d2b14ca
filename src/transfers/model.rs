//! Transfers, their states and the requests that drive them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;
use crate::livekit::model::IssuedToken;
use crate::summaries::model::Summary;

/// Longest free-text reason or detail.
pub const MAX_REASON_CHARS: usize = 1000;

/// Where a transfer is. Mirrors the database's `transfer_state`; the database decides which
/// changes are allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "transfer_state", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TransferState {
    /// Waiting for Agent B to accept.
    Initiated,
    /// Agent A is briefing Agent B in the briefing room.
    Briefing,
    /// The caller is being handed to Agent B.
    Connecting,
    /// Agent B has the caller.
    Completed,
    /// Agent A withdrew the transfer.
    Cancelled,
    /// Agent B refused it.
    Declined,
    /// Nobody accepted in time.
    Expired,
    /// The hand-off did not happen (timeout or LiveKit error).
    Failed,
    /// The caller left, or the call ended, before the hand-off.
    Abandoned,
}

impl TransferState {
    /// Every state, in the order a transfer can reach them.
    pub const ALL: [Self; 9] = [
        Self::Initiated,
        Self::Briefing,
        Self::Connecting,
        Self::Completed,
        Self::Cancelled,
        Self::Declined,
        Self::Expired,
        Self::Failed,
        Self::Abandoned,
    ];

    /// The states a transfer is under way in; the rest are terminal. A call has at most one
    /// transfer in these (the database's `transfers_one_active_per_call`).
    pub const ACTIVE: [Self; 3] = [Self::Initiated, Self::Briefing, Self::Connecting];

    /// No further change is possible.
    pub fn is_terminal(self) -> bool {
        !Self::ACTIVE.contains(&self)
    }

    /// The name used in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Initiated => "initiated",
            Self::Briefing => "briefing",
            Self::Connecting => "connecting",
            Self::Completed => "completed",
            Self::Cancelled => "cancelled",
            Self::Declined => "declined",
            Self::Expired => "expired",
            Self::Failed => "failed",
            Self::Abandoned => "abandoned",
        }
    }
}

/// Whether Agent A stays once Agent B has the caller.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type,
)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum TransferMode {
    /// Agent A leaves the caller's room when the transfer completes.
    #[default]
    Consult,
    /// Agent A stays for a three-way introduction and leaves on their own.
    Conference,
}

/// How the caller ends up with Agent B.
#[derive(
    Debug, Default, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type,
)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Handoff {
    /// Agent B joins the caller's room; the caller never reconnects.
    #[default]
    AgentJoinsCaller,
    /// The caller is given a token for the briefing room and reconnects there (the prototype's
    /// behaviour; with `LIVEKIT_MOVE_PARTICIPANT=true` on LiveKit Cloud, the caller is moved).
    MoveCaller,
}

/// Why a transfer ended where it did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Declined: Agent B is busy.
    Busy,
    /// Declined: Agent B is not the right person.
    WrongSkill,
    /// Declined for another reason (see `outcome_detail`).
    Other,
    /// Cancelled by Agent A.
    AgentCancelled,
    /// Expired: nobody accepted in time.
    NoAnswer,
    /// Failed: LiveKit refused a hand-off operation.
    LivekitError,
    /// Failed: the receiving side was not seen in the room in time.
    HandoffTimeout,
    /// Abandoned: the caller left the room.
    CallerLeft,
    /// Abandoned: the call was ended.
    CallEnded,
}

/// Why Agent B declines.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum DeclineReason {
    Busy,
    WrongSkill,
    Other,
}

impl Outcome {
    /// Every outcome, as the database's `transfers_outcome_known` lists them.
    pub const ALL: [Self; 9] = [
        Self::Busy,
        Self::WrongSkill,
        Self::Other,
        Self::AgentCancelled,
        Self::NoAnswer,
        Self::LivekitError,
        Self::HandoffTimeout,
        Self::CallerLeft,
        Self::CallEnded,
    ];

    /// The name used in the database and on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Busy => "busy",
            Self::WrongSkill => "wrong_skill",
            Self::Other => "other",
            Self::AgentCancelled => "agent_cancelled",
            Self::NoAnswer => "no_answer",
            Self::LivekitError => "livekit_error",
            Self::HandoffTimeout => "handoff_timeout",
            Self::CallerLeft => "caller_left",
            Self::CallEnded => "call_ended",
        }
    }
}

impl From<DeclineReason> for Outcome {
    fn from(reason: DeclineReason) -> Self {
        match reason {
            DeclineReason::Busy => Self::Busy,
            DeclineReason::WrongSkill => Self::WrongSkill,
            DeclineReason::Other => Self::Other,
        }
    }
}

/// A transfer with its caller's name and the summary Agent B would be shown, read in one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct TransferOverview {
    #[sqlx(flatten)]
    pub transfer: Transfer,
    pub caller_name: String,
    /// The best summary's text and script (the model's when there is one).
    pub summary_text: Option<String>,
    pub briefing_script: Option<String>,
}

/// A warm transfer of a call from one agent to another.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Transfer {
    pub id: Uuid,
    pub call_id: Uuid,
    #[schema(example = "agent_alice")]
    pub from_agent: String,
    #[schema(example = "agent_bob")]
    pub to_agent: String,
    pub mode: TransferMode,
    pub handoff: Handoff,
    #[schema(example = "Billing dispute needs a specialist")]
    pub reason: Option<String>,
    pub state: TransferState,
    /// Set when the transfer ended anywhere but `completed`.
    pub outcome: Option<Outcome>,
    pub outcome_detail: Option<String>,
    /// On `completed`: `true` when Agent B (or the caller) was seen in the room, `false` when
    /// completion was taken on Agent A's word.
    pub handoff_confirmed: Option<bool>,
    /// The caller's room when the transfer started.
    pub caller_room: String,
    /// The private room where Agent A briefs Agent B.
    #[schema(example = "transfer_0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f81")]
    pub briefing_room: String,
    /// Where the caller and Agent B talk once the transfer completed.
    pub final_room: Option<String>,
    /// An `initiated` transfer not accepted by then expires.
    pub accept_deadline: DateTime<Utc>,
    /// A `connecting` transfer not confirmed by then fails.
    pub handoff_deadline: Option<DateTime<Utc>>,
    pub initiated_at: DateTime<Utc>,
    pub briefing_at: Option<DateTime<Utc>>,
    pub connecting_at: Option<DateTime<Utc>>,
    pub completed_at: Option<DateTime<Utc>>,
    pub cancelled_at: Option<DateTime<Utc>>,
    pub declined_at: Option<DateTime<Utc>>,
    pub expired_at: Option<DateTime<Utc>>,
    pub failed_at: Option<DateTime<Utc>>,
    pub abandoned_at: Option<DateTime<Utc>>,
    pub updated_at: DateTime<Utc>,
}

/// Start a transfer.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "from_agent": "agent_alice", "to_agent": "agent_bob", "reason": "Billing dispute",
    "mode": "consult", "handoff": "agent_joins_caller"
}))]
pub struct CreateTransfer {
    /// The agent handing the call over: the call's current agent.
    #[schema(min_length = 1, max_length = 128)]
    pub from_agent: String,
    /// The agent receiving it.
    #[schema(min_length = 1, max_length = 128)]
    pub to_agent: String,
    /// Why, in a sentence.
    #[schema(min_length = 1, max_length = 1000)]
    pub reason: Option<String>,
    #[serde(default)]
    pub mode: TransferMode,
    #[serde(default)]
    pub handoff: Handoff,
    /// A name for the briefing room (letters, digits, `_`, `-`, `.`; up to 128); by default
    /// `transfer_<id>`.
    #[schema(min_length = 1, max_length = 128, pattern = "^[A-Za-z0-9_.-]+$")]
    pub briefing_room: Option<String>,
}

/// A transfer's phases from its timestamps: each state it reached, in order, its durations,
/// and when it ended (for replays, wherever their records come from).
pub fn phases(
    transfer: &Transfer,
) -> (
    Vec<ReplayStep>,
    ReplayDurations,
    Option<chrono::DateTime<chrono::Utc>>,
) {
    let stamps = [
        (TransferState::Initiated, Some(transfer.initiated_at)),
        (TransferState::Briefing, transfer.briefing_at),
        (TransferState::Connecting, transfer.connecting_at),
        (TransferState::Completed, transfer.completed_at),
        (TransferState::Cancelled, transfer.cancelled_at),
        (TransferState::Declined, transfer.declined_at),
        (TransferState::Expired, transfer.expired_at),
        (TransferState::Failed, transfer.failed_at),
        (TransferState::Abandoned, transfer.abandoned_at),
    ];
    let ms = |from: chrono::DateTime<chrono::Utc>, to: chrono::DateTime<chrono::Utc>| {
        (to - from).num_milliseconds()
    };
    let mut steps: Vec<ReplayStep> = stamps
        .into_iter()
        .filter_map(|(state, at)| {
            at.map(|at| ReplayStep {
                state,
                at,
                after_ms: ms(transfer.initiated_at, at),
            })
        })
        .collect();
    steps.sort_by_key(|s| s.at);
    let ended_at = steps.iter().find(|s| s.state.is_terminal()).map(|s| s.at);
    let durations = ReplayDurations {
        to_accept_ms: transfer.briefing_at.map(|b| ms(transfer.initiated_at, b)),
        briefing_ms: transfer
            .briefing_at
            .zip(transfer.connecting_at)
            .map(|(b, c)| ms(b, c)),
        handoff_ms: transfer.connecting_at.zip(ended_at).map(|(c, e)| ms(c, e)),
        total_ms: ended_at.map(|e| ms(transfer.initiated_at, e)),
    };
    (steps, durations, ended_at)
}

/// The briefing room of transfer `id` when its creator names none.
pub fn default_briefing_room(id: Uuid) -> String {
    format!("transfer_{id}")
}

/// A [`CreateTransfer`] that passed validation.
#[derive(Debug)]
pub struct NewTransfer {
    pub id: Uuid,
    pub from_agent: Identity,
    pub to_agent: Identity,
    pub reason: Option<String>,
    pub mode: TransferMode,
    pub handoff: Handoff,
    pub briefing_room: String,
}

impl CreateTransfer {
    /// Checks every field, reporting all problems at once.
    pub fn parse(self) -> Result<NewTransfer, ApiError> {
        let mut v = Validator::default();
        let from = v.check("from_agent", Identity::parse(&self.from_agent));
        let to = v.check("to_agent", Identity::parse(&self.to_agent));
        let reason = v.check_opt("reason", self.reason, |r| {
            bounded_text(&r, MAX_REASON_CHARS)
        });
        let room = v.check_opt("briefing_room", self.briefing_room, |r| parse_room_name(&r));
        if let (Some(from), Some(to)) = (&from, &to)
            && from == to
        {
            v.fail(
                "to_agent",
                "must differ from from_agent: an agent cannot transfer a call to themselves",
            );
        }
        let (Some(from_agent), Some(to_agent), Some(reason), Some(room)) = (from, to, reason, room)
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        let id = Uuid::now_v7();
        Ok(NewTransfer {
            id,
            from_agent,
            to_agent,
            reason,
            mode: self.mode,
            handoff: self.handoff,
            briefing_room: room.unwrap_or_else(|| default_briefing_room(id)),
        })
    }
}

/// A LiveKit room name we accept from clients.
pub fn parse_room_name(raw: &str) -> Result<String, String> {
    let name = raw.trim();
    let valid = !name.is_empty()
        && name.len() <= MAX_NAME_CHARS
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.".contains(c));
    if valid {
        Ok(name.to_owned())
    } else {
        Err(format!(
            "must be 1 to {MAX_NAME_CHARS} letters, digits, `_`, `-` or `.`"
        ))
    }
}

/// Who acts on a transfer. Optional: when given, it must be the agent the action belongs to.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"agent": "agent_bob"}))]
pub struct TransferAction {
    /// The acting agent's identity (`to_agent` for accept/decline, `from_agent` for
    /// complete/cancel).
    pub agent: Option<String>,
    /// A note for the timeline (cancel).
    pub detail: Option<String>,
}

/// Agent B says no.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"agent": "agent_bob", "reason": "busy", "detail": "On another call"}))]
pub struct DeclineTransfer {
    /// The declining agent (`to_agent`).
    pub agent: Option<String>,
    pub reason: DeclineReason,
    pub detail: Option<String>,
}

/// A transfer with the token its caller needs next.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferWithToken {
    pub transfer: Transfer,
    /// Create: Agent A's token for the briefing room. Accept: Agent B's token for the briefing
    /// room. Complete: the token of whoever must join the final room (Agent B for
    /// `agent_joins_caller`, the caller for `move_caller`); absent for an agent key, which
    /// gets tokens for its own identity only (the others ask `POST /v1/tokens`).
    pub token: Option<IssuedToken>,
    /// The summary and briefing script for Agent B: the model's once it has answered, the
    /// local one until then.
    pub summary: Option<Summary>,
}

/// A transfer with its summary.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferView {
    #[serde(flatten)]
    pub transfer: Transfer,
    /// The summary and briefing script for Agent B (the model's once it has answered).
    pub summary: Option<Summary>,
}

/// Filters and paging for the transfer list (newest first).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferListQuery {
    /// Only transfers in this state.
    pub state: Option<TransferState>,
    /// `true`: only transfers under way (initiated, briefing, connecting); `false`: only ended ones.
    pub active: Option<bool>,
    /// Only transfers to this agent.
    #[param(max_length = 128)]
    pub to_agent: Option<String>,
    /// Only transfers from this agent.
    #[param(max_length = 128)]
    pub from_agent: Option<String>,
    /// Only transfers of this call.
    pub call_id: Option<Uuid>,
    /// Only transfers this agent is a side of (sending or receiving).
    #[param(max_length = 128)]
    pub agent: Option<String>,
    /// Only transfers that ended with this outcome.
    pub outcome: Option<Outcome>,
    /// Only transfers initiated at or after this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub initiated_after: Option<DateTime<Utc>>,
    /// Only transfers initiated before this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub initiated_before: Option<DateTime<Utc>>,
    /// Only ended transfers that took at least this many milliseconds, initiated to ended.
    #[param(minimum = 0, maximum = 315_360_000_000_i64)]
    pub min_duration_ms: Option<i64>,
    /// Only ended transfers that took at most this many whole milliseconds, initiated to ended.
    #[param(minimum = 0, maximum = 315_360_000_000_i64)]
    pub max_duration_ms: Option<i64>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Longest duration a transfer list filter takes: ten years, in milliseconds.
pub const MAX_DURATION_MS: i64 = 315_360_000_000;

/// One step of a transfer's life.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayStep {
    pub state: TransferState,
    pub at: DateTime<Utc>,
    /// Milliseconds since the transfer was initiated.
    pub after_ms: i64,
}

/// How long each phase took, in milliseconds (absent for phases never reached).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReplayDurations {
    /// Initiated until Agent B accepted.
    pub to_accept_ms: Option<i64>,
    /// Accepted until Agent A handed over.
    pub briefing_ms: Option<i64>,
    /// Handed over until the transfer ended.
    pub handoff_ms: Option<i64>,
    /// Initiated until the transfer ended.
    pub total_ms: Option<i64>,
}

/// Who was in one of the transfer's rooms, session by session.
#[derive(Debug, Serialize, ToSchema)]
pub struct RoomHistory {
    pub room: String,
    pub participants: Vec<crate::participants::model::Participant>,
}

/// Everything QA needs to replay a transfer, from the stored records alone.
#[derive(Debug, Serialize, ToSchema)]
pub struct TransferReplay {
    pub transfer: Transfer,
    pub call: crate::calls::model::Call,
    /// Every state the transfer went through, in order.
    pub steps: Vec<ReplayStep>,
    pub durations: ReplayDurations,
    /// Every summary written for the transfer, oldest first.
    pub summaries: Vec<Summary>,
    /// The summary Agent B had when the briefing began (the best one written by then).
    pub briefing_summary_id: Option<Uuid>,
    /// What was said up to the hand-off (segments received before `connecting_at`).
    pub transcript: Vec<crate::transcripts::model::Segment>,
    /// The transfer's events and the comings and goings in its rooms, in order.
    pub events: Vec<crate::events::model::Event>,
    /// Session history of the caller's room and the briefing room.
    pub rooms: Vec<RoomHistory>,
    /// What LiveKit was asked to do, and how that went.
    pub jobs: Vec<crate::jobs::model::JobRecord>,
}
