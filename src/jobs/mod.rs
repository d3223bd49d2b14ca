//! The durable job queue and its worker: LiveKit room operations (the outbox) and transfer
//! timers. Jobs are rows, so they survive restarts; a crashed worker's job is taken again once
//! its lease runs out.

pub mod model;
pub mod store;

use sqlx::postgres::PgListener;
use tokio_util::sync::CancellationToken;

use crate::app::AppState;
use model::{ClaimedJob, Job, RunOutcome};

/// The channel the `jobs` insert trigger notifies.
const CHANNEL: &str = "warmline_jobs";

/// Runs jobs until `shutdown` is cancelled. Wakes on NOTIFY, and polls as a fallback.
pub async fn run_worker(state: AppState, shutdown: CancellationToken) {
    let mut listener = match PgListener::connect_with(&state.db).await {
        Ok(mut l) => match l.listen(CHANNEL).await {
            Ok(()) => Some(l),
            Err(e) => {
                tracing::warn!(error = %e, "job worker cannot LISTEN; polling only");
                None
            }
        },
        Err(e) => {
            tracing::warn!(error = %e, "job worker cannot LISTEN; polling only");
            None
        }
    };
    let poll = state.config.jobs.poll_interval;
    tracing::debug!("job worker started");
    while !shutdown.is_cancelled() {
        match store::claim_next(&state.db, state.config.jobs.lease).await {
            Ok(Some(job)) => run_claimed(&state, job).await,
            Ok(None) => {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll) => {}
                    notified = wait_for_notify(&mut listener) => {
                        if let Err(e) = notified {
                            tracing::warn!(error = %e, "job notifications lost; polling only");
                            listener = None;
                        }
                    }
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, "claiming a job failed");
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = tokio::time::sleep(poll) => {}
                }
            }
        }
    }
    tracing::debug!("job worker stopped");
}

async fn wait_for_notify(listener: &mut Option<PgListener>) -> Result<(), sqlx::Error> {
    match listener {
        Some(l) => l.recv().await.map(|_| ()),
        None => std::future::pending().await,
    }
}

/// Runs one claimed job to an outcome and records it.
pub async fn run_claimed(state: &AppState, job: ClaimedJob) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let _enter = span.enter();
    let outcome = match serde_json::from_value::<Job>(job.payload.0.clone()) {
        // A panic inside a job fails that attempt, not the worker.
        Ok(parsed) => match tokio::spawn(execute(state.clone(), parsed)).await {
            Ok(outcome) => outcome,
            Err(panic) => RunOutcome::Failed(anyhow::anyhow!("the job panicked: {panic}")),
        },
        Err(e) => RunOutcome::Failed(anyhow::anyhow!("unreadable payload: {e}")),
    };
    let recorded = match outcome {
        RunOutcome::Done => store::finish_done(&state.db, &job).await.map(|_| ()),
        RunOutcome::NotYet(after) => store::finish_not_yet(&state.db, &job, after)
            .await
            .map(|_| ()),
        RunOutcome::Failed(error) => {
            let message = format!("{error:#}");
            match store::finish_failed(&state.db, &job, &message, state.config.jobs.backoff_base)
                .await
            {
                Ok(Some(true)) => {
                    tracing::error!(error = %message, "job gave up after its last attempt");
                    on_dead(state, &job).await;
                    Ok(())
                }
                Ok(_) => {
                    tracing::warn!(error = %message, "job failed; it will be retried");
                    Ok(())
                }
                Err(e) => Err(e),
            }
        }
    };
    if let Err(e) = recorded {
        // The lease runs out and another worker takes the job again.
        tracing::error!(error = %e, "recording a job's outcome failed");
    }
}

async fn execute(state: AppState, job: Job) -> RunOutcome {
    let lk = &state.livekit;
    let result = match &job {
        Job::CreateRoom { room } => lk.create_room(room).await,
        Job::DeleteRoom { room } => lk.delete_room(room).await,
        Job::RemoveParticipant { room, identity } => lk.remove_participant(room, identity).await,
        Job::MoveParticipant {
            room,
            identity,
            destination,
        } => lk.move_participant(room, identity, destination).await,
        Job::ExpireTransfer { transfer_id } => {
            crate::transfers::expire_if_unanswered(&state, *transfer_id).await
        }
        Job::HandoffTimeout { transfer_id } => {
            crate::transfers::fail_if_unconfirmed(&state, *transfer_id).await
        }
        Job::GenerateSummary {
            call_id,
            transfer_id,
        } => crate::summaries::generate_with_model(&state, *call_id, *transfer_id).await,
        Job::ConfirmHandoff { transfer_id } => {
            return match crate::transfers::confirm_handoff(&state, *transfer_id).await {
                Ok(true) => RunOutcome::Done,
                Ok(false) => RunOutcome::NotYet(state.config.jobs.poll_interval),
                Err(e) => RunOutcome::Failed(e),
            };
        }
    };
    match result {
        Ok(()) => RunOutcome::Done,
        Err(e) => RunOutcome::Failed(e),
    }
}

/// A job that gave up: already on the timeline (database trigger); when the hand-off depended
/// on it, the transfer fails with `livekit_error`.
async fn on_dead(state: &AppState, job: &ClaimedJob) {
    let gates =
        serde_json::from_value::<Job>(job.payload.0.clone()).is_ok_and(|j| j.gates_handoff());
    if let (true, Some(transfer_id)) = (gates, job.transfer_id)
        && let Err(e) =
            crate::transfers::fail_handoff_on_livekit_error(state, transfer_id, job.id).await
    {
        tracing::error!(error = %e, %transfer_id, "failing the transfer after a dead job failed");
    }
}
