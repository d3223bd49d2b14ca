//! Entries of the append-only event log.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// One thing that happened to a call, written by the database as it happened.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": 42, "call_id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80", "transfer_id": null,
    "kind": "transcript.appended", "data": {"segments": 2, "first_start_ms": 1250, "last_start_ms": 4100},
    "created_at": "2026-11-25T10:00:00Z"
}))]
pub struct Event {
    /// Position in the log; strictly increasing.
    pub id: i64,
    pub call_id: Uuid,
    pub transfer_id: Option<Uuid>,
    /// `call.created`, `call.status_changed`, `call.agent_changed`, `call.ended`,
    /// `transcript.appended`, `transfer.<state>`, `participant.joined`, `review.created`,
    /// `job.failed`, …
    #[schema(example = "call.created")]
    pub kind: String,
    /// Details of the event; their shape depends on `kind`.
    #[schema(value_type = Object)]
    pub data: sqlx::types::Json<Value>,
    pub created_at: DateTime<Utc>,
    /// The agents the event's call had had when the event was read (for `agent=` streams).
    #[serde(skip)]
    #[schema(ignore)]
    #[sqlx(default)]
    pub agents: Vec<String>,
}

/// Paging through a timeline, oldest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TimelineQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// What a live event stream carries.
#[derive(Debug, Default, Clone, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct EventStreamQuery {
    /// Only events of this call.
    pub call_id: Option<Uuid>,
    /// Only events of this transfer.
    pub transfer_id: Option<Uuid>,
    /// Only events whose kind starts with this (`transfer.`, `participant.`, `summary.created`).
    pub kind: Option<String>,
    /// Only events of calls this agent has been on, offers of transfers to it included (an
    /// agent key's stream is always its own agent's).
    #[param(min_length = 1, max_length = 128)]
    pub agent: Option<String>,
    /// Start after this event id (replaying what came since); by default, only new events.
    /// The `Last-Event-ID` header, sent by reconnecting clients, takes precedence.
    pub after: Option<i64>,
}

impl EventStreamQuery {
    /// Whether `event` passes these filters (the same as `store::list_after`'s).
    pub fn wants(&self, event: &Event) -> bool {
        self.call_id.is_none_or(|id| id == event.call_id)
            && self
                .transfer_id
                .is_none_or(|id| Some(id) == event.transfer_id)
            && self
                .kind
                .as_deref()
                .is_none_or(|prefix| event.kind.starts_with(prefix))
            && self
                .agent
                .as_deref()
                .is_none_or(|agent| event.agents.iter().any(|a| a == agent))
    }
}
