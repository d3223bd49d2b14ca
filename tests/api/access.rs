//! Who may do what: agents as a resource, API keys and their roles, which records a key may
//! touch, and what protects the service from browsers and busy clients.

use std::process::Stdio;
use std::time::{Duration, Instant};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::cli::{free_port, warmline};
use crate::support::openai::{Behaviour, FakeOpenAi};
use crate::support::{Body, Reply, TestApp, TestDb, count, eventually, id, verify_token};

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
    bob.assert_ok();
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
    app.post_empty_ok(&format!("/v1/calls/{}/end", id(&call)))
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
        page.assert_ok();
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
    .await
    .ok_body();
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
    no_team.assert_ok();
    assert_eq!(no_team.body["team"], Value::Null, "an empty team clears it");
    let reskilled = patch(&app, path, json!({"skills": ["retention"]})).await;
    reskilled.assert_ok();
    assert_eq!(
        reskilled.body["skills"],
        json!(["retention"]),
        "skills are replaced"
    );

    let disabled = patch(&app, path, json!({"disabled": true})).await;
    disabled.assert_ok();
    let disabled_at = disabled.body["disabled_at"].clone();
    assert!(disabled_at.is_string(), "{}", disabled.body);
    let again = patch(&app, path, json!({"disabled": true})).await;
    again.assert_ok();
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
    enabled.assert_ok();
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
    register(&app, None, json!({"identity": "agent_alice"}))
        .await
        .ok_body();
    register(&app, None, json!({"identity": "agent_bob"}))
        .await
        .ok_body();
    patch(&app, "/v1/agents/agent_bob", json!({"disabled": true}))
        .await
        .ok_body();

    let call = app.create_call("Jane").await;
    let join = format!("/v1/calls/{}/join", id(&call));
    let refused = app
        .post(&join, json!({"identity": "agent_bob", "role": "agent"}))
        .await;
    let why = detail(&refused, StatusCode::FORBIDDEN);
    assert!(why.contains("agent_bob is disabled"), "{why}");
    let still = app.get_ok(&format!("/v1/calls/{}", id(&call))).await;
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

    patch(&app, "/v1/agents/agent_bob", json!({"disabled": false}))
        .await
        .ok_body();
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
    register(&app, Some(&admin), json!({"identity": "agent_alice"}))
        .await
        .ok_body();
    let call = post_as(&app, &admin, "/v1/calls", json!({"caller_name": "Jane"}))
        .await
        .ok_body();
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
        app.get_ok("/v1/agents/agent_bob").await["auto_registered"],
        true
    );
    let listed = app.get("/v1/agents").await;
    listed.assert_ok();
    assert_eq!(items(&listed, "identity"), ["agent_alice", "agent_bob"]);
}

#[tokio::test]
async fn a_caller_is_never_an_agent_on_its_own_call_even_for_an_admin() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    register(&app, Some(&admin), json!({"identity": "agent_alice"}))
        .await
        .ok_body();
    let call = post_as(
        &app,
        &admin,
        "/v1/calls",
        json!({"caller_name": "Jane Doe", "caller_identity": "jane"}),
    )
    .await
    .ok_body();
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
    .await
    .ok_body();
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
    register(&app, None, json!({"identity": "agent_alice"}))
        .await
        .ok_body();
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
        app.get_ok(&format!("/v1/calls/{}", id(&johns))).await["status"],
        "waiting"
    );
}

// --- API keys over HTTP -------------------------------------------------------------------

