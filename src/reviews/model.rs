//! Scorecards and QA reviews as the API shows them.

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// Most criteria a scorecard may have.
pub const MAX_CRITERIA: usize = 50;
/// Longest review notes, in characters.
pub const MAX_NOTES_CHARS: usize = 10_000;
/// The range a scale's ends must lie in.
pub const SCALE_LIMIT: i32 = 1000;
/// The largest weight a criterion may have.
pub const MAX_WEIGHT: f64 = 1000.0;

/// The scores a criterion can be given: every integer from `min` to `max`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Scale {
    /// The lowest score (counts as 0 % of the criterion), -1000 to 1000.
    #[schema(example = 1, minimum = -1000, maximum = 1000)]
    pub min: i32,
    /// The highest score (counts as 100 %), above `min`, at most 1000.
    #[schema(example = 5, minimum = -1000, maximum = 1000)]
    pub max: i32,
}

/// One thing a reviewer scores.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct Criterion {
    /// What a review's `scores` names it by: 1–64 of `a-z`, `0-9`, `_`, unique in the scorecard.
    #[schema(example = "empathy", pattern = "^[a-z0-9_]{1,64}$")]
    pub key: String,
    /// What the reviewer reads, 1–128 characters.
    #[schema(
        example = "Showed empathy for the caller",
        min_length = 1,
        max_length = 128
    )]
    pub label: String,
    /// Its share of the total, relative to the other weights: above 0, at most 1000.
    #[schema(example = 2.0, exclusive_minimum = 0, maximum = 1000)]
    pub weight: f64,
    pub scale: Scale,
}

/// One version of a scorecard. Versions never change: a new one is added instead.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "name": "warm-transfer", "version": 2,
    "criteria": [
        {"key": "briefing", "label": "Briefed Agent B fully", "weight": 2.0, "scale": {"min": 1, "max": 5}},
        {"key": "empathy", "label": "Showed empathy for the caller", "weight": 1.0, "scale": {"min": 1, "max": 5}}
    ],
    "created_at": "2026-11-25T10:00:00Z", "created_by": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f82"
}))]
pub struct Scorecard {
    #[schema(example = "warm-transfer")]
    pub name: String,
    /// 1 for the first version, one more for each after it.
    #[schema(example = 2, minimum = 1)]
    pub version: i32,
    #[schema(value_type = Vec<Criterion>)]
    pub criteria: sqlx::types::Json<Vec<Criterion>>,
    pub created_at: DateTime<Utc>,
    /// The API key that added this version; absent in open mode.
    pub created_by: Option<Uuid>,
}

/// A new scorecard: its version 1.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "name": "warm-transfer",
    "criteria": [
        {"key": "briefing", "label": "Briefed Agent B fully", "weight": 2, "scale": {"min": 1, "max": 5}},
        {"key": "empathy", "label": "Showed empathy for the caller", "weight": 1, "scale": {"min": 1, "max": 5}}
    ]
}))]
pub struct CreateScorecard {
    /// 1–64 of `a-z`, `0-9`, `_`, `-`, starting with a letter or digit; used in URLs.
    #[schema(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub name: String,
    /// 1–50 criteria with distinct keys.
    #[schema(min_items = 1, max_items = 50)]
    pub criteria: Vec<Criterion>,
}

/// The criteria of a scorecard's next version.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "criteria": [
        {"key": "briefing", "label": "Briefed Agent B fully", "weight": 3, "scale": {"min": 1, "max": 5}},
        {"key": "empathy", "label": "Showed empathy for the caller", "weight": 1, "scale": {"min": 1, "max": 5}},
        {"key": "hold_time", "label": "Kept the caller's wait short", "weight": 1, "scale": {"min": 0, "max": 3}}
    ]
}))]
pub struct NewScorecardVersion {
    /// 1–50 criteria with distinct keys; they replace the latest version's in the new one.
    #[schema(min_items = 1, max_items = 50)]
    pub criteria: Vec<Criterion>,
}

/// Which version of a scorecard to read.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScorecardQuery {
    /// A version number; the latest by default.
    #[param(minimum = 1)]
    pub version: Option<i32>,
}

