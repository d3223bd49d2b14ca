//! Call summaries and briefing scripts.
//!
//! Agent B never waits: on a transfer the local summary is written in the transfer's own
//! transaction, and when a model is configured a durable job asks it and adds its answer as a
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

/// Reads the call (and transfer) as they are now.
async fn load_input(
    db: &mut PgConnection,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
) -> Result<SummaryInput, ApiError> {
    let call = crate::calls::store::get(&mut *db, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    let transfer = match transfer_id {
        Some(id) => crate::transfers::store::get(&mut *db, id).await?,
        None => None,
    };
    let segments = crate::transcripts::store::all_for_call(&mut *db, call_id, MAX_SEGMENTS).await?;
    Ok(SummaryInput {
        caller_name: call.caller_name,
        caller_phone: call.caller_phone,
        issue: call.issue,
        from_agent: transfer.as_ref().map(|t| t.from_agent.clone()),
        to_agent: transfer.as_ref().map(|t| t.to_agent.clone()),
        transfer_reason: transfer.and_then(|t| t.reason),
        turns: segments
            .into_iter()
            .map(|s| Turn {
                speaker: s.speaker,
                role: s.role,
                text: s.text,
            })
            .collect(),
    })
}

/// Writes the local summary now, inside the caller's transaction, and queues the model's when
/// one is configured. The local one is marked `fallback` when it stands in for a model.
pub async fn write_local(
    tx: &mut PgConnection,
    state: &AppState,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
) -> Result<Summary, ApiError> {
    let input = load_input(tx, call_id, transfer_id).await?;
    let content = extractive::summarize(&input);
    let summary = insert_extractive(
        tx,
        call_id,
        transfer_id,
        &input,
        &content,
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
    input: &SummaryInput,
    content: &SummaryContent,
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
        content,
        fallback,
        error,
        latency_ms,
        prompt_tokens: None,
        completion_tokens: None,
        segments_used: input.turns.len() as i32,
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
        match load_input(&mut conn, call_id, transfer_id).await {
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
            let content = extractive::summarize(&input);
            let latency = Some(failed.latency.as_millis().min(i32::MAX as u128) as i32);
            insert_extractive(
                &mut conn,
                call_id,
                transfer_id,
                &input,
                &content,
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
    let mut tx = state.db.begin().await?;
    // Locked, so regenerates of one call queue here: the second sees the first one's job.
    let call = crate::calls::store::lock(&mut tx, call_id)
        .await?
        .ok_or_else(|| ApiError::not_found("call", call_id))?;
    call.check_read(principal)?;
    if let Some(transfer_id) = request.transfer_id {
        let transfer = crate::transfers::store::get(&mut *tx, transfer_id).await?;
        if transfer.is_none_or(|t| t.call_id != call_id) {
            return Err(ApiError::invalid(
                "transfer_id",
                "is not a transfer of this call",
            ));
        }
    }
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
    let summary = write_local(&mut tx, state, call_id, request.transfer_id).await?;
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
