//! HTTP routes of `/v1/calls/{id}/timeline`.

use axum::extract::State;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;
use uuid::Uuid;

use std::time::Duration;

use axum::http::HeaderMap;
use axum::response::IntoResponse;
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use futures_util::StreamExt;

use super::StreamMessage;
use super::model::{Event, EventStreamQuery, TimelineQuery};
use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, Path, Query};
use crate::pagination::Page;

/// The comment that ends a stream whose client reads too slowly.
const LAGGED: &str = "too slow: events were dropped; reconnect with Last-Event-ID to resume";

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new()
        .routes(routes!(call_timeline))
        .routes(routes!(event_stream))
}

/// Live events (Server-Sent Events).
///
/// Each SSE message is one event, framed as
///
/// ```text
/// id: 1042
/// event: transfer.briefing
/// data: {"id":1042,"call_id":"…","transfer_id":"…","kind":"transfer.briefing","data":{…},"created_at":"…"}
///
/// ```
///
/// `id` is the event's id (send it back as `Last-Event-ID`), `event` its `kind`, and `data`
/// the `Event` object below as one line of JSON. Lines starting with `:` are keep-alives.
/// Filter by call, transfer or kind prefix. A frontend key follows one call it started
/// (`call_id`), and only its `call.*` events (status and agent changes). A key holds at most `MAX_EVENT_STREAMS_PER_KEY`
/// streams (429 beyond). A reconnecting client sends
/// `Last-Event-ID` and gets what it missed; `after` does the same explicitly. Events come
/// from the database's own log (NOTIFY wakes the service), so every replica sees all of them.
/// Events arrive in the order they commit, which is by id except that an event committed
/// late can follow one with a higher id (resuming from its id may then repeat the one
/// before it). A client that reads too slowly gets the comment
/// `: too slow: …` and the stream ends; it reconnects with `Last-Event-ID` to resume.
#[utoipa::path(get, path = "/v1/events", tag = "calls",
    params(EventStreamQuery,
        ("Last-Event-ID" = Option<String>, Header, description = "The last event id the client received")),
    responses(
        (status = 200, description = "A stream of `text/event-stream` messages, one per event", content_type = "text/event-stream", body = Event),
        (status = 422, description = "Invalid filter or event id", body = Problem, content_type = "application/problem+json"),
        (status = 429, description = "This key holds as many streams as it may", body = Problem, content_type = "application/problem+json"),
    ))]
async fn event_stream(
    State(state): State<AppState>,
    principal: Principal,
    headers: HeaderMap,
    Query(query): Query<EventStreamQuery>,
) -> Result<impl IntoResponse, ApiError> {
    let last = headers.get("last-event-id").and_then(|v| v.to_str().ok());
    let events = super::stream(&state, &principal, query, last).await?;
    let messages = events.map(|message| match message {
        StreamMessage::Event(event) => SseEvent::default()
            .id(event.id.to_string())
            .event(event.kind.clone())
            .json_data(&*event),
        StreamMessage::Lagged => Ok(SseEvent::default().comment(LAGGED)),
    });
    Ok(Sse::new(messages).keep_alive(KeepAlive::new().interval(Duration::from_secs(15))))
}

/// A call's timeline: every recorded event in order.
///
/// Written by the database itself as rows change, and never updated or deleted.
#[utoipa::path(get, path = "/v1/calls/{id}/timeline", tag = "calls",
    params(("id" = Uuid, Path, description = "Call id"), TimelineQuery),
    responses(
        (status = 200, description = "A page of events, oldest first", body = Page<Event>),
        (status = 404, description = "No such call", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "Invalid id, limit or cursor", body = Problem, content_type = "application/problem+json"),
    ))]
async fn call_timeline(
    State(state): State<AppState>,
    principal: Principal,
    Path(id): Path<Uuid>,
    Query(query): Query<TimelineQuery>,
) -> Result<Json<Page<Event>>, ApiError> {
    Ok(Json(
        super::timeline(&state.db, &principal, id, query).await?,
    ))
}
