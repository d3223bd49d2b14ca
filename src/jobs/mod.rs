//! The durable job queue and its workers: LiveKit room operations (the outbox) and transfer
//! timers. Jobs are rows, so they survive restarts; a crashed worker's job is taken again once
//! its lease runs out.

pub mod model;
pub mod store;

use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

use crate::app::AppState;
use model::{ClaimedJob, Job, RunOutcome};

/// The least time between two claims: jobs that come due sooner after a claim wait for the
/// next one, so under load one claim, and one finish, serve every job that came due or ended
/// meanwhile (a claim per ended job cost two statements per job). A job starts at most this
/// much later.
const CLAIM_SPACING: std::time::Duration = std::time::Duration::from_millis(5);

/// Runs due jobs, up to `concurrency` at once, until `shutdown` is cancelled; returns when the
/// jobs in flight have finished. Due jobs are claimed together in one statement, and the jobs
/// that succeeded together are finished together in one.
pub async fn run_workers(state: AppState, shutdown: CancellationToken) {
    let concurrency = state.config.jobs.concurrency;
    let poll = state.config.jobs.poll_interval;
    let mut running: JoinSet<(ClaimedJob, RunOutcome)> = JoinSet::new();
    let mut succeeded: Vec<ClaimedJob> = Vec::new();
    let mut spacing = crate::notify::Spacing::new(CLAIM_SPACING);
    // When a claim last looked at every due job and lapsed lease; the others look only at
    // what came due since about then (see `store::Reach`).
    let mut reached_all: Option<tokio::time::Instant> = None;
    while !shutdown.is_cancelled() {
        spacing.wait().await;
        while let Some(finished) = running.try_join_next() {
            collect(&state, finished, &mut succeeded).await;
        }
        finish_succeeded(&state, &mut succeeded).await;
        // Registered before looking, so a job added meanwhile is not missed.
        let woken = state.signals.jobs.notified();
        tokio::pin!(woken);
        woken.as_mut().enable();
        let free = concurrency.saturating_sub(running.len());
        if free > 0 {
            spacing.mark();
            let reach = match reached_all {
                Some(at) if at.elapsed() < poll => store::Reach::Recent(poll),
                _ => {
                    reached_all = Some(tokio::time::Instant::now());
                    store::Reach::All
                }
            };
            match store::claim_due(&state.db, state.config.jobs.lease, free, reach).await {
                Ok(jobs) => {
                    let all_slots_taken = jobs.len() == free;
                    for job in jobs {
                        running.spawn(run_claimed(state.clone(), job));
                    }
                    if all_slots_taken {
                        // More may be due: look again once a slot is free.
                        continue;
                    }
                }
                Err(e) => tracing::warn!(error = %e, "claiming jobs failed"),
            }
        }
        tokio::select! {
            _ = shutdown.cancelled() => {}
            _ = tokio::time::sleep(poll) => {}
            _ = &mut woken => {}
            Some(finished) = running.join_next(), if !running.is_empty() => {
                collect(&state, finished, &mut succeeded).await;
            }
        }
    }
    while let Some(finished) = running.join_next().await {
        collect(&state, finished, &mut succeeded).await;
    }
    finish_succeeded(&state, &mut succeeded).await;
}

/// Records a finished job's outcome; a success waits in `succeeded` to be finished in a batch.
async fn collect(
    state: &AppState,
    finished: Result<(ClaimedJob, RunOutcome), tokio::task::JoinError>,
    succeeded: &mut Vec<ClaimedJob>,
) {
    match finished {
        Ok((job, RunOutcome::Done)) => succeeded.push(job),
        Ok((job, outcome)) => record(state, &job, outcome).await,
        // `run_claimed` catches a job's panic; this is the runner's own, and the lease
        // runs out so another worker takes the job again.
        Err(e) => tracing::error!(error = %e, "a job runner panicked"),
    }
}

async fn finish_succeeded(state: &AppState, succeeded: &mut Vec<ClaimedJob>) {
    if succeeded.is_empty() {
        return;
    }
    match store::finish_all_done(&state.db, succeeded).await {
        Ok(_) => {
            for job in succeeded.iter() {
                state.metrics.job_ran(&job.kind, "done");
            }
        }
        // Their leases run out and they run again: jobs are written to be repeatable.
        Err(e) => tracing::error!(error = %e, "recording finished jobs failed"),
    }
    succeeded.clear();
}