/// Paging through `GET /v1/scorecards`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ScorecardListQuery {
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// A QA review of a transfer, scored on one scorecard version. Reviews never change: a revision
/// is a new review that `supersedes` this one.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
#[schema(example = json!({
    "id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f90", "transfer_id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f81",
    "call_id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80", "scorecard": "warm-transfer", "scorecard_version": 2,
    "reviewer": "dana", "scores": {"briefing": 4, "empathy": 5}, "total": 83.33,
    "notes": "Good briefing; the caller waited 40 s in silence.", "at_ms": 61250, "segment_id": null,
    "supersedes": null, "superseded_by": null, "created_at": "2026-11-26T09:00:00Z"
}))]
pub struct Review {
    pub id: Uuid,
    pub transfer_id: Uuid,
    pub call_id: Uuid,
    #[schema(example = "warm-transfer")]
    pub scorecard: String,
    #[schema(example = 2)]
    pub scorecard_version: i32,
    /// Who reviewed: the key's label (or prefix), or the name an admin gave.
    #[schema(example = "dana")]
    pub reviewer: String,
    /// A score for every criterion of the scorecard version, by criterion key.
    #[schema(value_type = BTreeMap<String, i64>, example = json!({"briefing": 4, "empathy": 5}))]
    pub scores: sqlx::types::Json<BTreeMap<String, i64>>,
    /// The weighted score, 0–100: each criterion's score placed on its scale, weighted.
    #[schema(example = 83.33, minimum = 0, maximum = 100)]
    pub total: f64,
    pub notes: Option<String>,
    /// The moment of the replay the review is about, in ms from the call's start.
    pub at_ms: Option<i64>,
    /// The transcript segment the review is about.
    pub segment_id: Option<String>,
    /// The review this one revises.
    pub supersedes: Option<Uuid>,
    /// The revision that replaced this review; absent while it is current.
    pub superseded_by: Option<Uuid>,
    pub created_at: DateTime<Utc>,
}

/// A new review of a transfer, or a revision of one (`supersedes`).
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({
    "scorecard": "warm-transfer", "scores": {"briefing": 4, "empathy": 5},
    "notes": "Good briefing; the caller waited 40 s in silence.", "at_ms": 61250
}))]
pub struct CreateReview {
    /// The scorecard's name.
    #[schema(example = "warm-transfer", pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub scorecard: String,
    /// The version scored on; the latest by default.
    #[schema(minimum = 1)]
    pub scorecard_version: Option<i32>,
    /// A score for every criterion of that version, within its scale, and nothing else.
    #[schema(example = json!({"briefing": 4, "empathy": 5}))]
    pub scores: BTreeMap<String, i64>,
    /// Up to 10,000 characters.
    #[schema(max_length = 10000)]
    pub notes: Option<String>,
    /// Pins the review to a moment of the replay, in ms from the call's start (not with
    /// `segment_id`).
    #[schema(minimum = 0)]
    pub at_ms: Option<i64>,
    /// Pins the review to a transcript segment of the transfer's call (not with `at_ms`).
    #[schema(max_length = 128)]
    pub segment_id: Option<String>,
    /// The review this one revises: a current review of the same transfer, by the same
    /// reviewer (any reviewer's, for an admin).
    pub supersedes: Option<Uuid>,
    /// Who reviewed, for admin keys and open mode (required there without a key). Any other
    /// key reviews as itself: its label, or its prefix.
    #[schema(example = "dana", max_length = 128)]
    pub reviewer: Option<String>,
}

/// Paging through a transfer's reviews, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct TransferReviewsQuery {
    /// Also list reviews that a revision replaced (default false).
    pub include_superseded: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Filters of `GET /v1/reviews` (newest first).
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewListQuery {
    /// Only reviews of transfers this agent was a side of (`from_agent` or `to_agent`).
    #[param(max_length = 128)]
    pub agent: Option<String>,
    /// Only reviews by this reviewer.
    #[param(max_length = 128)]
    pub reviewer: Option<String>,
    /// Only reviews on this scorecard.
    #[param(pattern = "^[a-z0-9][a-z0-9_-]{0,63}$")]
    pub scorecard: Option<String>,
    /// Only reviews on this version of `scorecard`.
    #[param(minimum = 1)]
    pub scorecard_version: Option<i32>,
    /// Only reviews with a total of at least this (0–100).
    #[param(minimum = 0, maximum = 100)]
    pub min_score: Option<f64>,
    /// Only reviews with a total of at most this (0–100).
    #[param(minimum = 0, maximum = 100)]
    pub max_score: Option<f64>,
    /// Only reviews written at or after this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub created_after: Option<DateTime<Utc>>,
    /// Only reviews written before this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub created_before: Option<DateTime<Utc>>,
    /// Also list reviews that a revision replaced (default false).
    pub include_superseded: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// Filters of `GET /v1/reviews/queue`: ended transfers without a current review, newest first.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ReviewQueueQuery {
    /// Only transfers to this agent.
    #[param(max_length = 128)]
    pub agent: Option<String>,
    /// Keep at most this many transfers (1–100) per receiving agent and ISO week, picked at
    /// random but always the same ones: the sample is drawn from every ended transfer of that
    /// agent and week, so reviewing one does not pull another in.
    #[param(minimum = 1, maximum = 100)]
    pub sample_per_agent: Option<i64>,
    /// Only transfers started in this ISO week (`2026-W48`, weeks from Monday 00:00 UTC); not
    /// with `from`/`to`.
    #[param(example = "2026-W48", pattern = "^[0-9]{4}-W[0-9]{2}$")]
    pub week: Option<String>,
    /// Only transfers started at or after this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub from: Option<DateTime<Utc>>,
    /// Only transfers started before this instant (RFC 3339).
    #[serde(
        default,
        deserialize_with = "crate::domain::deserialize_optional_instant"
    )]
    pub to: Option<DateTime<Utc>>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
