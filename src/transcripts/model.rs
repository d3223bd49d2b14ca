//! Transcript segments.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;

/// Most segments one append may carry.
pub const MAX_SEGMENTS_PER_BATCH: usize = 500;
/// Longest text of one segment.
pub const MAX_SEGMENT_CHARS: usize = 10_000;

/// Who spoke.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum SpeakerRole {
    Caller,
    Agent,
    System,
}

impl SpeakerRole {
    /// The name stored in the database and sent on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Caller => "caller",
            Self::Agent => "agent",
            Self::System => "system",
        }
    }
}

/// One stored segment of speech.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Segment {
    /// The client's id for the segment (unique within the call).
    #[schema(example = "seg-0001")]
    pub segment_id: String,
    /// Identity of the speaker.
    #[schema(example = "Jane Doe")]
    pub speaker: String,
    pub role: SpeakerRole,
    #[schema(example = "My order arrived damaged.")]
    pub text: String,
    /// Start, in milliseconds from the start of the call.
    #[schema(example = 1250)]
    pub start_ms: i64,
    /// End, in milliseconds from the start of the call.
    #[schema(example = 3900)]
    pub end_ms: Option<i64>,
    /// Wall-clock time the segment was spoken, when the client knows it.
    pub spoken_at: Option<DateTime<Utc>>,
    /// When warmline stored it.
    pub received_at: DateTime<Utc>,
    #[serde(skip)]
    #[schema(ignore)]
    pub seq: i64,
}

/// One segment as a client sends it.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewSegment {
    /// The client's id for this segment; re-sending it never stores it twice.
    #[schema(min_length = 1, max_length = 128)]
    pub segment_id: String,
    /// Identity of the speaker.
    #[schema(min_length = 1, max_length = 128)]
    pub speaker: String,
    pub role: SpeakerRole,
    #[schema(min_length = 1, max_length = 10000)]
    pub text: String,
    /// Start, in milliseconds from the start of the call (≥ 0).
    #[schema(minimum = 0)]
    pub start_ms: i64,
    /// End, in milliseconds from the start of the call (≥ `start_ms`).
    #[schema(minimum = 0)]
    pub end_ms: Option<i64>,
    /// Wall-clock time the segment was spoken.
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub spoken_at: Option<DateTime<Utc>>,
}

/// A batch of segments to append.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"segments": [
    {"segment_id": "seg-0001", "speaker": "Jane Doe", "role": "caller", "text": "My order 4411 arrived damaged.", "start_ms": 1250, "end_ms": 3900},
    {"segment_id": "seg-0002", "speaker": "agent_alice", "role": "agent", "text": "Sorry to hear that, let me check.", "start_ms": 4100}
]}))]
pub struct AppendSegments {
    /// 1–500 segments.
    #[schema(min_items = 1, max_items = 500)]
    pub segments: Vec<NewSegment>,
}

/// Columns of a validated batch, ready for one multi-row insert.
#[derive(Debug, Default)]
pub struct SegmentColumns {
    pub segment_id: Vec<String>,
    pub speaker: Vec<String>,
    pub role: Vec<String>,
    pub text: Vec<String>,
    pub start_ms: Vec<i64>,
    pub end_ms: Vec<Option<i64>>,
    pub spoken_at: Vec<Option<DateTime<Utc>>>,
}

impl AppendSegments {
    /// Checks every segment, naming each bad field by its position.
    pub fn parse(self) -> Result<SegmentColumns, ApiError> {
        let mut v = Validator::default();
        if self.segments.is_empty() || self.segments.len() > MAX_SEGMENTS_PER_BATCH {
            v.fail(
                "segments",
                format!("must hold 1 to {MAX_SEGMENTS_PER_BATCH} segments"),
            );
        }
        let mut cols = SegmentColumns::default();
        let mut seen = std::collections::HashSet::new();
        for (i, s) in self.segments.into_iter().enumerate() {
            let at = |field: &str| format!("segments[{i}].{field}");
            let id = v.check(
                &at("segment_id"),
                bounded_text(&s.segment_id, MAX_NAME_CHARS),
            );
            if let Some(id) = &id
                && !seen.insert(id.clone())
            {
                v.fail(&at("segment_id"), "appears more than once in this batch");
            }
            let speaker = v.check(&at("speaker"), Identity::parse(&s.speaker));
            let text = v.check(&at("text"), bounded_text(&s.text, MAX_SEGMENT_CHARS));
            if s.start_ms < 0 {
                v.fail(&at("start_ms"), "must not be negative");
            }
            if s.end_ms.is_some_and(|end| end < s.start_ms) {
                v.fail(&at("end_ms"), "must not be before start_ms");
            }
            if let (Some(id), Some(speaker), Some(text)) = (id, speaker, text) {
                cols.segment_id.push(id);
                cols.speaker.push(speaker.into_inner());
                cols.role.push(s.role.as_str().to_owned());
                cols.text.push(text);
                cols.start_ms.push(s.start_ms);
                cols.end_ms.push(s.end_ms);
                cols.spoken_at.push(s.spoken_at);
            }
        }
        v.finish()?;
        Ok(cols)
    }
}

/// What an append did.
#[derive(Debug, Serialize, ToSchema)]
pub struct AppendResult {
    /// Segments stored by this request.
    pub accepted: usize,
    /// Segments skipped because their `segment_id` was already stored.
    pub duplicates: usize,
}

/// Paging through a transcript, in spoken order.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TranscriptQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
