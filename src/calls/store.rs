//! SQL for calls.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, PgExecutor};
use uuid::Uuid;

use super::model::{Call, CallCursor, CallOverview, CallStatus, NewCall};

/// The columns of a [`Call`], in its order.
pub const COLUMNS: &str = "id, room_name, caller_name, caller_identity, caller_phone, issue, metadata, \
                       status, current_agent, agents, created_by, created_at, updated_at, ended_at";

/// Inserts a validated call. `None`, with nothing written, when the caller's identity is a
/// registered agent.
pub async fn insert(db: impl PgExecutor<'_>, call: &NewCall) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO calls (id, room_name, caller_name, caller_identity, caller_phone, issue,
                            metadata, created_by)
         SELECT $1, $2, $3, $4, $5, $6, $7, $8
         WHERE NOT EXISTS (SELECT 1 FROM agents WHERE identity = $4)
         RETURNING {COLUMNS}"
    )))
    .bind(call.id)
    .bind(&call.room_name)
    .bind(&call.caller_name)
    .bind(&call.caller_identity)
    .bind(&call.caller_phone)
    .bind(&call.issue)
    .bind(&call.metadata)
    .bind(call.created_by)
    .fetch_optional(db)
    .await
}

/// Calls still waiting for an agent that were created before `before`, oldest first.
pub async fn unanswered_since(
    db: impl PgExecutor<'_>,
    before: DateTime<Utc>,
    limit: i64,
) -> sqlx::Result<Vec<Uuid>> {
    sqlx::query_scalar(
        "SELECT id FROM calls WHERE status = $1 AND created_at < $2 ORDER BY created_at LIMIT $3",
    )
    .bind(CallStatus::Waiting)
    .bind(before)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// One call.
pub async fn get(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls WHERE id = $1"
    )))
    .bind(id)
    .fetch_optional(db)
    .await
}

/// One call, locked until the transaction ends, so its status cannot change under us.
/// `NO KEY UPDATE`, not `UPDATE`: rows that reference the call (segments, participants,
/// jobs) take `KEY SHARE` locks on it, and `UPDATE` would make two such writers deadlock.
pub async fn lock(tx: &mut PgConnection, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls WHERE id = $1 FOR NO KEY UPDATE"
    )))
    .bind(id)
    .fetch_optional(tx)
    .await
}

/// The call of transfer `transfer_id`, locked as [`lock`] does.
pub async fn lock_of_transfer(
    tx: &mut PgConnection,
    transfer_id: Uuid,
) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls
         WHERE id = (SELECT call_id FROM transfers WHERE id = $1) FOR NO KEY UPDATE"
    )))
    .bind(transfer_id)
    .fetch_optional(tx)
    .await
}

/// Filters of [`list`].
#[derive(Debug, Default)]
pub struct CallFilter {
    pub status: Option<CallStatus>,
    pub caller: Option<String>,
    pub created_after: Option<chrono::DateTime<chrono::Utc>>,
    pub created_before: Option<chrono::DateTime<chrono::Utc>>,
    pub q: Option<String>,
    /// Only the calls an agent key may read: its own, and those waiting for an agent.
    pub visible_to_agent: Option<String>,
    /// Only the calls this frontend key started.
    pub created_by: Option<Uuid>,
}

/// Calls newest first, starting after `after`, at most `limit` rows.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &CallFilter,
    after: Option<CallCursor>,
    limit: i64,
) -> sqlx::Result<Vec<Call>> {
    let (after_at, after_id) = after.unzip();
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls
         WHERE ($1::text IS NULL OR status = $1)
           AND ($2::text IS NULL OR lower(caller_name) = lower($2))
           AND ($3::timestamptz IS NULL OR created_at >= $3)
           AND ($4::timestamptz IS NULL OR created_at < $4)
           AND ($5::timestamptz IS NULL OR (created_at, id) < ($5, $6))
           AND ($8::text IS NULL
                OR to_tsvector('simple', caller_name || ' ' || COALESCE(issue, '')) @@ websearch_to_tsquery('simple', $8)
                OR EXISTS (SELECT 1 FROM transcript_segments t
                           WHERE t.call_id = calls.id AND t.search @@ websearch_to_tsquery('simple', $8))
                OR EXISTS (SELECT 1 FROM summaries s
                           WHERE s.call_id = calls.id AND s.search @@ websearch_to_tsquery('simple', $8)))
           AND ($9::text IS NULL OR $9 = ANY (agents) OR status = $11)
           AND ($10::uuid IS NULL OR created_by = $10)
         ORDER BY created_at DESC, id DESC
         LIMIT $7"
    )))
    .bind(filter.status)
    .bind(&filter.caller)
    .bind(filter.created_after)
    .bind(filter.created_before)
    .bind(after_at)
    .bind(after_id)
    .bind(limit)
    .bind(&filter.q)
    .bind(&filter.visible_to_agent)
    .bind(filter.created_by)
    .bind(CallStatus::Waiting)
    .fetch_all(db)
    .await
}

