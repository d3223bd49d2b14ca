//! QA reviews of transfers, scored on versioned scorecards.
//!
//! Both are append-only, in the database as well: a scorecard changes by a new version, and a
//! review by a revision, a new review that supersedes it. A score therefore always reads
//! against the criteria it was given on, and every review ever written stays on the record.

pub mod model;
pub mod routes;
pub mod store;

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc, Weekday};
use sqlx::{PgConnection, PgPool};
use uuid::Uuid;

use crate::auth::model::Principal;
use crate::domain::{Identity, MAX_NAME_CHARS, Validator, bounded_text};
use crate::error::ApiError;
use crate::pagination::{self, Page, TimeCursor};
use crate::transfers::model::Transfer;
use model::{
    CreateReview, CreateScorecard, Criterion, MAX_CRITERIA, MAX_NOTES_CHARS, MAX_WEIGHT,
    NewScorecardVersion, Review, ReviewListQuery, ReviewQueueQuery, SCALE_LIMIT, Scorecard,
    ScorecardListQuery, ScorecardQuery, TransferReviewsQuery,
};
use store::{NewReview, QueueFilter, ReviewFilter};

/// Largest sample a queue may ask for, per agent and week.
const MAX_SAMPLE: i64 = 100;

/// Checks a scorecard name: it is part of URLs, so a slug.
fn parse_scorecard_name(name: &str) -> Result<String, String> {
    let valid = name.len() <= 64
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if valid {
        Ok(name.to_owned())
    } else {
        Err("must be 1 to 64 of a-z, 0-9, `_` and `-`, starting with a letter or digit".into())
    }
}

/// Checks criteria, recording each problem under its JSON path; the criteria with trimmed
/// labels when all are valid.
fn parse_criteria(v: &mut Validator, criteria: Vec<Criterion>) -> Option<Vec<Criterion>> {
    if criteria.is_empty() || criteria.len() > MAX_CRITERIA {
        v.fail(
            "criteria",
            format!("must hold 1 to {MAX_CRITERIA} criteria"),
        );
        return None;
    }
    let mut valid = true;
    let mut keys = HashSet::new();
    let mut parsed = Vec::with_capacity(criteria.len());
    for (i, criterion) in criteria.into_iter().enumerate() {
        let at = |field: &str| format!("criteria[{i}].{field}");
        let key_ok = (1..=64).contains(&criterion.key.len())
            && criterion
                .key
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
        if !key_ok {
            v.fail(&at("key"), "must be 1 to 64 of a-z, 0-9 and `_`");
            valid = false;
        } else if !keys.insert(criterion.key.clone()) {
            v.fail(&at("key"), format!("`{}` is used twice", criterion.key));
            valid = false;
        }
        let label = v.check(&at("label"), bounded_text(&criterion.label, MAX_NAME_CHARS));
        if !(criterion.weight > 0.0 && criterion.weight <= MAX_WEIGHT) {
            v.fail(
                &at("weight"),
                format!("must be above 0 and at most {MAX_WEIGHT}"),
            );
            valid = false;
        }
        let scale = criterion.scale;
        let in_limits = |n: i32| (-SCALE_LIMIT..=SCALE_LIMIT).contains(&n);
        if !(in_limits(scale.min) && in_limits(scale.max) && scale.min < scale.max) {
            v.fail(
                &at("scale"),
                format!("needs min < max, both between -{SCALE_LIMIT} and {SCALE_LIMIT}"),
            );
            valid = false;
        }
        match label {
            Some(label) => parsed.push(Criterion { label, ..criterion }),
            None => valid = false,
        }
    }
    valid.then_some(parsed)
}

