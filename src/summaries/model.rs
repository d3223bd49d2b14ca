//! Summaries and briefing scripts.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};
use uuid::Uuid;

use crate::transcripts::model::SpeakerRole;

/// How the caller comes across.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Sentiment {
    Positive,
    Neutral,
    Negative,
    Frustrated,
}

impl Sentiment {
    /// The name stored in a summary's content.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Positive => "positive",
            Self::Neutral => "neutral",
            Self::Negative => "negative",
            Self::Frustrated => "frustrated",
        }
    }
}

/// What Agent B needs to know, in fixed fields. Keys beyond these are ignored: models often
/// add one (`"summary"`), and the fields asked for are all still required and validated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[schema(example = json!({
    "reason_for_call": "Order 4411 arrived damaged",
    "key_facts": ["Caller: Jane Doe (+1 415 555 0100)", "Order number: 4411"],
    "actions_taken": ["I've checked the order and it shipped on Monday."],
    "open_questions": ["Can I get a replacement before Friday?"],
    "customer_sentiment": "negative",
    "suggested_next_steps": ["Answer: Can I get a replacement before Friday?"],
    "briefing_script": "You're taking a call from Jane Doe about order 4411, which arrived damaged..."
}))]
pub struct SummaryContent {
    pub reason_for_call: String,
    pub key_facts: Vec<String>,
    pub actions_taken: Vec<String>,
    pub open_questions: Vec<String>,
    pub customer_sentiment: Sentiment,
    pub suggested_next_steps: Vec<String>,
    /// What Agent A reads to Agent B: under a minute aloud.
    pub briefing_script: String,
}

/// Longest briefing script, in words: about a minute at a calm reading pace.
pub const MAX_SCRIPT_WORDS: usize = 150;

impl SummaryContent {
    /// Checks what a model produced; the reason when it is not usable.
    pub fn validate(&self) -> Result<(), String> {
        let lists = [
            ("key_facts", &self.key_facts),
            ("actions_taken", &self.actions_taken),
            ("open_questions", &self.open_questions),
            ("suggested_next_steps", &self.suggested_next_steps),
        ];
        if self.reason_for_call.trim().is_empty() {
            return Err("reason_for_call is empty".into());
        }
        for (name, list) in lists {
            if list.len() > 20 || list.iter().any(|item| item.trim().is_empty()) {
                return Err(format!("{name} must hold at most 20 non-empty strings"));
            }
        }
        let words = self.briefing_script.split_whitespace().count();
        if words == 0 || words > MAX_SCRIPT_WORDS {
            return Err(format!(
                "briefing_script must have 1 to {MAX_SCRIPT_WORDS} words, not {words}"
            ));
        }
        Ok(())
    }

    /// The summary as plain text, for search and for clients that show one block.
    pub fn to_text(&self) -> String {
        let mut text = format!("Reason for call: {}", self.reason_for_call);
        let sections = [
            ("Key facts", &self.key_facts),
            ("Actions taken", &self.actions_taken),
            ("Open questions", &self.open_questions),
            ("Suggested next steps", &self.suggested_next_steps),
        ];
        for (title, items) in sections {
            if !items.is_empty() {
                text.push_str(&format!("\n{title}:"));
                for item in items {
                    text.push_str(&format!("\n- {item}"));
                }
            }
        }
        let sentiment = serde_json::to_value(self.customer_sentiment).ok();
        if let Some(s) = sentiment.as_ref().and_then(|v| v.as_str()) {
            text.push_str(&format!("\nCustomer sentiment: {s}"));
        }
        text
    }
}

/// Who wrote a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, ToSchema, sqlx::Type)]
#[sqlx(type_name = "text", rename_all = "snake_case")]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    /// warmline's local, deterministic summarizer.
    Extractive,
    /// A model behind an OpenAI-compatible chat API.
    OpenaiCompatible,
}

/// A stored summary with its briefing script. Never changed: a better one is a new row.
#[derive(Debug, Clone, Serialize, ToSchema, sqlx::FromRow)]
pub struct Summary {
    pub id: Uuid,
    pub call_id: Uuid,
    pub transfer_id: Option<Uuid>,
    pub provider: Provider,
    #[schema(example = "openai/gpt-4o-mini")]
    pub model: String,
    pub prompt_version: String,
    #[schema(value_type = SummaryContent)]
    pub content: sqlx::types::Json<SummaryContent>,
    pub summary_text: String,
    pub briefing_script: String,
    /// `true`: the local summary standing in for a model that is pending or failed.
    pub fallback: bool,
    /// Why the model's answer is not the one stored, when it is not.
    pub error: Option<String>,
    pub latency_ms: Option<i32>,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
    /// Transcript segments the summary was written from.
    pub segments_used: i32,
    pub created_at: DateTime<Utc>,
}

/// Ask for a fresh summary of a call (for instance at its end).
#[derive(Debug, Default, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RegenerateSummary {
    /// Attach the summary to this transfer of the call.
    pub transfer_id: Option<Uuid>,
}

/// A fresh local summary, and whether a model's is on its way.
#[derive(Debug, Serialize, ToSchema)]
pub struct RegeneratedSummary {
    pub summary: Summary,
    /// A model is configured: its summary will be added as a new row (`summary.created` event).
    pub upgrade_pending: bool,
}

/// Paging through a call's summaries, newest first.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SummaryListQuery {
    /// Only summaries of this transfer.
    pub transfer_id: Option<Uuid>,
    /// Page size, 1–200 (default 50).
    #[param(minimum = 1, maximum = 200)]
    pub limit: Option<i64>,
    /// `next_cursor` of the previous page.
    pub cursor: Option<String>,
}

/// One turn of the conversation.
#[derive(Debug, Clone)]
pub struct Turn {
    pub speaker: String,
    pub role: SpeakerRole,
    pub text: String,
}

/// Everything a summarizer reads.
#[derive(Debug, Clone, Default)]
pub struct SummaryInput {
    pub caller_name: String,
    pub caller_phone: Option<String>,
    pub issue: Option<String>,
    pub from_agent: Option<String>,
    pub to_agent: Option<String>,
    pub transfer_reason: Option<String>,
    pub turns: Vec<Turn>,
}
