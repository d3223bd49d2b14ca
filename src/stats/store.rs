//! SQL for transfer statistics: every figure is computed by Postgres, in one statement.

use chrono::{DateTime, Utc};
use sqlx::PgExecutor;

use super::model::{Bucket, Figures};
use crate::transfers::model::{Outcome, TransferState};

/// Which transfers the figures are of.
#[derive(Debug)]
pub struct StatsFilter {
    /// `initiated_at` from (inclusive).
    pub from: DateTime<Utc>,
    /// `initiated_at` to (exclusive).
    pub to: DateTime<Utc>,
    /// Either side of the transfer.
    pub agent: Option<String>,
    /// The team of an agent on either side.
    pub team: Option<String>,
    /// Also the figures per bucket of `initiated_at`.
    pub bucket: Option<Bucket>,
}

/// The figures of one group: the whole range (`bucket` absent) or one bucket.
#[derive(Debug, sqlx::FromRow)]
pub struct FiguresRow {
    pub bucket: Option<DateTime<Utc>>,
    pub figures: sqlx::types::Json<Figures>,
}

/// `jsonb_build_object('a', count(*) FILTER (WHERE s.column = 'a'), …)` over `names`.
fn counts_by(column: &str, names: &[&str]) -> String {
    let pairs: Vec<String> = names
        .iter()
        .map(|n| format!("'{n}', count(*) FILTER (WHERE s.{column} = '{n}')"))
        .collect();
    format!("jsonb_build_object({})", pairs.join(", "))
}

/// `jsonb_build_object('count', …, 'p50_ms', …, 'p90_ms', …)` of a duration column.
fn percentiles(column: &str) -> String {
    format!(
        "jsonb_build_object('count', count(s.{column}),
             'p50_ms', percentile_cont(0.5) WITHIN GROUP (ORDER BY s.{column}),
             'p90_ms', percentile_cont(0.9) WITHIN GROUP (ORDER BY s.{column}))"
    )
}

