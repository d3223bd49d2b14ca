//! SQL of the job queue: enqueue in the caller's transaction, claim with SKIP LOCKED and a
//! lease, finish with backoff computed in the database.

use std::time::Duration;

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{ClaimedJob, Job, JobStatus};

/// Adds a job, due at `run_after` (now when `None`).
pub async fn enqueue(
    db: impl PgExecutor<'_>,
    job: &Job,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
    run_after: Option<DateTime<Utc>>,
    max_attempts: i32,
) -> sqlx::Result<i64> {
    if run_after.is_none() {
        crate::notify::queued_jobs();
    }
    sqlx::query_scalar(
        "INSERT INTO jobs (kind, payload, call_id, transfer_id, run_after, max_attempts)
         VALUES ($1, $2, $3, $4, COALESCE($5, now()), $6) RETURNING id",
    )
    .bind(job.kind())
    .bind(sqlx::types::Json(job))
    .bind(call_id)
    .bind(transfer_id)
    .bind(run_after)
    .bind(max_attempts)
    .fetch_one(db)
    .await
}

/// Jobs as the columns of one multi-row insert (`UNNEST($kinds::text[], $payloads::jsonb[],
/// $due::timestamptz[])`), for statements that queue jobs with the change they belong to.
pub struct JobColumns<'a> {
    pub kinds: Vec<&'static str>,
    pub payloads: Vec<sqlx::types::Json<&'a Job>>,
    pub due: Vec<Option<DateTime<Utc>>>,
}

impl<'a> JobColumns<'a> {
    /// The columns of `jobs`, each due at its time (now when `None`). One due now has the
    /// request wake the workers once it is answered; timers wait for their poll.
    pub fn of(jobs: &'a [(Job, Option<DateTime<Utc>>)]) -> Self {
        if jobs.iter().any(|(_, at)| at.is_none()) {
            crate::notify::queued_jobs();
        }
        Self {
            kinds: jobs.iter().map(|(j, _)| j.kind()).collect(),
            payloads: jobs.iter().map(|(j, _)| sqlx::types::Json(j)).collect(),
            due: jobs.iter().map(|(_, at)| *at).collect(),
        }
    }
}

/// Adds several jobs of one call (and transfer) in one statement; each is due at its
/// `run_after` (now when `None`).
pub async fn enqueue_all(
    db: impl PgExecutor<'_>,
    jobs: &[(Job, Option<DateTime<Utc>>)],
    call_id: Uuid,
    transfer_id: Option<Uuid>,
    max_attempts: i32,
) -> sqlx::Result<()> {
    if jobs.is_empty() {
        return Ok(());
    }
    let columns = JobColumns::of(jobs);
    sqlx::query(
        "INSERT INTO jobs (kind, payload, call_id, transfer_id, run_after, max_attempts)
         SELECT kind, payload, $3, $4, COALESCE(run_after, now()), $5
         FROM UNNEST($1::text[], $2::jsonb[], $6::timestamptz[]) AS j(kind, payload, run_after)",
    )
    .bind(&columns.kinds)
    .bind(&columns.payloads)
    .bind(call_id)
    .bind(transfer_id)
    .bind(max_attempts)
    .bind(&columns.due)
    .execute(db)
    .await?;
    Ok(())
}

/// Which due jobs a claim looks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reach {
    /// Jobs that came due within this long, and no lapsed leases: what a claim under load
    /// needs, at a cost that does not grow with the finished jobs the indexes still hold.
    Recent(Duration),
    /// Every due job, and jobs whose worker's lease ran out (that worker died).
    All,
}

