//! SQL for participant sessions and room sessions. Every write merges with min/max, so the
//! stored result does not depend on the order webhooks arrive in.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;
use uuid::Uuid;

use super::model::{Participant, ParticipantRole};

/// A participant session as a webhook reports it.
#[derive(Debug)]
pub struct Sighting<'a> {
    pub room: &'a str,
    pub identity: &'a str,
    pub sid: &'a str,
    pub name: Option<&'a str>,
    pub call_id: Option<Uuid>,
    pub role: ParticipantRole,
    pub at: DateTime<Utc>,
}

/// Records that a session joined at `at` (the earliest report wins).
pub async fn record_join(db: impl PgExecutor<'_>, s: &Sighting<'_>) -> sqlx::Result<()> {
    upsert(db, s, Some(s.at), None).await
}

/// Records that a session left at `at` (the latest report wins).
pub async fn record_leave(db: impl PgExecutor<'_>, s: &Sighting<'_>) -> sqlx::Result<()> {
    upsert(db, s, None, Some(s.at)).await
}

async fn upsert(
    db: impl PgExecutor<'_>,
    s: &Sighting<'_>,
    joined_at: Option<DateTime<Utc>>,
    left_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    // LEAST/GREATEST ignore NULLs: whichever report came first, the merge is the same.
    sqlx::query(
        "INSERT INTO participants (room, identity, participant_sid, name, call_id, role, joined_at, left_at)
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
         ON CONFLICT ON CONSTRAINT participants_session_key DO UPDATE SET
             joined_at = LEAST(participants.joined_at, EXCLUDED.joined_at),
             left_at = GREATEST(participants.left_at, EXCLUDED.left_at),
             name = COALESCE(participants.name, EXCLUDED.name),
             call_id = COALESCE(participants.call_id, EXCLUDED.call_id),
             role = CASE WHEN participants.role = $9 THEN EXCLUDED.role ELSE participants.role END
         WHERE participants.joined_at IS DISTINCT FROM LEAST(participants.joined_at, EXCLUDED.joined_at)
            OR participants.left_at IS DISTINCT FROM GREATEST(participants.left_at, EXCLUDED.left_at)
            OR (participants.name IS NULL AND EXCLUDED.name IS NOT NULL)",
    )
    .bind(s.room)
    .bind(s.identity)
    .bind(s.sid)
    .bind(s.name)
    .bind(s.call_id)
    .bind(s.role)
    .bind(joined_at)
    .bind(left_at)
    .bind(ParticipantRole::Unknown)
    .execute(db)
    .await?;
    Ok(())
}

/// Records a room session's start or finish (earliest start, latest finish).
pub async fn record_room(
    db: impl PgExecutor<'_>,
    room_sid: &str,
    room: &str,
    started_at: Option<DateTime<Utc>>,
    finished_at: Option<DateTime<Utc>>,
) -> sqlx::Result<()> {
    sqlx::query(
        "INSERT INTO room_sessions (room_sid, room, started_at, finished_at) VALUES ($1, $2, $3, $4)
         ON CONFLICT (room_sid) DO UPDATE SET
             started_at = LEAST(room_sessions.started_at, EXCLUDED.started_at),
             finished_at = GREATEST(room_sessions.finished_at, EXCLUDED.finished_at)",
    )
    .bind(room_sid)
    .bind(room)
    .bind(started_at)
    .bind(finished_at)
    .execute(db)
    .await?;
    Ok(())
}

/// Participant sessions of the rooms `filter` (on `p.room`) picks, each with its room and
/// whether it is still present: left, or its room finished since it joined, is `left`.
fn sessions(filter: &str) -> String {
    format!(
        "SELECT room, identity, participant_sid AS sid, name, role,
                CASE WHEN left_at IS NULL AND NOT finished THEN 'present' ELSE 'left' END AS state,
                joined_at, left_at
         FROM (SELECT p.*, EXISTS (SELECT 1 FROM room_sessions r WHERE r.room = p.room
                                   AND r.finished_at IS NOT NULL AND r.finished_at >= p.joined_at) AS finished
               FROM participants p WHERE {filter}) p"
    )
}

/// Sessions present now: joined, not left, and the room has not finished since they joined.
pub async fn present(db: impl PgExecutor<'_>, room: &str) -> sqlx::Result<Vec<Participant>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} WHERE joined_at IS NOT NULL AND left_at IS NULL AND NOT finished ORDER BY joined_at, identity, sid",
        sessions("p.room = $1")
    )))
    .bind(room)
    .fetch_all(db)
    .await
}

/// Every session `room` has had, in the order they joined (sessions never seen joining last).
pub async fn history(db: impl PgExecutor<'_>, room: &str) -> sqlx::Result<Vec<Participant>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} ORDER BY joined_at NULLS LAST, identity, sid",
        sessions("p.room = $1")
    )))
    .bind(room)
    .fetch_all(db)
    .await
}

/// Whether `identity` is still in `room` through another session than `sid` (a reconnect
/// often joins before the old session's leave is reported).
pub async fn present_elsewhere(
    db: impl PgExecutor<'_>,
    room: &str,
    identity: &str,
    sid: &str,
) -> sqlx::Result<bool> {
    sqlx::query_scalar(
        "SELECT EXISTS (SELECT 1 FROM participants WHERE room = $1 AND identity = $2
                        AND participant_sid <> $3 AND joined_at IS NOT NULL AND left_at IS NULL)",
    )
    .bind(room)
    .bind(identity)
    .bind(sid)
    .fetch_one(db)
    .await
}

/// Records what a client says is in a room.
pub async fn record_report(
    db: impl PgExecutor<'_>,
    room: &str,
    identities: &[String],
) -> sqlx::Result<()> {
    sqlx::query("INSERT INTO room_reports (room, participants) VALUES ($1, $2)")
        .bind(room)
        .bind(identities)
        .execute(db)
        .await?;
    Ok(())
}

/// The latest client report for a room.
pub async fn latest_report(
    db: impl PgExecutor<'_>,
    room: &str,
) -> sqlx::Result<Option<Vec<String>>> {
    sqlx::query_scalar(
        "SELECT participants FROM room_reports WHERE room = $1 ORDER BY id DESC LIMIT 1",
    )
    .bind(room)
    .fetch_optional(db)
    .await
}

/// Whether webhooks ever reported anyone in the room.
pub async fn tracked(db: impl PgExecutor<'_>, room: &str) -> sqlx::Result<bool> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM participants WHERE room = $1)")
        .bind(room)
        .fetch_one(db)
        .await
}

/// A participant session and the room it was in.
#[derive(Debug, sqlx::FromRow)]
pub struct RoomSession {
    pub room: String,
    #[sqlx(flatten)]
    pub participant: Participant,
}

/// Every session these rooms have had, by room, each room's in [`history`]'s order.
pub async fn history_of_rooms(
    db: impl PgExecutor<'_>,
    rooms: &[String],
) -> sqlx::Result<Vec<RoomSession>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "{} ORDER BY room, joined_at NULLS LAST, identity, sid",
        sessions("p.room = ANY($1)")
    )))
    .bind(rooms)
    .fetch_all(db)
    .await
}