/// The statement of [`figures`] and its parameters after `$1` (from) and `$2` (to).
///
/// Filters are written in only when given, so each combination gets a plan of its own that
/// uses the indexes (`$3 IS NULL OR …` would leave a generic plan scanning the range): the
/// range uses `transfers_created_idx`, an agent `transfers_{from,to}_agent_idx`, a team the
/// same two with its members as an array computed once.
fn statement(f: &StatsFilter) -> (String, Vec<&str>) {
    let mut filters = String::new();
    let mut binds = Vec::new();
    if let Some(agent) = &f.agent {
        binds.push(agent.as_str());
        let n = binds.len() + 2;
        filters += &format!(" AND (t.from_agent = ${n} OR t.to_agent = ${n})");
    }
    if let Some(team) = &f.team {
        binds.push(team.as_str());
        let n = binds.len() + 2;
        filters += &format!(
            " AND (t.from_agent = ANY (ARRAY(SELECT identity FROM agents WHERE team = ${n}))
                OR t.to_agent = ANY (ARRAY(SELECT identity FROM agents WHERE team = ${n})))"
        );
    }
    // Bucketed: every bucket of the range, empty ones too, joined to its transfers; the
    // empty grouping set `()` is the totals row, and always exists, even with no transfers.
    let (bucket, grid, groups, source, decliner_groups) = match f.bucket {
        None => (
            "NULL::timestamptz".to_owned(),
            String::new(),
            "()",
            "scope s",
            // `bucket` is NULL throughout: this is the totals group.
            "(s.bucket, s.to_agent)",
        ),
        Some(b) => {
            // UTC days are 24 hours; `1 day` would follow the session's time zone.
            let step = match b {
                Bucket::Hour => "1 hour",
                Bucket::Day => "24 hours",
            };
            // `date_bin` from a UTC midnight is `date_trunc(…, 'UTC')` without a time zone
            // lookup per row, which cost a fifth of a month's figures.
            let bin = |at: &str| format!("date_bin('{step}', {at}, '2000-01-01T00:00:00Z')");
            (
                bin("t.initiated_at"),
                format!(
                    "grid AS (SELECT generate_series({},
                                                     $2::timestamptz - interval '1 microsecond',
                                                     interval '{step}') AS bucket),",
                    bin("$1::timestamptz")
                ),
                "(), (g.bucket)",
                "grid g LEFT JOIN scope s ON s.bucket = g.bucket",
                "(s.to_agent), (s.bucket, s.to_agent)",
            )
        }
    };
    let group_bucket = if f.bucket.is_some() {
        "g.bucket"
    } else {
        "NULL::timestamptz"
    };
    let by_state = counts_by("state", &TransferState::ALL.map(TransferState::as_str));
    let by_outcome = counts_by("outcome", &Outcome::ALL.map(Outcome::as_str));
    let accept = percentiles("accept_ms");
    let briefing = percentiles("briefing_ms");
    let gap = percentiles("gap_ms");
    // The transfers the figures are of, as `t`; the decliners read them again apart.
    let picked = format!("t.initiated_at >= $1 AND t.initiated_at < $2{filters}");
    let sql = format!(
        // `date_part` answers float8; `extract` would compute in numeric, row by row.
        "WITH scope AS (
             SELECT t.state, t.outcome, t.to_agent, ts.terminal,
                    {bucket} AS bucket,
                    date_part('epoch', t.briefing_at - t.initiated_at) * 1000 AS accept_ms,
                    date_part('epoch', t.connecting_at - t.briefing_at) * 1000 AS briefing_ms,
                    CASE WHEN t.state = 'completed' AND t.handoff_confirmed
                         THEN date_part('epoch', t.completed_at - t.connecting_at) * 1000
                    END AS gap_ms
             FROM transfers t JOIN transfer_states ts ON ts.state = t.state
             WHERE {picked}
         ),
         {grid}
         groups AS (
             SELECT {group_bucket} AS bucket, jsonb_build_object(
                        'transfers', count(s.state),
                        'by_state', {by_state},
                        'by_outcome', {by_outcome},
                        'ended', count(*) FILTER (WHERE s.terminal),
                        'completion_rate', (count(*) FILTER (WHERE s.state = 'completed'))::float8
                                           / nullif(count(*) FILTER (WHERE s.terminal), 0),
                        'abandoned_rate', (count(*) FILTER (WHERE s.state = 'abandoned'))::float8
                                          / nullif(count(s.state), 0),
                        'time_to_accept', {accept},
                        'briefing', {briefing},
                        'handoff_gap', {gap}) AS figures
             FROM {source}
             GROUP BY GROUPING SETS ({groups})
         ),
         declines AS (
             SELECT s.bucket, s.to_agent, count(*) AS declined,
                    row_number() OVER (PARTITION BY s.bucket
                                       ORDER BY count(*) DESC, s.to_agent) AS rank
             -- Read apart, so `scope` has one reader and is not materialized.
             FROM (SELECT {bucket} AS bucket, t.to_agent FROM transfers t
                   WHERE {picked} AND t.state = 'declined') AS s
             GROUP BY GROUPING SETS ({decliner_groups})
         ),
         top AS (
             SELECT bucket, jsonb_agg(jsonb_build_object('agent', to_agent, 'declined', declined)
                                      ORDER BY rank) AS decliners
             FROM declines WHERE rank <= 10 GROUP BY bucket
         )
         SELECT g.bucket,
                g.figures || jsonb_build_object('top_decliners', coalesce(top.decliners, '[]'))
                    AS figures
         FROM groups g
         -- The totals' bucket is NULL; an equality (not IS NOT DISTINCT FROM) can be hashed,
         -- where comparing every bucket with every other cost more than the figures.
         LEFT JOIN top ON COALESCE(top.bucket, '-infinity') = COALESCE(g.bucket, '-infinity')
         ORDER BY g.bucket NULLS FIRST"
    );
    (sql, binds)
}

/// The totals row (no `bucket`) first, then, with a bucket width, every bucket of the range,
/// oldest first.
pub async fn figures(db: impl PgExecutor<'_>, f: &StatsFilter) -> sqlx::Result<Vec<FiguresRow>> {
    let (sql, binds) = statement(f);
    let mut query = sqlx::query_as(sqlx::AssertSqlSafe(sql))
        .bind(f.from)
        .bind(f.to);
    for value in binds {
        query = query.bind(value);
    }
    query.fetch_all(db).await
}

/// The plan Postgres picks for [`figures`] (`EXPLAIN`), one line per row: to check which
/// indexes it uses.
pub async fn plan(db: impl PgExecutor<'_>, f: &StatsFilter) -> sqlx::Result<Vec<String>> {
    let (sql, binds) = statement(f);
    let mut query = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
        .bind(f.from)
        .bind(f.to);
    for value in binds {
        query = query.bind(value);
    }
    query.fetch_all(db).await
}