/// Takes up to `limit` due jobs (of those `reach` looks for) in one statement.
///
/// Each half walks its own partial index (`jobs_pending_idx`, `jobs_lease_idx`) only as far
/// as now, so a claim costs what is due, not what is queued; `pending` is a literal so that
/// every plan matches its index (a test checks it against [`JobStatus`]). The second half is
/// read only when the first left room.
///
/// Both indexes keep an entry for each job that has since been claimed or finished until
/// the table is vacuumed, at the old end of the range the walk starts from: a walk from the
/// start costs one step per job that ran since the last vacuum. [`Reach::Recent`] starts the
/// walk at its window instead, so the frequent claims skip them; the worker reaches further
/// only once per poll interval.
///
/// A lease is set exactly while a job runs (`jobs_lease_only_running`), so lapsed leases are
/// found by the lease alone, and the claimed rows by their ids. A plan made while the table
/// had never been analyzed and was nearly empty may still scan it for those ids, until the
/// first analyze replaces the plan.
pub async fn claim_due(
    db: impl PgExecutor<'_>,
    lease: Duration,
    limit: usize,
    reach: Reach,
) -> sqlx::Result<Vec<ClaimedJob>> {
    const CLAIM: &str = "UPDATE jobs SET status = 'running', attempts = attempts + 1,
                locked_until = now() + $1 * interval '1 millisecond', updated_at = now()";
    const CLAIMED: &str = "RETURNING id, kind, payload, call_id, transfer_id, attempts, max_attempts, now() AS claimed_at";
    let (sql, window) = match reach {
        Reach::All => (
            format!(
                "WITH pending AS (
                     SELECT id FROM jobs WHERE status = 'pending' AND run_after <= now()
                     ORDER BY run_after, id LIMIT $2 FOR UPDATE SKIP LOCKED),
                 lapsed AS (
                     SELECT id FROM jobs WHERE locked_until < now()
                     ORDER BY locked_until LIMIT $2 FOR UPDATE SKIP LOCKED)
                 {CLAIM}
                 WHERE id = ANY (ARRAY(SELECT id FROM pending UNION ALL SELECT id FROM lapsed LIMIT $2))
                 {CLAIMED}"
            ),
            None,
        ),
        Reach::Recent(window) => (
            format!(
                "WITH pending AS (
                     SELECT id FROM jobs WHERE status = 'pending' AND run_after <= now()
                       AND run_after > now() - $3 * interval '1 millisecond'
                     ORDER BY run_after, id LIMIT $2 FOR UPDATE SKIP LOCKED)
                 {CLAIM}
                 WHERE id = ANY (ARRAY(SELECT id FROM pending))
                 {CLAIMED}"
            ),
            Some(window.as_millis() as f64),
        ),
    };
    let query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(lease.as_millis() as f64)
        .bind(limit.min(i64::MAX as usize) as i64);
    match window {
        Some(window) => query.bind(window).fetch_all(db).await,
        None => query.fetch_all(db).await,
    }
}

/// Takes the next due job (see [`claim_due`]).
pub async fn claim_next(
    db: impl PgExecutor<'_>,
    lease: Duration,
) -> sqlx::Result<Option<ClaimedJob>> {
    Ok(claim_due(db, lease, 1, Reach::All).await?.pop())
}

/// Keeps a running job ours for another `lease`.
pub async fn extend_lease(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    lease: Duration,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE jobs SET locked_until = now() + $3 * interval '1 millisecond'
         WHERE id = $1 AND attempts = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.attempts)
    .bind(lease.as_millis() as f64)
    .execute(db)
    .await?;
    Ok(())
}

/// Marks a job done and records the attempt. `false` when the job is no longer ours.
pub async fn finish_done(db: impl PgExecutor<'_>, job: &ClaimedJob) -> sqlx::Result<bool> {
    Ok(finish_all_done(db, std::slice::from_ref(job)).await? == 1)
}

/// Marks jobs done and records their attempts, in one statement. Returns how many were still
/// ours (a job whose lease ran out may have been taken again). The jobs are found by their ids
/// (`= ANY`, which the primary key serves; see [`claim_due`] for a plan made on an empty
/// table).
pub async fn finish_all_done(db: impl PgExecutor<'_>, jobs: &[ClaimedJob]) -> sqlx::Result<u64> {
    if jobs.is_empty() {
        return Ok(0);
    }
    let ids: Vec<i64> = jobs.iter().map(|j| j.id).collect();
    let attempts: Vec<i32> = jobs.iter().map(|j| j.attempts).collect();
    let claimed: Vec<DateTime<Utc>> = jobs.iter().map(|j| j.claimed_at).collect();
    let done = sqlx::query(
        "WITH mine AS (
             SELECT * FROM UNNEST($1::int8[], $2::int4[], $3::timestamptz[])
                 AS m(id, attempts, claimed_at)),
         finished AS (
             UPDATE jobs SET status = 'done', locked_until = NULL, finished_at = now(),
                             updated_at = now()
             FROM mine
             WHERE jobs.id = ANY ($1) AND jobs.id = mine.id AND jobs.attempts = mine.attempts
               AND jobs.status = 'running'
             RETURNING jobs.id, jobs.attempts, mine.claimed_at)
         INSERT INTO job_attempts (job_id, attempt, started_at, outcome)
         SELECT id, attempts, claimed_at, 'done' FROM finished",
    )
    .bind(&ids)
    .bind(&attempts)
    .bind(&claimed)
    .execute(db)
    .await?;
    Ok(done.rows_affected())
}

/// Puts a job back to look again later, without spending an attempt.
pub async fn finish_not_yet(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    after: Duration,
) -> sqlx::Result<bool> {
    // A check that found nothing yet is not an attempt, and not worth a row of history.
    let done = sqlx::query(
        "UPDATE jobs SET status = 'pending', attempts = attempts - 1, locked_until = NULL,
                run_after = now() + $3 * interval '1 millisecond', updated_at = now()
         WHERE id = $1 AND attempts = $2 AND status = 'running'",
    )
    .bind(job.id)
    .bind(job.attempts)
    .bind(after.as_millis() as f64)
    .execute(db)
    .await?;
    Ok(done.rows_affected() == 1)
}