/// Ends a call that has not ended; `None` when it had already ended (or does not exist).
pub async fn end(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calls SET status = $2, ended_at = now(), updated_at = now()
         WHERE id = $1 AND status <> $2 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(CallStatus::Ended)
    .fetch_optional(db)
    .await
}

/// Sets the status (and, when given, the agent handling the call).
pub async fn set_status(
    db: impl PgExecutor<'_>,
    id: Uuid,
    status: CallStatus,
    current_agent: Option<&str>,
) -> sqlx::Result<Call> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE calls SET status = $2, current_agent = COALESCE($3, current_agent), updated_at = now()
         WHERE id = $1 RETURNING {COLUMNS}"
    )))
    .bind(id)
    .bind(status)
    .bind(current_agent)
    .fetch_one(db)
    .await
}

/// Ends the `transferring` status once a transfer is over: back to `active`, with the new agent
/// when the call changed hands. A call that ended meanwhile stays ended.
pub async fn resume_after_transfer(
    db: impl PgExecutor<'_>,
    id: Uuid,
    new_agent: Option<&str>,
) -> sqlx::Result<()> {
    sqlx::query(
        "UPDATE calls SET status = $3, current_agent = COALESCE($2, current_agent), updated_at = now()
         WHERE id = $1 AND status = $4",
    )
    .bind(id)
    .bind(new_agent)
    .bind(CallStatus::Active)
    .bind(CallStatus::Transferring)
    .execute(db)
    .await?;
    Ok(())
}

/// Calls not yet ended, newest first; with `visible_to_agent`, those the agent has been on or
/// that wait for an agent; with `created_by`, those that key started.
pub async fn list_open(
    db: impl PgExecutor<'_>,
    visible_to_agent: Option<&str>,
    created_by: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<Call>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM calls
         WHERE status = ANY($4)
           AND ($2::text IS NULL OR $2 = ANY (agents) OR status = $5)
           AND ($3::uuid IS NULL OR created_by = $3)
         ORDER BY created_at DESC, id DESC LIMIT $1"
    )))
    .bind(limit)
    .bind(visible_to_agent)
    .bind(created_by)
    .bind(&CallStatus::OPEN[..])
    .bind(CallStatus::Waiting)
    .fetch_all(db)
    .await
}

/// Whether `identity` is the caller of a call not yet ended.
pub async fn is_caller_in_progress(db: impl PgExecutor<'_>, identity: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM calls WHERE caller_identity = $1 AND status <> $2)",
    )
    .bind(identity)
    .bind(CallStatus::Ended)
    .fetch_one(db)
    .await
}

/// What [`CallOverview`] adds to a call: its latest transfer and its transcript.
const OVERVIEW: &str = "
    SELECT c.*, t.from_agent AS transfer_from, t.to_agent AS transfer_to,
           t.state IN ('initiated', 'briefing', 'connecting') AS transfer_active, tx.transcript
    FROM calls c
    LEFT JOIN LATERAL (SELECT from_agent, to_agent, state FROM transfers
                       WHERE call_id = c.id ORDER BY initiated_at DESC, id DESC LIMIT 1) t ON true
    LEFT JOIN LATERAL (SELECT string_agg(speaker || ': ' || text, E'\\n' ORDER BY start_ms, seq) AS transcript
                       FROM transcript_segments WHERE call_id = c.id) tx ON true";

/// One call with its latest transfer and transcript.
pub async fn overview(db: impl PgExecutor<'_>, id: Uuid) -> sqlx::Result<Option<CallOverview>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!("{OVERVIEW} WHERE c.id = $1")))
        .bind(id)
        .fetch_optional(db)
        .await
}

/// Calls not yet ended, newest first, each with its latest transfer and transcript; scoped as
/// [`list_open`].
pub async fn open_overviews(
    db: impl PgExecutor<'_>,
    visible_to_agent: Option<&str>,
    created_by: Option<Uuid>,
    limit: i64,
) -> sqlx::Result<Vec<CallOverview>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{OVERVIEW}
         WHERE c.status = ANY($4)
           AND ($2::text IS NULL OR $2 = ANY (c.agents) OR c.status = $5)
           AND ($3::uuid IS NULL OR c.created_by = $3)
         ORDER BY c.created_at DESC, c.id DESC LIMIT $1"
    )))
    .bind(limit)
    .bind(visible_to_agent)
    .bind(created_by)
    .bind(&CallStatus::OPEN[..])
    .bind(CallStatus::Waiting)
    .fetch_all(db)
    .await
}