/// Where `scores` fails the scorecard version: a criterion left out or scored outside its
/// scale, or a key that is no criterion; as (field, message).
fn score_errors(scorecard: &Scorecard, scores: &BTreeMap<String, i64>) -> Vec<(String, String)> {
    let mut errors = Vec::new();
    for criterion in scorecard.criteria.iter() {
        let (min, max) = (criterion.scale.min, criterion.scale.max);
        let field = format!("scores.{}", criterion.key);
        match scores.get(&criterion.key) {
            None => errors.push((field, format!("must be scored, from {min} to {max}"))),
            Some(score) if !(i64::from(min)..=i64::from(max)).contains(score) => {
                errors.push((field, format!("must be from {min} to {max}")));
            }
            Some(_) => {}
        }
    }
    for key in scores.keys() {
        if !scorecard.criteria.iter().any(|c| &c.key == key) {
            errors.push((
                format!("scores.{key}"),
                format!(
                    "is not a criterion of scorecard {} version {}",
                    scorecard.name, scorecard.version
                ),
            ));
        }
    }
    errors
}

/// Adds a scorecard: its version 1.
pub async fn create_scorecard(
    db: &PgPool,
    principal: &Principal,
    request: CreateScorecard,
) -> Result<Scorecard, ApiError> {
    let mut v = Validator::default();
    let name = v.check("name", parse_scorecard_name(&request.name));
    let criteria = parse_criteria(&mut v, request.criteria);
    let (Some(name), Some(criteria)) = (name, criteria) else {
        return Err(v.into_error());
    };
    let scorecard = store::insert_scorecard(db, &name, 1, &criteria, principal.key_id())
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "scorecard {name} exists; add a version with POST /v1/scorecards/{name}/versions"
            ))
        })?;
    tracing::info!(scorecard = %scorecard.name, "scorecard created");
    Ok(scorecard)
}

/// Adds the next version of a scorecard; earlier versions stay as they are.
pub async fn add_scorecard_version(
    db: &PgPool,
    principal: &Principal,
    name: &str,
    request: NewScorecardVersion,
) -> Result<Scorecard, ApiError> {
    let mut v = Validator::default();
    let Some(criteria) = parse_criteria(&mut v, request.criteria) else {
        return Err(v.into_error());
    };
    let latest = store::get_scorecard(db, name, None)
        .await?
        .ok_or_else(|| ApiError::not_found("scorecard", name))?;
    let next = latest.version + 1;
    let scorecard = store::insert_scorecard(db, name, next, &criteria, principal.key_id())
        .await?
        .ok_or_else(|| {
            ApiError::conflict(format!(
                "version {next} of scorecard {name} was added meanwhile; read it and retry"
            ))
        })?;
    tracing::info!(scorecard = %scorecard.name, version = scorecard.version, "scorecard version added");
    Ok(scorecard)
}

/// A scorecard's latest version, or the one asked for; 404 when there is none.
pub async fn get_scorecard(
    db: &PgPool,
    name: &str,
    query: ScorecardQuery,
) -> Result<Scorecard, ApiError> {
    store::get_scorecard(db, name, query.version)
        .await?
        .ok_or_else(|| match query.version {
            Some(version) => {
                ApiError::NothingFound(format!("scorecard {name} has no version {version}"))
            }
            None => ApiError::not_found("scorecard", name),
        })
}

/// A page of scorecards by name, each at its latest version.
pub async fn list_scorecards(
    db: &PgPool,
    query: ScorecardListQuery,
) -> Result<Page<Scorecard>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<String> = pagination::decode_cursor(query.cursor.as_deref())?;
    let rows = store::list_latest_scorecards(db, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |s| s.name.clone()))
}

/// Who a review is written as, and by which key. A key other than an admin's reviews as
/// itself (its label, or its prefix), as an agent key acts as its own agent; an admin may name
/// a reviewer, and without a key one must be named.
async fn reviewer(
    tx: &mut PgConnection,
    principal: &Principal,
    claimed: Option<&str>,
) -> Result<(String, Option<Uuid>), ApiError> {
    let claimed = claimed
        .map(|c| Identity::parse(c).map_err(|m| ApiError::invalid("reviewer", m)))
        .transpose()?
        .map(Identity::into_inner);
    let Some(key) = principal.key_id() else {
        let name = claimed.ok_or_else(|| {
            ApiError::invalid(
                "reviewer",
                "must be given when the request carries no API key",
            )
        })?;
        return Ok((name, None));
    };
    let own = store::key_name(&mut *tx, key).await?.ok_or_else(|| {
        ApiError::Internal(anyhow::anyhow!("the request's API key {key} is gone"))
    })?;
    match claimed {
        Some(name) if principal.is_admin() => Ok((name, Some(key))),
        Some(name) if name != own => Err(ApiError::Forbidden(format!(
            "this key reviews as {own} only, not as {name}"
        ))),
        _ => Ok((own, Some(key))),
    }
}

