//! The query of `GET /v1/calls`. Apart from the call models: it names transfer states and
//! outcomes, and the transfer models name calls.

use chrono::{DateTime, Utc};
use serde::Deserialize;
use utoipa::IntoParams;

use super::model::{CallSort, CallStatus};
use crate::transfers::model::{Outcome, TransferState};

/// What the call list takes: filters, order and page.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct CallListParams {
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
    /// Full-text search over what was said and the summaries (web-search syntax: words,
    /// `"a phrase"`, `-word`, `or`), and the caller's name and issue.
    #[param(max_length = 200)]
    pub q: Option<String>,
    /// Only calls this agent has been on (at any point, not only last).
    #[param(max_length = 128)]
    pub agent: Option<String>,
    /// Only calls this agent is handling now, or handled last.
    #[param(max_length = 128)]
    pub final_agent: Option<String>,
    /// `true`: only calls with a transfer; `false`: only calls never transferred.
    pub has_transfer: Option<bool>,
    /// Only calls with a transfer in this state.
    pub transfer_state: Option<TransferState>,
    /// Only calls with a transfer that ended with this outcome (with `transfer_state`, the
    /// same transfer).
    pub transfer_outcome: Option<Outcome>,
    /// Only ended calls that lasted at least this many seconds, created to ended.
    #[param(minimum = 0, maximum = 315_360_000)]
    pub min_duration_secs: Option<i64>,
    /// Only ended calls that lasted at most this many whole seconds, created to ended.
    #[param(minimum = 0, maximum = 315_360_000)]
    pub max_duration_secs: Option<i64>,
    /// Only calls from this phone number, exactly as it was given (trimmed).
    #[param(max_length = 64)]
    pub caller_phone: Option<String>,
    /// Only calls whose latest summary finds the caller so (`positive`, `neutral`, `negative`,
    /// `frustrated`).
    pub sentiment: Option<crate::summaries::model::Sentiment>,
    /// Order of a search: `newest` (default) or `relevance` (best match first; needs `q`).
    /// Relevance ranks every match of a rare term; a common term (more than a few thousand
    /// matching texts) is ranked among its newest 100 matching calls, so narrow it with
    /// `created_before`/`created_after` to rank older calls. Its pages stay the same while
    /// calls arrive.
    #[param(inline)]
    pub sort: Option<CallSort>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
