//! Call summaries and briefing scripts.
//!
//! Agent B never waits: on a transfer the local summary is computed first and stored in the
//! transfer's own transaction, and when a model is configured a durable job asks it and adds its answer as a
//! new row. Nothing is overwritten; a model that fails leaves a row saying why.

pub mod extractive;
pub mod llm;
pub mod model;
pub mod redact;
pub mod routes;
pub mod store;

use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::ApiError;
use crate::jobs::model::Job;
use crate::pagination::{self, Page};
use model::{
    Provider, RegenerateSummary, RegeneratedSummary, Summary, SummaryContent, SummaryListQuery,
};
pub use model::{SummaryInput, Turn};
use store::NewSummary;

/// Most transcript segments a summary reads (the latest are kept).
const MAX_SEGMENTS: i64 = 2000;

/// What a summary says about the transfer it was written for.
#[derive(Debug, Clone)]
pub struct TransferSides {
    pub from_agent: String,
    pub to_agent: String,
    pub reason: Option<String>,
}

/// The sides of a stored transfer, when there is one.
async fn stored_sides(
    db: &mut PgConnection,
    transfer_id: Option<Uuid>,
) -> Result<Option<TransferSides>, ApiError> {
    let Some(id) = transfer_id else {
        return Ok(None);
    };
    Ok(crate::transfers::store::get(&mut *db, id)
        .await?
        .map(|t| TransferSides {
            from_agent: t.from_agent,
            to_agent: t.to_agent,
            reason: t.reason,
        }))
}

/// A call and its transcript (the latest [`MAX_SEGMENTS`] segments), read together.
#[derive(Debug)]
pub struct Snapshot {
    pub call: crate::calls::model::Call,
    pub segments: Vec<crate::transcripts::model::Segment>,
}

impl Snapshot {
    /// Whether `segments` is the whole transcript.
    pub fn is_whole(&self) -> bool {
        (self.segments.len() as i64) < MAX_SEGMENTS
    }

    fn input(&self, transfer: Option<TransferSides>) -> SummaryInput {
        let (from_agent, to_agent, transfer_reason) = match transfer {
            Some(t) => (Some(t.from_agent), Some(t.to_agent), t.reason),
            None => (None, None, None),
        };
        SummaryInput {
            caller_name: self.call.caller_name.clone(),
            caller_phone: self.call.caller_phone.clone(),
            issue: self.call.issue.clone(),
            from_agent,
            to_agent,
            transfer_reason,
            turns: self
                .segments
                .iter()
                .map(|s| Turn {
                    speaker: s.speaker.clone(),
                    role: s.role,
                    text: s.text.clone(),
                })
                .collect(),
        }
    }
}

/// The call and its transcript as they are now, in one statement; 404 for an unknown call.
pub async fn snapshot(
    db: impl sqlx::PgExecutor<'_>,
    call: &crate::calls::model::CallKey,
) -> Result<Snapshot, ApiError> {
    let (call, segments) = store::source(db, call, MAX_SEGMENTS)
        .await?
        .ok_or_else(|| call.not_found())?;
    Ok(Snapshot { call, segments })
}

/// Reads the call as it is now.
async fn load_input(
    db: &mut PgConnection,
    call_id: Uuid,
    transfer: Option<TransferSides>,
) -> Result<SummaryInput, ApiError> {
    let call = crate::calls::model::CallKey::Id(call_id);
    Ok(snapshot(&mut *db, &call).await?.input(transfer))
}

/// A local summary, computed and ready to be stored.
#[derive(Debug)]
pub struct LocalSummary {
    content: SummaryContent,
    segments_used: i32,
}

/// Reads the call and writes its local summary, before the caller's transaction begins: the
/// summarizer is CPU work, and must not run while the call's row is locked. `transfer` is
/// what to say about the transfer (taken from the request when it is not stored yet).
pub async fn prepare_local(
    db: &PgPool,
    call_id: Uuid,
    transfer: Option<TransferSides>,
) -> Result<LocalSummary, ApiError> {
    let snapshot = snapshot(db, &crate::calls::model::CallKey::Id(call_id)).await?;
    prepare_from(&snapshot, transfer, None).await
}

/// [`prepare_local`] from a snapshot already read; `also` is a turn about to be stored with
/// the summary, in the same transaction.
pub async fn prepare_from(
    snapshot: &Snapshot,
    transfer: Option<TransferSides>,
    also: Option<Turn>,
) -> Result<LocalSummary, ApiError> {
    let mut input = snapshot.input(transfer);
    input.turns.extend(also);
    // A long transcript takes a while: off the async workers, too.
    tokio::task::spawn_blocking(move || LocalSummary {
        content: extractive::summarize(&input),
        segments_used: input.turns.len() as i32,
    })
    .await
    .map_err(|e| ApiError::Internal(anyhow::anyhow!("the summarizer panicked: {e}")))
}

/// Stores a prepared local summary in the caller's transaction, and queues the model's when
/// one is configured. The local one is marked `fallback` when it stands in for a model.
pub async fn write_local(
    tx: &mut PgConnection,
    state: &AppState,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
    prepared: &LocalSummary,
) -> Result<Summary, ApiError> {
    let summary = insert_extractive(
        tx,
        call_id,
        transfer_id,
        prepared,
        state.summarizer.is_some(),
        None,
        None,
    )
    .await?;
    if state.summarizer.is_some() {
        let job = Job::GenerateSummary {
            call_id,
            transfer_id,
        };
        crate::jobs::store::enqueue(
            &mut *tx,
            &job,
            call_id,
            transfer_id,
            None,
            state.config.jobs.max_attempts,
        )
        .await?;
    }
    Ok(summary)
}

