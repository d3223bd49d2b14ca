//! The export document, the NDJSON stream's lines, and the stream's query.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::calls::model::{Call, CallStatus};
use crate::events::model::Event;
use crate::reviews::model::Review;
use crate::summaries::model::Summary;
use crate::transcripts::model::Segment;
use crate::transfers::model::{RoomHistory, TransferReplay};

/// The shape of [`CallExport`]; raised when a field changes meaning or goes away (new fields
/// may appear without a new version).
pub const FORMAT_VERSION: i32 = 1;

/// Largest `limit` of one NDJSON export request.
pub const MAX_EXPORT_LIMIT: i64 = 10_000;
/// `limit` of an NDJSON export when the client gives none.
pub const DEFAULT_EXPORT_LIMIT: i64 = 1_000;

/// Everything stored about one call, from its records alone.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({
    "format_version": 1,
    "call": {
        "id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80", "room_name": "call_0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80",
        "caller_name": "Jane Doe", "caller_identity": "Jane Doe", "caller_phone": null,
        "issue": "Order 4411 arrived damaged", "metadata": {}, "status": "ended",
        "current_agent": "agent_alice", "agents": ["agent_alice"],
        "created_at": "2026-11-25T10:00:00Z", "updated_at": "2026-11-25T10:06:00Z",
        "ended_at": "2026-11-25T10:06:00Z"
    },
    "transcript": [
        {"segment_id": "seg-0001", "speaker": "Jane Doe", "role": "caller",
         "text": "My order arrived damaged.", "start_ms": 1250, "end_ms": 3900,
         "spoken_at": null, "received_at": "2026-11-25T10:00:05Z"}
    ],
    "transfers": [],
    "summaries": [],
    "participants": [
        {"room": "call_0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80", "participants": [
            {"identity": "Jane Doe", "sid": "PA_3x9QzK", "name": "Jane Doe", "role": "caller",
             "state": "left", "joined_at": "2026-11-25T10:00:01Z", "left_at": "2026-11-25T10:06:00Z"}
        ]}
    ],
    "reviews": [],
    "events": [
        {"id": 1, "call_id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80", "transfer_id": null,
         "kind": "call.created", "data": {}, "created_at": "2026-11-25T10:00:00Z"}
    ]
}))]
pub struct CallExport {
    /// The version of this document's shape (now 1).
    #[schema(example = 1)]
    pub format_version: i32,
    pub call: Call,
    /// Every segment, in spoken order.
    pub transcript: Vec<Segment>,
    /// Every transfer of the call, in the order they began, each as its replay shows it.
    pub transfers: Vec<TransferReplay>,
    /// Every summary of the call, oldest first.
    pub summaries: Vec<Summary>,
    /// Session history of each of the call's rooms: its own, and its transfers' rooms.
    pub participants: Vec<RoomHistory>,
    /// Every review of the call's transfers, current and superseded, oldest first.
    pub reviews: Vec<Review>,
    /// The call's timeline, in log order.
    pub events: Vec<Event>,
}

/// The last line of an NDJSON export: how many documents came before it, and where the next
/// request resumes. A response without it was cut short.
#[derive(Debug, Serialize, ToSchema)]
#[schema(example = json!({"exported": 1000, "next_cursor": "WyIyMDI2LTExLTI1VDEwOjAwOjAwWiIsIjAxOTNhNWIwLTdkNmUtN2MxZi04ZjNhLTJiNGM1ZDZlN2Y4MCJd"}))]
pub struct ExportEnd {
    /// Documents in this response.
    pub exported: u64,
    /// Pass as `cursor` to export the rest; `null` when nothing is left.
    pub next_cursor: Option<String>,
}

/// One line of an NDJSON export: a call's document, or the closing line (the one without
/// `format_version`).
#[derive(Debug, Serialize, ToSchema)]
#[serde(untagged)]
pub enum ExportLine {
    Call(Box<CallExport>),
    End(ExportEnd),
}

/// Which calls to export, and how many: the filters of the call list, a larger `limit`.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ExportQuery {
    /// Only calls in this status.
    pub status: Option<CallStatus>,
    /// Only calls of this caller (name, case-insensitive).
    #[param(max_length = 128)]
    pub caller: Option<String>,
    /// Only calls created at or after this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub created_after: Option<DateTime<Utc>>,
    /// Only calls created before this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub created_before: Option<DateTime<Utc>>,
    /// Full-text search, as in the call list.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Documents in this response, 1–10000 (default 1000).
    #[param(minimum = 1, maximum = 10000)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous export's last line (or of a call list page).
    pub cursor: Option<String>,
}
