//! SQL for transcript segments.

use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{Segment, SegmentColumns};

/// Inserts a batch; segments whose id the call already has are skipped. Returns how many were new.
pub async fn insert_batch(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    s: &SegmentColumns,
) -> sqlx::Result<u64> {
    let done = sqlx::query(
        "INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms, end_ms, spoken_at)
         SELECT $1, * FROM UNNEST($2::text[], $3::text[], $4::text[], $5::text[], $6::int8[], $7::int8[], $8::timestamptz[])
         ON CONFLICT ON CONSTRAINT transcript_segments_call_segment_key DO NOTHING",
    )
    .bind(call_id)
    .bind(&s.segment_id)
    .bind(&s.speaker)
    .bind(&s.role)
    .bind(&s.text)
    .bind(&s.start_ms)
    .bind(&s.end_ms)
    .bind(&s.spoken_at)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// The whole transcript in spoken order (up to `limit` segments, the latest kept), for summaries.
pub async fn all_for_call(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    limit: i64,
) -> sqlx::Result<Vec<Segment>> {
    sqlx::query_as(
        "SELECT * FROM (
             SELECT segment_id, speaker, role, text, start_ms, end_ms, spoken_at, created_at AS received_at, seq
             FROM transcript_segments WHERE call_id = $1
             ORDER BY start_ms DESC, seq DESC LIMIT $2) latest
         ORDER BY start_ms, seq",
    )
    .bind(call_id)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Segments in spoken order (start, then arrival), after the cursor `(start_ms, seq)`.
pub async fn list(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    after: Option<(i64, i64)>,
    limit: i64,
) -> sqlx::Result<Vec<Segment>> {
    let (after_start, after_seq) = after.unzip();
    sqlx::query_as(
        "SELECT segment_id, speaker, role, text, start_ms, end_ms, spoken_at, created_at AS received_at, seq
         FROM transcript_segments
         WHERE call_id = $1 AND ($2::int8 IS NULL OR (start_ms, seq) > ($2, $3))
         ORDER BY start_ms, seq
         LIMIT $4",
    )
    .bind(call_id)
    .bind(after_start)
    .bind(after_seq)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Text typed into a call so far (segments whose id starts `typed-`, in arrival order, joined by
/// spaces), and the start offset after the call's last segment.
pub async fn typed_so_far(db: impl PgExecutor<'_>, call_id: Uuid) -> sqlx::Result<(String, i64)> {
    sqlx::query_as(
        "SELECT COALESCE(string_agg(text, ' ' ORDER BY seq) FILTER (WHERE segment_id LIKE 'typed-%'), ''),
                COALESCE(max(GREATEST(start_ms, COALESCE(end_ms, start_ms))) + 1, 0)
         FROM transcript_segments WHERE call_id = $1",
    )
    .bind(call_id)
    .fetch_one(db)
    .await
}

/// A segment and the call it belongs to.
#[derive(Debug, sqlx::FromRow)]
pub struct CallSegment {
    pub call_id: Uuid,
    #[sqlx(flatten)]
    pub segment: Segment,
}

/// Every segment of these calls, by call and then in spoken order (start, then arrival).
pub async fn for_calls(
    db: impl PgExecutor<'_>,
    call_ids: &[Uuid],
) -> sqlx::Result<Vec<CallSegment>> {
    sqlx::query_as(
        "SELECT call_id, segment_id, speaker, role, text, start_ms, end_ms, spoken_at,
                created_at AS received_at, seq
         FROM transcript_segments WHERE call_id = ANY($1)
         ORDER BY call_id, start_ms, seq",
    )
    .bind(call_ids)
    .fetch_all(db)
    .await
}