/// Writes a review of an ended transfer, or a revision of one; the total is computed from the
/// scorecard version and stored with it.
pub async fn create_review(
    db: &PgPool,
    principal: &Principal,
    transfer_id: Uuid,
    request: CreateReview,
) -> Result<Review, ApiError> {
    let mut v = Validator::default();
    let notes = v.check_opt("notes", request.notes.as_deref(), |n| {
        bounded_text(n, MAX_NOTES_CHARS)
    });
    let scorecard_name = v.check("scorecard", parse_scorecard_name(&request.scorecard));
    let segment_id = v.check_opt("segment_id", request.segment_id.as_deref(), |s| {
        bounded_text(s, MAX_NAME_CHARS)
    });
    if request.at_ms.is_some_and(|ms| ms < 0) {
        v.fail("at_ms", "must not be negative");
    }
    if request.at_ms.is_some() && request.segment_id.is_some() {
        v.fail(
            "segment_id",
            "pin the review to at_ms or to segment_id, not both",
        );
    }
    if request.scorecard_version.is_some_and(|n| n < 1) {
        v.fail("scorecard_version", "must be at least 1");
    }
    let (Some(scorecard_name), Some(notes), Some(segment_id)) = (scorecard_name, notes, segment_id)
    else {
        return Err(v.into_error());
    };
    v.finish()?;

    let mut tx = db.begin().await?;
    let transfer = crate::transfers::store::get(&mut *tx, transfer_id)
        .await?
        .ok_or_else(|| ApiError::not_found("transfer", transfer_id))?;
    crate::transfers::check_read(principal, &transfer)?;
    if !transfer.state.is_terminal() {
        return Err(ApiError::Conflict {
            detail: format!(
                "transfer {transfer_id} is still {}; review it once it has ended",
                transfer.state.as_str()
            ),
            current_state: Some(transfer.state.as_str().to_owned()),
        });
    }
    let (reviewer, reviewer_key_id) =
        reviewer(&mut tx, principal, request.reviewer.as_deref()).await?;
    let scorecard =
        store::get_scorecard(&mut *tx, &scorecard_name, request.scorecard_version).await?;
    let Some(scorecard) = scorecard else {
        let message = match request.scorecard_version {
            Some(n) => format!("scorecard {scorecard_name} has no version {n}"),
            None => format!("no scorecard is named {scorecard_name}"),
        };
        return Err(ApiError::invalid("scorecard", message));
    };
    // What only the records can tell: the scores against this version, the segment's call.
    let mut v = Validator::default();
    for (field, message) in score_errors(&scorecard, &request.scores) {
        v.fail(&field, message);
    }
    if let Some(segment) = &segment_id
        && !store::segment_exists(&mut *tx, transfer.call_id, segment).await?
    {
        v.fail(
            "segment_id",
            format!("{segment} is not a transcript segment of this transfer's call"),
        );
    }
    v.finish()?;
    if let Some(old) = request.supersedes {
        check_revision(&mut tx, principal, reviewer_key_id, transfer_id, old).await?;
    }
    let review = store::insert_review(
        &mut *tx,
        &NewReview {
            id: Uuid::now_v7(),
            transfer_id,
            call_id: transfer.call_id,
            scorecard: scorecard.name,
            scorecard_version: scorecard.version,
            reviewer,
            reviewer_key_id,
            scores: request.scores,
            notes,
            at_ms: request.at_ms,
            segment_id,
            supersedes: request.supersedes,
        },
    )
    .await?;
    tx.commit().await?;
    tracing::info!(review_id = %review.id, %transfer_id, total = review.total, supersedes = ?review.supersedes, "review created");
    Ok(review)
}

