//! SQL for transfers. State changes go through [`transition`], which the database's
//! state-machine trigger checks.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor, QueryBuilder};
use uuid::Uuid;

use super::model::{NewTransfer, Outcome, Transfer, TransferOverview, TransferState};
use crate::calls::model::{Call, CallStatus};
use crate::jobs::model::Job;

const COLUMNS: &str = "id, call_id, from_agent, to_agent, mode, handoff, reason, state, outcome, \
    outcome_detail, handoff_confirmed, caller_room, briefing_room, final_room, accept_deadline, \
    handoff_deadline, initiated_at, briefing_at, connecting_at, completed_at, cancelled_at, \
    declined_at, expired_at, failed_at, abandoned_at, updated_at";

/// A call locked for a new transfer, with what the transfer must check.
#[derive(Debug, sqlx::FromRow)]
pub struct CallForTransfer {
    #[sqlx(flatten)]
    pub call: Call,
    /// Where the caller is now.
    pub caller_room: String,
    /// The transfer under way, if any, and its state.
    pub active_id: Option<Uuid>,
    pub active_state: Option<TransferState>,
    /// Whether the requested briefing room already belongs to a call or transfer.
    pub room_taken: bool,
}

/// Locks the call (as `calls::store::lock` does) and reads, in the same statement, where its
/// caller is, its transfer under way, and whether `briefing_room` is free.
pub async fn lock_call_for_transfer(
    tx: &mut PgConnection,
    call_id: Uuid,
    briefing_room: &str,
) -> sqlx::Result<Option<CallForTransfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {call_columns},
                COALESCE((SELECT final_room FROM transfers
                          WHERE call_id = calls.id AND state = $3
                          ORDER BY completed_at DESC LIMIT 1), room_name) AS caller_room,
                active.active_id, active.active_state,
                {owner} IS NOT NULL AS room_taken
         FROM calls
         LEFT JOIN LATERAL (SELECT id AS active_id, state AS active_state FROM transfers
                            WHERE call_id = calls.id AND state = ANY($4) LIMIT 1) active ON true
         WHERE id = $1
         FOR NO KEY UPDATE OF calls",
        call_columns = crate::calls::store::COLUMNS,
        owner = crate::rooms::store::call_of_room("$2"),
    )))
    .bind(call_id)
    .bind(briefing_room)
    .bind(TransferState::Completed)
    .bind(&TransferState::ACTIVE[..])
    .fetch_optional(tx)
    .await
}

/// Inserts a validated transfer in state `initiated`, marks its call `transferring` (taken by
/// `taker` when given) and queues its jobs, in one statement. The call learns its new agent
/// here too, so the `transfers_remember_agents` trigger finds nothing left to write (a second
/// version of the call's row, and a GIN insert, per transfer).
#[allow(clippy::too_many_arguments)]
pub async fn insert(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    caller_room: &str,
    t: &NewTransfer,
    accept_deadline: DateTime<Utc>,
    taker: Option<&str>,
    jobs: &[(Job, Option<DateTime<Utc>>)],
    max_attempts: i32,
) -> sqlx::Result<Transfer> {
    let columns = crate::jobs::store::JobColumns::of(jobs);
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH created AS (
             INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff, reason,
                                    caller_room, briefing_room, accept_deadline)
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) RETURNING {COLUMNS}),
         call AS (
             UPDATE calls SET status = $11, current_agent = COALESCE($12, current_agent),
                              agents = CASE WHEN $4 = ANY (agents) THEN agents
                                            ELSE agents || $4::text END,
                              updated_at = now()
             WHERE id = $2),
         queued AS (
             INSERT INTO jobs (kind, payload, call_id, transfer_id, run_after, max_attempts)
             SELECT j.kind, j.payload, $2, $1, COALESCE(j.run_after, now()), $16
             FROM UNNEST($13::text[], $14::jsonb[], $15::timestamptz[]) AS j(kind, payload, run_after))
         SELECT {COLUMNS} FROM created"
    )))
    .bind(t.id)
    .bind(call_id)
    .bind(t.from_agent.as_str())
    .bind(t.to_agent.as_str())
    .bind(t.mode)
    .bind(t.handoff)
    .bind(&t.reason)
    .bind(caller_room)
    .bind(&t.briefing_room)
    .bind(accept_deadline)
    .bind(CallStatus::Transferring)
    .bind(taker)
    .bind(&columns.kinds)
    .bind(&columns.payloads)
    .bind(&columns.due)
    .bind(max_attempts)
    .fetch_one(db)
    .await
}

