//! Agents as the API shows them.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// Most skills an agent may list.
pub const MAX_SKILLS: usize = 32;

/// Someone who takes calls: only a registered agent can hold a call or take part in a transfer.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Agent {
    /// The LiveKit identity the agent joins rooms as.
    #[schema(example = "agent_alice")]
    pub identity: String,
    #[schema(example = "Alice Martin")]
    pub display_name: String,
    #[schema(example = "billing")]
    pub team: Option<String>,
    #[schema(example = json!(["billing", "spanish"]))]
    pub skills: Vec<String>,
    /// Registered by its first use in open mode rather than by an admin.
    pub auto_registered: bool,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    /// Set while the agent is disabled: it keeps its history but takes no new call or transfer.
    pub disabled_at: Option<DateTime<Utc>>,
}

/// A new agent.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"identity": "agent_alice", "display_name": "Alice Martin", "team": "billing", "skills": ["billing", "spanish"]}))]
pub struct CreateAgent {
    /// 1–128 characters, one line; not the identity of any caller.
    #[schema(min_length = 1, max_length = 128)]
    pub identity: String,
    /// Defaults to the identity.
    #[schema(min_length = 1, max_length = 128)]
    pub display_name: Option<String>,
    #[schema(min_length = 1, max_length = 128)]
    pub team: Option<String>,
    /// Up to 32 skills of 1–64 characters.
    #[schema(max_items = 32)]
    pub skills: Option<Vec<String>>,
}

/// Changes to an agent; absent fields stay as they are.
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"team": "retention", "disabled": false}))]
pub struct UpdateAgent {
    #[schema(min_length = 1, max_length = 128)]
    pub display_name: Option<String>,
    /// A new team, or `""` for none.
    #[schema(max_length = 128)]
    pub team: Option<String>,
    /// Replaces the skills.
    #[schema(max_items = 32)]
    pub skills: Option<Vec<String>>,
    /// `true` disables the agent, `false` enables it again.
    pub disabled: Option<bool>,
}

/// Filters of `GET /v1/agents`.
#[derive(Debug, Default, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AgentListQuery {
    /// Only agents of this team.
    pub team: Option<String>,
    /// Only agents with this skill.
    pub skill: Option<String>,
    /// Also list disabled agents (default false).
    pub include_disabled: Option<bool>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}
