//! LiveKit: minting scoped access tokens and calling the RoomService (Twirp over HTTP).

pub mod model;

use std::sync::Arc;

use anyhow::Context;
use chrono::Utc;
use livekit_api::access_token::{AccessToken, VideoGrants};
use livekit_api::services::room::{CreateRoomOptions, RoomClient};
use secrecy::ExposeSecret;

use crate::config::LiveKitConfig;
use crate::participants::model::Participant;
use model::IssuedToken;

/// Seconds an empty briefing room lives before LiveKit closes it by itself.
pub const BRIEFING_ROOM_EMPTY_TIMEOUT_SECS: u32 = 300;

/// The LiveKit server warmline talks to, and the key it signs with.
#[derive(Clone)]
pub struct LiveKit {
    config: LiveKitConfig,
    rooms: Arc<RoomClient>,
}

impl std::fmt::Debug for LiveKit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LiveKit")
            .field("url", &self.config.url)
            .finish_non_exhaustive()
    }
}

impl LiveKit {
    /// A client for the configured server. Nothing is contacted until a room operation runs.
    pub fn new(config: LiveKitConfig) -> Self {
        let rooms = RoomClient::with_api_key(
            &config.url,
            &config.api_key,
            config.api_secret.expose_secret(),
        )
        // Region failover is for LiveKit Cloud; self-hosted servers have no regions to try.
        .with_failover(false)
        .with_request_timeout(config.request_timeout);
        Self {
            config,
            rooms: Arc::new(rooms),
        }
    }

    /// A token to join `room` as `identity`, with publish/subscribe/data and nothing else: no
    /// room admin, no recording, no other room. `metadata` is visible to the other participants.
    pub fn mint(
        &self,
        identity: &str,
        name: &str,
        room: &str,
        metadata: &serde_json::Value,
    ) -> anyhow::Result<IssuedToken> {
        let grants = VideoGrants {
            room_join: true,
            room: room.to_owned(),
            // An absent permission means "allowed" to LiveKit, so each is spelled out.
            can_publish: Some(true),
            // Audio only unless configured: nobody turns on a camera or shares a screen.
            can_publish_sources: self.config.publish_sources.clone(),
            can_subscribe: Some(true),
            can_publish_data: Some(true),
            can_update_own_metadata: Some(false),
            ..Default::default()
        };
        let ttl = self.config.token_ttl;
        let token =
            AccessToken::with_api_key(&self.config.api_key, self.config.api_secret.expose_secret())
                .with_identity(identity)
                .with_name(name)
                .with_ttl(ttl)
                .with_metadata(&metadata.to_string())
                .with_grants(grants)
                .to_jwt()
                .context("signing a LiveKit token")?;
        Ok(IssuedToken {
            token,
            url: self.config.public_url.clone(),
            room: room.to_owned(),
            identity: identity.to_owned(),
            expires_at: crate::domain::later_by(Utc::now(), ttl),
        })
    }

    /// Creates a briefing room (LiveKit would create it on first join; creating it early sets
    /// its empty timeout and surfaces an unreachable server before anyone waits on it).
    pub async fn create_room(&self, room: &str) -> anyhow::Result<()> {
        let options = CreateRoomOptions {
            empty_timeout: BRIEFING_ROOM_EMPTY_TIMEOUT_SECS,
            ..Default::default()
        };
        self.rooms
            .create_room(room, options)
            .await
            .with_context(|| format!("CreateRoom {room}"))?;
        Ok(())
    }

    /// Closes a room, disconnecting whoever is still in it.
    pub async fn delete_room(&self, room: &str) -> anyhow::Result<()> {
        match self.rooms.delete_room(room).await {
            Ok(()) => Ok(()),
            // Already gone (closed by LiveKit on its empty timeout, or never joined): done.
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("DeleteRoom {room}")),
        }
    }

    /// Disconnects one participant from a room.
    pub async fn remove_participant(&self, room: &str, identity: &str) -> anyhow::Result<()> {
        match self.rooms.remove_participant(room, identity).await {
            Ok(()) => Ok(()),
            // They already left: what we wanted.
            Err(e) if is_not_found(&e) => Ok(()),
            Err(e) => Err(e).with_context(|| format!("RemoveParticipant {identity} from {room}")),
        }
    }

    /// Moves a participant to another room (LiveKit Cloud only).
    pub async fn move_participant(
        &self,
        room: &str,
        identity: &str,
        destination: &str,
    ) -> anyhow::Result<()> {
        self.rooms
            .move_participant(room, identity, destination)
            .await
            .with_context(|| format!("MoveParticipant {identity} from {room} to {destination}"))
    }

    /// Who is in a room right now, according to LiveKit. An unknown room is empty.
    pub async fn list_participants(&self, room: &str) -> anyhow::Result<Vec<Participant>> {
        match self.rooms.list_participants(room).await {
            Ok(list) => Ok(list.into_iter().map(Participant::from).collect()),
            Err(e) if is_not_found(&e) => Ok(Vec::new()),
            Err(e) => Err(e).with_context(|| format!("ListParticipants {room}")),
        }
    }
}

fn is_not_found(err: &livekit_api::services::ServiceError) -> bool {
    use livekit_api::services::{ServerError, ServerErrorCode, ServiceError};
    matches!(err, ServiceError::Twirp(ServerError::Twirp(e)) if e.code == ServerErrorCode::NOT_FOUND)
}
