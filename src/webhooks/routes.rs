//! HTTP route for LiveKit's webhooks.

use axum::extract::State;
use axum::http::{HeaderMap, header};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::WebhookAck;
use crate::app::AppState;
use crate::error::{ApiError, Problem};
use crate::extract::{Json, RawBody};

/// The routes of this module.
pub fn router() -> OpenApiRouter<AppState> {
    OpenApiRouter::new().routes(routes!(livekit_webhook))
}

/// Receive a LiveKit webhook.
///
/// Point `webhook.urls` of livekit-server here (see `livekit.yaml`). The `Authorization`
/// header carries LiveKit's JWT, signed with the API secret, whose `sha256` claim is the
/// base64 SHA-256 of the body. Deliveries are stored by event id (a redelivery is answered
/// 200 and changes nothing) and applied by the event's own time, so order does not matter:
/// Agent B joining the briefing room moves a transfer to `briefing`; Agent B joining the
/// caller's room while `connecting` completes it; the caller leaving during a transfer
/// abandons it; the call's room finishing ends the call.
#[utoipa::path(post, path = "/v1/webhooks/livekit", tag = "webhooks",
    request_body(content = Object, content_type = "application/webhook+json",
        description = "A LiveKit `WebhookEvent` in protobuf JSON, exactly as signed",
        example = json!({"event": "participant_joined", "id": "EV_4fK2pQ", "createdAt": "1764064800",
                         "room": {"sid": "RM_x", "name": "call_0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80"},
                         "participant": {"sid": "PA_1", "identity": "agent_bob", "state": "ACTIVE"}})),
    params(("Authorization" = String, Header, description = "The webhook JWT signed by livekit-server (no `Bearer` prefix needed)")),
    responses(
        (status = 200, description = "Stored (and applied, when it changes something)", body = WebhookAck),
        (status = 400, description = "Signed, but not a LiveKit event", body = Problem, content_type = "application/problem+json"),
        (status = 401, description = "Missing, forged or expired signature, or a body that does not match it", body = Problem, content_type = "application/problem+json"),
        (status = 413, description = "Body too large", body = Problem, content_type = "application/problem+json"),
        (status = 415, description = "Not `application/webhook+json` or `application/json`", body = Problem, content_type = "application/problem+json"),
        (status = 422, description = "The event has no id", body = Problem, content_type = "application/problem+json"),
    ))]
async fn livekit_webhook(
    State(state): State<AppState>,
    headers: HeaderMap,
    RawBody(body): RawBody,
) -> Result<Json<WebhookAck>, ApiError> {
    let header = |name| headers.get(name).and_then(|v| v.to_str().ok());
    let ack = super::receive(
        &state,
        header(header::CONTENT_TYPE),
        header(header::AUTHORIZATION),
        &body,
    )
    .await?;
    state
        .metrics
        .webhook_received(&ack.event, ack.result.as_str());
    Ok(Json(ack))
}
