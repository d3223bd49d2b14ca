//! What the web console needs from the API: a caller's page follows its call live, with the
//! frontend key that started it.

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::events::EventStream;
use crate::support::{Body, TestApp, id};

#[tokio::test]
async fn a_frontend_key_follows_the_status_of_a_call_it_started_and_nothing_else() {
    let app = TestApp::spawn().await;
    app.register_agent("agent_alice").await;
    let frontend = app.api_key("frontend", None).await;
    let other = app.api_key("frontend", None).await;
    let admin = app.api_key("admin", None).await;
    let created = app
        .send_as(
            &frontend,
            Method::POST,
            "/v1/calls",
            Body::Json(json!({"caller_name": "Jane"})),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let call = id(&created.body);

    let open = |key: String, query: String| {
        let app = &app;
        async move {
            app.client
                .get(format!("{}/v1/events{query}", app.base))
                .bearer_auth(key)
                .send()
                .await
                .expect("request")
                .status()
        }
    };
    assert_eq!(
        open(frontend.clone(), String::new()).await,
        StatusCode::UNPROCESSABLE_ENTITY,
        "a frontend names its call"
    );
    assert_eq!(
        open(other.clone(), format!("?call_id={call}")).await,
        StatusCode::FORBIDDEN,
        "not another frontend's call"
    );
    assert_eq!(
        open(frontend.clone(), format!("?call_id={call}&kind=transfer.")).await,
        StatusCode::FORBIDDEN,
        "nor the details of its transfers"
    );

    let mut stream = EventStream::open_as(&app, &frontend, &format!("?call_id={call}")).await;
    let joined = app
        .send_as(
            &admin,
            Method::POST,
            &format!("/v1/calls/{call}/join"),
            Body::Json(json!({"identity": "agent_alice", "role": "agent"})),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let (_, kind, data) = stream.next().await;
    assert!(kind.starts_with("call."), "{kind}");
    assert_eq!(data["call_id"], call.as_str());
}
