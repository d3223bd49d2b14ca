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

/// Checks that the room belongs to a call the principal may read; `None` for an unknown room.
async fn readable_room(
    db: &sqlx::PgPool,
    principal: &Principal,
    room: &str,
) -> Result<Option<crate::rooms::RoomOwner>, ApiError> {
    let Some(owner) = crate::rooms::owner(db, room).await? else {
        return Ok(None);
    };
    if !principal.reads_everything() {
        crate::calls::store::get(db, owner.call_id)
            .await?
            .ok_or_else(|| ApiError::not_found("room", room))?
            .check_read(principal)?;
    }
    Ok(Some(owner))
}

/// Records a client's list of who is in a room, kept beside (never over) what LiveKit's
/// webhooks tracked. Answers the identities as stored.
pub async fn record_report(
    db: &sqlx::PgPool,
    principal: &Principal,
    room: &str,
    participants: &[String],
) -> Result<Vec<String>, ApiError> {
    if readable_room(db, principal, room).await?.is_none() {
        return Err(ApiError::not_found("room", room));
    }
    if participants.len() > MAX_REPORTED {
        return Err(ApiError::invalid(
            "participants",
            format!("at most {MAX_REPORTED} identities"),
        ));
    }
    let mut identities = Vec::with_capacity(participants.len());
    for (i, p) in participants.iter().enumerate() {
        identities.push(
            crate::domain::Identity::parse(p)
                .map_err(|m| ApiError::invalid(format!("participants[{i}]"), m))?
                .into_inner(),
        );
    }
    store::record_report(db, room, &identities).await?;
    Ok(identities)
}

/// Who is in a room: those LiveKit's webhooks say are present; for a room LiveKit never told
/// us about, the latest client report; for an unknown room, nobody.
pub async fn members(
    db: &sqlx::PgPool,
    principal: &Principal,
    room: &str,
) -> Result<Vec<String>, ApiError> {
    readable_room(db, principal, room).await?;
    if store::tracked(db, room).await? {
        let mut identities: Vec<String> = store::present(db, room)
            .await?
            .into_iter()
            .map(|p| p.identity)
            .collect();
        identities.dedup();
        return Ok(identities);
    }
    Ok(store::latest_report(db, room).await?.unwrap_or_default())
}

/// Most identities one report may list.
const MAX_REPORTED: usize = 100;