/// Waits for a running job, renewing its lease meanwhile: a job may take longer than one lease
/// (a slow model), yet a worker that dies still loses its claim within one lease.
async fn keep_leased(
    state: &AppState,
    job: &ClaimedJob,
    mut task: tokio::task::JoinHandle<RunOutcome>,
) -> Result<RunOutcome, tokio::task::JoinError> {
    let lease = state.config.jobs.lease;
    let mut renew = tokio::time::interval(lease / 3);
    renew.tick().await;
    loop {
        tokio::select! {
            outcome = &mut task => return outcome,
            _ = renew.tick() => {
                if let Err(e) = store::extend_lease(&state.db, job, lease).await {
                    tracing::warn!(error = %e, "renewing a job's lease failed");
                }
            }
        }
    }
}

/// Runs one claimed job to an outcome (recorded by the caller).
pub async fn run_claimed(state: AppState, job: ClaimedJob) -> (ClaimedJob, RunOutcome) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    let outcome = run(&state, &job).instrument(span).await;
    // Timers and LiveKit operations change transfers and calls: their events are new.
    state.signals.wrote();
    (job, outcome)
}

async fn run(state: &AppState, job: &ClaimedJob) -> RunOutcome {
    match serde_json::from_value::<Job>(job.payload.0.clone()) {
        // A panic inside a job fails that attempt, not the worker.
        Ok(parsed) => {
            let task = tokio::spawn(execute(state.clone(), parsed).in_current_span());
            match keep_leased(state, job, task).await {
                Ok(outcome) => outcome,
                Err(panic) => RunOutcome::Failed(anyhow::anyhow!("the job panicked: {panic}")),
            }
        }
        // Another attempt would read the same payload: no point retrying it.
        Err(e) => RunOutcome::Unrunnable(anyhow::anyhow!(
            "unreadable payload for a job of kind {}: {e}",
            job.kind
        )),
    }
}

/// Records an outcome other than a batched success.
async fn record(state: &AppState, job: &ClaimedJob, outcome: RunOutcome) {
    let span = tracing::info_span!("job", id = job.id, kind = %job.kind, attempt = job.attempts);
    record_outcome(state, job, outcome).instrument(span).await
}

async fn record_outcome(state: &AppState, job: &ClaimedJob, outcome: RunOutcome) {
    let recorded = match outcome {
        RunOutcome::Done => store::finish_done(&state.db, job).await.map(|_| "done"),
        RunOutcome::NotYet(after) => store::finish_not_yet(&state.db, job, after)
            .await
            .map(|_| "not_yet"),
        RunOutcome::Failed(error) => {
            // Stored and served (timeline, replay): no credentials in it.
            let message = state.secrets.scrub(&format!("{error:#}"));
            match store::finish_failed(&state.db, job, &message, state.config.jobs.backoff_base)
                .await
            {
                Ok(Some(true)) => {
                    tracing::error!(error = %message, "job gave up after its last attempt");
                    on_dead(state, job).await;
                    Ok("dead")
                }
                Ok(_) => {
                    tracing::warn!(error = %message, "job failed; it will be retried");
                    Ok("retry")
                }
                Err(e) => Err(e),
            }
        }
        RunOutcome::Unrunnable(error) => {
            let message = state.secrets.scrub(&format!("{error:#}"));
            match store::finish_dead(&state.db, job, &message).await {
                Ok(true) => {
                    tracing::error!(error = %message, "job cannot run; marked dead without retrying");
                    on_dead(state, job).await;
                    Ok("dead")
                }
                Ok(false) => Ok("dead"),
                Err(e) => Err(e),
            }
        }
    };
    let recorded = recorded.map(|outcome| state.metrics.job_ran(&job.kind, outcome));
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
        Job::ExpireUnansweredCall { call_id } => {
            crate::calls::end_if_unanswered(&state, *call_id).await
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
    state.signals.wrote();
}
