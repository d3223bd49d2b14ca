//! Transfer statistics as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// The width of a series bucket, in UTC.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Bucket {
    Hour,
    Day,
}

impl Bucket {
    /// The `date_trunc` field of this bucket.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Hour => "hour",
            Self::Day => "day",
        }
    }
}

/// Filters of `GET /v1/stats`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct StatsQuery {
    /// Only transfers started at or after this instant (RFC 3339); default `to` minus 7 days.
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub from: Option<DateTime<Utc>>,
    /// Only transfers started before this instant (RFC 3339); default now. At most 366 days
    /// after `from`.
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub to: Option<DateTime<Utc>>,
    /// Only transfers this agent was a side of (`from_agent` or `to_agent`).
    #[param(max_length = 128)]
    pub agent: Option<String>,
    /// Only transfers with an agent of this team on either side.
    #[param(max_length = 128)]
    pub team: Option<String>,
    /// Also give the figures per bucket of `initiated_at` (UTC), as `series`. `hour` covers
    /// at most 31 days.
    pub bucket: Option<Bucket>,
}

/// Transfers by state.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StateCounts {
    pub initiated: i64,
    pub briefing: i64,
    pub connecting: i64,
    pub completed: i64,
    pub cancelled: i64,
    pub declined: i64,
    pub expired: i64,
    pub failed: i64,
    pub abandoned: i64,
}

/// Ended transfers by typed outcome.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OutcomeCounts {
    pub busy: i64,
    pub wrong_skill: i64,
    pub other: i64,
    pub agent_cancelled: i64,
    pub no_answer: i64,
    pub livekit_error: i64,
    pub handoff_timeout: i64,
    pub caller_left: i64,
    pub call_ended: i64,
}

/// The median and 90th percentile of a duration (linear interpolation), in milliseconds.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Percentiles {
    /// How many transfers the duration was measured on.
    pub count: i64,
    /// Null when `count` is 0.
    pub p50_ms: Option<f64>,
    /// Null when `count` is 0.
    pub p90_ms: Option<f64>,
}

/// An agent who declined transfers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Decliner {
    #[schema(example = "agent_bob")]
    pub agent: String,
    /// Transfers to this agent that ended `declined`.
    pub declined: i64,
}

/// The figures of a set of transfers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Figures {
    /// Transfers started in the range.
    pub transfers: i64,
    pub by_state: StateCounts,
    pub by_outcome: OutcomeCounts,
    /// Transfers in a terminal state.
    pub ended: i64,
    /// `completed / ended`; null when none ended.
    pub completion_rate: Option<f64>,
    /// `abandoned / transfers`; null when there are none.
    pub abandoned_rate: Option<f64>,
    /// `briefing_at − initiated_at`: how long Agent B took to accept.
    pub time_to_accept: Percentiles,
    /// `connecting_at − briefing_at`: how long Agent A briefed Agent B.
    pub briefing: Percentiles,
    /// `completed_at − connecting_at` of completed transfers whose hand-off was seen in the
    /// room: from Agent A letting the caller go to Agent B being seen with them, the time the
    /// caller had no agent. Completions on Agent A's word are left out: they were never
    /// observed, and their gap reads 0.
    pub handoff_gap: Percentiles,
    /// Receiving agents by declined transfers, most first (ties by identity), at most 10.
    pub top_decliners: Vec<Decliner>,
}

/// The figures of one bucket of the series.
#[derive(Debug, Clone, PartialEq, Serialize, ToSchema)]
pub struct BucketFigures {
    /// Where the bucket starts (UTC); the first may start before `from`, and counts only
    /// transfers from `from` on.
    pub start: DateTime<Utc>,
    #[serde(flatten)]
    pub figures: Figures,
}

/// Transfer statistics over a range of `initiated_at`, computed from the records.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({
    "from": "2026-11-23T00:00:00Z", "to": "2026-11-24T00:00:00Z",
    "agent": null, "team": "billing", "bucket": "day",
    "totals": {
        "transfers": 40,
        "by_state": {"initiated": 1, "briefing": 0, "connecting": 1, "completed": 28, "cancelled": 2,
                     "declined": 5, "expired": 1, "failed": 0, "abandoned": 2},
        "by_outcome": {"busy": 3, "wrong_skill": 2, "other": 0, "agent_cancelled": 2, "no_answer": 1,
                       "livekit_error": 0, "handoff_timeout": 0, "caller_left": 2, "call_ended": 0},
        "ended": 38, "completion_rate": 0.7368, "abandoned_rate": 0.05,
        "time_to_accept": {"count": 31, "p50_ms": 8200.0, "p90_ms": 21400.0},
        "briefing": {"count": 29, "p50_ms": 41000.0, "p90_ms": 95500.0},
        "handoff_gap": {"count": 27, "p50_ms": 1800.0, "p90_ms": 3900.0},
        "top_decliners": [{"agent": "agent_bob", "declined": 3}, {"agent": "agent_carol", "declined": 2}]
    },
    "series": [{
        "start": "2026-11-23T00:00:00Z",
        "transfers": 40,
        "by_state": {"initiated": 1, "briefing": 0, "connecting": 1, "completed": 28, "cancelled": 2,
                     "declined": 5, "expired": 1, "failed": 0, "abandoned": 2},
        "by_outcome": {"busy": 3, "wrong_skill": 2, "other": 0, "agent_cancelled": 2, "no_answer": 1,
                       "livekit_error": 0, "handoff_timeout": 0, "caller_left": 2, "call_ended": 0},
        "ended": 38, "completion_rate": 0.7368, "abandoned_rate": 0.05,
        "time_to_accept": {"count": 31, "p50_ms": 8200.0, "p90_ms": 21400.0},
        "briefing": {"count": 29, "p50_ms": 41000.0, "p90_ms": 95500.0},
        "handoff_gap": {"count": 27, "p50_ms": 1800.0, "p90_ms": 3900.0},
        "top_decliners": [{"agent": "agent_bob", "declined": 3}, {"agent": "agent_carol", "declined": 2}]
    }]
}))]
pub struct Stats {
    /// The start of the range (inclusive).
    pub from: DateTime<Utc>,
    /// The end of the range (exclusive).
    pub to: DateTime<Utc>,
    /// The `agent` filter, if any.
    pub agent: Option<String>,
    /// The `team` filter, if any.
    pub team: Option<String>,
    /// The bucket width of `series`, if any.
    pub bucket: Option<Bucket>,
    /// The figures of the whole range.
    pub totals: Figures,
    /// With `bucket`: the figures of every bucket of the range, oldest first, empty ones
    /// included.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub series: Option<Vec<BucketFigures>>,
}
