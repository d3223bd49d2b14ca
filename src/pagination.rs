//! Cursor pagination: `limit` plus an opaque `cursor` naming the last row a client saw.

use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use chrono::{DateTime, Utc};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;
use uuid::Uuid;

use crate::error::ApiError;

/// Page size when the client does not ask for one.
pub const DEFAULT_LIMIT: i64 = 50;
/// The largest page a client may ask for.
pub const MAX_LIMIT: i64 = 200;

/// One page of a list, newest or earliest first as the endpoint documents.
#[derive(Debug, Serialize, ToSchema)]
pub struct Page<T> {
    /// The rows of this page.
    pub items: Vec<T>,
    /// Pass as `cursor` to get the next page; absent on the last page.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Checks a client's `limit` (1..=200, default 50).
pub fn limit(requested: Option<i64>) -> Result<i64, ApiError> {
    limit_within(requested, DEFAULT_LIMIT, MAX_LIMIT)
}

/// Checks a client's `limit` against a route's own bounds (1..=`max`, default `default`).
pub fn limit_within(requested: Option<i64>, default: i64, max: i64) -> Result<i64, ApiError> {
    match requested {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(_) => Err(ApiError::invalid(
            "limit",
            format!("must be between 1 and {max}"),
        )),
    }
}

/// Reads a cursor this service handed out; anything else is a 422 on `cursor`.
pub fn decode_cursor<K: DeserializeOwned>(cursor: Option<&str>) -> Result<Option<K>, ApiError> {
    let Some(raw) = cursor else { return Ok(None) };
    URL_SAFE_NO_PAD
        .decode(raw)
        .ok()
        .and_then(|bytes| serde_json::from_slice(&bytes).ok())
        .map(Some)
        .ok_or_else(|| ApiError::invalid("cursor", "is not a cursor returned by this API"))
}

/// Where a listing ordered by time and id resumes: after the row with this time and id.
/// Written as `[time, id]`, the shape `page` gives a `(time, id)` key. A client can forge a
/// cursor, so its time is checked like any instant a client sends.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct TimeCursor(
    #[serde(deserialize_with = "crate::domain::deserialize_instant")] pub DateTime<Utc>,
    pub Uuid,
);

impl TimeCursor {
    /// The time and id, as the stores take them.
    pub fn into_parts(self) -> (DateTime<Utc>, Uuid) {
        (self.0, self.1)
    }
}

/// Makes a page from up to `limit + 1` rows: the extra row only says that more exist.
pub fn page<T, K: Serialize>(mut rows: Vec<T>, limit: i64, key: impl Fn(&T) -> K) -> Page<T> {
    let more = rows.len() as i64 > limit;
    rows.truncate(limit as usize);
    let next_cursor = more
        .then(|| {
            rows.last().map(|last| {
                URL_SAFE_NO_PAD.encode(serde_json::to_vec(&key(last)).unwrap_or_default())
            })
        })
        .flatten();
    Page {
        items: rows,
        next_cursor,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_round_trips_and_garbage_is_refused() {
        let p = page(vec![1, 2, 3], 2, |n| (*n, "k"));
        assert_eq!(p.items, vec![1, 2]);
        let key: Option<(i32, String)> = decode_cursor(p.next_cursor.as_deref()).unwrap();
        assert_eq!(key, Some((2, "k".to_owned())));
        assert!(decode_cursor::<(i32, String)>(Some("not-a-cursor")).is_err());
        assert!(page(vec![1, 2], 2, |n| *n).next_cursor.is_none());
    }

    #[test]
    fn a_time_cursor_reads_what_page_wrote_and_refuses_impossible_times() {
        let at: DateTime<Utc> = "2026-11-25T10:00:00Z".parse().unwrap();
        let p = page(vec![(at, Uuid::nil()), (at, Uuid::nil())], 1, |r| *r);
        let read: Option<TimeCursor> = decode_cursor(p.next_cursor.as_deref()).unwrap();
        assert_eq!(read, Some(TimeCursor(at, Uuid::nil())));
        let forged = URL_SAFE_NO_PAD
            .encode(br#"["-9999-01-01T00:00:00Z","00000000-0000-0000-0000-000000000000"]"#);
        assert!(decode_cursor::<TimeCursor>(Some(&forged)).is_err());
    }

    #[test]
    fn limits_outside_the_range_are_refused() {
        assert_eq!(limit(None).unwrap(), DEFAULT_LIMIT);
        assert_eq!(limit(Some(200)).unwrap(), 200);
        assert!(limit(Some(0)).is_err());
        assert!(limit(Some(201)).is_err());
    }
}
