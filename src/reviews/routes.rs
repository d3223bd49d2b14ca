//! HTTP routes of scorecards and QA reviews.

use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use super::model::{
    CreateReview, CreateScorecard, NewScorecardVersion, Review, ReviewListQuery, ReviewQueueQuery,
    Scorecard, ScorecardListQuery, ScorecardQuery, TransferReviewsQuery,
};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;
use crate::transfers::model::Transfer;

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(create_scorecard, list_scorecards))
        .routes(routes!(get_scorecard))
        .routes(routes!(add_scorecard_version))
        .routes(routes!(create_review, list_transfer_reviews))
        .routes(routes!(list_reviews))
        .routes(routes!(review_queue))
        .routes(routes!(get_review))
}

/// The `Location` of a scorecard version.
fn scorecard_location(scorecard: &Scorecard) -> String {
    format!(
        "/v1/scorecards/{}?version={}",
        scorecard.name, scorecard.version
    )
}

/// Create a scorecard (its version 1).
///
/// A scorecard is a named list of weighted criteria, each scored on an integer scale. It
/// changes by new versions only; reviews name the version they were scored on.
#[utoipa::path(post, path = "/v1/scorecards", tag = "reviews",
    request_body = CreateScorecard,
    responses(
        (status = 201, description = "Version 1 of the scorecard", body = Scorecard,
         headers(("location" = String, description = "URL of this version"))),
        (status = 409, description = "A scorecard of that name exists", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid name or criteria", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_scorecard(
    State(db): State<PgPool>,
    principal: Principal,
    Json(request): Json<CreateScorecard>,
) -> Result<impl IntoResponse, ApiError> {
    let scorecard = super::create_scorecard(&db, &principal, request).await?;
    let location = scorecard_location(&scorecard);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(scorecard),
    ))
}

/// Add a version of a scorecard.
///
/// The new version's criteria replace the latest version's for new reviews; earlier versions,
/// and the reviews scored on them, stay as they are.
#[utoipa::path(post, path = "/v1/scorecards/{name}/versions", tag = "reviews",
    params(("name" = String, Path, description = "The scorecard's name")),
    request_body = NewScorecardVersion,
    responses(
        (status = 201, description = "The new version", body = Scorecard,
         headers(("location" = String, description = "URL of this version"))),
        (status = 404, description = "No such scorecard", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "Another version was added at the same moment; retry", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid criteria", body = Problem, content_type = "application/problem+json"),
    ))]
async fn add_scorecard_version(
    State(db): State<PgPool>,
    principal: Principal,
    Path(name): Path<String>,
    Json(request): Json<NewScorecardVersion>,
) -> Result<impl IntoResponse, ApiError> {
    let scorecard = super::add_scorecard_version(&db, &principal, &name, request).await?;
    let location = scorecard_location(&scorecard);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(scorecard),
    ))
}

