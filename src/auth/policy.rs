//! Which roles may call which route: one table, enforced by the auth middleware and written
//! into the OpenAPI document, so the two cannot disagree. A route missing here is refused.
//!
//! Roles decide which routes a key may call; the services then decide which records it may
//! touch (an agent key only its own calls and transfers, a frontend key only calls it started).

use axum::http::Method;

use super::model::Role::{self, Admin, Agent, Frontend, Supervisor};

/// Who may call a route.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key needed (health, and LiveKit's webhooks, which carry their own signature).
    Public,
    /// A key with one of these roles (or open mode).
    Roles(&'static [Role]),
}

const ANY_KEY: &[Role] = &[Admin, Supervisor, Agent, Frontend];
/// Those who read a call's details: transcript, summaries, transfers, rooms.
const STAFF: &[Role] = &[Admin, Supervisor, Agent];
const OVERSIGHT: &[Role] = &[Admin, Supervisor];
const ADMIN: &[Role] = &[Admin];
/// Those who act as an agent.
const AGENTS: &[Role] = &[Admin, Agent];
/// Those who start calls.
const STARTERS: &[Role] = &[Admin, Frontend];
/// Those who take part in a call: join it, write its transcript, end it.
const PARTIES: &[Role] = &[Admin, Agent, Frontend];
const CANCELLERS: &[Role] = &[Admin, Supervisor, Agent];

use Access::{Public, Roles};

/// Every route: method, path template (as in the OpenAPI document), access.
pub const RULES: &[(&str, &str, Access)] = &[
    ("GET", "/healthz", Public),
    ("GET", "/readyz", Public),
    ("GET", "/metrics", Roles(OVERSIGHT)),
    ("POST", "/v1/webhooks/livekit", Public),
    ("GET", "/v1/calls", Roles(ANY_KEY)),
    ("POST", "/v1/calls", Roles(STARTERS)),
    ("GET", "/v1/calls/{id}", Roles(ANY_KEY)),
    ("POST", "/v1/calls/{id}/end", Roles(PARTIES)),
    // An export holds the call's replays and reviews, which only oversight reads.
    ("GET", "/v1/calls/{id}/export", Roles(OVERSIGHT)),
    ("GET", "/v1/calls/export", Roles(OVERSIGHT)),
    ("POST", "/v1/calls/{id}/join", Roles(PARTIES)),
    ("GET", "/v1/calls/{id}/summaries", Roles(STAFF)),
    ("POST", "/v1/calls/{id}/summaries", Roles(STAFF)),
    ("GET", "/v1/calls/{id}/timeline", Roles(STAFF)),
    ("GET", "/v1/calls/{id}/transcript", Roles(STAFF)),
    ("POST", "/v1/calls/{id}/transcript", Roles(PARTIES)),
    ("POST", "/v1/calls/{id}/transfers", Roles(AGENTS)),
    // A frontend key follows the calls it started (`call.*` events only).
    ("GET", "/v1/events", Roles(ANY_KEY)),
    ("GET", "/v1/rooms/{room}/participants", Roles(STAFF)),
    ("POST", "/v1/tokens", Roles(PARTIES)),
    ("GET", "/v1/transfers", Roles(STAFF)),
    ("GET", "/v1/transfers/{id}", Roles(STAFF)),
    ("POST", "/v1/transfers/{id}/accept", Roles(AGENTS)),
    ("POST", "/v1/transfers/{id}/decline", Roles(AGENTS)),
    ("POST", "/v1/transfers/{id}/complete", Roles(AGENTS)),
    ("POST", "/v1/transfers/{id}/cancel", Roles(CANCELLERS)),
    ("GET", "/v1/transfers/{id}/replay", Roles(OVERSIGHT)),
    ("GET", "/v1/agents", Roles(STAFF)),
    ("POST", "/v1/agents", Roles(ADMIN)),
    ("GET", "/v1/agents/{identity}", Roles(STAFF)),
    ("PATCH", "/v1/agents/{identity}", Roles(ADMIN)),
    // Any key may learn its own role and agent.
    ("GET", "/v1/access", Roles(ANY_KEY)),
    ("GET", "/v1/api-keys", Roles(ADMIN)),
    ("POST", "/v1/api-keys", Roles(ADMIN)),
    ("DELETE", "/v1/api-keys/{id}", Roles(ADMIN)),
    // QA: supervisors keep the scorecards and review transfers; agents do not grade themselves.
    ("GET", "/v1/scorecards", Roles(OVERSIGHT)),
    ("POST", "/v1/scorecards", Roles(OVERSIGHT)),
    ("GET", "/v1/scorecards/{name}", Roles(OVERSIGHT)),
    ("POST", "/v1/scorecards/{name}/versions", Roles(OVERSIGHT)),
    ("GET", "/v1/transfers/{id}/reviews", Roles(OVERSIGHT)),
    ("POST", "/v1/transfers/{id}/reviews", Roles(OVERSIGHT)),
    ("GET", "/v1/reviews", Roles(OVERSIGHT)),
    ("GET", "/v1/reviews/queue", Roles(OVERSIGHT)),
    ("GET", "/v1/reviews/{id}", Roles(OVERSIGHT)),
    // Figures across agents: for those who oversee them.
    ("GET", "/v1/stats", Roles(OVERSIGHT)),
    // The prototype's routes.
    ("GET", "/", Public),
    ("GET", "/health", Public),
    ("GET", "/token", Roles(PARTIES)),
    ("POST", "/token", Roles(PARTIES)),
    ("POST", "/call/start", Roles(STARTERS)),
    ("GET", "/calls/latest", Roles(STAFF)),
    ("GET", "/calls/active", Roles(STAFF)),
    ("GET", "/call/{call_id}", Roles(ANY_KEY)),
    ("POST", "/call/{call_id}/join", Roles(PARTIES)),
    ("POST", "/call/end", Roles(PARTIES)),
    ("POST", "/summarize", Roles(AGENTS)),
    ("POST", "/transfer", Roles(AGENTS)),
    ("POST", "/call/{call_id}/transfer", Roles(AGENTS)),
    ("GET", "/transfer/{transfer_id}", Roles(STAFF)),
    ("GET", "/transfers/active", Roles(STAFF)),
    ("POST", "/transfer/complete", Roles(AGENTS)),
    ("POST", "/transfer/{transfer_id}/complete", Roles(AGENTS)),
    (
        "GET",
        "/caller/{caller_name}/transfer-status",
        Roles(STARTERS),
    ),
    ("GET", "/agent/{agent_name}/transfer-status", Roles(AGENTS)),
    ("POST", "/room/participants", Roles(PARTIES)),
    ("GET", "/room/{room_name}/participants", Roles(STAFF)),
    ("GET", "/rooms/{room_name}/participants", Roles(STAFF)),
];

/// The access rule of a route, by method and path template.
pub fn access(method: &Method, path: &str) -> Option<Access> {
    RULES
        .iter()
        .find(|(m, p, _)| *p == path && method.as_str() == *m)
        .map(|(_, _, access)| *access)
}
