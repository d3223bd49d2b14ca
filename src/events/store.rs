//! SQL for the event log (read only: the database writes it).

use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::Event;

/// A call's events in order, after event `after`.
pub async fn list_for_call(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    after: Option<i64>,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, call_id, transfer_id, kind, data, created_at FROM events
         WHERE call_id = $1 AND id > COALESCE($2, 0)
         ORDER BY id LIMIT $3",
    )
    .bind(call_id)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Events in `(after, until]` matching the stream's filters, in order.
pub async fn list_after(
    db: impl PgExecutor<'_>,
    filter: &super::model::EventStreamQuery,
    after: i64,
    until: i64,
    limit: i64,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT e.id, e.call_id, e.transfer_id, e.kind, e.data, e.created_at, c.agents
         FROM events e JOIN calls c ON c.id = e.call_id
         WHERE e.id > $1 AND e.id <= $2
           AND ($3::uuid IS NULL OR e.call_id = $3)
           AND ($4::uuid IS NULL OR e.transfer_id = $4)
           AND ($5::text IS NULL OR starts_with(e.kind, $5))
           AND ($7::text IS NULL OR $7 = ANY (c.agents))
         ORDER BY e.id LIMIT $6",
    )
    .bind(after)
    .bind(until)
    .bind(filter.call_id)
    .bind(filter.transfer_id)
    .bind(&filter.kind)
    .bind(limit)
    .bind(&filter.agent)
    .fetch_all(db)
    .await
}

/// What one look at the log found: new events, and where the writers stand.
#[derive(Debug)]
pub struct LogPage {
    /// Events after `after` not in `published`, in id order.
    pub events: Vec<Event>,
    /// The oldest transaction id still running when the events were read: every transaction
    /// before it has committed or rolled back.
    pub oldest_running: i64,
    /// The last id drawn from the log's sequence, read after the events' snapshot was taken.
    pub drawn: i64,
    /// A transaction id taken after `drawn` was read (only when asked for).
    pub marker: Option<i64>,
}

/// The log after `after` and the events of ids `gaps` (all below `after`), up to `limit`
/// events in id order, with the snapshot's horizon in the same statement (so they describe
/// the same moment).
pub async fn read_log(
    db: impl PgExecutor<'_>,
    after: i64,
    gaps: &[i64],
    limit: i64,
    with_marker: bool,
) -> sqlx::Result<LogPage> {
    use sqlx::Row;
    // The CTEs are materialized in order: the sequence is read after the statement's snapshot,
    // and the marker transaction id is taken after the sequence was read. Each event's call is
    // found by its key (a subquery per row): a join may be planned as a scan of every call, and
    // is, by the plan a new database keeps while its tables are small.
    let rows = sqlx::query(
        "WITH seen AS MATERIALIZED (
             SELECT pg_snapshot_xmin(pg_current_snapshot())::text::bigint AS oldest_running,
                    COALESCE(pg_sequence_last_value(
                        pg_get_serial_sequence('events', 'id')::regclass), 0) AS drawn
         ), marked AS MATERIALIZED (
             SELECT oldest_running, drawn,
                    CASE WHEN $4 THEN pg_current_xact_id()::text::bigint END AS marker
             FROM seen
         )
         SELECT m.oldest_running, m.drawn, m.marker,
                e.id, e.call_id, e.transfer_id, e.kind, e.data, e.created_at, e.agents
         FROM marked m
         LEFT JOIN LATERAL (
             SELECT events.id, events.call_id, events.transfer_id, events.kind, events.data,
                    events.created_at,
                    (SELECT agents FROM calls WHERE calls.id = events.call_id) AS agents
             FROM ((SELECT id, call_id, transfer_id, kind, data, created_at
                    FROM events WHERE id = ANY($2))
                   UNION ALL
                   (SELECT id, call_id, transfer_id, kind, data, created_at
                    FROM events WHERE id > $1 ORDER BY id LIMIT $3)) events
             ORDER BY events.id LIMIT $3
         ) e ON true
         ORDER BY e.id",
    )
    .bind(after)
    .bind(gaps)
    .bind(limit)
    .bind(with_marker)
    .fetch_all(db)
    .await?;
    let mut page = LogPage {
        events: Vec::with_capacity(rows.len()),
        oldest_running: 0,
        drawn: 0,
        marker: None,
    };
    for row in rows {
        page.oldest_running = row.try_get("oldest_running")?;
        page.drawn = row.try_get("drawn")?;
        page.marker = row.try_get("marker")?;
        if let Some(id) = row.try_get::<Option<i64>, _>("id")? {
            page.events.push(Event {
                id,
                call_id: row.try_get("call_id")?,
                transfer_id: row.try_get("transfer_id")?,
                kind: row.try_get("kind")?,
                data: row.try_get("data")?,
                created_at: row.try_get("created_at")?,
                agents: row.try_get("agents")?,
            });
        }
    }
    Ok(page)
}

/// The id of the newest event (0 when there is none).
pub async fn latest_id(db: impl PgExecutor<'_>) -> sqlx::Result<i64> {
    sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM events")
        .fetch_one(db)
        .await
}

/// What happened around a transfer: its own events, and who came and went in its rooms
/// between `from` and `to`.
pub async fn for_transfer(
    db: impl PgExecutor<'_>,
    call_id: Uuid,
    transfer_id: Uuid,
    rooms: &[String],
    from: chrono::DateTime<chrono::Utc>,
    to: Option<chrono::DateTime<chrono::Utc>>,
) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, call_id, transfer_id, kind, data, created_at FROM events
         WHERE call_id = $1
           AND (transfer_id = $2
                OR (starts_with(kind, 'participant.') AND data->>'room' = ANY($3)
                    AND created_at >= $4 AND ($5::timestamptz IS NULL OR created_at <= $5)))
         ORDER BY id",
    )
    .bind(call_id)
    .bind(transfer_id)
    .bind(rooms)
    .bind(from)
    .bind(to)
    .fetch_all(db)
    .await
}

/// Every event of these calls, in log order.
pub async fn for_calls(db: impl PgExecutor<'_>, call_ids: &[Uuid]) -> sqlx::Result<Vec<Event>> {
    sqlx::query_as(
        "SELECT id, call_id, transfer_id, kind, data, created_at FROM events
         WHERE call_id = ANY($1) ORDER BY id",
    )
    .bind(call_ids)
    .fetch_all(db)
    .await
}