#[allow(clippy::too_many_arguments)]
async fn insert_extractive(
    db: &mut PgConnection,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
    local: &LocalSummary,
    fallback: bool,
    error: Option<&str>,
    latency_ms: Option<i32>,
) -> Result<Summary, ApiError> {
    let row = NewSummary {
        call_id,
        transfer_id,
        provider: Provider::Extractive,
        model: extractive::MODEL,
        prompt_version: extractive::MODEL,
        content: &local.content,
        fallback,
        error,
        latency_ms,
        prompt_tokens: None,
        completion_tokens: None,
        segments_used: local.segments_used,
    };
    Ok(store::insert(&mut *db, &row).await?)
}

/// Job: asks the model and stores its summary; when the model fails for good, stores the local
/// summary again, marked as the fallback, with the model's error.
pub async fn generate_with_model(
    state: &AppState,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
) -> anyhow::Result<()> {
    let Some(model) = state.summarizer.clone() else {
        tracing::warn!(%call_id, "a summary job ran with no model configured; nothing to do");
        return Ok(());
    };
    let input = {
        let mut conn = state.db.acquire().await?;
        let sides = stored_sides(&mut conn, transfer_id).await?;
        match load_input(&mut conn, call_id, sides).await {
            Ok(input) => input,
            Err(ApiError::NotFound { .. }) => return Ok(()),
            Err(e) => return Err(e.into()),
        }
    };
    // No transaction is held while the model thinks.
    let outcome = model.summarize(&input).await;
    let mut conn = state.db.acquire().await?;
    match outcome {
        Ok(generated) => {
            let row = NewSummary {
                call_id,
                transfer_id,
                provider: Provider::OpenaiCompatible,
                model: model.model(),
                prompt_version: llm::PROMPT_VERSION,
                content: &generated.content,
                fallback: false,
                error: None,
                latency_ms: Some(generated.latency.as_millis().min(i32::MAX as u128) as i32),
                prompt_tokens: generated.prompt_tokens,
                completion_tokens: generated.completion_tokens,
                segments_used: input.turns.len() as i32,
            };
            store::insert(&mut *conn, &row).await?;
            tracing::info!(%call_id, ?transfer_id, latency = ?generated.latency, "model summary stored");
        }
        Err(failed) => {
            // Stored and served with the summary: no credentials in it.
            let error = state.secrets.scrub(&failed.error);
            tracing::warn!(%call_id, %error, "the model gave no summary; storing the local one");
            let local = LocalSummary {
                content: extractive::summarize(&input),
                segments_used: input.turns.len() as i32,
            };
            let latency = Some(failed.latency.as_millis().min(i32::MAX as u128) as i32);
            insert_extractive(
                &mut conn,
                call_id,
                transfer_id,
                &local,
                true,
                Some(&error),
                latency,
            )
            .await?;
        }
    }
    Ok(())
}

/// Writes a fresh summary of a call now (for instance at its end), and asks the model too.
pub async fn regenerate(
    state: &AppState,
    principal: &Principal,
    call_id: Uuid,
    request: RegenerateSummary,
) -> Result<RegeneratedSummary, ApiError> {
    let call = crate::calls::store::get(&state.db, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    call.check_read(principal)?;
    let mut sides = None;
    if let Some(transfer_id) = request.transfer_id {
        let transfer = crate::transfers::store::get(&state.db, transfer_id)
            .await?
            .filter(|t| t.call_id == call_id)
            .ok_or_else(|| ApiError::invalid("transfer_id", "is not a transfer of this call"))?;
        sides = Some(TransferSides {
            from_agent: transfer.from_agent,
            to_agent: transfer.to_agent,
            reason: transfer.reason,
        });
    }
    let prepared = prepare_local(&state.db, call_id, sides).await?;
    let mut tx = state.db.begin().await?;
    // Locked, so regenerates of one call queue here: the second sees the first one's job.
    crate::calls::store::lock(&mut tx, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    // The model is paid once: while its answer is pending, a regenerate answers the latest
    // summary instead of queueing another.
    if state.summarizer.is_some() {
        let kind = Job::GenerateSummary {
            call_id,
            transfer_id: request.transfer_id,
        }
        .kind();
        if crate::jobs::store::has_unfinished(&mut *tx, kind, call_id, request.transfer_id).await?
            && let Some(latest) = store::list(&mut *tx, call_id, request.transfer_id, None, 1)
                .await?
                .pop()
        {
            return Ok(RegeneratedSummary {
                summary: latest,
                upgrade_pending: true,
            });
        }
    }
    let summary = write_local(&mut tx, state, call_id, request.transfer_id, &prepared).await?;
    tx.commit().await?;
    Ok(RegeneratedSummary {
        summary,
        upgrade_pending: state.summarizer.is_some(),
    })
}

/// A call's summaries, newest first.
pub async fn list(
    db: &PgPool,
    principal: &Principal,
    call_id: Uuid,
    query: SummaryListQuery,
) -> Result<Page<Summary>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<pagination::TimeCursor> = pagination::decode_cursor(query.cursor.as_deref())?;
    crate::calls::store::get(db, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?
        .check_read(principal)?;
    let after = after.map(pagination::TimeCursor::into_parts);
    let rows = store::list(db, call_id, query.transfer_id, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |s| (s.created_at, s.id)))
}

/// The summary to show with a transfer: the model's when there is one.
pub async fn for_transfer(db: &PgPool, transfer_id: Uuid) -> Result<Option<Summary>, ApiError> {
    Ok(store::best_for_transfer(db, transfer_id, None).await?)
}
