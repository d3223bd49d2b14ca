//! The kinds of durable work.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

/// One unit of work; stored as JSON with its `kind`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Job {
    /// LiveKit: create a (briefing) room.
    CreateRoom { room: String },
    /// LiveKit: close a room, disconnecting whoever is left.
    DeleteRoom { room: String },
    /// LiveKit: take one participant out of a room.
    RemoveParticipant { room: String, identity: String },
    /// LiveKit Cloud: move a participant to another room.
    MoveParticipant {
        room: String,
        identity: String,
        destination: String,
    },
    /// Timer: expire the transfer if it is still waiting for Agent B. No longer queued (one
    /// sweep over the transfers' deadlines covers every transfer): kept so that jobs queued by
    /// earlier versions still run.
    ExpireTransfer { transfer_id: Uuid },
    /// Timer: end the call if no agent has joined it yet. No longer queued (one sweep covers
    /// every call): kept so that jobs queued by earlier versions still run.
    ExpireUnansweredCall { call_id: Uuid },
    /// Check LiveKit for the receiving side of a hand-off; repeats until seen or timed out.
    /// No longer queued (one check per interval covers every hand-off): kept so that jobs
    /// queued by earlier versions still run.
    ConfirmHandoff { transfer_id: Uuid },
    /// Timer: fail the transfer if its hand-off is still unconfirmed. No longer queued (as
    /// [`Job::ExpireTransfer`]).
    HandoffTimeout { transfer_id: Uuid },
    /// Ask the configured model for a summary and store it as a new row.
    GenerateSummary {
        call_id: Uuid,
        transfer_id: Option<Uuid>,
    },
}

impl Job {
    /// The `kind` stored beside the payload, for queries and logs.
    pub fn kind(&self) -> &'static str {
        match self {
            Self::CreateRoom { .. } => "create_room",
            Self::DeleteRoom { .. } => "delete_room",
            Self::RemoveParticipant { .. } => "remove_participant",
            Self::MoveParticipant { .. } => "move_participant",
            Self::ExpireTransfer { .. } => "expire_transfer",
            Self::ExpireUnansweredCall { .. } => "expire_unanswered_call",
            Self::ConfirmHandoff { .. } => "confirm_handoff",
            Self::HandoffTimeout { .. } => "handoff_timeout",
            Self::GenerateSummary { .. } => "generate_summary",
        }
    }

    /// Whether the hand-off itself depends on this job, so that its giving up fails the
    /// transfer. Every other LiveKit operation is a side effect: retried, then recorded.
    pub fn gates_handoff(&self) -> bool {
        matches!(
            self,
            Self::MoveParticipant { .. } | Self::ConfirmHandoff { .. }
        )
    }
}

/// Where a job is in the queue. Mirrors the database's `jobs_status_known`.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, utoipa::ToSchema, sqlx::Type,
)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Waiting for its `run_after`, or for a retry.
    Pending,
    /// Claimed by a worker, whose lease keeps it.
    Running,
    /// Finished.
    Done,
    /// Gave up after its last attempt.
    Dead,
    /// A timer whose transfer ended before it was due.
    Cancelled,
}

impl JobStatus {
    /// Every status.
    pub const ALL: [Self; 5] = [
        Self::Pending,
        Self::Running,
        Self::Done,
        Self::Dead,
        Self::Cancelled,
    ];

    /// The name stored in the database.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Pending => "pending",
            Self::Running => "running",
            Self::Done => "done",
            Self::Dead => "dead",
            Self::Cancelled => "cancelled",
        }
    }
}

/// A job taken by a worker.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ClaimedJob {
    pub id: i64,
    pub kind: String,
    pub payload: sqlx::types::Json<serde_json::Value>,
    pub call_id: Uuid,
    pub transfer_id: Option<Uuid>,
    pub attempts: i32,
    pub max_attempts: i32,
    pub claimed_at: DateTime<Utc>,
}

/// How a run of a job ended.
#[derive(Debug)]
pub enum RunOutcome {
    Done,
    /// Nothing wrong, but not finished: look again after this long (not counted as an attempt).
    NotYet(std::time::Duration),
    Failed(anyhow::Error),
    /// Failed in a way no retry can change (its payload cannot be read): dead at once.
    Unrunnable(anyhow::Error),
}

/// A job as replay shows it.
#[derive(Debug, Clone, serde::Serialize, utoipa::ToSchema, sqlx::FromRow)]
pub struct JobRecord {
    pub id: i64,
    /// `create_room`, `delete_room`, `remove_participant`, `confirm_handoff`, …
    pub kind: String,
    /// What was asked (room, identity, …).
    #[schema(value_type = Object)]
    pub payload: sqlx::types::Json<serde_json::Value>,
    pub status: JobStatus,
    pub attempts: i32,
    pub last_error: Option<String>,
    pub created_at: DateTime<Utc>,
    pub finished_at: Option<DateTime<Utc>>,
}
