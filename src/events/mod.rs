//! The append-only event log: timelines now, replay and live streams later.

pub mod model;
pub mod routes;
pub mod store;

use sqlx::PgPool;
use uuid::Uuid;

use crate::error::ApiError;
use crate::pagination::{self, Page};
use model::{Event, TimelineQuery};

/// A page of a call's timeline, oldest first.
pub async fn timeline(
    db: &PgPool,
    call_id: Uuid,
    query: TimelineQuery,
) -> Result<Page<Event>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<i64> = pagination::decode_cursor(query.cursor.as_deref())?;
    crate::calls::get(db, call_id).await?;
    let rows = store::list_for_call(db, call_id, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |e| e.id))
}
