//! HTTP routes of transfer statistics.

use axum::extract::State;
use sqlx::PgPool;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::model::{Stats, StatsQuery};
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Query};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(get_stats))
}

/// Transfer statistics over a range of `initiated_at`.
///
/// Counts by state and outcome, the completion rate (completed / ended), the abandoned rate
/// (abandoned / all), p50 and p90 of time-to-accept, briefing length and hand-off gap, and the
/// top 10 declining agents; with `bucket`, the same per hour or day (UTC) as `series`.
/// Computed from the records alone, by the database.
#[utoipa::path(get, path = "/v1/stats", tag = "stats",
    params(StatsQuery),
    responses(
        (status = 200, description = "The figures", body = Stats),
        (status = 400, description = "A query string that cannot be read", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid filter; `from` not before `to`; a range over 366 days, or over 31 days with hour buckets", body = Problem, content_type = "application/problem+json"),
    ))]
async fn get_stats(
    State(db): State<PgPool>,
    Query(query): Query<StatsQuery>,
) -> Result<Json<Stats>, ApiError> {
    Ok(Json(super::stats(&db, query).await?))
}