/// A revision replaces a current review of the same transfer, written by the same key (any
/// key's, for an admin).
async fn check_revision(
    tx: &mut PgConnection,
    principal: &Principal,
    reviewer_key_id: Option<Uuid>,
    transfer_id: Uuid,
    old: Uuid,
) -> Result<(), ApiError> {
    let revised = store::lock_for_revision(tx, old)
        .await?
        .ok_or_else(|| ApiError::invalid("supersedes", format!("there is no review {old}")))?;
    if revised.transfer_id != transfer_id {
        return Err(ApiError::invalid(
            "supersedes",
            format!("review {old} is of another transfer"),
        ));
    }
    if !principal.is_admin() && revised.reviewer_key_id != reviewer_key_id {
        return Err(ApiError::Forbidden(format!(
            "review {old} is {}'s; only its reviewer or an admin may revise it",
            revised.reviewer
        )));
    }
    if let Some(successor) = revised.superseded_by {
        return Err(ApiError::conflict(format!(
            "review {old} was already revised by {successor}; revise that one"
        )));
    }
    Ok(())
}

/// One review, or 404.
pub async fn get_review(db: &PgPool, id: Uuid) -> Result<Review, ApiError> {
    store::get_review(db, id)
        .await?
        .ok_or_else(|| ApiError::not_found("review", id))
}

/// A page of a transfer's reviews, newest first: the current ones, or all.
pub async fn transfer_reviews(
    db: &PgPool,
    principal: &Principal,
    transfer_id: Uuid,
    query: TransferReviewsQuery,
) -> Result<Page<Review>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<TimeCursor> = pagination::decode_cursor(query.cursor.as_deref())?;
    crate::transfers::get(db, principal, transfer_id).await?;
    let filter = ReviewFilter {
        transfer_id: Some(transfer_id),
        include_superseded: query.include_superseded.unwrap_or(false),
        ..Default::default()
    };
    let after = after.map(TimeCursor::into_parts);
    let rows = store::list_reviews(db, &filter, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |r| (r.created_at, r.id)))
}

/// A page of reviews, newest first.
pub async fn list_reviews(db: &PgPool, query: ReviewListQuery) -> Result<Page<Review>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<TimeCursor> = pagination::decode_cursor(query.cursor.as_deref())?;
    let mut v = Validator::default();
    let agent = v.check_opt("agent", query.agent.as_deref(), |a| {
        Identity::parse(a).map(Identity::into_inner)
    });
    let reviewer = v.check_opt("reviewer", query.reviewer.as_deref(), |r| {
        Identity::parse(r).map(Identity::into_inner)
    });
    let scorecard = v.check_opt(
        "scorecard",
        query.scorecard.as_deref(),
        parse_scorecard_name,
    );
    for (field, score) in [
        ("min_score", query.min_score),
        ("max_score", query.max_score),
    ] {
        if score.is_some_and(|s| !(0.0..=100.0).contains(&s)) {
            v.fail(field, "must be from 0 to 100");
        }
    }
    if let (Some(min), Some(max)) = (query.min_score, query.max_score)
        && min > max
    {
        v.fail("max_score", "must not be below min_score");
    }
    if query.scorecard_version.is_some() && query.scorecard.is_none() {
        v.fail("scorecard_version", "needs scorecard");
    }
    let (Some(agent), Some(reviewer), Some(scorecard)) = (agent, reviewer, scorecard) else {
        return Err(v.into_error());
    };
    v.finish()?;
    let filter = ReviewFilter {
        transfer_id: None,
        agent,
        reviewer,
        scorecard,
        scorecard_version: query.scorecard_version,
        min_score: query.min_score,
        max_score: query.max_score,
        created_after: query.created_after,
        created_before: query.created_before,
        include_superseded: query.include_superseded.unwrap_or(false),
    };
    let after = after.map(TimeCursor::into_parts);
    let rows = store::list_reviews(db, &filter, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |r| (r.created_at, r.id)))
}

/// The instant an ISO week (`2026-W48`) begins, Monday 00:00 UTC.
fn iso_week_start(week: &str) -> Result<DateTime<Utc>, String> {
    let invalid = || format!("`{week}` is not an ISO week such as 2026-W48");
    let (year, number) = week.trim().split_once("-W").ok_or_else(invalid)?;
    let (year, number) = (
        year.parse::<i32>().map_err(|_| invalid())?,
        number.parse::<u32>().map_err(|_| invalid())?,
    );
    if !(1..=9998).contains(&year) {
        return Err(invalid());
    }
    NaiveDate::from_isoywd_opt(year, number, Weekday::Mon)
        .and_then(|monday| monday.and_hms_opt(0, 0, 0))
        .map(|midnight| midnight.and_utc())
        .ok_or_else(invalid)
}

