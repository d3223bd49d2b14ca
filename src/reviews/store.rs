//! SQL for scorecards and reviews.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::model::{Criterion, Review, Scorecard};
use crate::transfers::model::Transfer;

const SCORECARD_COLUMNS: &str = "name, version, criteria, created_at, created_by";

const REVIEW_COLUMNS: &str = "r.id, r.transfer_id, r.call_id, r.scorecard_name AS scorecard, \
    r.scorecard_version, r.reviewer, r.scores, r.total::float8 AS total, r.notes, r.at_ms, \
    r.segment_id, r.supersedes, r.superseded_by, r.created_at";

/// Stores a scorecard version; `None` when that name already has that version (a concurrent
/// request added it first).
pub async fn insert_scorecard(
    db: impl PgExecutor<'_>,
    name: &str,
    version: i32,
    criteria: &[Criterion],
    created_by: Option<Uuid>,
) -> sqlx::Result<Option<Scorecard>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO scorecards (name, version, criteria, created_by) VALUES ($1, $2, $3, $4)
         ON CONFLICT (name, version) DO NOTHING RETURNING {SCORECARD_COLUMNS}"
    )))
    .bind(name)
    .bind(version)
    .bind(sqlx::types::Json(criteria))
    .bind(created_by)
    .fetch_optional(db)
    .await
}

/// A scorecard's version `version`, or its latest.
pub async fn get_scorecard(
    db: impl PgExecutor<'_>,
    name: &str,
    version: Option<i32>,
) -> sqlx::Result<Option<Scorecard>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {SCORECARD_COLUMNS} FROM scorecards
         WHERE name = $1 AND ($2::integer IS NULL OR version = $2)
         ORDER BY version DESC LIMIT 1"
    )))
    .bind(name)
    .bind(version)
    .fetch_optional(db)
    .await
}

/// The latest version of each scorecard, by name, after `after`.
pub async fn list_latest_scorecards(
    db: impl PgExecutor<'_>,
    after: Option<String>,
    limit: i64,
) -> sqlx::Result<Vec<Scorecard>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT DISTINCT ON (name) {SCORECARD_COLUMNS} FROM scorecards
         WHERE ($1::text IS NULL OR name > $1)
         ORDER BY name, version DESC LIMIT $2"
    )))
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// What a key is called as a reviewer: its label, or its prefix when it has none.
pub async fn key_name(db: impl PgExecutor<'_>, key_id: Uuid) -> sqlx::Result<Option<String>> {
    sqlx::query_scalar("SELECT COALESCE(label, prefix) FROM api_keys WHERE id = $1")
        .bind(key_id)
        .fetch_optional(db)
        .await
}

/// Whether the call has a transcript segment with this id.
pub async fn segment_exists(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    segment_id: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM transcript_segments WHERE call_id = $1 AND segment_id = $2)",
    )
    .bind(call_id)
    .bind(segment_id)
    .fetch_one(db)
    .await
}

/// What revising a review must check of it.
#[derive(Debug, sqlx::FromRow)]
pub struct RevisedReview {
    pub transfer_id: Uuid,
    pub reviewer: String,
    pub reviewer_key_id: Option<Uuid>,
    pub superseded_by: Option<Uuid>,
}

/// A review about to be revised, locked until the transaction ends: of two concurrent
/// revisions, the second waits here and then sees the first.
pub async fn lock_for_revision(
    tx: &mut PgConnection,
    id: Uuid,
) -> sqlx::Result<Option<RevisedReview>> {
    sqlx::query_as(
        "SELECT transfer_id, reviewer, reviewer_key_id, superseded_by FROM reviews
         WHERE id = $1 FOR UPDATE",
    )
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// A validated new review.
#[derive(Debug)]
pub struct NewReview {
    pub id: Uuid,
    pub transfer_id: Uuid,
    pub call_id: Uuid,
    pub scorecard: String,
    pub scorecard_version: i32,
    pub reviewer: String,
    pub reviewer_key_id: Option<Uuid>,
    pub scores: std::collections::BTreeMap<String, i64>,
    pub notes: Option<String>,
    pub at_ms: Option<i64>,
    pub segment_id: Option<String>,
    pub supersedes: Option<Uuid>,
}

/// Stores a review, its total computed from the scorecard version's criteria: each score
/// placed on its scale (min 0, max 1), weighted, as a percentage. A revision marks the review
/// it replaces (trigger), and the call's timeline gets `review.created`.
pub async fn insert_review(db: impl PgExecutor<'_>, review: &NewReview) -> sqlx::Result<Review> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH r AS (
             INSERT INTO reviews (id, transfer_id, call_id, scorecard_name, scorecard_version,
                                  reviewer, reviewer_key_id, scores, total, notes, at_ms,
                                  segment_id, supersedes)
             SELECT $1, $2, $3, s.name, s.version, $6, $7, $8,
                    (SELECT round(100 * sum(c.weight * (($8 ->> c.key)::numeric - (c.scale ->> 'min')::numeric)
                                            / ((c.scale ->> 'max')::numeric - (c.scale ->> 'min')::numeric))
                                      / sum(c.weight), 2)
                     FROM jsonb_to_recordset(s.criteria) AS c(key text, weight numeric, scale jsonb)),
                    $9, $10, $11, $12
             FROM scorecards s WHERE s.name = $4 AND s.version = $5
             RETURNING *)
         SELECT {REVIEW_COLUMNS} FROM r"
    )))
    .bind(review.id)
    .bind(review.transfer_id)
    .bind(review.call_id)
    .bind(&review.scorecard)
    .bind(review.scorecard_version)
    .bind(&review.reviewer)
    .bind(review.reviewer_key_id)
    .bind(sqlx::types::Json(&review.scores))
    .bind(&review.notes)
    .bind(review.at_ms)
    .bind(&review.segment_id)
    .bind(review.supersedes)
    .fetch_one(db)
    .await
}

