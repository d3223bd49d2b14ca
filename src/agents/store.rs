//! SQL for agents.

use sqlx::PgExecutor;

use super::model::Agent;

const COLUMNS: &str =
    "identity, display_name, team, skills, auto_registered, created_at, updated_at, disabled_at";

/// A validated new agent.
#[derive(Debug)]
pub struct NewAgent {
    pub identity: String,
    pub display_name: String,
    pub team: Option<String>,
    pub skills: Vec<String>,
}

/// Registers an agent.
pub async fn insert(db: impl PgExecutor<'_>, agent: &NewAgent) -> sqlx::Result<Agent> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO agents (identity, display_name, team, skills) VALUES ($1, $2, $3, $4)
         RETURNING {COLUMNS}"
    )))
    .bind(&agent.identity)
    .bind(&agent.display_name)
    .bind(&agent.team)
    .bind(&agent.skills)
    .fetch_one(db)
    .await
}

/// One agent.
pub async fn get(db: impl PgExecutor<'_>, identity: &str) -> sqlx::Result<Option<Agent>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM agents WHERE identity = $1"
    )))
    .bind(identity)
    .fetch_optional(db)
    .await
}

/// The agents among `identities` that are registered.
pub async fn get_many(db: impl PgExecutor<'_>, identities: &[&str]) -> sqlx::Result<Vec<Agent>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM agents WHERE identity = ANY($1)"
    )))
    .bind(identities)
    .fetch_all(db)
    .await
}

/// Registers a new agent on its first use (open mode); `None` when it exists already,
/// possibly registered by a concurrent request that committed after this statement began.
pub async fn register_on_first_use(
    db: impl PgExecutor<'_>,
    identity: &str,
) -> sqlx::Result<Option<Agent>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "INSERT INTO agents (identity, display_name, auto_registered) VALUES ($1, $1, true)
         ON CONFLICT (identity) DO NOTHING RETURNING {COLUMNS}"
    )))
    .bind(identity)
    .fetch_optional(db)
    .await
}

/// Filters of [`list`].
#[derive(Debug, Default)]
pub struct AgentFilter {
    pub team: Option<String>,
    pub skill: Option<String>,
    pub include_disabled: bool,
}

/// Agents by identity, after `after`.
pub async fn list(
    db: impl PgExecutor<'_>,
    filter: &AgentFilter,
    after: Option<String>,
    limit: i64,
) -> sqlx::Result<Vec<Agent>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "SELECT {COLUMNS} FROM agents
         WHERE ($1::text IS NULL OR team = $1)
           AND ($2::text IS NULL OR $2 = ANY (skills))
           AND ($3 OR disabled_at IS NULL)
           AND ($4::text IS NULL OR identity > $4)
         ORDER BY identity LIMIT $5"
    )))
    .bind(&filter.team)
    .bind(&filter.skill)
    .bind(filter.include_disabled)
    .bind(after)
    .bind(limit)
    .fetch_all(db)
    .await
}

/// Validated changes of an agent; `None` keeps a field.
#[derive(Debug, Default)]
pub struct AgentChanges {
    pub display_name: Option<String>,
    /// `Some(None)` clears the team.
    pub team: Option<Option<String>>,
    pub skills: Option<Vec<String>>,
    pub disabled: Option<bool>,
}

/// Applies changes; `None` when there is no such agent.
pub async fn update(
    db: impl PgExecutor<'_>,
    identity: &str,
    c: &AgentChanges,
) -> sqlx::Result<Option<Agent>> {
    sqlx::query_as(sqlx::AssertSqlSafe(format!(
        "UPDATE agents SET
             display_name = COALESCE($2, display_name),
             team = CASE WHEN $3 THEN $4 ELSE team END,
             skills = COALESCE($5, skills),
             disabled_at = CASE WHEN $6 IS NULL THEN disabled_at
                                WHEN $6 THEN COALESCE(disabled_at, now()) ELSE NULL END,
             updated_at = now()
         WHERE identity = $1 RETURNING {COLUMNS}"
    )))
    .bind(identity)
    .bind(&c.display_name)
    .bind(c.team.is_some())
    .bind(c.team.clone().flatten())
    .bind(&c.skills)
    .bind(c.disabled)
    .fetch_optional(db)
    .await
}