/// List scorecards by name, each at its latest version.
#[utoipa::path(get, path = "/v1/scorecards", tag = "reviews",
    params(ScorecardListQuery),
    responses(
        (status = 200, description = "A page of scorecards", body = Page<Scorecard>),
        (status = 422, description = "Invalid limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_scorecards(
    State(db): State<PgPool>,
    Query(query): Query<ScorecardListQuery>,
) -> Result<Json<Page<Scorecard>>, ApiError> {
    Ok(Json(super::list_scorecards(&db, query).await?))
}

/// Get a scorecard: its latest version, or `?version=`.
#[utoipa::path(get, path = "/v1/scorecards/{name}", tag = "reviews",
    params(("name" = String, Path, description = "The scorecard's name"), ScorecardQuery),
    responses(
        (status = 200, description = "The scorecard version", body = Scorecard),
        (status = 404, description = "No such scorecard or version", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid version", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_scorecard(
    State(db): State<PgPool>,
    Path(name): Path<String>,
    Query(query): Query<ScorecardQuery>,
) -> Result<Json<Scorecard>, ApiError> {
    Ok(Json(super::get_scorecard(&db, &name, query).await?))
}

/// Review an ended transfer, or revise a review.
///
/// Scores every criterion of a scorecard version (the latest by default); the weighted total
/// (0–100) is computed and stored. Reviews are append-only: `supersedes` writes a revision,
/// and the review it replaces is kept, marked `superseded_by`. The call's timeline gets a
/// `review.created` event.
#[utoipa::path(post, path = "/v1/transfers/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path, description = "Transfer id")),
    request_body = CreateReview,
    responses(
        (status = 201, description = "The review", body = Review,
         headers(("location" = String, description = "URL of the review"))),
        (status = 403, description = "`reviewer` names someone else, or the revised review is another reviewer's", body = Problem, content_type = "application/problem+json"),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 409, description = "The transfer has not ended (`current_state` says where it is), or the revised review was already revised", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid fields: an unknown scorecard or version, scores missing, out of range or of no criterion, a segment of another call, a revision of another transfer's review", body = Problem, content_type = "application/problem+json"),
    ))]
async fn create_review(
    State(db): State<PgPool>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Json(request): Json<CreateReview>,
) -> Result<impl IntoResponse, ApiError> {
    let review = super::create_review(&db, &principal, id, request).await?;
    let location = format!("/v1/reviews/{}", review.id);
    Ok((
        StatusCode::CREATED,
        [(header::LOCATION, location)],
        Json(review),
    ))
}

/// List a transfer's reviews, newest first: the current ones, or all.
#[utoipa::path(get, path = "/v1/transfers/{id}/reviews", tag = "reviews",
    params(("id" = Uuid, Path, description = "Transfer id"), TransferReviewsQuery),
    responses(
        (status = 200, description = "A page of reviews", body = Page<Review>),
        (status = 404, description = "No such transfer", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_transfer_reviews(
    State(db): State<PgPool>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(query): Query<TransferReviewsQuery>,
) -> Result<Json<Page<Review>>, ApiError> {
    Ok(Json(
        super::transfer_reviews(&db, &principal, id, query).await?,
    ))
}

/// List reviews, newest first, by agent, reviewer, scorecard, total and time.
#[utoipa::path(get, path = "/v1/reviews", tag = "reviews",
    params(ReviewListQuery),
    responses(
        (status = 200, description = "A page of reviews", body = Page<Review>),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn list_reviews(
    State(db): State<PgPool>,
    Query(query): Query<ReviewListQuery>,
) -> Result<Json<Page<Review>>, ApiError> {
    Ok(Json(super::list_reviews(&db, query).await?))
}

/// Transfers waiting for review: ended, with no current review, newest first.
///
/// `sample_per_agent` keeps a random but stable sample per receiving agent and ISO week, the
/// same on every request and page, for QA that reviews N transfers per agent each week.
#[utoipa::path(get, path = "/v1/reviews/queue", tag = "reviews",
    params(ReviewQueueQuery),
    responses(
        (status = 200, description = "A page of transfers to review", body = Page<Transfer>),
        (status = 422, description = "Invalid filter, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn review_queue(
    State(db): State<PgPool>,
    Query(query): Query<ReviewQueueQuery>,
) -> Result<Json<Page<Transfer>>, ApiError> {
    Ok(Json(super::queue(&db, query).await?))
}

/// Get a review.
#[utoipa::path(get, path = "/v1/reviews/{id}", tag = "reviews",
    params(("id" = Uuid, Path, description = "Review id")),
    responses(
        (status = 200, description = "The review", body = Review),
        (status = 404, description = "No such review", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The id is not a UUID", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_review(
    State(db): State<PgPool>,
    Path(id): Path<Uuid>,
) -> Result<Json<Review>, ApiError> {
    Ok(Json(super::get_review(&db, id).await?))
}