/// Who a hand-off under way waits for, and in which room.
#[derive(Debug, sqlx::FromRow)]
pub struct AwaitedArrival {
    pub transfer_id: Uuid,
    pub room: String,
    pub identity: String,
}

/// The receiving side of every `connecting` transfer whose hand-off has not timed out.
///
/// `connecting` is a literal so the planner can use the partial index `transfers_connecting_idx`.
pub async fn awaited_arrivals(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<AwaitedArrival>> {
    sqlx::query_as(
        "SELECT t.id AS transfer_id,
                CASE t.handoff WHEN $1 THEN t.briefing_room ELSE t.caller_room END AS room,
                CASE t.handoff WHEN $1 THEN c.caller_identity ELSE t.to_agent END AS identity
         FROM transfers t JOIN calls c ON c.id = t.call_id
         WHERE t.state = 'connecting' AND t.handoff_deadline > now()",
    )
    .bind(super::model::Handoff::MoveCaller)
    .fetch_all(db)
    .await
}

/// Transfers past their deadline (up to `limit` of each kind): `initiated` ones past
/// `accept_deadline`, `connecting` ones past `handoff_deadline`, with their state.
///
/// The states are literals so the planner can use the partial indexes `transfers_offered_idx`
/// and `transfers_connecting_idx`: each half reads the few transfers in that state.
pub async fn overdue(
    db: impl PgExecutor<'_>,
    limit: i64,
) -> sqlx::Result<Vec<(Uuid, TransferState)>> {
    sqlx::query_as(
        "(SELECT id, state FROM transfers
          WHERE state = 'initiated' AND accept_deadline <= now()
          ORDER BY accept_deadline LIMIT $1)
         UNION ALL
         (SELECT id, state FROM transfers
          WHERE state = 'connecting' AND handoff_deadline <= now()
          ORDER BY handoff_deadline LIMIT $1)",
    )
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One transfer.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Transfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM transfers WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// A transfer and its caller, both locked until the transaction ends.
#[derive(Debug, sqlx::FromRow)]
pub struct LockedTransfer {
    #[sqlx(flatten)]
    pub transfer: Transfer,
    pub caller_identity: String,
    pub caller_name: String,
}

/// Locks a transfer's call, then the transfer, in one statement: concurrent actions on either
/// queue up here. The call comes first (as every writer takes them), which the lateral join
/// guarantees: the transfer is read only for a call row already locked. (`NO KEY UPDATE`: jobs
/// and summaries referencing them must not deadlock with it.)
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<LockedTransfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT t.*, c.caller_identity, c.caller_name
         FROM (SELECT id, caller_identity, caller_name FROM calls
               WHERE id = (SELECT call_id FROM transfers WHERE id = $1)
               FOR NO KEY UPDATE) c,
              LATERAL (SELECT {COLUMNS} FROM transfers
                       WHERE id = $1 AND call_id = c.id FOR NO KEY UPDATE) t"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// The call's transfer under way, locked, if there is one.
pub async fn lock_active_for_call(
    tx: &mut PgConnection,
    call_id: Uuid,
) -> sqlx::Result<Option<Transfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM transfers
         WHERE call_id = $1 AND state = ANY($2) FOR NO KEY UPDATE"
    )))
    .bind(call_id)
    .bind(&TransferState::ACTIVE[..])
    .fetch_optional(tx)
    .await
}

/// A change of state and what comes with it. Unset fields keep their value.
#[derive(Debug)]
pub struct Transition {
    pub to: TransferState,
    pub outcome: Option<Outcome>,
    pub detail: Option<String>,
    pub handoff_confirmed: Option<bool>,
    pub final_room: Option<String>,
    pub handoff_deadline: Option<DateTime<Utc>>,
}

