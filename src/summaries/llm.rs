//! Summaries from any OpenAI-compatible chat-completions API (OpenRouter, Ollama, vLLM, …).

use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use reqwest::StatusCode;
use secrecy::ExposeSecret;
use serde::Deserialize;
use serde_json::json;

use super::model::{MAX_SCRIPT_WORDS, SummaryContent, SummaryInput};
use crate::config::SummaryConfig;

/// Changes whenever the prompt changes, so stored summaries say which prompt wrote them.
pub const PROMPT_VERSION: &str = "2026-11-25.1";

/// What a model call produced.
#[derive(Debug)]
pub struct Generated {
    pub content: SummaryContent,
    pub latency: Duration,
    pub prompt_tokens: Option<i32>,
    pub completion_tokens: Option<i32>,
}

/// A model call that gave no usable summary, with what it cost.
#[derive(Debug)]
pub struct Failed {
    pub error: String,
    pub latency: Duration,
}

/// The model client.
#[derive(Debug, Clone)]
pub struct LlmSummarizer {
    config: SummaryConfig,
    http: reqwest::Client,
}

#[derive(Deserialize)]
struct Completion {
    choices: Vec<Choice>,
    usage: Option<Usage>,
}

#[derive(Deserialize)]
struct Choice {
    message: Message,
}

#[derive(Deserialize)]
struct Message {
    content: Option<String>,
}

#[derive(Deserialize)]
struct Usage {
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
}

impl LlmSummarizer {
    /// A client for the configured API.
    pub fn new(config: SummaryConfig) -> anyhow::Result<Self> {
        let http = reqwest::Client::builder()
            .timeout(config.timeout)
            .build()
            .context("building the summary HTTP client")?;
        Ok(Self { config, http })
    }

    /// The model asked.
    pub fn model(&self) -> &str {
        &self.config.model
    }

    /// Asks the model; retries 429/5xx with backoff, repairs one invalid answer.
    pub async fn summarize(&self, input: &SummaryInput) -> Result<Generated, Failed> {
        let started = Instant::now();
        let fail = |error: String| Failed {
            error,
            latency: started.elapsed(),
        };
        let mut messages = vec![
            json!({"role": "system", "content": system_prompt()}),
            json!({"role": "user", "content": user_prompt(input, self.config.redact)}),
        ];
        let first = self
            .complete(&messages)
            .await
            .map_err(|e| fail(format!("{e:#}")))?;
        let why = match parse(&first.text) {
            Ok(content) => return Ok(first.into_generated(content, None, started.elapsed())),
            Err(why) => why,
        };
        tracing::warn!(model = %self.config.model, error = %why, "the model's summary is invalid; asking once for a repair");
        messages.push(json!({"role": "assistant", "content": first.text}));
        messages.push(json!({"role": "user", "content": format!(
            "That reply is not valid: {why}. Reply again with only the JSON object, exactly in the schema given."
        )}));
        let second = self
            .complete(&messages)
            .await
            .map_err(|e| fail(format!("repair request failed: {e:#}")))?;
        match parse(&second.text) {
            Ok(content) => Ok(second.into_generated(content, Some(&first), started.elapsed())),
            Err(why) => Err(fail(format!("the model's answer was invalid twice: {why}"))),
        }
    }

    async fn complete(&self, messages: &[serde_json::Value]) -> anyhow::Result<Reply> {
        let url = format!(
            "{}/chat/completions",
            self.config.base_url.trim_end_matches('/')
        );
        let body = json!({
            "model": self.config.model,
            "messages": messages,
            "temperature": 0.2,
            "response_format": {"type": "json_object"},
        });
        let mut attempt: u32 = 0;
        loop {
            let mut request = self.http.post(&url).json(&body);
            if let Some(key) = &self.config.api_key {
                request = request.bearer_auth(key.expose_secret());
            }
            let (why, retry_after) = match request.send().await {
                Ok(response) if response.status().is_success() => {
                    let completion: Completion = response
                        .json()
                        .await
                        .context("the reply is not a chat completion")?;
                    let text = completion
                        .choices
                        .into_iter()
                        .next()
                        .and_then(|c| c.message.content)
                        .ok_or_else(|| anyhow!("the reply has no message content"))?;
                    let usage = completion.usage;
                    return Ok(Reply {
                        text,
                        prompt_tokens: usage.as_ref().and_then(|u| u.prompt_tokens),
                        completion_tokens: usage.as_ref().and_then(|u| u.completion_tokens),
                    });
                }
                Ok(response)
                    if response.status() == StatusCode::TOO_MANY_REQUESTS
                        || response.status().is_server_error() =>
                {
                    let retry_after = response
                        .headers()
                        .get(reqwest::header::RETRY_AFTER)
                        .and_then(|v| v.to_str().ok())
                        .and_then(|v| v.trim().parse::<u64>().ok())
                        .map(Duration::from_secs);
                    (
                        format!("the model API answered {}", response.status()),
                        retry_after,
                    )
                }
                Ok(response) => {
                    let status = response.status();
                    let text = response.text().await.unwrap_or_default();
                    return Err(anyhow!(
                        "the model API refused the request ({status}): {}",
                        truncate(&text, 300)
                    ));
                }
                Err(e) if e.is_timeout() => {
                    (format!("no answer within {:?}", self.config.timeout), None)
                }
                Err(e) if e.is_connect() => (
                    format!(
                        "cannot connect to {}: {}",
                        crate::secrets::strip_url_credentials(&url),
                        e.without_url()
                    ),
                    None,
                ),
                Err(e) => {
                    return Err(
                        anyhow::Error::new(e.without_url()).context("calling the model API")
                    );
                }
            };
            attempt += 1;
            if attempt > self.config.max_retries {
                return Err(anyhow!("gave up after {attempt} attempts: {why}"));
            }
            // Retry-After is honoured but clamped: a summary that late is no use to Agent B.
            let backoff = retry_after
                .map(|d| d.min(Duration::from_secs(30)))
                .unwrap_or_else(|| {
                    self.config
                        .retry_base
                        .saturating_mul(2u32.saturating_pow(attempt - 1))
                });
            tracing::debug!(attempt, ?backoff, %why, "retrying the model API");
            tokio::time::sleep(backoff).await;
        }
    }
}

