//! Calls as the API shows them, and the requests that create and find them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::auth::model::Principal;
use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;

/// Largest `metadata` object, serialized, that a call may carry.
pub const MAX_METADATA_BYTES: usize = 16 * 1024;
/// Longest `issue` text.
pub const MAX_ISSUE_CHARS: usize = 4000;

/// Where a call is in its life.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum CallStatus {
    /// Created; no agent has joined yet.
    Waiting,
    /// An agent is on the call.
    Active,
    /// A transfer to another agent is under way.
    Transferring,
    /// Over. Transcript segments are still accepted for a grace period.
    Ended,
}

impl CallStatus {
    /// Every status (the database's `calls_status_known` lists the same).
    pub const ALL: [Self; 4] = [Self::Waiting, Self::Active, Self::Transferring, Self::Ended];

    /// The name used in the database and on the wire (a fixed word: safe to write into SQL).
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Waiting => "waiting",
            Self::Active => "active",
            Self::Transferring => "transferring",
            Self::Ended => "ended",
        }
    }
}

/// A call as a request names it: by id, or by one of its rooms (its own, or a briefing room of
/// one of its transfers).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CallKey {
    Id(Uuid),
    Room(String),
}

impl CallKey {
    /// The error for a call this key finds none of.
    pub fn not_found(&self) -> crate::error::ApiError {
        match self {
            Self::Id(id) => crate::error::ApiError::not_found("call", id),
            Self::Room(room) => crate::error::ApiError::not_found("room", room),
        }
    }
}

/// A call between a caller and the agents who take it.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Call {
    pub id: Uuid,
    /// The LiveKit room of the call (`call_<id>`).
    #[schema(example = "call_0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80")]
    pub room_name: String,
    #[schema(example = "Jane Doe")]
    pub caller_name: String,
    /// The caller's LiveKit identity; tokens for the caller are minted for it alone.
    #[schema(example = "Jane Doe")]
    pub caller_identity: String,
    #[schema(example = "+1 415 555 0100")]
    pub caller_phone: Option<String>,
    /// What the caller called about, as first stated.
    #[schema(example = "Order 4411 arrived damaged")]
    pub issue: Option<String>,
    /// Free-form data the client attached.
    #[schema(value_type = Object)]
    pub metadata: sqlx::types::Json<Value>,
    pub status: CallStatus,
    /// The agent now handling the call.
    #[schema(example = "agent_alice")]
    pub current_agent: Option<String>,
    /// Every agent the call has had: its agents and the receiving side of its transfers.
    #[schema(example = json!(["agent_alice", "agent_bob"]))]
    pub agents: Vec<String>,
    /// The API key that started the call (a frontend reads only its own calls).
    #[serde(skip)]
    pub created_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub ended_at: Option<DateTime<Utc>>,
}

impl Call {
    /// May the principal read this call? Supervisors and admins read all; an agent key the calls
    /// it has been on and those waiting for an agent; a frontend key the calls it started.
    pub fn check_read(&self, principal: &Principal) -> Result<(), ApiError> {
        if principal.reads_everything() {
            return Ok(());
        }
        if let Some(agent) = principal.agent() {
            if self.status == CallStatus::Waiting || self.agents.iter().any(|a| a == agent) {
                return Ok(());
            }
            return Err(ApiError::Forbidden(format!(
                "agent {agent} has not been on this call"
            )));
        }
        if principal.frontend().is_some() && principal.frontend() == self.created_by {
            return Ok(());
        }
        Err(ApiError::Forbidden(
            "this key did not start this call".into(),
        ))
    }

    /// May the principal act on this call as one of its parties (end it, write its transcript)?
    /// Its current agent, the key that started it, or an admin.
    pub fn check_party(&self, principal: &Principal) -> Result<(), ApiError> {
        if principal.is_admin() {
            return Ok(());
        }
        if let Some(agent) = principal.agent() {
            if self.current_agent.as_deref() == Some(agent) {
                return Ok(());
            }
            return Err(ApiError::Forbidden(format!(
                "agent {agent} is not handling this call"
            )));
        }
        if principal.frontend().is_some() && principal.frontend() == self.created_by {
            return Ok(());
        }
        Err(ApiError::Forbidden(
            "only the call's agent or the key that started it may do this".into(),
        ))
    }
}

/// A call with what a list of calls shows of its latest transfer and its transcript, read in
/// one query.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct CallOverview {
    #[sqlx(flatten)]
    pub call: Call,
    /// Sides of the call's latest transfer, if any.
    pub transfer_from: Option<String>,
    pub transfer_to: Option<String>,
    /// Whether that transfer is still under way.
    pub transfer_active: Option<bool>,
    /// The transcript, one `speaker: text` line per segment in spoken order.
    pub transcript: Option<String>,
}

/// A new call.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "caller_name": "Jane Doe",
    "caller_phone": "+1 415 555 0100",
    "issue": "Order 4411 arrived damaged",
    "metadata": {"crm_id": "C-1029"}
}))]
pub struct CreateCall {
    /// The caller's name (1–128 characters).
    #[schema(min_length = 1, max_length = 128)]
    pub caller_name: String,
    /// The caller's LiveKit identity; defaults to `caller_name`.
    #[schema(min_length = 1, max_length = 128)]
    pub caller_identity: Option<String>,
    /// A phone number: digits with optional `+`, spaces, dashes, dots, parentheses.
    pub caller_phone: Option<String>,
    /// What the call is about (up to 4000 characters).
    #[schema(min_length = 1, max_length = 4000)]
    pub issue: Option<String>,
    /// Any JSON object (up to 16 KiB).
    #[schema(value_type = Option<Object>)]
    pub metadata: Option<Map<String, Value>>,
}

