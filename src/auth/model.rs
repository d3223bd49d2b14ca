//! Roles, API keys and who is asking.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

/// What an API key may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "lowercase")]
#[serde(rename_all = "lowercase")]
pub enum Role {
    /// Everything, including API keys and agents.
    Admin,
    /// Reads everything; may cancel any transfer and regenerate summaries.
    Supervisor,
    /// Acts as one agent identity, on the calls and transfers that identity is part of.
    Agent,
    /// Starts calls and gets caller tokens for the calls it started.
    Frontend,
}

impl Role {
    /// Every role, most powerful first.
    pub const ALL: [Role; 4] = [Role::Admin, Role::Supervisor, Role::Agent, Role::Frontend];

    /// The role's name as stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Supervisor => "supervisor",
            Role::Agent => "agent",
            Role::Frontend => "frontend",
        }
    }
}

impl std::str::FromStr for Role {
    type Err = String;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Role::ALL
            .into_iter()
            .find(|r| r.as_str() == s.trim())
            .ok_or_else(|| format!("`{s}` is not one of admin, supervisor, agent, frontend"))
    }
}

/// An authenticated API key, as the request handlers see it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct KeyHolder {
    pub id: Uuid,
    pub role: Role,
    /// The identity an agent key acts as.
    pub agent: Option<String>,
}

/// Who is making a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Principal {
    /// No API key is configured and the service runs open (loopback, or `WARMLINE_AUTH=disabled`):
    /// trusted like an admin.
    Open,
    /// A request carrying a valid API key.
    Key(KeyHolder),
}

impl Principal {
    /// The key's role; `None` in open mode.
    pub fn role(&self) -> Option<Role> {
        match self {
            Principal::Open => None,
            Principal::Key(k) => Some(k.role),
        }
    }

    /// Open mode or an admin key: may act as anyone.
    pub fn is_admin(&self) -> bool {
        matches!(self.role(), None | Some(Role::Admin))
    }

    /// Open mode, admins and supervisors read every record.
    pub fn reads_everything(&self) -> bool {
        matches!(self.role(), None | Some(Role::Admin | Role::Supervisor))
    }

    /// The identity an agent key is bound to.
    pub fn agent(&self) -> Option<&str> {
        match self {
            Principal::Key(k) if k.role == Role::Agent => k.agent.as_deref(),
            _ => None,
        }
    }

    /// A frontend key's id (what its calls are recorded as started by).
    pub fn frontend(&self) -> Option<Uuid> {
        match self {
            Principal::Key(k) if k.role == Role::Frontend => Some(k.id),
            _ => None,
        }
    }

    /// The key's id, when there is a key.
    pub fn key_id(&self) -> Option<Uuid> {
        match self {
            Principal::Open => None,
            Principal::Key(k) => Some(k.id),
        }
    }
}

/// What a request may do: the role and agent of its key, or open mode.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[schema(example = json!({"open": false, "role": "agent", "agent": "agent_alice", "key_id": "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f82"}))]
pub struct CurrentAccess {
    /// `true`: the service runs without keys, and this request used none.
    pub open: bool,
    /// The key's role; absent in open mode.
    pub role: Option<Role>,
    /// The agent identity an `agent` key acts as.
    pub agent: Option<String>,
    /// The key's id; absent in open mode.
    pub key_id: Option<Uuid>,
}

impl From<&Principal> for CurrentAccess {
    fn from(principal: &Principal) -> Self {
        Self {
            open: matches!(principal, Principal::Open),
            role: principal.role(),
            agent: principal.agent().map(str::to_owned),
            key_id: principal.key_id(),
        }
    }
}

/// An API key as listed: never its secret.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct ApiKey {
    pub id: Uuid,
    /// The key's public part: keys look like `wl_<prefix>_<secret>`.
    #[schema(example = "k4f9x2m7q1ab")]
    pub prefix: String,
    pub role: Role,
    /// The agent identity an `agent` key acts as.
    #[schema(example = "agent_alice")]
    pub agent: Option<String>,
    #[schema(example = "Alice's softphone")]
    pub label: Option<String>,
    pub created_at: DateTime<Utc>,
    /// Updated at most about once a minute.
    pub last_used_at: Option<DateTime<Utc>>,
    pub revoked_at: Option<DateTime<Utc>>,
}

/// A key just created: the only time its secret is shown.
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedApiKey {
    #[serde(flatten)]
    pub key: ApiKey,
    /// The whole key, for `Authorization: Bearer <key>`. Store it now: only its hash is kept.
    #[schema(example = "wl_k4f9x2m7q1ab_3q2-7wEVj0tMZkyVjO1Qm9h7iP0pXb4cYd2nKe5fWg8")]
    pub secret: String,
}

/// A new API key.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"role": "agent", "agent": "agent_alice", "label": "Alice's softphone"}))]
pub struct CreateApiKey {
    pub role: Role,
    /// Required for (and only for) `agent` keys: a registered agent's identity.
    pub agent: Option<String>,
    /// A note for admins (up to 128 characters).
    pub label: Option<String>,
}

/// Filters of `GET /v1/api-keys`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct ApiKeyListQuery {
    /// Also list revoked keys (default false).
    pub include_revoked: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