struct Reply {
    text: String,
    prompt_tokens: Option<i32>,
    completion_tokens: Option<i32>,
}

impl Reply {
    fn into_generated(
        self,
        content: SummaryContent,
        earlier: Option<&Reply>,
        latency: Duration,
    ) -> Generated {
        let add = |a: Option<i32>, b: Option<i32>| match (a, b) {
            (None, None) => None,
            (a, b) => Some(a.unwrap_or(0) + b.unwrap_or(0)),
        };
        Generated {
            content,
            latency,
            prompt_tokens: add(self.prompt_tokens, earlier.and_then(|e| e.prompt_tokens)),
            completion_tokens: add(
                self.completion_tokens,
                earlier.and_then(|e| e.completion_tokens),
            ),
        }
    }
}

/// Reads a model's answer: the JSON object (inside a code fence or not), in the schema, valid.
pub fn parse(text: &str) -> Result<SummaryContent, String> {
    let trimmed = text.trim();
    let unfenced = trimmed
        .strip_prefix("```json")
        .or_else(|| trimmed.strip_prefix("```"))
        .and_then(|t| t.trim_end().strip_suffix("```"))
        .unwrap_or(trimmed);
    let content: SummaryContent = serde_json::from_str(unfenced.trim())
        .map_err(|e| format!("not the JSON object asked for: {e}"))?;
    content.validate()?;
    Ok(content)
}

fn system_prompt() -> String {
    format!(
        "You help a contact-center agent (Agent A) hand a live call to a colleague (Agent B). \
         From the call details and transcript, write what Agent B needs. Reply with one JSON \
         object and nothing else, with exactly these keys:\n\
         - reason_for_call: string, one sentence\n\
         - key_facts: array of short strings (names, numbers, amounts, dates, products)\n\
         - actions_taken: array of strings, what the agent already did\n\
         - open_questions: array of strings, what the caller still needs answered\n\
         - customer_sentiment: one of \"positive\", \"neutral\", \"negative\", \"frustrated\"\n\
         - suggested_next_steps: array of strings, for Agent B\n\
         - briefing_script: what Agent A says to Agent B, spoken, at most {MAX_SCRIPT_WORDS} words \
           (under a minute)\n\
         Use only facts from the input. Masked values like [phone] stay masked."
    )
}

/// Longest transcript sent, in characters; the most recent part is kept.
const MAX_TRANSCRIPT_CHARS: usize = 24_000;

fn user_prompt(input: &SummaryInput, redact: bool) -> String {
    let clean = |text: &str| {
        if redact {
            super::redact::redact(text)
        } else {
            text.to_owned()
        }
    };
    let mut prompt = format!("Caller: {}\n", clean(&input.caller_name));
    if let Some(phone) = &input.caller_phone {
        prompt.push_str(&format!("Caller phone: {}\n", clean(phone)));
    }
    if let Some(issue) = &input.issue {
        prompt.push_str(&format!("Stated issue: {}\n", clean(issue)));
    }
    if let (Some(from), Some(to)) = (&input.from_agent, &input.to_agent) {
        prompt.push_str(&format!("Transfer: from {from} to {to}"));
        if let Some(reason) = &input.transfer_reason {
            prompt.push_str(&format!(", because: {}", clean(reason)));
        }
        prompt.push('\n');
    }
    let lines: Vec<String> = input
        .turns
        .iter()
        .map(|t| format!("{} ({}): {}", t.speaker, t.role.as_str(), clean(&t.text)))
        .collect();
    let mut transcript = lines.join("\n");
    if transcript.len() > MAX_TRANSCRIPT_CHARS {
        let cut = transcript.len() - MAX_TRANSCRIPT_CHARS;
        let start = (cut..transcript.len())
            .find(|&i| transcript.is_char_boundary(i))
            .unwrap_or(cut);
        transcript = format!("[earlier part omitted]\n{}", &transcript[start..]);
    }
    if transcript.is_empty() {
        transcript = "(no transcript yet)".into();
    }
    prompt.push_str(&format!("Transcript:\n{transcript}\n"));
    prompt
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}