/// One review.
pub async fn get_review(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Review>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r WHERE r.id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// Filters of [`list_reviews`].
#[derive(Debug, Default)]
pub struct ReviewFilter {
    pub transfer_id: Option<Uuid>,
    /// Either side of the reviewed transfer.
    pub agent: Option<String>,
    pub reviewer: Option<String>,
    pub scorecard: Option<String>,
    pub scorecard_version: Option<i32>,
    pub min_score: Option<f64>,
    pub max_score: Option<f64>,
    pub created_after: Option<DateTime<Utc>>,
    pub created_before: Option<DateTime<Utc>>,
    pub include_superseded: bool,
}

/// Reviews newest first, after the cursor `(created_at, id)`.
pub async fn list_reviews(
    db: impl PgExecutor<'_>,
    f: &ReviewFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Review>> {
    let (after_at, after_id) = after.unzip();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r JOIN transfers t ON t.id = r.transfer_id
         WHERE ($1::uuid IS NULL OR r.transfer_id = $1)
           AND ($2::text IS NULL OR t.to_agent = $2 OR t.from_agent = $2)
           AND ($3::text IS NULL OR r.reviewer = $3)
           AND ($4::text IS NULL OR r.scorecard_name = $4)
           AND ($5::integer IS NULL OR r.scorecard_version = $5)
           AND ($6::float8 IS NULL OR r.total >= $6::float8::numeric)
           AND ($7::float8 IS NULL OR r.total <= $7::float8::numeric)
           AND ($8::timestamptz IS NULL OR r.created_at >= $8)
           AND ($9::timestamptz IS NULL OR r.created_at < $9)
           AND ($10 OR r.superseded_by IS NULL)
           AND ($11::timestamptz IS NULL OR (r.created_at, r.id) < ($11, $12))
         ORDER BY r.created_at DESC, r.id DESC LIMIT $13"
    )))
    .bind(f.transfer_id)
    .bind(&f.agent)
    .bind(&f.reviewer)
    .bind(&f.scorecard)
    .bind(f.scorecard_version)
    .bind(f.min_score)
    .bind(f.max_score)
    .bind(f.created_after)
    .bind(f.created_before)
    .bind(f.include_superseded)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Filters of [`queue`].
#[derive(Debug, Default)]
pub struct QueueFilter {
    pub to_agent: Option<String>,
    pub from: Option<DateTime<Utc>>,
    pub to: Option<DateTime<Utc>>,
    pub sample_per_agent: Option<i64>,
}

/// Ended transfers with no current review, newest first, after the cursor `(initiated_at, id)`.
///
/// With a sample size, each receiving agent's ended transfers of each ISO week (UTC) are ranked
/// by the MD5 of their id, and only the first N are kept: random, yet the same on every call
/// and page. The ranking sees whole weeks, whatever `from`/`to` cut, and counts reviewed
/// transfers too, so a review takes its transfer out of the queue without pulling another in.
pub async fn queue(
    db: impl PgExecutor<'_>,
    f: &QueueFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Transfer>> {
    let (after_at, after_id) = after.unzip();
    let (rank, from, to) = if f.sample_per_agent.is_some() {
        (
            "row_number() OVER (PARTITION BY t.to_agent, date_trunc('week', t.initiated_at, 'UTC')
                                ORDER BY md5(t.id::text), t.id)",
            "date_trunc('week', $2::timestamptz, 'UTC')",
            "date_trunc('week', $3::timestamptz - interval '1 microsecond', 'UTC') + interval '7 days'",
        )
    } else {
        ("0::bigint", "$2::timestamptz", "$3::timestamptz")
    };
    // `t.*`: the transfer's own columns, whatever they are; `rank` is left out by the reader.
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.* FROM (
             SELECT t.*, {rank} AS rank FROM transfers t
             WHERE t.state IN (SELECT state FROM transfer_states WHERE terminal)
               AND ($1::text IS NULL OR t.to_agent = $1)
               AND ($2::timestamptz IS NULL OR t.initiated_at >= {from})
               AND ($3::timestamptz IS NULL OR t.initiated_at < {to})
         ) t
         WHERE ($4::bigint IS NULL OR t.rank <= $4)
           AND ($2::timestamptz IS NULL OR t.initiated_at >= $2)
           AND ($3::timestamptz IS NULL OR t.initiated_at < $3)
           AND NOT EXISTS (SELECT 1 FROM reviews r
                           WHERE r.transfer_id = t.id AND r.superseded_by IS NULL)
           AND ($5::timestamptz IS NULL OR (t.initiated_at, t.id) < ($5, $6))
         ORDER BY t.initiated_at DESC, t.id DESC LIMIT $7"
    )))
    .bind(&f.to_agent)
    .bind(f.from)
    .bind(f.to)
    .bind(f.sample_per_agent)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Every review of these calls, current and superseded, oldest first.
pub async fn for_calls(db: impl PgExecutor<'_>, call_ids: &[Uuid]) -> sqlx::Result<Vec<Review>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {REVIEW_COLUMNS} FROM reviews r WHERE r.call_id = ANY($1)
         ORDER BY r.created_at, r.id"
    )))
    .bind(call_ids)
    .fetch_all(db)
    .await
}