/// A page of ended transfers that have no current review, newest first; optionally a stable
/// random sample of them per receiving agent and week.
pub async fn queue(db: &PgPool, query: ReviewQueueQuery) -> Result<Page<Transfer>, ApiError> {
    let limit = pagination::limit(query.limit)?;
    let after: Option<TimeCursor> = pagination::decode_cursor(query.cursor.as_deref())?;
    let mut v = Validator::default();
    let to_agent = v.check_opt("agent", query.agent.as_deref(), |a| {
        Identity::parse(a).map(Identity::into_inner)
    });
    if query
        .sample_per_agent
        .is_some_and(|n| !(1..=MAX_SAMPLE).contains(&n))
    {
        v.fail(
            "sample_per_agent",
            format!("must be from 1 to {MAX_SAMPLE}"),
        );
    }
    let (mut from, mut to) = (query.from, query.to);
    if let Some(week) = &query.week {
        if from.is_some() || to.is_some() {
            v.fail("week", "give either week or from/to, not both");
        } else if let Some(start) = v.check("week", iso_week_start(week)) {
            from = Some(start);
            to = Some(start + chrono::Duration::days(7));
        }
    }
    if let (Some(from), Some(to)) = (from, to)
        && from >= to
    {
        v.fail("to", "must be after from");
    }
    let Some(to_agent) = to_agent else {
        return Err(v.into_error());
    };
    v.finish()?;
    let filter = QueueFilter {
        to_agent,
        from,
        to,
        sample_per_agent: query.sample_per_agent,
    };
    let after = after.map(TimeCursor::into_parts);
    let rows = store::queue(db, &filter, after, limit + 1).await?;
    Ok(pagination::page(rows, limit, |t| (t.initiated_at, t.id)))
}

#[cfg(test)]
mod tests {
    use super::*;
    use model::Scale;

    fn criterion(key: &str, weight: f64, min: i32, max: i32) -> Criterion {
        Criterion {
            key: key.into(),
            label: format!(" {key} "),
            weight,
            scale: Scale { min, max },
        }
    }

    #[test]
    fn criteria_need_distinct_keys_positive_weights_and_real_scales() {
        let mut v = Validator::default();
        let parsed = parse_criteria(&mut v, vec![criterion("a", 1.0, 1, 5)]).unwrap();
        assert_eq!(parsed[0].label, "a", "labels are trimmed");
        let mut v = Validator::default();
        let bad = vec![
            criterion("a", 1.0, 1, 5),
            criterion("a", 0.0, 5, 5),
            criterion("B c", f64::NAN, -2000, 1),
        ];
        assert!(parse_criteria(&mut v, bad).is_none());
        let err = v.into_error().to_problem();
        let fields: Vec<&str> = err.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(
            fields,
            [
                "criteria[1].key",
                "criteria[1].weight",
                "criteria[1].scale",
                "criteria[2].key",
                "criteria[2].weight",
                "criteria[2].scale"
            ]
        );
        assert!(parse_criteria(&mut Validator::default(), vec![]).is_none());
    }

    #[test]
    fn scorecard_names_are_url_slugs() {
        assert!(parse_scorecard_name("warm-transfer_2").is_ok());
        for bad in ["", "-x", "Warm", "a b", "é", &"x".repeat(65)] {
            assert!(parse_scorecard_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn iso_weeks_start_on_monday_utc() {
        let start = iso_week_start("2026-W01").unwrap();
        assert_eq!(start.to_rfc3339(), "2025-12-29T00:00:00+00:00");
        assert!(iso_week_start("2026-W53").is_ok(), "2026 has 53 weeks");
        for bad in ["2025-W53", "2026-W00", "2026W01", "x-W01", "2026-W1x"] {
            assert!(iso_week_start(bad).is_err(), "{bad}");
        }
    }
}
