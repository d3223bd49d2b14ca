//! A local stand-in for an OpenAI-compatible chat-completions API. Each request takes the next
//! scripted behaviour (answer well, slowly, with an HTTP error, or with invalid output); with
//! none left it answers well. Every request is recorded.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

/// What the fake does with one request.
#[derive(Debug, Clone)]
pub enum Behaviour {
    Good,
    /// A good answer wrapped in a ```json fence, as chatty models do.
    Fenced,
    Slow(Duration),
    Status(u16),
    /// Text that is not JSON.
    NotJson,
    /// JSON, but not in the schema.
    WrongShape,
    /// A good answer with a key nobody asked for beside the asked ones.
    ExtraKey,
}

/// One recorded request.
#[derive(Debug, Clone)]
pub struct Seen {
    pub authorization: Option<String>,
    pub body: Value,
}

#[derive(Default)]
struct Inner {
    script: VecDeque<Behaviour>,
    seen: Vec<Seen>,
}

/// The running fake.
#[derive(Clone)]
pub struct FakeOpenAi {
    /// The API root to configure as `SUMMARY_BASE_URL`.
    pub base_url: String,
    inner: Arc<Mutex<Inner>>,
}

/// The summary the fake's model writes.
pub fn good_summary() -> Value {
    json!({
        "reason_for_call": "Damaged order 4411",
        "key_facts": ["Order 4411", "Arrived with a cracked screen"],
        "actions_taken": ["Agent A confirmed the shipment"],
        "open_questions": ["Replacement before Friday?"],
        "customer_sentiment": "negative",
        "suggested_next_steps": ["Approve a replacement"],
        "briefing_script": "Bob, Jane's order 4411 arrived with a cracked screen. She wants a replacement before Friday."
    })
}

impl FakeOpenAi {
    pub async fn start() -> Self {
        let inner = Arc::new(Mutex::new(Inner::default()));
        let app = axum::Router::new()
            .route("/v1/chat/completions", axum::routing::post(complete))
            .with_state(inner.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind fake model");
        let base_url = format!("http://{}/v1", listener.local_addr().expect("addr"));
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { base_url, inner }
    }

    /// The next requests behave like this, in order.
    pub fn script(&self, behaviours: impl IntoIterator<Item = Behaviour>) {
        self.inner.lock().unwrap().script.extend(behaviours);
    }

    /// Every request so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.inner.lock().unwrap().seen.clone()
    }
}

fn completion(content: String) -> Response {
    axum::Json(json!({
        "id": "chatcmpl-test",
        "object": "chat.completion",
        "choices": [{"index": 0, "message": {"role": "assistant", "content": content}, "finish_reason": "stop"}],
        "usage": {"prompt_tokens": 120, "completion_tokens": 80, "total_tokens": 200}
    }))
    .into_response()
}

async fn complete(
    State(inner): State<Arc<Mutex<Inner>>>,
    headers: HeaderMap,
    axum::Json(body): axum::Json<Value>,
) -> Response {
    let behaviour = {
        let mut inner = inner.lock().unwrap();
        let authorization = headers
            .get("authorization")
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        inner.seen.push(Seen {
            authorization,
            body,
        });
        inner.script.pop_front().unwrap_or(Behaviour::Good)
    };
    match behaviour {
        Behaviour::Good => completion(good_summary().to_string()),
        Behaviour::Fenced => completion(format!("```json\n{}\n```", good_summary())),
        Behaviour::Slow(delay) => {
            tokio::time::sleep(delay).await;
            completion(good_summary().to_string())
        }
        Behaviour::Status(code) => {
            let status = StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
            let mut response = (
                status,
                axum::Json(json!({"error": {"message": "scripted failure"}})),
            )
                .into_response();
            if code == 429 {
                response
                    .headers_mut()
                    .insert("retry-after", "0".parse().unwrap());
            }
            response
        }
        Behaviour::NotJson => completion("Sure! Here is a summary: the caller is unhappy.".into()),
        Behaviour::WrongShape => {
            completion(json!({"summary": "the caller is unhappy"}).to_string())
        }
        Behaviour::ExtraKey => {
            let mut answer = good_summary();
            answer["summary"] = json!("Jane's order arrived damaged.");
            completion(answer.to_string())
        }
    }
}
