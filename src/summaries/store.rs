//! SQL for summaries (insert and read: rows are never changed).

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{Provider, Summary, SummaryContent};
use crate::calls::model::{Call, CallKey};
use crate::transcripts::model::{Segment, SpeakerRole};

const COLUMNS: &str = "id, call_id, transfer_id, provider, model, prompt_version, content, summary_text, \
    briefing_script, fallback, error, latency_ms, prompt_tokens, completion_tokens, segments_used, created_at";

/// One row of [`source`]: the call, and one of its segments (none when it has no transcript).
#[derive(sqlx::FromRow)]
struct SourceRow {
    #[sqlx(flatten)]
    call: Call,
    segment_id: Option<String>,
    speaker: Option<String>,
    role: Option<SpeakerRole>,
    text: Option<String>,
    start_ms: Option<i64>,
    end_ms: Option<i64>,
    spoken_at: Option<DateTime<Utc>>,
    received_at: Option<DateTime<Utc>>,
    seq: Option<i64>,
}

/// What a summary is written from, in one statement: the call and the latest `limit` segments
/// of its transcript in spoken order.
pub async fn source(
    db: impl PgExecutor<'_>,
    call: &CallKey,
    limit: i64,
) -> sqlx::Result<Option<(Call, Vec<Segment>)>> {
    let (id, room) = match call {
        CallKey::Id(id) => (Some(*id), None),
        CallKey::Room(room) => (None, Some(room.as_str())),
    };
    let rows: Vec<SourceRow> = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {call_columns}, s.segment_id, s.speaker, s.role, s.text, s.start_ms, s.end_ms,
                s.spoken_at, s.received_at, s.seq
         FROM calls
         LEFT JOIN LATERAL (
             SELECT segment_id, speaker, role, text, start_ms, end_ms, spoken_at,
                    created_at AS received_at, seq
             FROM transcript_segments WHERE call_id = calls.id
             ORDER BY start_ms DESC, seq DESC LIMIT $2) s ON true
         WHERE id = COALESCE($1, {owner})
         ORDER BY s.start_ms, s.seq",
        call_columns = crate::calls::store::COLUMNS,
        owner = crate::rooms::store::call_of_room("$3"),
    )))
    .bind(id)
    .bind(limit)
    .bind(room)
    .fetch_all(db)
    .await?;
    let Some(call) = rows.first().map(|r| r.call.clone()) else {
        return Ok(None);
    };
    let segments = rows
        .into_iter()
        .filter_map(|r| {
            Some(Segment {
                segment_id: r.segment_id?,
                speaker: r.speaker?,
                role: r.role?,
                text: r.text?,
                start_ms: r.start_ms?,
                end_ms: r.end_ms,
                spoken_at: r.spoken_at,
                received_at: r.received_at?,
                seq: r.seq?,
            })
        })
        .collect();
    Ok(Some((call, segments)))
}

/// A summary about to be stored.
#[derive(Debug)]
pub struct NewSummary<'a> {
    pub call_id: Uuid,
    pub transfer_id: Option<Uuid>,
    pub provider: Provider,
    pub model: &'a str,
    pub prompt_version: &'a str,
    pub content: &'a SummaryContent,
    pub fallback: bool,
    pub error: Option<&'a str>,
    pub latency_ms: Option<i32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    pub segments_used: i32,
}

/// Stores a summary.
pub async fn insert(db: impl PgExecutor<'_>, s: &NewSummary<'_>) -> sqlx::Result<Summary> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO summaries (id, call_id, transfer_id, provider, model, prompt_version, content, summary_text,
                                briefing_script, fallback, error, latency_ms, prompt_tokens, completion_tokens, segments_used)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15) RETURNING {COLUMNS}"
    )))
    .bind(Uuid::now_v7())
    .bind(s.call_id)
    .bind(s.transfer_id)
    .bind(s.provider)
    .bind(s.model)
    .bind(s.prompt_version)
    .bind(sqlx::types::Json(s.content))
    .bind(s.content.to_text())
    .bind(&s.content.briefing_script)
    .bind(s.fallback)
    .bind(s.error)
    .bind(s.latency_ms)
    .bind(s.prompt_tokens)
    .bind(s.completion_tokens)
    .bind(s.segments_used)
    .fetch_one(db)
    .await
}

/// The best summary of a transfer written by `written_by` (by now when `None`): the newest
/// from a model, else the newest of any kind.
pub async fn best_for_transfer(
    db: impl PgExecutor<'_>,
    transfer_id: Uuid,
    written_by: Option<DateTime<Utc>>,
) -> sqlx::Result<Option<Summary>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries
         WHERE transfer_id = $1 AND ($2::timestamptz IS NULL OR created_at <= $2)
         ORDER BY (provider = 'openai_compatible' AND NOT fallback) DESC, created_at DESC, id DESC LIMIT 1"
    )))
    .bind(transfer_id)
    .bind(written_by)
    .fetch_optional(db)
    .await
}

/// A call's summaries, newest first, after the cursor `(created_at, id)`.
pub async fn list(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Summary>> {
    let (after_at, after_id) = after.unzip();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries
         WHERE call_id = $1 AND ($2::uuid IS NULL OR transfer_id = $2)
           AND ($3::timestamptz IS NULL OR (created_at, id) < ($3, $4))
         ORDER BY created_at DESC, id DESC LIMIT $5"
    )))
    .bind(call_id)
    .bind(transfer_id)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Every summary of these calls, oldest first.
pub async fn for_calls(db: impl PgExecutor<'_>, call_ids: &[Uuid]) -> sqlx::Result<Vec<Summary>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM summaries WHERE call_id = ANY($1) ORDER BY created_at, id"
    )))
    .bind(call_ids)
    .fetch_all(db)
    .await
}
