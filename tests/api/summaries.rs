use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::support::openai::{Behaviour, FakeOpenAi};
use crate::support::{TestApp, count, eventually, id, sqlstate};

async fn app_with_model(model: &FakeOpenAi, extra: &[(&str, &str)]) -> TestApp {
    let mut settings = vec![
        ("SUMMARY_BASE_URL", model.base_url.as_str()),
        ("SUMMARY_API_KEY", "sk-test"),
        ("SUMMARY_MODEL", "test/model-1"),
        ("SUMMARY_RETRY_BASE_MS", "10"),
    ];
    settings.extend_from_slice(extra);
    TestApp::spawn_with(&settings).await
}

/// A call with a short transcript and a transfer started; returns (call id, transfer JSON).
async fn transfer_with_transcript(app: &TestApp) -> (String, Value) {
    let call = app.call_with_agent("Jane Doe", "agent_alice").await;
    let call_id = id(&call);
    let segments = json!({"segments": [
        {"segment_id": "1", "speaker": "Jane Doe", "role": "caller", "start_ms": 0,
         "text": "My order 4411 arrived damaged. Call me back on +1 415 555 0100 or jane@example.com."},
        {"segment_id": "2", "speaker": "agent_alice", "role": "agent", "start_ms": 4000,
         "text": "I've checked the order and it shipped on Monday."},
        {"segment_id": "3", "speaker": "Jane Doe", "role": "caller", "start_ms": 9000,
         "text": "Can I get a replacement before Friday?"}
    ]});
    let appended = app
        .post(&format!("/v1/calls/{call_id}/transcript"), segments)
        .await;
    assert_eq!(appended.status, StatusCode::OK);
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"reason": "Replacement approval"}),
        )
        .await;
    (call_id, created)
}