/// Creates an API key over HTTP with an admin key; returns the answer's body.
async fn create_key(app: &TestApp, admin: &str, request: Value) -> Value {
    let reply = post_as(app, admin, "/v1/api-keys", request).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn secret(created: &Value) -> String {
    created["secret"]
        .as_str()
        .expect("the key's secret")
        .to_owned()
}

#[tokio::test]
async fn an_admin_creates_lists_and_revokes_keys_and_revocation_is_honoured_at_once() {
    // An hour of caching: only the change notification can make the revocation count.
    let app = TestApp::spawn_with(&[("API_KEY_CACHE_SECS", "3600")]).await;
    let admin = app.api_key("admin", None).await;

    let reply = post_as(
        &app,
        &admin,
        "/v1/api-keys",
        json!({"role": "frontend", "label": "Kiosk"}),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let kiosk = reply.body.clone();
    let kiosk_id = id(&kiosk);
    assert_eq!(
        reply.headers["location"],
        format!("/v1/api-keys/{kiosk_id}").as_str()
    );
    let kiosk_secret = secret(&kiosk);
    let prefix = kiosk["prefix"].as_str().unwrap();
    assert!(
        kiosk_secret.starts_with(&format!("wl_{prefix}_")),
        "{kiosk}"
    );
    assert_eq!(
        (&kiosk["role"], &kiosk["label"]),
        (&json!("frontend"), &json!("Kiosk"))
    );
    assert_eq!(
        get_as(&app, &kiosk_secret, "/v1/calls").await.status,
        StatusCode::OK,
        "the new key works at once"
    );

    let listed = get_as(&app, &admin, "/v1/api-keys").await;
    assert_eq!(listed.status, StatusCode::OK);
    let text = listed.body.to_string();
    let (_, secret_part) = kiosk_secret.rsplit_once(&format!("{prefix}_")).unwrap();
    assert!(
        !text.contains(secret_part) && !text.contains("secret"),
        "a listing never shows a secret: {text}"
    );
    assert_eq!(items(&listed, "id").len(), 2);
    assert!(items(&listed, "prefix").contains(&prefix.to_owned()));

    let revoked = app
        .send_as(
            &admin,
            Method::DELETE,
            &format!("/v1/api-keys/{kiosk_id}"),
            Body::None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    assert!(revoked.body["revoked_at"].is_string());
    eventually("the revoked key is refused", || async {
        get_as(&app, &kiosk_secret, "/v1/calls").await.status == StatusCode::UNAUTHORIZED
    })
    .await;

    let active = get_as(&app, &admin, "/v1/api-keys").await;
    active.assert_ok();
    assert!(!items(&active, "id").contains(&kiosk_id));
    let everything = get_as(&app, &admin, "/v1/api-keys?include_revoked=true").await;
    everything.assert_ok();
    assert!(
        items(&everything, "id").contains(&kiosk_id),
        "a revoked key stays on record"
    );

    // A key can also be named by its prefix, the part an operator sees in logs.
    let desk = create_key(&app, &admin, json!({"role": "supervisor"})).await;
    let desk_secret = secret(&desk);
    assert_eq!(
        get_as(&app, &desk_secret, "/v1/transfers").await.status,
        StatusCode::OK
    );
    let by_prefix = app
        .send_as(
            &admin,
            Method::DELETE,
            &format!("/v1/api-keys/{}", desk["prefix"].as_str().unwrap()),
            Body::None,
        )
        .await;
    assert_eq!(by_prefix.status, StatusCode::OK, "{}", by_prefix.body);
    assert_eq!(by_prefix.body["id"], desk["id"]);
    eventually("the key revoked by prefix is refused", || async {
        get_as(&app, &desk_secret, "/v1/transfers").await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    app.send_as(
        &admin,
        Method::DELETE,
        "/v1/api-keys/nosuchprefix",
        Body::None,
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    assert_eq!(
        get_as(&app, &admin, "/v1/api-keys").await.status,
        StatusCode::OK,
        "the admin's own key is untouched"
    );
}

#[tokio::test]
async fn only_agent_keys_name_an_agent_and_only_a_registered_enabled_one() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    register(&app, Some(&admin), json!({"identity": "agent_alice"}))
        .await
        .ok_body();
    register(&app, Some(&admin), json!({"identity": "agent_gone"}))
        .await
        .ok_body();
    app.send_as(
        &admin,
        Method::PATCH,
        "/v1/agents/agent_gone",
        Body::Json(json!({"disabled": true})),
    )
    .await
    .ok_body();

    for (request, why) in [
        (json!({"role": "agent"}), "must name the agent"),
        (
            json!({"role": "agent", "agent": "agent_mallory"}),
            "not a registered agent",
        ),
        (json!({"role": "agent", "agent": "agent_gone"}), "disabled"),
        (
            json!({"role": "supervisor", "agent": "agent_alice"}),
            "only agent keys",
        ),
        (
            json!({"role": "frontend", "agent": "agent_alice"}),
            "only agent keys",
        ),
    ] {
        let reply = post_as(&app, &admin, "/v1/api-keys", request.clone()).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), ["agent"], "{request}");
        assert!(reply.body.to_string().contains(why), "{}", reply.body);
    }
    post_as(&app, &admin, "/v1/api-keys", json!({"role": "root"}))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        count(&app.pool, "api_keys").await,
        1,
        "only the admin's key"
    );

    let alices = create_key(
        &app,
        &admin,
        json!({"role": "agent", "agent": "agent_alice"}),
    )
    .await;
    assert_eq!(alices["agent"], "agent_alice");
}

#[tokio::test]
async fn a_request_without_a_valid_key_is_401_with_a_bearer_challenge() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    let (admin_prefix, _) = admin
        .strip_prefix("wl_")
        .and_then(|k| k.split_once('_'))
        .unwrap();
    let wrong_secret = format!("Bearer wl_{admin_prefix}_not-the-secret");
    for authorization in [
        None,
        Some("Basic YWRtaW46YWRtaW4="),
        Some("Bearer"),
        Some("Bearer not-a-key"),
        Some("Bearer wl_abcdefghijkm_an-unknown-secret"),
        Some(wrong_secret.as_str()),
    ] {
        let headers: Vec<(&str, &str)> = authorization
            .map(|a| ("authorization", a))
            .into_iter()
            .collect();
        let reply = app
            .send_with_headers(Method::GET, "/v1/calls", &headers, Body::None)
            .await;
        reply.problem(StatusCode::UNAUTHORIZED);
        let challenge = reply.headers["www-authenticate"].to_str().unwrap();
        assert!(challenge.starts_with("Bearer "), "{challenge}");
    }
    assert_eq!(
        app.get("/healthz").await.status,
        StatusCode::OK,
        "health needs no key"
    );
}

#[tokio::test]
async fn a_valid_key_on_a_route_its_role_may_not_use_is_403() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    app.register_agent("agent_alice").await;
    let frontend = app.api_key("frontend", None).await;
    let supervisor = app.api_key("supervisor", None).await;
    let alice = app.api_key("agent", Some("agent_alice")).await;

    let why = detail(
        &get_as(&app, &frontend, "/v1/transfers").await,
        StatusCode::FORBIDDEN,
    );
    assert!(
        why.contains("frontend") && why.contains("admin, supervisor, agent"),
        "the refusal names the role and who may: {why}"
    );
    register(&app, Some(&alice), json!({"identity": "agent_eve"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    post_as(&app, &supervisor, "/v1/api-keys", json!({"role": "admin"}))
        .await
        .problem(StatusCode::FORBIDDEN);
    post_as(
        &app,
        &supervisor,
        "/v1/calls",
        json!({"caller_name": "Jane"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    assert_eq!(count(&app.pool, "calls").await, 0);
    assert_eq!(
        get_as(&app, &admin, "/v1/transfers").await.status,
        StatusCode::OK
    );
}

// --- Which records a key may touch --------------------------------------------------------

#[tokio::test]
async fn a_frontend_key_reads_only_the_calls_it_started() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    let kiosk = app.api_key("frontend", None).await;
    let website = app.api_key("frontend", None).await;
    let janes = post_as(&app, &kiosk, "/v1/calls", json!({"caller_name": "Jane"}))
        .await
        .ok_body();
    let johns = post_as(&app, &website, "/v1/calls", json!({"caller_name": "John"}))
        .await
        .ok_body();

    assert_eq!(
        get_as(&app, &kiosk, &format!("/v1/calls/{}", id(&janes)))
            .await
            .status,
        StatusCode::OK
    );
    get_as(&app, &kiosk, &format!("/v1/calls/{}", id(&johns)))
        .await
        .problem(StatusCode::FORBIDDEN);
    assert_eq!(
        items(&get_as(&app, &kiosk, "/v1/calls").await, "id"),
        [id(&janes)]
    );
    assert_eq!(
        items(&get_as(&app, &website, "/v1/calls").await, "id"),
        [id(&johns)]
    );
    assert_eq!(
        items(&get_as(&app, &admin, "/v1/calls").await, "id"),
        [id(&johns), id(&janes)],
        "an admin reads every call"
    );
    // Nor does it get a token for another frontend's caller.
    post_as(
        &app,
        &kiosk,
        &format!("/v1/calls/{}/join", id(&johns)),
        json!({"identity": "John", "role": "caller"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    post_as(
        &app,
        &kiosk,
        &format!("/v1/calls/{}/end", id(&johns)),
        json!({}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn an_agent_key_sees_the_calls_it_has_been_on_and_those_waiting() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    app.register_agent("agent_alice").await;
    app.register_agent("agent_bob").await;
    let alice = app.api_key("agent", Some("agent_alice")).await;
    let bob = app.api_key("agent", Some("agent_bob")).await;
    let mut calls = Vec::new();
    for caller in ["Jane", "John", "Kim"] {
        let reply = post_as(&app, &admin, "/v1/calls", json!({"caller_name": caller})).await;
        reply.assert_ok();
        calls.push(id(&reply.body));
    }
    let (janes, johns, kims) = (calls[0].clone(), calls[1].clone(), calls[2].clone());
    for (key, call, agent) in [(&alice, &janes, "agent_alice"), (&bob, &johns, "agent_bob")] {
        let joined = post_as(
            &app,
            key,
            &format!("/v1/calls/{call}/join"),
            json!({"identity": agent, "role": "agent"}),
        )
        .await;
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    }

    assert_eq!(
        items(&get_as(&app, &alice, "/v1/calls").await, "id"),
        [kims.clone(), janes.clone()],
        "her own call and the one still waiting"
    );
    assert_eq!(
        items(&get_as(&app, &bob, "/v1/calls").await, "id"),
        [kims.clone(), johns.clone()]
    );
    get_as(&app, &alice, &format!("/v1/calls/{johns}"))
        .await
        .problem(StatusCode::FORBIDDEN);

    // Bob hands John's call to Alice: from then on she may read it.
    let handed = post_as(
        &app,
        &bob,
        &format!("/v1/calls/{johns}/transfers"),
        json!({"from_agent": "agent_bob", "to_agent": "agent_alice"}),
    )
    .await;
    assert_eq!(handed.status, StatusCode::CREATED, "{}", handed.body);
    assert_eq!(
        get_as(&app, &alice, &format!("/v1/calls/{johns}"))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        items(&get_as(&app, &alice, "/v1/calls").await, "id"),
        [kims, johns, janes]
    );
}

#[tokio::test]
async fn an_agent_key_acts_only_on_its_own_side_of_a_transfer() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    for agent in ["agent_alice", "agent_bob", "agent_carol"] {
        app.register_agent(agent).await;
    }
    let alice = app.api_key("agent", Some("agent_alice")).await;
    let bob = app.api_key("agent", Some("agent_bob")).await;
    let carol = app.api_key("agent", Some("agent_carol")).await;
    let supervisor = app.api_key("supervisor", None).await;
    let call = post_as(&app, &admin, "/v1/calls", json!({"caller_name": "Jane"}))
        .await
        .ok_body();
    post_as(
        &app,
        &alice,
        &format!("/v1/calls/{}/join", id(&call)),
        json!({"identity": "agent_alice", "role": "agent"}),
    )
    .await
    .ok_body();
    let start = |from: &'static str, to: &'static str| {
        let (app, alice, call) = (&app, &alice, &call);
        async move {
            let reply = post_as(
                app,
                alice,
                &format!("/v1/calls/{}/transfers", id(call)),
                json!({"from_agent": from, "to_agent": to}),
            )
            .await;
            assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
            id(&reply.body["transfer"])
        }
    };
    // Alice's key cannot start a transfer in Bob's name either.
    post_as(
        &app,
        &alice,
        &format!("/v1/calls/{}/transfers", id(&call)),
        json!({"from_agent": "agent_bob", "to_agent": "agent_carol"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    let t = start("agent_alice", "agent_bob").await;
    let action = |verb: &str| format!("/v1/transfers/{t}/{verb}");

    for (key, verb, body) in [
        (&carol, "accept", json!({})),
        (&carol, "decline", json!({"reason": "busy"})),
        (&carol, "complete", json!({})),
        (&carol, "cancel", json!({})),
        (&alice, "accept", json!({})),
        (&alice, "decline", json!({"reason": "busy"})),
        (&bob, "complete", json!({})),
        (&bob, "accept", json!({"agent": "agent_alice"})),
        (&alice, "cancel", json!({"agent": "agent_carol"})),
    ] {
        post_as(&app, key, &action(verb), body.clone())
            .await
            .problem(StatusCode::FORBIDDEN);
    }
    let why = detail(
        &post_as(&app, &supervisor, &action("accept"), json!({})).await,
        StatusCode::FORBIDDEN,
    );
    assert!(why.contains("supervisor"), "refused by role: {why}");
    let unchanged = get_as(&app, &admin, &format!("/v1/transfers/{t}")).await;
    unchanged.assert_ok();
    assert_eq!(unchanged.body["state"], "initiated", "{}", unchanged.body);

    // Bob, the receiving side, may withdraw from it.
    let cancelled = post_as(&app, &bob, &action("cancel"), json!({})).await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");

    // A supervisor may cancel anyone's transfer.
    let t = start("agent_alice", "agent_carol").await;
    let cancelled = post_as(
        &app,
        &supervisor,
        &format!("/v1/transfers/{t}/cancel"),
        json!({"detail": "Carol is needed elsewhere"}),
    )
    .await;
    assert_eq!(cancelled.status, StatusCode::OK, "{}", cancelled.body);
    assert_eq!(cancelled.body["state"], "cancelled");
}

#[tokio::test]
async fn a_whole_transfer_runs_on_agent_keys_and_the_caller_never_enters_the_briefing_room() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    for agent in ["agent_alice", "agent_bob"] {
        let reply = register(&app, Some(&admin), json!({"identity": agent})).await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    let frontend = secret(&create_key(&app, &admin, json!({"role": "frontend"})).await);
    let alice = secret(
        &create_key(
            &app,
            &admin,
            json!({"role": "agent", "agent": "agent_alice"}),
        )
        .await,
    );
    let bob =
        secret(&create_key(&app, &admin, json!({"role": "agent", "agent": "agent_bob"})).await);

    // The caller's app starts the call and connects Jane.
    let call = post_as(
        &app,
        &frontend,
        "/v1/calls",
        json!({"caller_name": "Jane Doe"}),
    )
    .await
    .ok_body();
    let call_id = id(&call);
    let call_room = call["room_name"].as_str().unwrap().to_owned();
    let jane = post_as(
        &app,
        &frontend,
        &format!("/v1/calls/{call_id}/join"),
        json!({"identity": "Jane Doe", "role": "caller"}),
    )
    .await;
    assert_eq!(jane.status, StatusCode::OK, "{}", jane.body);

    // Alice takes the call, notes what Jane says, and hands it to Bob.
    let taken = post_as(
        &app,
        &alice,
        &format!("/v1/calls/{call_id}/join"),
        json!({"identity": "agent_alice", "role": "agent"}),
    )
    .await;
    assert_eq!(taken.status, StatusCode::OK, "{}", taken.body);
    assert_eq!(taken.body["room"], call_room.as_str());
    let noted = post_as(
        &app,
        &alice,
        &format!("/v1/calls/{call_id}/transcript"),
        json!({"segments": [{"segment_id": "1", "speaker": "Jane Doe", "role": "caller",
                             "text": "My order 4411 arrived damaged", "start_ms": 0}]}),
    )
    .await;
    assert_eq!(noted.status, StatusCode::OK, "{}", noted.body);
    let started = post_as(
        &app,
        &alice,
        &format!("/v1/calls/{call_id}/transfers"),
        json!({"from_agent": "agent_alice", "to_agent": "agent_bob", "reason": "Replacement"}),
    )
    .await;
    assert_eq!(started.status, StatusCode::CREATED, "{}", started.body);
    let t = id(&started.body["transfer"]);
    let briefing_room = started.body["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    assert_eq!(started.body["token"]["identity"], "agent_alice");

    // Bob accepts and is briefed.
    let accepted = post_as(&app, &bob, &format!("/v1/transfers/{t}/accept"), json!({})).await;
    assert_eq!(accepted.status, StatusCode::OK, "{}", accepted.body);
    let bobs_token = &accepted.body["token"];
    assert_eq!(bobs_token["room"], briefing_room.as_str());
    let claims = verify_token(bobs_token["token"].as_str().unwrap());
    assert_eq!(
        (claims.sub.as_str(), claims.video.room.as_str()),
        ("agent_bob", briefing_room.as_str())
    );
    assert!(accepted.body["summary"]["briefing_script"].is_string());

    // Alice hands over; her key gets no one else's token, and Bob asks for his own to
    // join Jane's room.
    let completed = post_as(
        &app,
        &alice,
        &format!("/v1/transfers/{t}/complete"),
        json!({}),
    )
    .await;
    assert_eq!(completed.status, StatusCode::OK, "{}", completed.body);
    assert_eq!(completed.body["transfer"]["state"], "connecting");
    assert!(completed.body["token"].is_null(), "{}", completed.body);
    let bobs = post_as(
        &app,
        &bob,
        "/v1/tokens",
        json!({"call_id": call_id, "identity": "agent_bob", "role": "agent"}),
    )
    .await;
    assert_eq!(bobs.status, StatusCode::OK, "{}", bobs.body);
    assert_eq!(bobs.body["room"], call_room.as_str());

    // Nobody gets Jane into the room where Alice and Bob talked about her.
    let briefing_token =
        |identity: &str, role: &str| json!({"transfer_id": t, "identity": identity, "role": role});
    let why = detail(
        &post_as(
            &app,
            &frontend,
            "/v1/tokens",
            briefing_token("Jane Doe", "agent"),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    assert!(why.contains("caller tokens only"), "{why}");
    let why = detail(
        &post_as(
            &app,
            &frontend,
            "/v1/tokens",
            briefing_token("Jane Doe", "caller"),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    assert!(why.contains("briefing room"), "{why}");
    post_as(
        &app,
        &frontend,
        "/v1/tokens",
        briefing_token("agent_bob", "agent"),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    let why = detail(
        &post_as(
            &app,
            &alice,
            "/v1/tokens",
            briefing_token("agent_bob", "agent"),
        )
        .await,
        StatusCode::FORBIDDEN,
    );
    assert!(why.contains("agent_alice only"), "{why}");
    post_as(
        &app,
        &alice,
        "/v1/tokens",
        briefing_token("Jane Doe", "caller"),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    assert_eq!(
        post_as(
            &app,
            &alice,
            "/v1/tokens",
            briefing_token("agent_alice", "agent")
        )
        .await
        .status,
        StatusCode::OK,
        "Alice herself still may, while the transfer runs"
    );

    // Bob joins Jane's room; once LiveKit shows him there, the call is his.
    let joined = post_as(
        &app,
        &bob,
        &format!("/v1/calls/{call_id}/join"),
        json!({"identity": "agent_bob", "role": "agent"}),
    )
    .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    assert_eq!(joined.body["room"], call_room.as_str());
    app.livekit.join(&call_room, "agent_bob");
    eventually("the hand-off is confirmed", || async {
        get_as(&app, &bob, &format!("/v1/transfers/{t}")).await.body["state"] == "completed"
    })
    .await;
    let call = get_as(&app, &bob, &format!("/v1/calls/{call_id}")).await;
    call.assert_ok();
    assert_eq!(call.body["current_agent"], "agent_bob");
    post_as(
        &app,
        &frontend,
        "/v1/tokens",
        briefing_token("Jane Doe", "caller"),
    )
    .await
    .problem(StatusCode::CONFLICT);
}

// --- Browsers -----------------------------------------------------------------------------

/// A browser's preflight for a POST from `origin`; the `Access-Control-Allow-Origin` answered.
async fn preflight(app: &TestApp, origin: &str) -> Option<String> {
    let reply = app
        .send_with_headers(
            Method::OPTIONS,
            "/v1/calls",
            &[
                ("origin", origin),
                ("access-control-request-method", "POST"),
                (
                    "access-control-request-headers",
                    "authorization,content-type",
                ),
            ],
            Body::None,
        )
        .await;
    reply.assert_ok();
    let allowed = reply
        .headers
        .get("access-control-allow-origin")
        .map(|v| v.to_str().unwrap().to_owned());
    assert_ne!(allowed.as_deref(), Some("*"), "never every origin");
    allowed
}

#[tokio::test]
async fn on_loopback_browsers_may_call_from_the_prototypes_page_only() {
    let app = TestApp::spawn().await;
    assert_eq!(
        preflight(&app, "http://localhost:3000").await.as_deref(),
        Some("http://localhost:3000")
    );
    assert_eq!(preflight(&app, "https://evil.example").await, None);

    let simple = app
        .send_with_headers(
            Method::GET,
            "/v1/calls",
            &[("origin", "https://evil.example")],
            Body::None,
        )
        .await;
    assert!(
        simple.headers.get("access-control-allow-origin").is_none(),
        "the browser keeps the answer from the page"
    );
}

#[tokio::test]
async fn cors_origins_replaces_the_allowed_origins() {
    let app = TestApp::spawn_with(&[("CORS_ORIGINS", "https://app.example.com/")]).await;
    assert_eq!(
        preflight(&app, "https://app.example.com").await.as_deref(),
        Some("https://app.example.com")
    );
    assert_eq!(preflight(&app, "http://localhost:3000").await, None);
    assert_eq!(preflight(&app, "https://evil.example").await, None);
}

#[test]
fn a_wildcard_or_malformed_cors_origin_is_refused_at_start_up() {
    let with = |origins: &'static str| {
        warmline::Config::from_lookup(|key| (key == "CORS_ORIGINS").then(|| origins.to_owned()))
    };
    for bad in [
        "*",
        "https://app.example.com, *",
        "app.example.com",
        "https://app.example.com/console",
    ] {
        let error = with(bad).expect_err(bad).to_string();
        assert!(error.contains("CORS_ORIGINS"), "{error}");
    }
    let config = with("https://a.example, https://b.example:8443").unwrap();
    assert_eq!(
        config.auth.cors_origins,
        ["https://a.example", "https://b.example:8443"]
    );
    // Off loopback, the prototype's dev origins are not allowed by default.
    let public =
        warmline::Config::from_lookup(|key| (key == "BIND").then(|| "0.0.0.0".to_owned())).unwrap();
    assert!(public.auth.cors_origins.is_empty());
}

// --- Busy clients -------------------------------------------------------------------------

/// Sends `write` until one is refused with 429 (at most 50 times, far past any burst allowed
/// here); returns the refusal.
async fn write_until_refused<F, Fut>(mut write: F) -> Reply
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Reply>,
{
    for _ in 0..50 {
        let reply = write().await;
        if reply.status == StatusCode::TOO_MANY_REQUESTS {
            return reply;
        }
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    panic!("50 writes in a row were all accepted");
}

#[track_caller]
fn assert_slowed_down(reply: &Reply) {
    reply.problem(StatusCode::TOO_MANY_REQUESTS);
    let wait: u64 = reply.headers["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .expect("Retry-After in seconds");
    assert!(wait >= 1, "{wait}");
}

#[tokio::test]
async fn a_burst_of_writes_from_one_key_is_slowed_down_and_other_keys_are_not() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_WRITES_PER_KEY", "2")]).await;
    let kiosk = app.api_key("frontend", None).await;
    let website = app.api_key("frontend", None).await;
    let refused =
        write_until_refused(|| post_as(&app, &kiosk, "/v1/calls", json!({"caller_name": "Jane"})))
            .await;
    assert_slowed_down(&refused);

    for _ in 0..20 {
        assert_eq!(
            get_as(&app, &kiosk, "/v1/calls").await.status,
            StatusCode::OK,
            "reads are not limited"
        );
    }
    let other = post_as(&app, &website, "/v1/calls", json!({"caller_name": "John"})).await;
    assert_eq!(
        other.status,
        StatusCode::CREATED,
        "another key has its own allowance: {}",
        other.body
    );
}

#[tokio::test]
async fn a_burst_of_writes_without_a_key_is_slowed_down_per_address() {
    let app = TestApp::spawn_with(&[("RATE_LIMIT_WRITES_PER_ADDRESS", "2")]).await;
    let refused =
        write_until_refused(|| app.post("/v1/calls", json!({"caller_name": "Jane"}))).await;
    assert_slowed_down(&refused);
    for _ in 0..20 {
        assert_eq!(
            app.get("/v1/calls").await.status,
            StatusCode::OK,
            "reads are not limited"
        );
    }
}

async fn open_event_stream(app: &TestApp, key: &str) -> reqwest::Response {
    app.client
        .get(format!("{}/v1/events", app.base))
        .bearer_auth(key)
        .send()
        .await
        .expect("the request reaches the app")
}

#[tokio::test]
async fn a_key_holds_a_bounded_number_of_event_streams() {
    let app = TestApp::spawn_with(&[("MAX_EVENT_STREAMS_PER_KEY", "1")]).await;
    let supervisor = app.api_key("supervisor", None).await;
    let admin = app.api_key("admin", None).await;

    let first = open_event_stream(&app, &supervisor).await;
    assert_eq!(first.status(), StatusCode::OK);
    let second = open_event_stream(&app, &supervisor).await;
    assert_eq!(second.status(), StatusCode::TOO_MANY_REQUESTS);
    assert_eq!(second.headers()["content-type"], "application/problem+json");
    let problem: Value = serde_json::from_slice(&second.bytes().await.unwrap()).unwrap();
    assert_eq!(problem["status"], 429);
    let others = open_event_stream(&app, &admin).await;
    assert_eq!(
        others.status(),
        StatusCode::OK,
        "another key has places of its own"
    );

    // Closing the stream gives its place back.
    drop(first);
    eventually("a new stream is accepted", || async {
        open_event_stream(&app, &supervisor).await.status() == StatusCode::OK
    })
    .await;
}

// --- Paying the model once ----------------------------------------------------------------

async fn app_with_a_model_that_thinks_long(model: &FakeOpenAi) -> TestApp {
    // The model holds its first answers long enough for the test to look at the queue.
    model.script([
        Behaviour::Slow(Duration::from_secs(60)),
        Behaviour::Slow(Duration::from_secs(60)),
    ]);
    TestApp::spawn_with(&[
        ("SUMMARY_BASE_URL", model.base_url.as_str()),
        ("SUMMARY_API_KEY", "sk-test"),
        ("SUMMARY_MODEL", "test/model-1"),
    ])
    .await
}

async fn summary_jobs(app: &TestApp, call_id: &str) -> i64 {
    sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE kind = 'generate_summary' AND call_id = $1::text::uuid",
    )
    .bind(call_id)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn regenerating_again_while_the_model_thinks_queues_no_second_job() {
    let model = FakeOpenAi::start().await;
    let app = app_with_a_model_that_thinks_long(&model).await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let path = format!("/v1/calls/{}/summaries", id(&call));

    let first = app.post_empty(&path).await;
    assert_eq!(first.status, StatusCode::CREATED, "{}", first.body);
    assert_eq!(first.body["upgrade_pending"], true);
    let second = app.post_empty(&path).await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(
        second.body["upgrade_pending"], true,
        "the model's answer is still on its way"
    );
    assert_eq!(
        second.body["summary"]["id"], first.body["summary"]["id"],
        "the latest summary, not a new one"
    );
    assert_eq!(summary_jobs(&app, &id(&call)).await, 1);
    assert_eq!(count(&app.pool, "summaries").await, 1);
}

#[tokio::test]
async fn regenerates_sent_at_the_same_moment_queue_one_job() {
    let model = FakeOpenAi::start().await;
    let app = app_with_a_model_that_thinks_long(&model).await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let path = format!("/v1/calls/{}/summaries", id(&call));

    let replies = tokio::join!(
        app.post_empty(&path),
        app.post_empty(&path),
        app.post_empty(&path),
        app.post_empty(&path),
    );
    for reply in [replies.0, replies.1, replies.2, replies.3] {
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        assert_eq!(reply.body["upgrade_pending"], true);
    }
    assert_eq!(summary_jobs(&app, &id(&call)).await, 1);
}

// --- Starting open ------------------------------------------------------------------------

#[tokio::test]
async fn serving_without_keys_on_a_public_address_is_refused_with_the_ways_out_named() {
    let db = TestDb::create().await;
    let output = warmline()
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("BIND", "0.0.0.0")
        .env("PORT", free_port().to_string())
        .env_remove("WARMLINE_AUTH")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(!output.status.success(), "{stderr}");
    assert!(stderr.contains("warmline keys create"), "{stderr}");
    assert!(stderr.contains("WARMLINE_AUTH=disabled"), "{stderr}");
}

#[tokio::test]
async fn with_auth_disabled_on_purpose_it_serves_open_on_a_public_address() {
    // The client below needs it; run alone, no other test has installed it yet.
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::create().await;
    let port = free_port();
    let mut child = warmline()
        .arg("serve")
        .env("DATABASE_URL", &db.url)
        .env("BIND", "0.0.0.0")
        .env("PORT", port.to_string())
        .env("WARMLINE_AUTH", "disabled")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let client = reqwest::Client::new();
    let base = format!("http://127.0.0.1:{port}");
    let started = Instant::now();
    loop {
        if let Ok(r) = client.get(format!("{base}/healthz")).send().await
            && r.status().is_success()
        {
            break;
        }
        if let Some(status) = child.try_wait().unwrap() {
            let mut stderr = String::new();
            std::io::Read::read_to_string(child.stderr.as_mut().unwrap(), &mut stderr).unwrap();
            panic!("the service exited ({status}): {stderr}");
        }
        assert!(
            started.elapsed() < Duration::from_secs(30),
            "the service did not start"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let calls = client.get(format!("{base}/v1/calls")).send().await.unwrap();
    assert_eq!(calls.status(), StatusCode::OK, "no key is needed");

    let (status, _, stderr) = crate::cli::stop_with_sigterm(child).await;
    assert!(status.success(), "{stderr}");
    assert!(
        stderr.contains("WARMLINE_AUTH=disabled"),
        "serving open is said loudly: {stderr}"
    );
}

#[tokio::test]
async fn revoking_every_key_locks_the_service_rather_than_opening_it() {
    let app = TestApp::spawn().await;
    let admin = app.api_key("admin", None).await;
    // The scheme's name is case-insensitive.
    let lower = app
        .send_with_headers(
            Method::GET,
            "/v1/calls",
            &[("authorization", &format!("bearer {admin}"))],
            Body::None,
        )
        .await;
    assert_eq!(lower.status, StatusCode::OK, "{}", lower.body);
    let prefix = admin.split('_').nth(1).unwrap().to_owned();
    let revoked = app
        .send_as(
            &admin,
            Method::DELETE,
            &format!("/v1/api-keys/{prefix}"),
            Body::None,
        )
        .await;
    assert_eq!(revoked.status, StatusCode::OK, "{}", revoked.body);
    eventually("the revoked key is refused", || async {
        get_as(&app, &admin, "/v1/calls").await.status == StatusCode::UNAUTHORIZED
    })
    .await;
    // Give a (wrong) reopening every chance to happen, then check it did not.
    tokio::time::sleep(Duration::from_millis(300)).await;
    app.get("/v1/calls").await.problem(StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn many_first_uses_of_one_agent_at_once_register_it_once() {
    let app = TestApp::spawn_with(&[("DATABASE_MAX_CONNECTIONS", "8")]).await;
    let mut calls = Vec::new();
    for n in 0..8 {
        calls.push(id(&app.create_call(&format!("Caller {n}")).await));
    }
    let paths: Vec<String> = calls
        .iter()
        .map(|c| format!("/v1/calls/{c}/join"))
        .collect();
    let joins = paths
        .iter()
        .map(|path| app.post(path, json!({"identity": "agent_new", "role": "agent"})));
    for joined in futures_util::future::join_all(joins).await {
        assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    }
    let agents: i64 =
        sqlx::query_scalar("SELECT count(*) FROM agents WHERE identity = 'agent_new'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(agents, 1);
}

#[tokio::test]
async fn a_key_learns_its_own_role_and_agent_and_no_key_learns_whether_one_is_needed() {
    let app = TestApp::spawn().await;
    let open = app.get_ok("/v1/access").await;
    assert_eq!(
        open,
        json!({"open": true, "role": null, "agent": null, "key_id": null})
    );

    app.register_agent("agent_alice").await;
    let alice = app.api_key("agent", Some("agent_alice")).await;
    let reply = app
        .send_as(&alice, Method::GET, "/v1/access", Body::None)
        .await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    assert_eq!(reply.body["open"], false);
    assert_eq!(reply.body["role"], "agent");
    assert_eq!(reply.body["agent"], "agent_alice");
    assert!(reply.body["key_id"].is_string());

    let frontend = app.api_key("frontend", None).await;
    let reply = app
        .send_as(&frontend, Method::GET, "/v1/access", Body::None)
        .await;
    assert_eq!(reply.body["role"], "frontend");
    assert_eq!(reply.body["agent"], Value::Null);

    // Once a key exists, no key is told so.
    app.get("/v1/access")
        .await
        .problem(StatusCode::UNAUTHORIZED);
}