impl Transition {
    /// A plain move to `to`.
    pub fn to(to: TransferState) -> Self {
        Self {
            to,
            outcome: None,
            detail: None,
            handoff_confirmed: None,
            final_room: None,
            handoff_deadline: None,
        }
    }

    /// A move to a terminal state with its reason.
    pub fn ended(to: TransferState, outcome: Outcome, detail: Option<String>) -> Self {
        Self {
            outcome: Some(outcome),
            detail,
            ..Self::to(to)
        }
    }
}

/// Moves a transfer to a new state. The database refuses a move its transition table does not
/// list (SQLSTATE WL001, answered as 409).
pub async fn transition(
    db: impl PgExecutor<'_>,
    id: Uuid,
    t: &Transition,
) -> sqlx::Result<Transfer> {
    transition_queueing(db, id, t, &[], 1).await
}

/// [`transition`], queueing the work the change implies (LiveKit operations, timers) in the
/// same statement: the jobs exist only if the change was made.
pub async fn transition_queueing(
    db: impl PgExecutor<'_>,
    id: Uuid,
    t: &Transition,
    jobs: &[(Job, Option<DateTime<Utc>>)],
    max_attempts: i32,
) -> sqlx::Result<Transfer> {
    change(db, id, t, jobs, max_attempts, None).await
}

/// [`transition_queueing`] to a terminal state; in the same statement the call goes back from
/// `transferring` to `active`, to `new_agent` when it changed hands. A call that ended
/// meanwhile stays ended.
pub async fn end_queueing(
    db: impl PgExecutor<'_>,
    id: Uuid,
    t: &Transition,
    jobs: &[(Job, Option<DateTime<Utc>>)],
    max_attempts: i32,
    new_agent: Option<&str>,
) -> sqlx::Result<Transfer> {
    change(db, id, t, jobs, max_attempts, Some(new_agent)).await
}

/// The one statement behind every change of state; `resume` (the call's new agent, if any)
/// also ends the call's `transferring` status.
async fn change(
    db: impl PgExecutor<'_>,
    id: Uuid,
    t: &Transition,
    jobs: &[(Job, Option<DateTime<Utc>>)],
    max_attempts: i32,
    resume: Option<Option<&str>>,
) -> sqlx::Result<Transfer> {
    let columns = crate::jobs::store::JobColumns::of(jobs);
    // The call by a scalar subquery: a join to `changed` may be planned as a scan of `calls`
    // (and is, while the table is small), the subquery always finds it by its primary key.
    let resumed = match resume {
        None => "",
        Some(_) => {
            ", resumed AS (
                 UPDATE calls SET status = $13, current_agent = COALESCE($12, current_agent),
                                  updated_at = now()
                 WHERE calls.id = (SELECT call_id FROM changed) AND calls.status = $14)"
        }
    };
    let query = sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "WITH changed AS (
             UPDATE transfers SET state = $2,
                    outcome = COALESCE($3, outcome),
                    outcome_detail = COALESCE($4, outcome_detail),
                    handoff_confirmed = COALESCE($5, handoff_confirmed),
                    final_room = COALESCE($6, final_room),
                    handoff_deadline = COALESCE($7, handoff_deadline)
             WHERE id = $1 RETURNING {COLUMNS}),
         queued AS (
             INSERT INTO jobs (kind, payload, call_id, transfer_id, run_after, max_attempts)
             SELECT j.kind, j.payload, changed.call_id, changed.id, COALESCE(j.run_after, now()), $11
             FROM changed, UNNEST($8::text[], $9::jsonb[], $10::timestamptz[]) AS j(kind, payload, run_after))
         {resumed}
         SELECT {COLUMNS} FROM changed"
    )))
    .bind(id)
    .bind(t.to)
    .bind(t.outcome)
    .bind(&t.detail)
    .bind(t.handoff_confirmed)
    .bind(&t.final_room)
    .bind(t.handoff_deadline)
    .bind(&columns.kinds)
    .bind(&columns.payloads)
    .bind(&columns.due)
    .bind(max_attempts);
    let query = match resume {
        None => query,
        Some(new_agent) => query
            .bind(new_agent)
            .bind(CallStatus::Active)
            .bind(CallStatus::Transferring),
    };
    query.fetch_one(db).await
}