async fn summaries(app: &TestApp, call_id: &str) -> Vec<Value> {
    app.get_ok(&format!("/v1/calls/{call_id}/summaries")).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

async fn wait_for_summaries(app: &TestApp, call_id: &str, n: usize) -> Vec<Value> {
    eventually(&format!("{n} summaries are stored"), || async {
        summaries(app, call_id).await.len() >= n
    })
    .await;
    summaries(app, call_id).await
}

#[tokio::test]
async fn without_a_model_the_transfer_carries_the_local_summary_at_once() {
    let app = TestApp::spawn().await;
    let (call_id, created) = transfer_with_transcript(&app).await;
    let summary = &created["summary"];
    assert_eq!(summary["provider"], "extractive");
    assert_eq!(
        summary["fallback"], false,
        "with no model configured, the local summary is the summary"
    );
    assert_eq!(summary["segments_used"], 3);
    assert_eq!(
        summary["content"]["reason_for_call"],
        "Order 4411 arrived damaged"
    );
    assert_eq!(
        summary["content"]["open_questions"],
        json!(["Can I get a replacement before Friday?"])
    );
    assert!(
        summary["briefing_script"]
            .as_str()
            .unwrap()
            .starts_with("Hi agent_bob, I have Jane Doe on the line.")
    );

    let t = id(&created["transfer"]);
    let accepted = app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
    accepted.assert_ok();
    assert_eq!(
        accepted.body["summary"]["id"], summary["id"],
        "Agent B gets the briefing on accept"
    );
    assert_eq!(app.transfer(&t).await["summary"]["id"], summary["id"]);
    assert_eq!(summaries(&app, &call_id).await.len(), 1);
    let jobs: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE kind = 'generate_summary'")
        .fetch_one(&app.pool)
        .await
        .unwrap();
    assert_eq!(jobs, 0);
}

#[tokio::test]
async fn the_models_summary_is_added_as_a_new_row_when_it_arrives() {
    let model = FakeOpenAi::start().await;
    let app = app_with_model(&model, &[]).await;
    let (call_id, created) = transfer_with_transcript(&app).await;
    assert_eq!(created["summary"]["provider"], "extractive");
    assert_eq!(
        created["summary"]["fallback"], true,
        "it stands in until the model answers"
    );

    let rows = wait_for_summaries(&app, &call_id, 2).await;
    let upgraded = &rows[0];
    assert_eq!(upgraded["provider"], "openai_compatible");
    assert_eq!(upgraded["model"], "test/model-1");
    assert_eq!(upgraded["fallback"], false);
    assert_eq!(
        (
            upgraded["prompt_tokens"].as_i64(),
            upgraded["completion_tokens"].as_i64()
        ),
        (Some(120), Some(80))
    );
    assert!(upgraded["latency_ms"].is_i64());
    assert_eq!(upgraded["content"]["reason_for_call"], "Damaged order 4411");
    assert_eq!(
        rows[1]["id"], created["summary"]["id"],
        "the first summary is kept, not overwritten"
    );

    let t = id(&created["transfer"]);
    assert_eq!(
        app.transfer(&t).await["summary"]["provider"],
        "openai_compatible"
    );
    let kinds = app.timeline_kinds(&call_id).await;
    assert_eq!(kinds.iter().filter(|k| *k == "summary.created").count(), 2);

    let seen = model.seen();
    assert_eq!(seen.len(), 1);
    assert_eq!(seen[0].authorization.as_deref(), Some("Bearer sk-test"));
    assert_eq!(seen[0].body["model"], "test/model-1");
    let prompt = seen[0].body["messages"][1]["content"].as_str().unwrap();
    assert!(
        prompt.contains("jane@example.com"),
        "no redaction unless asked"
    );
}

#[tokio::test]
async fn rate_limits_and_server_errors_are_retried() {
    let model = FakeOpenAi::start().await;
    model.script([
        Behaviour::Status(429),
        Behaviour::Status(500),
        Behaviour::Good,
    ]);
    let app = app_with_model(&model, &[]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert_eq!(rows[0]["provider"], "openai_compatible");
    assert_eq!(model.seen().len(), 3);
}

#[tokio::test]
async fn a_model_that_keeps_failing_leaves_the_local_summary_with_the_error() {
    let model = FakeOpenAi::start().await;
    model.script([Behaviour::Status(500), Behaviour::Status(503)]);
    let app = app_with_model(&model, &[("SUMMARY_MAX_RETRIES", "1")]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert_eq!(
        (rows[0]["provider"].as_str(), rows[0]["fallback"].as_bool()),
        (Some("extractive"), Some(true))
    );
    let error = rows[0]["error"].as_str().unwrap();
    assert!(error.contains("503"), "{error}");
    assert_eq!(model.seen().len(), 2);
}

#[tokio::test]
async fn a_client_error_is_not_retried() {
    let model = FakeOpenAi::start().await;
    model.script([Behaviour::Status(401)]);
    let app = app_with_model(&model, &[]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert!(rows[0]["error"].as_str().unwrap().contains("401"));
    assert_eq!(model.seen().len(), 1);
}

#[tokio::test]
async fn an_invalid_answer_gets_one_repair_attempt() {
    let model = FakeOpenAi::start().await;
    model.script([Behaviour::NotJson, Behaviour::Fenced]);
    let app = app_with_model(&model, &[]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert_eq!(rows[0]["provider"], "openai_compatible");
    assert_eq!(rows[0]["prompt_tokens"], 240, "both requests are counted");
    let seen = model.seen();
    assert_eq!(seen.len(), 2);
    let repair = seen[1].body["messages"].as_array().unwrap().last().unwrap()["content"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(repair.contains("not valid"), "{repair}");
}

#[tokio::test]
async fn an_answer_invalid_twice_falls_back() {
    let model = FakeOpenAi::start().await;
    model.script([Behaviour::WrongShape, Behaviour::NotJson]);
    let app = app_with_model(&model, &[]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert_eq!(rows[0]["fallback"], true);
    assert!(rows[0]["error"].as_str().unwrap().contains("invalid twice"));
}

#[tokio::test]
async fn a_slow_model_times_out_and_falls_back() {
    let model = FakeOpenAi::start().await;
    model.script([Behaviour::Slow(Duration::from_secs(3))]);
    let app = app_with_model(
        &model,
        &[("SUMMARY_TIMEOUT_SECS", "1"), ("SUMMARY_MAX_RETRIES", "0")],
    )
    .await;
    let (call_id, created) = transfer_with_transcript(&app).await;
    assert_eq!(
        created["summary"]["provider"], "extractive",
        "nobody waited for the model"
    );
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert!(
        rows[0]["error"]
            .as_str()
            .unwrap()
            .contains("no answer within"),
        "{}",
        rows[0]["error"]
    );
}

#[tokio::test]
async fn with_redaction_personal_data_never_reaches_the_model() {
    let model = FakeOpenAi::start().await;
    let app = app_with_model(&model, &[("SUMMARY_REDACT", "true")]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    wait_for_summaries(&app, &call_id, 2).await;
    let prompt = model.seen()[0].body.to_string();
    assert!(
        !prompt.contains("jane@example.com") && !prompt.contains("555 0100"),
        "{prompt}"
    );
    assert!(prompt.contains("[email]") && prompt.contains("[phone]") && prompt.contains("4411"));
    let stored = app.get(&format!("/v1/calls/{call_id}/transcript")).await;
    stored.assert_ok();
    assert!(
        stored.body["items"][0]["text"]
            .as_str()
            .unwrap()
            .contains("jane@example.com"),
        "the transcript keeps the original"
    );
}

#[tokio::test]
async fn regenerating_adds_a_summary_and_bad_requests_add_nothing() {
    let app = TestApp::spawn().await;
    let (call_id, created) = transfer_with_transcript(&app).await;
    let again = app
        .post_empty(&format!("/v1/calls/{call_id}/summaries"))
        .await;
    assert_eq!(again.status, StatusCode::CREATED, "{}", again.body);
    assert_eq!(again.body["upgrade_pending"], false);
    assert!(again.body["summary"]["transfer_id"].is_null());
    let t = id(&created["transfer"]);
    let for_transfer = app
        .post(
            &format!("/v1/calls/{call_id}/summaries"),
            json!({"transfer_id": t}),
        )
        .await;
    for_transfer.assert_ok();
    assert_eq!(for_transfer.body["summary"]["transfer_id"], t.as_str());
    assert_eq!(summaries(&app, &call_id).await.len(), 3);
    let filtered = app
        .get(&format!("/v1/calls/{call_id}/summaries?transfer_id={t}"))
        .await;
    filtered.assert_ok();
    assert_eq!(filtered.body["items"].as_array().unwrap().len(), 2);

    let other = app.create_call("John").await;
    let foreign = app
        .post(
            &format!("/v1/calls/{}/summaries", id(&other)),
            json!({"transfer_id": t}),
        )
        .await;
    assert_eq!(
        foreign.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "transfer_id"
    );
    app.post(
        &format!("/v1/calls/{call_id}/summaries"),
        json!({"transfer": t}),
    )
    .await
    .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let unknown = "0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80";
    app.post_empty(&format!("/v1/calls/{unknown}/summaries"))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get(&format!("/v1/calls/{unknown}/summaries"))
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get(&format!("/v1/calls/{call_id}/summaries?limit=0"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app.pool, "summaries").await, 3);

    let rewrite = "UPDATE summaries SET summary_text = 'rewritten'";
    assert_eq!(
        sqlstate(&app.pool, rewrite, None).await.as_deref(),
        Some(warmline::error::SQLSTATE_APPEND_ONLY),
        "summaries are never changed"
    );
}

#[tokio::test]
async fn a_job_running_longer_than_its_lease_is_not_taken_twice() {
    let model = FakeOpenAi::start().await;
    // The model thinks for 2.5 leases: without renewal the job would be taken again. A 2 s
    // lease, renewed every ~0.7 s, leaves a stalled machine room before a renewal is late.
    model.script([Behaviour::Slow(Duration::from_millis(5000))]);
    let app = app_with_model(
        &model,
        &[("JOB_LEASE_SECS", "2"), ("SUMMARY_TIMEOUT_SECS", "15")],
    )
    .await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert_eq!(rows[0]["provider"], "openai_compatible");
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(
        model.seen().len(),
        1,
        "the lease was renewed while the model thought"
    );
    assert_eq!(summaries(&app, &call_id).await.len(), 2);
}

#[tokio::test]
async fn a_key_beside_the_asked_ones_is_ignored_not_refused() {
    let model = FakeOpenAi::start().await;
    model.script([Behaviour::ExtraKey]);
    let app = app_with_model(&model, &[]).await;
    let (call_id, _) = transfer_with_transcript(&app).await;
    let rows = wait_for_summaries(&app, &call_id, 2).await;
    assert_eq!(
        (rows[0]["provider"].as_str(), rows[0]["fallback"].as_bool()),
        (Some("openai_compatible"), Some(false)),
        "{}",
        rows[0]
    );
    assert_eq!(rows[0]["content"]["reason_for_call"], "Damaged order 4411");
    assert!(rows[0]["content"].get("summary").is_none());
    assert_eq!(model.seen().len(), 1, "no repair was asked for");
}

#[test]
fn the_model_client_has_root_certificates_to_verify_tls_with() {
    // reqwest's rustls verifies against the platform's roots (rustls-platform-verifier, which
    // reads them with rustls-native-certs): the same load, the same store. Empty, no https
    // model API could be reached, and the client could not even be built.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let loaded = rustls_native_certs::load_native_certs();
    let mut roots = rustls::RootCertStore::empty();
    roots.add_parsable_certificates(loaded.certs);
    assert!(
        !roots.is_empty(),
        "no TLS root certificates on this system (install ca-certificates): {:?}",
        loaded.errors
    );
    let config = warmline::Config::from_lookup(|key| match key {
        "SUMMARY_BASE_URL" => Some("https://openrouter.ai/api/v1".to_owned()),
        "SUMMARY_API_KEY" => Some("sk-test".to_owned()),
        _ => None,
    })
    .unwrap();
    let model = config.summary_model.expect("a model is configured");
    warmline::summaries::llm::LlmSummarizer::new(model)
        .expect("the model client builds with the system's roots");
}