/// Records a failure: retried after an exponential, jittered backoff (capped at 5 minutes),
/// or dead once its attempts are spent. Returns `Some(true)` when the job is now dead.
pub async fn finish_failed(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    error: &str,
    backoff_base: Duration,
) -> sqlx::Result<Option<bool>> {
    let outcome = record(
        db,
        job,
        "UPDATE jobs SET
                status = CASE WHEN attempts >= max_attempts THEN 'dead' ELSE 'pending' END,
                last_error = $3, locked_until = NULL, updated_at = now(),
                finished_at = CASE WHEN attempts >= max_attempts THEN now() END,
                run_after = now() + least($4 * power(2, attempts - 1), 300000) * (0.75 + random() * 0.5)
                                    * interval '1 millisecond'
         WHERE id = $1 AND attempts = $2 AND status = 'running'
         RETURNING id, attempts, CASE status WHEN 'dead' THEN 'dead' ELSE 'retry' END AS outcome, last_error AS error",
        Some(error),
        backoff_base,
    )
    .await?;
    Ok(outcome.map(|o| o == "dead"))
}

/// Marks a job dead at once, whatever attempts it has left, and records the attempt. `false`
/// when the job is no longer ours.
pub async fn finish_dead(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    error: &str,
) -> sqlx::Result<bool> {
    record(
        db,
        job,
        "UPDATE jobs SET status = 'dead', last_error = $3, locked_until = NULL,
                finished_at = now(), updated_at = now()
         WHERE id = $1 AND attempts = $2 AND status = 'running'
         RETURNING id, attempts, 'dead'::text AS outcome, last_error AS error",
        Some(error),
        Duration::ZERO,
    )
    .await
    .map(|o| o.is_some())
}

/// Runs one of the finishing updates (`$1` id, `$2` attempts, `$3` error, `$4` backoff base
/// in ms) and writes its attempt row in the same statement.
async fn record(
    db: impl PgExecutor<'_>,
    job: &ClaimedJob,
    update: &'static str,
    error: Option<&str>,
    backoff_base: Duration,
) -> sqlx::Result<Option<String>> {
    let sql = format!(
        "WITH finished AS ({update})
         INSERT INTO job_attempts (job_id, attempt, started_at, outcome, error)
         SELECT id, attempts, $5, outcome, error FROM finished
         RETURNING outcome"
    );
    sqlx::query_scalar(sqlx::AssertSqlSafe(sql))
        .bind(job.id)
        .bind(job.attempts)
        .bind(error)
        .bind(backoff_base.as_millis() as f64)
        .bind(job.claimed_at)
        .fetch_optional(db)
        .await
}

/// What was asked of the queue for a transfer, oldest first (for replay).
pub async fn for_transfer(
    db: impl PgExecutor<'_>,
    transfer_id: Uuid,
) -> sqlx::Result<Vec<super::model::JobRecord>> {
    sqlx::query_as(
        "SELECT id, kind, payload, status, attempts, last_error, created_at, finished_at
         FROM jobs WHERE transfer_id = $1 ORDER BY id",
    )
    .bind(transfer_id)
    .fetch_all(db)
    .await
}

/// How many jobs are in each status (for metrics); statuses with none are left out.
pub async fn count_by_status(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(JobStatus, i64)>> {
    sqlx::query_as("SELECT status, count(*) FROM jobs GROUP BY status")
        .fetch_all(db)
        .await
}

/// Whether a job of `kind` for this call (and transfer) is still waiting or running.
///
/// Looked for among the unfinished jobs only, through their partial indexes (waiting:
/// `jobs_pending_idx`; running, which is holding a lease: `jobs_lease_idx`): the finished ones
/// are nearly all of the table, and stay.
pub async fn has_unfinished(
    db: impl PgExecutor<'_>,
    kind: &str,
    call_id: Uuid,
    transfer_id: Option<Uuid>,
) -> sqlx::Result<bool> {
    let this_job = "kind = $1 AND call_id = $2 AND transfer_id IS NOT DISTINCT FROM $3";
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT EXISTS (SELECT 1 FROM jobs WHERE status = 'pending' AND {this_job}
                        UNION ALL
                        SELECT 1 FROM jobs WHERE locked_until IS NOT NULL AND {this_job})"
    )))
    .bind(kind)
    .bind(call_id)
    .bind(transfer_id)
    .fetch_one(db)
    .await
}

/// A job and the transfer it was queued for.
#[derive(Debug, sqlx::FromRow)]
pub struct TransferJob {
    pub transfer_id: Uuid,
    #[sqlx(flatten)]
    pub job: super::model::JobRecord,
}

/// What was asked of the queue for these transfers, oldest first (as [`for_transfer`]).
pub async fn for_transfers(
    db: impl PgExecutor<'_>,
    transfer_ids: &[Uuid],
) -> sqlx::Result<Vec<TransferJob>> {
    sqlx::query_as(
        "SELECT transfer_id, id, kind, payload, status, attempts, last_error, created_at, finished_at
         FROM jobs WHERE transfer_id = ANY($1) ORDER BY id",
    )
    .bind(transfer_ids)
    .fetch_all(db)
    .await
}