/// Filters of [`list`].
#[derive(Debug, Default)]
pub struct TransferFilter {
    pub state: Option<TransferState>,
    pub active: Option<bool>,
    pub to_agent: Option<String>,
    pub from_agent: Option<String>,
    /// Only transfers this agent is a side of (a filter the client chose).
    pub agent: Option<String>,
    pub outcome: Option<Outcome>,
    pub call_id: Option<Uuid>,
    pub initiated_after: Option<DateTime<Utc>>,
    pub initiated_before: Option<DateTime<Utc>>,
    /// Only ended transfers that took at least this long.
    pub min_duration: Option<chrono::TimeDelta>,
    /// Only ended transfers that took at most this long, in whole milliseconds.
    pub max_duration: Option<chrono::TimeDelta>,
    /// Only transfers this agent is a side of (the key's scope).
    pub involving: Option<String>,
}

/// When a transfer ended: the timestamp of its terminal state (only one is ever set).
const ENDED_AT: &str =
    "COALESCE(completed_at, cancelled_at, declined_at, expired_at, failed_at, abandoned_at)";

/// Transfers newest first, after the cursor `(initiated_at, id)`.
///
/// Only the filters that are set go into the SQL: `$n IS NULL OR …` for absent ones would
/// get a generic plan that serves none of them.
pub async fn list(
    db: impl PgExecutor<'_>,
    f: &TransferFilter,
    after: Option<(DateTime<Utc>, Uuid)>,
    limit: i64,
) -> sqlx::Result<Vec<Transfer>> {
    let mut sql = QueryBuilder::new(format!("SELECT {COLUMNS} FROM transfers WHERE true"));
    if let Some(state) = f.state {
        sql.push(" AND state = ").push_bind(state);
    }
    if let Some(active) = f.active {
        sql.push(if active { " AND " } else { " AND NOT " })
            .push("state = ANY(")
            .push_bind(&TransferState::ACTIVE[..])
            .push(")");
    }
    if let Some(to) = &f.to_agent {
        sql.push(" AND to_agent = ").push_bind(to);
    }
    if let Some(from) = &f.from_agent {
        sql.push(" AND from_agent = ").push_bind(from);
    }
    for agent in [&f.agent, &f.involving].into_iter().flatten() {
        sql.push(" AND (from_agent = ")
            .push_bind(agent)
            .push(" OR to_agent = ")
            .push_bind(agent)
            .push(")");
    }
    if let Some(outcome) = f.outcome {
        sql.push(" AND outcome = ").push_bind(outcome);
    }
    if let Some(call) = f.call_id {
        sql.push(" AND call_id = ").push_bind(call);
    }
    if let Some(from) = f.initiated_after {
        sql.push(" AND initiated_at >= ").push_bind(from);
    }
    if let Some(to) = f.initiated_before {
        sql.push(" AND initiated_at < ").push_bind(to);
    }
    // A transfer under way has no end, so it never matches a duration (NULL compares false).
    if let Some(min) = f.min_duration {
        sql.push(format!(" AND {ENDED_AT} - initiated_at >= "))
            .push_bind(min);
    }
    if let Some(max) = f.max_duration {
        // Whole milliseconds, as replays count them: 1.9 ms is at most 1 ms.
        sql.push(format!(" AND {ENDED_AT} - initiated_at < "))
            .push_bind(max + chrono::TimeDelta::milliseconds(1));
    }
    if let Some((at, id)) = after {
        sql.push(" AND (initiated_at, id) < (")
            .push_bind(at)
            .push(", ")
            .push_bind(id)
            .push(")");
    }
    sql.push(" ORDER BY initiated_at DESC, id DESC LIMIT ")
        .push_bind(limit);
    sql.build_query_as().fetch_all(db).await
}