/// A [`CreateCall`] that passed validation.
#[derive(Debug)]
pub struct NewCall {
    pub id: Uuid,
    pub room_name: String,
    pub caller_name: String,
    pub caller_identity: String,
    pub caller_phone: Option<String>,
    pub issue: Option<String>,
    pub metadata: Value,
    /// The key that starts it, when there is one.
    pub created_by: Option<Uuid>,
}

impl CreateCall {
    /// Checks every field, reporting all problems at once.
    pub fn parse(self) -> Result<NewCall, ApiError> {
        let mut v = Validator::default();
        let name = v.check(
            "caller_name",
            bounded_text(&self.caller_name, MAX_NAME_CHARS),
        );
        let identity = v.check_opt("caller_identity", self.caller_identity, |s| {
            Identity::parse(&s).map(Identity::into_inner)
        });
        let phone = v.check_opt("caller_phone", self.caller_phone, |s| parse_phone(&s));
        let issue = v.check_opt("issue", self.issue, |s| bounded_text(&s, MAX_ISSUE_CHARS));
        let metadata = Value::Object(self.metadata.unwrap_or_default());
        if metadata.to_string().len() > MAX_METADATA_BYTES {
            v.fail(
                "metadata",
                format!("must be at most {MAX_METADATA_BYTES} bytes as JSON"),
            );
        }
        let (Some(name), Some(identity), Some(phone), Some(issue)) = (name, identity, phone, issue)
        else {
            return Err(v.into_error());
        };
        v.finish()?;
        // Time-ordered ids keep the newest-first index hot and the room names sortable.
        let id = Uuid::now_v7();
        Ok(NewCall {
            id,
            room_name: format!("call_{id}"),
            caller_identity: identity.unwrap_or_else(|| name.clone()),
            caller_name: name,
            caller_phone: phone,
            issue,
            metadata,
            created_by: None,
        })
    }
}

/// A phone number as a call stores it: trimmed, digits with light punctuation.
pub fn parse_phone(raw: &str) -> Result<String, String> {
    let phone = raw.trim();
    let digits = phone.chars().filter(char::is_ascii_digit).count();
    let allowed = |c: char| c.is_ascii_digit() || " -.()".contains(c);
    let body = phone.strip_prefix('+').unwrap_or(phone);
    if !(3..=20).contains(&digits) || !body.chars().all(allowed) {
        return Err("must be a phone number: 3 to 20 digits, optional leading +, spaces, dashes, dots or parentheses".into());
    }
    Ok(phone.to_owned())
}

/// The order of the call list.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize, ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum CallSort {
    /// Newest first.
    #[default]
    Newest,
    /// Best match for `q` first (its best-ranked text), then newest first.
    Relevance,
}

/// A call in the call list, with where a search found it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct CallHit {
    #[serde(flatten)]
    pub call: Call,
    /// With `q`: a few words of the call's best-matching text (its name and issue, a segment or
    /// a summary), the matched words between `**`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "the caller wants a **refund** for the blender")]
    pub snippet: Option<String>,
    /// With `q`: which text the snippet is from.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub matched_in: Option<MatchedIn>,
    /// The transcript segment the snippet is from (`segment_id`), when it is from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(example = "seg-0042")]
    pub segment_id: Option<String>,
    /// The summary the snippet is from, when it is from one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub summary_id: Option<Uuid>,
}

/// The kind of text a search matched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema, sqlx::Type)]
#[serde(rename_all = "snake_case")]
#[sqlx(type_name = "text", rename_all = "snake_case")]
pub enum MatchedIn {
    /// The caller's name or the issue.
    Call,
    /// A summary or its briefing script.
    Summary,
    /// A transcript segment.
    Segment,
}

/// Where a search matched one call: a few words of its best-matching text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Snippet {
    pub call_id: Uuid,
    pub text: String,
    pub matched_in: MatchedIn,
    pub segment_id: Option<String>,
    pub summary_id: Option<Uuid>,
}

/// A call that matched a search, with the rank of its best-matching text.
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct RankedCall {
    #[sqlx(flatten)]
    pub call: Call,
    pub rank: f32,
}

/// Where a listing by relevance resumes: after the call with this rank, creation time and id,
/// among the calls created up to the last (the first page's time).
pub type RankCursor = (f32, DateTime<Utc>, Uuid, DateTime<Utc>);

/// Longest duration a call list filter takes: ten years, in seconds.
pub const MAX_DURATION_SECS: i64 = 315_360_000;

/// Where a listing resumes: after the call with this creation time and id.
pub type CallCursor = (DateTime<Utc>, Uuid);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn phone_numbers_allow_common_punctuation_only() {
        assert!(parse_phone("+1 (415) 555-0100").is_ok());
        assert!(parse_phone("12").is_err());
        assert!(parse_phone("call me").is_err());
        assert!(parse_phone("+1 415 555 0100; DROP").is_err());
    }
}
