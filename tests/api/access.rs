//! Who may do what: agents as a resource, API keys and their roles, which records a key may
//! touch, and what protects the service from browsers and busy clients.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Body, Reply, TestApp, count, id};

async fn get_as(app: &TestApp, key: &str, path: &str) -> Reply {
    app.send_as(key, Method::GET, path, Body::None).await
}

async fn post_as(app: &TestApp, key: &str, path: &str, body: Value) -> Reply {
    app.send_as(key, Method::POST, path, Body::Json(body)).await
}

async fn patch(app: &TestApp, path: &str, body: Value) -> Reply {
    app.send(Method::PATCH, path, Body::Json(body)).await
}

/// The `field` of every item of a page.
fn items(reply: &Reply, field: &str) -> Vec<String> {
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    reply.body["items"]
        .as_array()
        .expect("a page of items")
        .iter()
        .map(|item| item[field].as_str().expect("a string field").to_owned())
        .collect()
}

/// The `detail` of a problem with `status`.
#[track_caller]
fn detail(reply: &Reply, status: StatusCode) -> String {
    reply.problem(status)["detail"]
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// Registers an agent over HTTP as an admin (or in open mode, with no key).
async fn register(app: &TestApp, admin: Option<&str>, agent: Value) -> Reply {
    match admin {
        Some(key) => post_as(app, key, "/v1/agents", agent).await,
        None => app.post("/v1/agents", agent).await,
    }
}

// --- Agents as a resource ---------------------------------------------------------------

#[tokio::test]
async fn an_agent_is_registered_once_and_found_by_its_identity() {
    let app = TestApp::spawn().await;
    let created = register(
        &app,
        None,
        json!({"identity": "agent_alice", "display_name": "Alice Martin", "team": "billing",
               "skills": ["billing", "spanish", "billing"]}),
    )
    .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    assert_eq!(created.headers["location"], "/v1/agents/agent_alice");
    assert_eq!(created.body["display_name"], "Alice Martin");
    assert_eq!(created.body["team"], "billing");
    assert_eq!(
        created.body["skills"],
        json!(["billing", "spanish"]),
        "a skill listed twice is kept once"
    );
    assert_eq!(created.body["auto_registered"], false);
    assert_eq!(created.body["disabled_at"], Value::Null);

    let found = app.get("/v1/agents/agent_alice").await;
    assert_eq!(found.status, StatusCode::OK);
    assert_eq!(found.body, created.body);

    let again = register(&app, None, json!({"identity": "agent_alice"})).await;
    assert!(detail(&again, StatusCode::CONFLICT).contains("already registered"));

    let bob = register(&app, None, json!({"identity": "agent_bob"})).await;
    assert_eq!(
        bob.body["display_name"], "agent_bob",
        "the display name defaults to the identity"
    );
    app.get("/v1/agents/agent_nobody")
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_caller_of_a_call_in_progress_cannot_be_registered_as_an_agent() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let refused = register(&app, None, json!({"identity": "Jane"})).await;
    assert!(detail(&refused, StatusCode::CONFLICT).contains("caller"));
    app.get("/v1/agents/Jane")
        .await
        .problem(StatusCode::NOT_FOUND);

    // Once her call is over, the identity is nobody's caller any more.
    app.post_empty(&format!("/v1/calls/{}/end", id(&call)))
        .await;
    let registered = register(&app, None, json!({"identity": "Jane"})).await;
    assert_eq!(
        registered.status,
        StatusCode::CREATED,
        "{}",
        registered.body
    );
}

#[tokio::test]
async fn every_bad_field_of_a_new_agent_is_reported_at_once() {
    let app = TestApp::spawn().await;
    let too_many_skills: Vec<String> = (0..33).map(|i| format!("skill_{i}")).collect();
    let reply = register(
        &app,
        None,
        json!({"identity": "   ", "display_name": "x".repeat(129), "team": "",
               "skills": too_many_skills}),
    )
    .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        ["identity", "display_name", "team", "skills"]
    );

    for bad in [
        json!({"identity": "agent\nalice"}),
        json!({"identity": "agent_alice", "skills": ["billing", " "]}),
        json!({"identity": "agent_alice", "skills": ["x".repeat(65)]}),
        json!({"identity": "agent_alice", "colour": "red"}),
        json!({"display_name": "Alice"}),
    ] {
        register(&app, None, bad)
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(
        count(&app.pool, "agents").await,
        0,
        "nothing was registered"
    );
}

#[tokio::test]
async fn agents_are_listed_by_team_and_skill_a_page_at_a_time() {
    let app = TestApp::spawn().await;
    for agent in [
        json!({"identity": "agent_ana", "team": "billing", "skills": ["billing", "spanish"]}),
        json!({"identity": "agent_ben", "team": "billing", "skills": ["billing"]}),
        json!({"identity": "agent_cho", "team": "retention", "skills": ["spanish"]}),
        json!({"identity": "agent_dee"}),
        json!({"identity": "agent_eve", "team": "billing", "skills": ["billing"]}),
    ] {
        let reply = register(&app, None, agent).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let disabled = patch(&app, "/v1/agents/agent_eve", json!({"disabled": true})).await;
    assert_eq!(disabled.status, StatusCode::OK, "{}", disabled.body);

    let list = |query: &'static str| {
        let app = &app;
        async move { items(&app.get(&format!("/v1/agents{query}")).await, "identity") }
    };
    assert_eq!(
        list("").await,
        ["agent_ana", "agent_ben", "agent_cho", "agent_dee"],
        "disabled agents are left out unless asked for"
    );
    assert_eq!(list("?team=billing").await, ["agent_ana", "agent_ben"]);
    assert_eq!(
        list("?team=billing&include_disabled=true").await,
        ["agent_ana", "agent_ben", "agent_eve"]
    );
    assert_eq!(list("?skill=spanish").await, ["agent_ana", "agent_cho"]);
    assert_eq!(list("?team=billing&skill=spanish").await, ["agent_ana"]);
    assert!(list("?team=support").await.is_empty());

    let mut seen = Vec::new();
    let mut path = "/v1/agents?include_disabled=true&limit=2".to_owned();
    loop {
        let page = app.get(&path).await;
        let identities = items(&page, "identity");
        assert!(identities.len() <= 2);
        seen.extend(identities);
        match page.body["next_cursor"].as_str() {
            Some(cursor) => {
                path = format!("/v1/agents?include_disabled=true&limit=2&cursor={cursor}")
            }
            None => break,
        }
    }
    assert_eq!(
        seen,
        [
            "agent_ana",
            "agent_ben",
            "agent_cho",
            "agent_dee",
            "agent_eve"
        ],
        "every agent once, in identity order"
    );
    for bad in ["?limit=0", "?cursor=nope", "?team=%20", "?colour=red"] {
        app.get(&format!("/v1/agents{bad}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn an_agent_is_renamed_moved_reskilled_and_disabled_with_patch() {
    let app = TestApp::spawn().await;
    register(
        &app,
        None,
        json!({"identity": "agent_alice", "display_name": "Alice", "team": "billing",
               "skills": ["billing", "spanish"]}),
    )
    .await;
    let path = "/v1/agents/agent_alice";

    let renamed = patch(&app, path, json!({"display_name": "Alice Martin"})).await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.body);
    assert_eq!(renamed.body["display_name"], "Alice Martin");
    assert_eq!(
        (&renamed.body["team"], &renamed.body["skills"]),
        (&json!("billing"), &json!(["billing", "spanish"])),
        "fields not sent stay as they were"
    );

    let no_team = patch(&app, path, json!({"team": ""})).await;
    assert_eq!(no_team.body["team"], Value::Null, "an empty team clears it");
    let reskilled = patch(&app, path, json!({"skills": ["retention"]})).await;
    assert_eq!(
        reskilled.body["skills"],
        json!(["retention"]),
        "skills are replaced"
    );

    let disabled = patch(&app, path, json!({"disabled": true})).await;
    let disabled_at = disabled.body["disabled_at"].clone();
    assert!(disabled_at.is_string(), "{}", disabled.body);
    let again = patch(&app, path, json!({"disabled": true})).await;
    assert_eq!(
        again.body["disabled_at"], disabled_at,
        "disabling twice keeps the first time"
    );
    assert!(items(&app.get("/v1/agents").await, "identity").is_empty());
    assert_eq!(
        items(
            &app.get("/v1/agents?include_disabled=true").await,
            "identity"
        ),
        ["agent_alice"]
    );
    let enabled = patch(&app, path, json!({"disabled": false})).await;
    assert_eq!(enabled.body["disabled_at"], Value::Null);
    assert_eq!(
        items(&app.get("/v1/agents").await, "identity"),
        ["agent_alice"]
    );

    patch(&app, "/v1/agents/agent_nobody", json!({"team": "billing"}))
        .await
        .problem(StatusCode::NOT_FOUND);
    for bad in [
        json!({"display_name": "  "}),
        json!({"skills": (0..33).map(|i| format!("s{i}")).collect::<Vec<_>>()}),
        json!({"disabled": "yes"}),
        json!({"identity": "agent_alicia"}),
    ] {
        patch(&app, path, bad)
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_disabled_agent_takes_no_waiting_call_and_receives_no_transfer() {
    let app = TestApp::spawn().await;
    register(&app, None, json!({"identity": "agent_alice"})).await;
    register(&app, None, json!({"identity": "agent_bob"})).await;
    patch(&app, "/v1/agents/agent_bob", json!({"disabled": true})).await;

    let call = app.create_call("Jane").await;
    let join = format!("/v1/calls/{}/join", id(&call));
    let refused = app
        .post(&join, json!({"identity": "agent_bob", "role": "agent"}))
        .await;
    let why = detail(&refused, StatusCode::FORBIDDEN);
    assert!(why.contains("agent_bob is disabled"), "{why}");
    let still = app.get(&format!("/v1/calls/{}", id(&call))).await.body;
    assert_eq!(
        (&still["status"], &still["current_agent"]),
        (&json!("waiting"), &Value::Null),
        "the call still waits for an agent"
    );

    let taken = app
        .post(&join, json!({"identity": "agent_alice", "role": "agent"}))
        .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    let transfers = format!("/v1/calls/{}/transfers", id(&call));
    let refused = app
        .post(
            &transfers,
            json!({"from_agent": "agent_alice", "to_agent": "agent_bob"}),
        )
        .await;
    let why = detail(&refused, StatusCode::FORBIDDEN);
    assert!(
        why.contains("to_agent") && why.contains("disabled"),
        "{why}"
    );
    assert_eq!(count(&app.pool, "transfers").await, 0);

    patch(&app, "/v1/agents/agent_bob", json!({"disabled": false})).await;
    let created = app
        .post(
            &transfers,
            json!({"from_agent": "agent_alice", "to_agent": "agent_bob"}),
        )
        .await;
    assert_eq!(
        created.status,
        StatusCode::CREATED,
        "enabled again, Bob receives transfers: {}",
        created.body
    );
}

// --- Who counts as an agent ---------------------------------------------------------------

#[tokio::test]
async fn with_keys_an_unregistered_identity_is_never_an_agent() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    register(&app, Some(&admin), json!({"identity": "agent_alice"})).await;
    let call = post_as(&app, &admin, "/v1/calls", json!({"caller_name": "Jane"}))
        .await
        .body;
    let join = format!("/v1/calls/{}/join", id(&call));

    let refused = post_as(
        &app,
        &admin,
        &join,
        json!({"identity": "agent_mallory", "role": "agent"}),
    )
    .await;
    assert!(detail(&refused, StatusCode::FORBIDDEN).contains("not a registered agent"));
    let joined = post_as(
        &app,
        &admin,
        &join,
        json!({"identity": "agent_alice", "role": "agent"}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);

    let refused = post_as(
        &app,
        &admin,
        &format!("/v1/calls/{}/transfers", id(&call)),
        json!({"from_agent": "agent_alice", "to_agent": "agent_mallory"}),
    )
    .await;
    let why = detail(&refused, StatusCode::FORBIDDEN);
    assert!(
        why.contains("to_agent") && why.contains("not a registered agent"),
        "{why}"
    );
    get_as(&app, &admin, "/v1/agents/agent_mallory")
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn in_open_mode_an_unknown_agent_is_registered_on_first_use() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let alice = app.get("/v1/agents/agent_alice").await;
    assert_eq!(alice.status, StatusCode::OK, "{}", alice.body);
    assert_eq!(alice.body["auto_registered"], true);

    app.start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    assert_eq!(
        app.get("/v1/agents/agent_bob").await.body["auto_registered"],
        true
    );
    let listed = app.get("/v1/agents").await;
    assert_eq!(items(&listed, "identity"), ["agent_alice", "agent_bob"]);
}

#[tokio::test]
async fn a_caller_is_never_an_agent_on_its_own_call_even_for_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    register(&app, Some(&admin), json!({"identity": "agent_alice"})).await;
    let call = post_as(
        &app,
        &admin,
        "/v1/calls",
        json!({"caller_name": "Jane Doe", "caller_identity": "jane"}),
    )
    .await
    .body;
    let refused = post_as(
        &app,
        &admin,
        &format!("/v1/calls/{}/join", id(&call)),
        json!({"identity": "jane", "role": "agent"}),
    )
    .await;
    assert!(detail(&refused, StatusCode::FORBIDDEN).contains("caller"));

    post_as(
        &app,
        &admin,
        &format!("/v1/calls/{}/join", id(&call)),
        json!({"identity": "agent_alice", "role": "agent"}),
    )
    .await;
    let refused = post_as(
        &app,
        &admin,
        &format!("/v1/calls/{}/transfers", id(&call)),
        json!({"from_agent": "agent_alice", "to_agent": "jane"}),
    )
    .await;
    assert!(detail(&refused, StatusCode::FORBIDDEN).contains("caller"));
}

#[tokio::test]
async fn an_agent_is_never_a_caller() {
    let app = TestApp::spawn().await;
    register(&app, None, json!({"identity": "agent_alice"})).await;
    let refused = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Alice", "caller_identity": "agent_alice"}),
        )
        .await;
    assert!(detail(&refused, StatusCode::FORBIDDEN).contains("registered agent"));
    // The identity defaults to the caller's name, and the same rule holds.
    app.post("/v1/calls", json!({"caller_name": "agent_alice"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn in_open_mode_the_caller_of_another_call_is_not_registered_as_an_agent() {
    let app = TestApp::spawn().await;
    let _janes = app.create_call("Jane").await;
    let johns = app.create_call("John").await;
    // Jane, still on her own call, tries to take John's as its agent.
    let refused = app
        .post(
            &format!("/v1/calls/{}/join", id(&johns)),
            json!({"identity": "Jane", "role": "agent"}),
        )
        .await;
    assert!(detail(&refused, StatusCode::FORBIDDEN).contains("caller"));
    app.get("/v1/agents/Jane")
        .await
        .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        app.get(&format!("/v1/calls/{}", id(&johns))).await.body["status"],
        "waiting"
    );
}