/// The latest transfer of a caller's most recent call (by name, case-insensitive, or identity;
/// among the calls `created_by` started, when given), with what a caller's token needs of
/// that call. `None` when that call has no transfer.
pub async fn latest_of_caller(
    db: impl PgExecutor<'_>,
    name: &str,
    created_by: Option<Uuid>,
) -> sqlx::Result<Option<CallersTransfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS}, c.caller_identity, c.caller_name, c.created_by AS call_created_by,
                c.status AS call_status
         FROM (SELECT id AS latest_call, caller_identity, caller_name, created_by, status
               FROM calls
               WHERE (lower(caller_name) = lower($1) OR caller_identity = $1)
                 AND ($2::uuid IS NULL OR created_by = $2)
               ORDER BY created_at DESC, id DESC LIMIT 1) c
         JOIN LATERAL (SELECT * FROM transfers WHERE call_id = c.latest_call
                       ORDER BY initiated_at DESC, id DESC LIMIT 1) t ON true"
    )))
    .bind(name)
    .bind(created_by)
    .fetch_optional(db)
    .await
}

/// A transfer with its call's caller (see [`latest_of_caller`]).
#[derive(Debug, sqlx::FromRow)]
pub struct CallersTransfer {
    #[sqlx(flatten)]
    pub transfer: Transfer,
    pub caller_identity: String,
    pub caller_name: String,
    pub call_created_by: Option<Uuid>,
    pub call_status: CallStatus,
}

/// The most recent transfer to any of `identities` whose call is not over.
pub async fn latest_to_agent(
    db: impl PgExecutor<'_>,
    identities: &[String],
) -> sqlx::Result<Option<Transfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM transfers
         WHERE to_agent = ANY($1) AND call_id IN (SELECT id FROM calls WHERE status <> $2)
         ORDER BY initiated_at DESC, id DESC LIMIT 1"
    )))
    .bind(identities)
    .bind(CallStatus::Ended)
    .fetch_optional(db)
    .await
}

/// How many transfers are in each state (for metrics); states with none are left out.
pub async fn count_by_state(db: impl PgExecutor<'_>) -> sqlx::Result<Vec<(TransferState, i64)>> {
    sqlx::query_as("SELECT state, count(*) FROM transfers GROUP BY state")
        .fetch_all(db)
        .await
}

/// What [`TransferOverview`] adds to a transfer: its caller's name and best summary.
const OVERVIEW: &str = "
    SELECT t.*, c.caller_name, s.summary_text, s.briefing_script
    FROM transfers t
    JOIN calls c ON c.id = t.call_id
    LEFT JOIN LATERAL (SELECT summary_text, briefing_script FROM summaries
                       WHERE transfer_id = t.id
                       ORDER BY (provider = 'openai_compatible' AND NOT fallback) DESC,
                                created_at DESC, id DESC
                       LIMIT 1) s ON true";

/// One transfer with its caller's name and best summary.
pub async fn overview(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<TransferOverview>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{OVERVIEW} WHERE t.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Transfers waiting for Agent B or in their briefing, newest first; with `involving`, only
/// those that agent is a side of.
pub async fn waiting_overviews(
    db: impl PgExecutor<'_>,
    involving: Option<&str>,
    limit: i64,
) -> sqlx::Result<Vec<TransferOverview>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{OVERVIEW}
         WHERE t.state IN ('initiated', 'briefing')
           AND ($2::text IS NULL OR t.from_agent = $2 OR t.to_agent = $2)
         ORDER BY t.initiated_at DESC, t.id DESC LIMIT $1"
    )))
    .bind(limit)
    .bind(involving)
    .fetch_all(db)
    .await
}

/// Every transfer of these calls, by call and then in the order they were initiated.
pub async fn for_calls(db: impl PgExecutor<'_>, call_ids: &[Uuid]) -> sqlx::Result<Vec<Transfer>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM transfers WHERE call_id = ANY($1)
         ORDER BY call_id, initiated_at, id"
    )))
    .bind(call_ids)
    .fetch_all(db)
    .await
}
