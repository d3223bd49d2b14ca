//! Who was in which room when: kept from LiveKit's webhooks, or asked of LiveKit live.

pub mod model;
pub mod routes;
pub mod store;

use crate::app::AppState;
use crate::auth::model::Principal;
use crate::error::ApiError;
use model::{Include, ParticipantSource, ParticipantsQuery, RoomParticipants};

/// The participants of a room warmline knows (a call's room or a briefing room).
pub async fn of_room(
    state: &AppState,
    principal: &Principal,
    room: String,
    query: ParticipantsQuery,
) -> Result<RoomParticipants, ApiError> {
    let Some(owner) = crate::rooms::owner(&state.db, &room).await? else {
        return Err(ApiError::not_found("room", room));
    };
    if !principal.reads_everything() {
        crate::calls::store::get(&state.db, owner.call_id)
            .await?
            .ok_or_else(|| ApiError::not_found("room", &room))?
            .check_read(principal)?;
    }
    if query.live == Some(true) {
        if query.include == Some(Include::History) {
            return Err(ApiError::invalid(
                "include",
                "LiveKit knows only who is present; history comes from the records",
            ));
        }
        let participants = state.livekit.list_participants(&room).await.map_err(|e| {
            tracing::warn!(error = format!("{e:#}"), %room, "listing participants failed");
            ApiError::Upstream(format!("LiveKit did not answer for room {room}"))
        })?;
        return Ok(RoomParticipants {
            room,
            source: ParticipantSource::Live,
            participants,
        });
    }
    let participants = match query.include {
        Some(Include::History) => store::history(&state.db, &room).await?,
        None => store::present(&state.db, &room).await?,
    };
    Ok(RoomParticipants {
        room,
        source: ParticipantSource::Webhooks,
        participants,
    })
}
