//! Transcripts: idempotent batch appends and ordered reads.

pub mod model;
pub mod routes;
pub mod store;

use chrono::Utc;
use sqlx::PgPool;
use uuid::Uuid;

use crate::auth::model::Principal;
use crate::calls::model::CallStatus;
use crate::error::ApiError;
use crate::pagination::{self, Page};
use model::{AppendResult, AppendSegments, Segment, TranscriptQuery};

/// Appends a batch to a call's transcript. Segments of an ended call are accepted until the
/// grace period after its end has passed, so late speech-to-text output is not lost.
pub async fn append(
    db: &PgPool,
    principal: &Principal,
    call_id: Uuid,
    grace: std::time::Duration,
    request: AppendSegments,
) -> Result<AppendResult, ApiError> {
    let segments = request.parse()?;
    let mut tx = db.begin().await?;
    // Locked so the call cannot end between this check and the insert.
    let call = crate::calls::store::lock(&mut tx, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    call.check_party(principal)?;
    if let (CallStatus::Ended, Some(ended_at)) = (call.status, call.ended_at)
        && Utc::now() > crate::domain::later_by(ended_at, grace)
    {
        return Err(ApiError::conflict(format!(
            "the call ended at {ended_at} and its transcript closed {}s later",
            grace.as_secs()
        )));
    }
    let accepted = store::insert_batch(&mut *tx, call_id, &segments).await? as usize;
    tx.commit().await?;
    let duplicates = segments.segment_id.len() - accepted;
    tracing::debug!(%call_id, accepted, duplicates, "transcript appended");
    Ok(AppendResult {
        accepted,
        duplicates,
    })
}

/// Appends text typed as one running transcript, as the prototype's page sends it: the whole
/// text again each time. Only what is new since the text the call last received is stored, the
/// same text twice is stored once, and whitespace does not count.
pub async fn append_typed(
    db: &PgPool,
    principal: &Principal,
    call_id: Uuid,
    grace: std::time::Duration,
    speaker: &str,
    role: model::SpeakerRole,
    text: &str,
) -> Result<(), ApiError> {
    let Some(segments) = typed_segments(db, call_id, None, speaker, role, text).await? else {
        return Ok(());
    };
    append(
        db,
        principal,
        call_id,
        grace,
        AppendSegments {
            segments: vec![segments],
        },
    )
    .await?;
    Ok(())
}

/// The segment that stores what is new in a running typed transcript (see [`append_typed`]),
/// or `None` when nothing is; for a caller that stores it in a transaction of its own.
/// `whole` is the call's whole transcript when the caller has read it already.
pub async fn typed_segments(
    db: &PgPool,
    call_id: Uuid,
    whole: Option<&[Segment]>,
    speaker: &str,
    role: model::SpeakerRole,
    text: &str,
) -> Result<Option<model::NewSegment>, ApiError> {
    let text = collapse_whitespace(text);
    if text.is_empty() {
        return Ok(None);
    }
    let (previous, start_ms) = match whole {
        Some(segments) => typed_so_far(segments),
        None => store::typed_so_far(db, call_id).await?,
    };
    let previous = collapse_whitespace(&previous);
    let new = match text.strip_prefix(previous.as_str()) {
        Some(rest) if !previous.is_empty() => rest.trim(),
        _ => text.as_str(),
    };
    if new.is_empty() {
        return Ok(None);
    }
    // Keyed by the whole text received, so a retry of it is a duplicate.
    let key = Uuid::new_v5(&call_id, text.as_bytes());
    Ok(Some(model::NewSegment {
        segment_id: format!("typed-{key}"),
        speaker: speaker.to_owned(),
        role,
        text: new.to_owned(),
        start_ms,
        end_ms: None,
        spoken_at: None,
    }))
}

/// What `store::typed_so_far` reads, from a transcript in hand.
fn typed_so_far(segments: &[Segment]) -> (String, i64) {
    let mut typed: Vec<&Segment> = segments
        .iter()
        .filter(|s| s.segment_id.starts_with("typed-"))
        .collect();
    typed.sort_by_key(|s| s.seq);
    let text = typed
        .iter()
        .map(|s| s.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    let next = segments
        .iter()
        .map(|s| s.start_ms.max(s.end_ms.unwrap_or(s.start_ms)) + 1)
        .max()
        .unwrap_or(0);
    (text, next)
}

fn collapse_whitespace(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// A page of a call's transcript in spoken order.
pub async fn list(
    db: &PgPool,
    principal: &Principal,
    call_id: Uuid,
    query: TranscriptQuery,
) -> Result<Page<Segment>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after = pagination::decode_cursor(query.cursor.as_deref())?;
    crate::calls::store::get(db, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?
        .check_read(principal)?;
    let rows = store::list(db, call_id, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |s| (s.start_ms, s.seq)))
}
