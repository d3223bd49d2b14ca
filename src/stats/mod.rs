//! Transfer statistics for supervisors: counts, rates and percentiles over a range of
//! `initiated_at`, totals and optionally a series, computed from the records alone.

pub mod model;
pub mod routes;
pub mod store;

use chrono::{DateTime, Duration, Utc};
use sqlx::PgPool;

use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;
use model::{Bucket, BucketFigures, Stats, StatsQuery};
use store::StatsFilter;

/// The range when none is given.
const DEFAULT_DAYS: i64 = 7;
/// The longest range: a year, leap day included.
const MAX_DAYS: i64 = 366;
/// The longest range of an hourly series (744 buckets).
const MAX_HOURLY_DAYS: i64 = 31;

/// Checks the query: the range (defaults filled in), and its filters.
fn parse(query: StatsQuery, now: DateTime<Utc>) -> Result<StatsFilter, ApiError> {
    let mut v = Validator::default();
    let agent = v.check_opt("agent", query.agent.as_deref(), |a| {
        Identity::parse(a).map(Identity::into_inner)
    });
    let team = v.check_opt("team", query.team.as_deref(), |t| {
        bounded_text(t, MAX_NAME_CHARS)
    });
    let to = query.to.unwrap_or(now);
    let from = query
        .from
        .unwrap_or_else(|| to - Duration::days(DEFAULT_DAYS));
    if from >= to {
        v.fail("to", "must be after from");
    } else if to - from > Duration::days(MAX_DAYS) {
        v.fail(
            "from",
            format!("the range may span at most {MAX_DAYS} days"),
        );
    } else if query.bucket == Some(Bucket::Hour) && to - from > Duration::days(MAX_HOURLY_DAYS) {
        v.fail(
            "bucket",
            format!("hour buckets cover at most {MAX_HOURLY_DAYS} days; use day"),
        );
    }
    let (Some(agent), Some(team)) = (agent, team) else {
        return Err(v.into_error());
    };
    v.finish()?;
    Ok(StatsFilter {
        from,
        to,
        agent,
        team,
        bucket: query.bucket,
    })
}

/// The figures of the transfers the query selects: totals, and with `bucket` a series.
pub async fn stats(db: &PgPool, query: StatsQuery) -> Result<Stats, ApiError> {
    let filter = parse(query, Utc::now())?;
    let mut rows = store::figures(db, &filter).await?.into_iter();
    let totals = rows
        .next()
        .filter(|row| row.bucket.is_none())
        .ok_or_else(|| ApiError::Internal(anyhow::anyhow!("the stats query gave no totals")))?
        .figures
        .0;
    let series = filter.bucket.map(|_| {
        rows.filter_map(|row| {
            Some(BucketFigures {
                start: row.bucket?,
                figures: row.figures.0,
            })
        })
        .collect()
    });
    Ok(Stats {
        from: filter.from,
        to: filter.to,
        agent: filter.agent,
        team: filter.team,
        bucket: filter.bucket,
        totals,
        series,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().unwrap()
    }

    fn fields(err: ApiError) -> Vec<String> {
        err.to_problem()
            .errors
            .into_iter()
            .map(|e| e.field)
            .collect()
    }

    #[test]
    fn the_range_defaults_to_the_last_seven_days() {
        let now = at("2026-11-30T12:00:00Z");
        let f = parse(StatsQuery::default(), now).unwrap();
        assert_eq!((f.from, f.to), (at("2026-11-23T12:00:00Z"), now));
        let to = at("2026-11-10T00:00:00Z");
        let query = StatsQuery {
            to: Some(to),
            ..Default::default()
        };
        assert_eq!(parse(query, now).unwrap().from, at("2026-11-03T00:00:00Z"));
    }

    #[test]
    fn ranges_are_bounded_and_hourly_series_shorter() {
        let now = at("2026-11-30T00:00:00Z");
        let query = |from: &str, to: &str, bucket| StatsQuery {
            from: Some(at(from)),
            to: Some(at(to)),
            bucket,
            ..Default::default()
        };
        let err = |q| fields(parse(q, now).unwrap_err());
        assert_eq!(
            err(query("2026-11-02T00:00:00Z", "2026-11-02T00:00:00Z", None)),
            ["to"]
        );
        assert_eq!(
            err(query("2025-01-01T00:00:00Z", "2026-01-02T00:00:01Z", None)),
            ["from"]
        );
        assert!(
            parse(
                query("2025-01-01T00:00:00Z", "2026-01-02T00:00:00Z", None),
                now
            )
            .is_ok()
        );
        let month = ("2026-10-01T00:00:00Z", "2026-11-01T00:00:00Z");
        assert!(parse(query(month.0, month.1, Some(Bucket::Hour)), now).is_ok());
        assert_eq!(
            err(query(month.0, "2026-11-01T00:00:01Z", Some(Bucket::Hour))),
            ["bucket"]
        );
        assert!(
            parse(
                query(month.0, "2026-11-01T00:00:01Z", Some(Bucket::Day)),
                now
            )
            .is_ok()
        );
    }
}
