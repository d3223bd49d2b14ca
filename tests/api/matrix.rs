//! Every operation of the OpenAPI document, called with no key and with a key of every role:
//! the roles the document lists get in, the others get 403, and no key gets 401. The list of
//! routes comes from the document, so a new route cannot be forgotten.

use std::time::Duration;

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{TestApp, id};

/// Who calls, and with which key.
struct Keys {
    admin: String,
    supervisor: String,
    /// Agent A: handles the call and started the transfer.
    alice: String,
    /// Agent B: receives the transfer.
    bob: String,
    /// An agent with nothing to do with the call.
    carol: String,
    /// The frontend that started the call.
    frontend: String,
    /// Another frontend.
    other_frontend: String,
}

/// The records the routes are called on.
struct Fixture {
    call: String,
    room: String,
    transfer: String,
    /// A key an admin may revoke without harm.
    spare_key: String,
}

async fn setup(app: &TestApp) -> (Keys, Fixture) {
    // `agent_b_bob`: the prototype's routes name Agent B `agent_b_<name>`.
    for agent in ["agent_alice", "agent_bob", "agent_carol", "agent_b_bob"] {
        app.register_agent(agent).await;
    }
    let keys = Keys {
        admin: app.api_key("admin", None).await,
        supervisor: app.api_key("supervisor", None).await,
        alice: app.api_key("agent", Some("agent_alice")).await,
        bob: app.api_key("agent", Some("agent_bob")).await,
        carol: app.api_key("agent", Some("agent_carol")).await,
        frontend: app.api_key("frontend", None).await,
        other_frontend: app.api_key("frontend", None).await,
    };
    let spare = app.api_key("frontend", None).await;
    let spare_key = spare.split('_').nth(1).expect("key prefix").to_owned();

    let created = app
        .send_as(
            &keys.frontend,
            Method::POST,
            "/v1/calls",
            json!({"caller_name": "Jane", "issue": "Order 4411 arrived damaged"}).into(),
        )
        .await;
    assert_eq!(created.status, StatusCode::CREATED, "{}", created.body);
    let call = id(&created.body);
    let room = created.body["room_name"].as_str().unwrap().to_owned();
    let joined = app
        .send_as(
            &keys.alice,
            Method::POST,
            &format!("/v1/calls/{call}/join"),
            json!({"identity": "agent_alice", "role": "agent"}).into(),
        )
        .await;
    assert_eq!(joined.status, StatusCode::OK, "{}", joined.body);
    let transfer = app
        .send_as(
            &keys.alice,
            Method::POST,
            &format!("/v1/calls/{call}/transfers"),
            json!({"from_agent": "agent_alice", "to_agent": "agent_bob"}).into(),
        )
        .await;
    assert_eq!(transfer.status, StatusCode::CREATED, "{}", transfer.body);
    let transfer = transfer.body["transfer"]["id"]
        .as_str()
        .expect("transfer id")
        .to_owned();
    (
        keys,
        Fixture {
            call,
            room,
            transfer,
            spare_key,
        },
    )
}

/// The path with its parameters filled in from the fixture.
fn fill(path: &str, f: &Fixture) -> String {
    let id = if path.starts_with("/v1/transfers") {
        &f.transfer
    } else if path.starts_with("/v1/api-keys") {
        &f.spare_key
    } else {
        &f.call
    };
    path.replace("{id}", id)
        .replace("{call_id}", &f.call)
        .replace("{transfer_id}", &f.transfer)
        .replace("{room}", &f.room)
        .replace("{room_name}", &f.room)
        .replace("{identity}", "agent_alice")
        .replace("{caller_name}", "Jane")
        .replace("{agent_name}", "agent_alice")
}

/// A body the route would accept from its rightful caller, so an allowed role is not refused
/// for the body's sake before its rights are checked.
fn body_for(method: &Method, path: &str, role: &str, f: &Fixture) -> Value {
    if *method == Method::GET || *method == Method::DELETE {
        return Value::Null;
    }
    // A frontend joins as its caller.
    if role == "frontend" {
        match path {
            "/v1/calls/{id}/join" | "/call/{call_id}/join" => {
                return json!({"identity": "Jane", "role": "caller"});
            }
            "/v1/tokens" => return json!({"call_id": f.call, "identity": "Jane", "role": "caller"}),
            "/token" => return json!({"identity": "Jane", "room": f.room}),
            _ => {}
        }
    }
    match path {
        "/v1/calls" => json!({"caller_name": "Jane"}),
        "/v1/calls/{id}/join" => json!({"identity": "agent_alice", "role": "agent"}),
        "/v1/calls/{id}/transcript" => {
            json!({"segments": [{"segment_id": "m1", "speaker": "agent_alice", "role": "agent", "text": "Hello", "start_ms": 0}]})
        }
        "/v1/calls/{id}/transfers" => json!({"from_agent": "agent_alice", "to_agent": "agent_bob"}),
        "/v1/calls/{id}/summaries" => json!({}),
        "/v1/tokens" => json!({"call_id": f.call, "identity": "agent_alice", "role": "agent"}),
        "/v1/agents" => json!({"identity": "agent_dave"}),
        "/v1/agents/{identity}" => json!({"team": "billing"}),
        "/v1/api-keys" => json!({"role": "supervisor"}),
        "/token" => json!({"identity": "agent_alice", "room": f.room}),
        "/call/start" => json!({"caller_name": "Jim"}),
        "/call/{call_id}/join" => json!({"identity": "agent_alice"}),
        "/call/end" => json!({"call_id": f.call}),
        "/summarize" => json!({"transcript": "hello", "call_id": f.call}),
        "/call/{call_id}/transfer" => json!({"agent_b": "bob"}),
        "/transfer/complete" => json!({"transfer_id": f.transfer}),
        "/room/participants" => json!({"room_name": f.room, "participants": ["agent_alice"]}),
        _ => json!({}),
    }
}

/// The key a role calls with: the agent each action belongs to, the frontend that started the
/// call.
fn key_of<'k>(keys: &'k Keys, role: &str, path: &str) -> &'k str {
    match role {
        "admin" => &keys.admin,
        "supervisor" => &keys.supervisor,
        "frontend" => &keys.frontend,
        "agent" if path.ends_with("/accept") || path.ends_with("/decline") => &keys.bob,
        "agent" => &keys.alice,
        other => panic!("unknown role {other}"),
    }
}

/// Where `value` breaks `schema` (the subset of JSON Schema the document uses), if anywhere.
pub(crate) fn schema_errors(spec: &Value, schema: &Value, value: &Value, at: &str) -> Vec<String> {
    if let Some(reference) = schema["$ref"].as_str() {
        let name = reference.rsplit('/').next().unwrap_or_default();
        return schema_errors(spec, &spec["components"]["schemas"][name], value, at);
    }
    let mut errors = Vec::new();
    for part in schema["allOf"].as_array().into_iter().flatten() {
        errors.extend(schema_errors(spec, part, value, at));
    }
    if let Some(options) = schema["oneOf"].as_array()
        && !options
            .iter()
            .any(|o| schema_errors(spec, o, value, at).is_empty())
    {
        errors.push(format!("{at}: matches none of its oneOf options: {value}"));
    }
    if let Some(allowed) = schema["enum"].as_array()
        && !allowed.contains(value)
    {
        errors.push(format!("{at}: {value} is not one of {allowed:?}"));
    }
    let types: Vec<&str> = match &schema["type"] {
        Value::String(t) => vec![t.as_str()],
        Value::Array(ts) => ts.iter().filter_map(Value::as_str).collect(),
        _ => Vec::new(),
    };
    let type_of = match value {
        Value::Null => "null",
        Value::Bool(_) => "boolean",
        Value::Number(n) if n.is_i64() || n.is_u64() => "integer",
        Value::Number(_) => "number",
        Value::String(_) => "string",
        Value::Array(_) => "array",
        Value::Object(_) => "object",
    };
    let fits = types
        .iter()
        .any(|t| *t == type_of || (*t == "number" && type_of == "integer"));
    if !types.is_empty() && !fits {
        errors.push(format!(
            "{at}: a {type_of} where the document says {types:?}"
        ));
        return errors;
    }
    if let Value::Object(fields) = value {
        for required in schema["required"].as_array().into_iter().flatten() {
            let name = required.as_str().unwrap_or_default();
            if !fields.contains_key(name) {
                errors.push(format!("{at}.{name}: required but absent"));
            }
        }
        let properties = schema["properties"].as_object();
        for (name, field) in fields {
            match properties.and_then(|p| p.get(name)) {
                Some(property) => errors.extend(schema_errors(
                    spec,
                    property,
                    field,
                    &format!("{at}.{name}"),
                )),
                None if schema["additionalProperties"] == Value::Bool(false) => {
                    errors.push(format!("{at}.{name}: not in the document"));
                }
                None => {}
            }
        }
    }
    if let (Value::Array(items), Some(item)) = (value, schema.get("items")) {
        for (i, element) in items.iter().enumerate() {
            errors.extend(schema_errors(spec, item, element, &format!("{at}[{i}]")));
        }
    }
    errors
}

/// Sends a request and answers its status and body, without waiting for a stream to end.
pub(crate) async fn call(
    app: &TestApp,
    key: Option<&str>,
    method: &Method,
    path: &str,
    body: &Value,
) -> (StatusCode, Value) {
    let mut request = app
        .client
        .request(method.clone(), format!("{}{path}", app.base))
        .timeout(Duration::from_secs(30));
    if let Some(key) = key {
        request = request.bearer_auth(key);
    }
    if !body.is_null() {
        request = request.json(body);
    }
    let response = request.send().await.expect("request reaches the app");
    let status = response.status();
    let streaming = response
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("text/event-stream"));
    if streaming {
        return (status, Value::Null);
    }
    let bytes = response.bytes().await.unwrap_or_default();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

#[tokio::test]
async fn every_route_admits_exactly_the_roles_the_document_lists() {
    let app = TestApp::spawn().await;
    let (keys, fixture) = setup(&app).await;
    let spec = serde_json::to_value(warmline::openapi()).expect("document");
    let mut operations = Vec::new();
    for (path, item) in spec["paths"].as_object().expect("paths") {
        for (method, operation) in item.as_object().expect("path item") {
            let Ok(method) = method.to_uppercase().parse::<Method>() else {
                continue;
            };
            let roles: Option<Vec<String>> = operation["security"].as_array().map(|reqs| {
                reqs.iter()
                    .flat_map(|r| r["api_key"].as_array().cloned().unwrap_or_default())
                    .filter_map(|r| r.as_str().map(str::to_owned))
                    .collect()
            });
            let documented = operation["responses"].clone();
            operations.push((method, path.clone(), roles, documented));
        }
    }
    assert!(operations.len() > 50, "the document lists every route");
    // Reads first, then writes, and the call's end last: earlier calls must not change what
    // later ones see.
    operations.sort_by_key(|(m, p, _, _)| {
        (
            *m != Method::GET,
            p.contains("end") || p.contains("api-keys"),
            p.clone(),
        )
    });

    let mut checked = 0;
    let mut validated = 0;
    for (method, template, roles, documented) in &operations {
        let path = fill(template, &fixture);
        let body = body_for(method, template, "admin", &fixture);
        let Some(roles) = roles else {
            // Public: health and LiveKit's webhook (which has its own signature).
            let (status, body) = call(&app, None, method, &path, &body).await;
            assert_ne!(status, StatusCode::FORBIDDEN, "{method} {template}: {body}");
            if !template.contains("webhooks") {
                assert_ne!(
                    status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {template}: {body}"
                );
            }
            continue;
        };
        assert!(
            roles.iter().any(|r| r == "admin"),
            "{method} {template}: admins may do everything"
        );
        let (status, reply) = call(&app, None, method, &path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {template} without a key: {reply}"
        );
        let (status, reply) =
            call(&app, Some("wl_abcdefghijkm_forged"), method, &path, &body).await;
        assert_eq!(
            status,
            StatusCode::UNAUTHORIZED,
            "{method} {template} with a forged key: {reply}"
        );
        for role in ["admin", "supervisor", "agent", "frontend"] {
            let key = key_of(&keys, role, template);
            let body = body_for(method, template, role, &fixture);
            let (status, reply) = call(&app, Some(key), method, &path, &body).await;
            let response = &documented[status.as_str()];
            assert!(
                response.is_object(),
                "{method} {template} answered {role} {status}, which its document does not list: {reply}"
            );
            let content = response["content"].as_object();
            let schema = content
                .and_then(|c| c.values().next())
                .map(|c| &c["schema"]);
            if let Some(schema) = schema
                && !reply.is_null()
            {
                let errors = schema_errors(&spec, schema, &reply, "body");
                validated += 1;
                assert!(
                    errors.is_empty(),
                    "{method} {template} {status} for {role}: the body differs from its document:\n{}",
                    errors.join("\n")
                );
            }
            if status.is_client_error() {
                assert!(
                    reply["type"]
                        .as_str()
                        .is_some_and(|t| t.starts_with("/problems/")),
                    "{method} {template}: a {status} is problem+json: {reply}"
                );
            }
            // The role check's own refusal names the route; the fixture gives each allowed
            // role a record of its own, so it meets no other refusal either.
            let refused_by_role = status == StatusCode::FORBIDDEN
                && reply["detail"]
                    .as_str()
                    .is_some_and(|d| d.contains("may not use this route"));
            if roles.iter().any(|r| r == role) {
                assert!(
                    status != StatusCode::UNAUTHORIZED && status != StatusCode::FORBIDDEN,
                    "{method} {template} lists {role}, yet refused it with {status}: {reply}"
                );
            } else {
                assert!(
                    refused_by_role,
                    "{method} {template} does not list {role}, yet answered {status}: {reply}"
                );
                assert_eq!(reply["type"], "/problems/forbidden", "{method} {template}");
            }
            checked += 1;
        }
    }
    assert!(checked > 150, "{checked} checks");
    assert!(
        validated > 100,
        "{validated} bodies checked against the document"
    );
    // The check itself can fail.
    let call_schema = json!({"$ref": "#/components/schemas/Call"});
    assert!(!schema_errors(&spec, &call_schema, &json!({"id": 5}), "body").is_empty());
    assert!(!schema_errors(&spec, &call_schema, &json!({"status": "dancing"}), "body").is_empty());
}

#[tokio::test]
async fn keys_reach_only_their_own_calls_and_transfers() {
    let app = TestApp::spawn().await;
    let (keys, f) = setup(&app).await;
    let as_key = |key: &str, method: Method, path: String, body: Value| {
        let key = key.to_owned();
        let app = &app;
        async move { call(app, Some(&key), &method, &path, &body).await }
    };

    // A frontend reads the calls it started, never another frontend's.
    let (status, _) = as_key(
        &keys.frontend,
        Method::GET,
        format!("/v1/calls/{}", f.call),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, _) = as_key(
        &keys.other_frontend,
        Method::GET,
        format!("/v1/calls/{}", f.call),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (_, page) = as_key(
        &keys.other_frontend,
        Method::GET,
        "/v1/calls".into(),
        Value::Null,
    )
    .await;
    assert_eq!(
        page["items"],
        json!([]),
        "another frontend lists none of them"
    );
    let (status, _) = as_key(
        &keys.other_frontend,
        Method::POST,
        "/v1/tokens".into(),
        json!({"call_id": f.call, "identity": "Jane", "role": "caller"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "no caller token for a stranger's call"
    );

    // The prototype's lists show an agent only its own transfers.
    let (_, active) = as_key(
        &keys.carol,
        Method::GET,
        "/transfers/active".into(),
        Value::Null,
    )
    .await;
    assert_eq!(active["active_transfers"], json!([]), "{active}");
    let (_, active) = as_key(
        &keys.bob,
        Method::GET,
        "/transfers/active".into(),
        Value::Null,
    )
    .await;
    assert_eq!(
        active["active_transfers"][0]["transfer_id"],
        f.transfer.as_str()
    );

    // An agent acts on its own transfers only, and only as itself.
    let transfer = format!("/v1/transfers/{}", f.transfer);
    for (action, body) in [
        ("accept", json!({})),
        ("decline", json!({"reason": "busy"})),
        ("complete", json!({})),
        ("cancel", json!({})),
    ] {
        let (status, reply) = as_key(
            &keys.carol,
            Method::POST,
            format!("{transfer}/{action}"),
            body,
        )
        .await;
        assert_eq!(
            status,
            StatusCode::FORBIDDEN,
            "carol may not {action}: {reply}"
        );
    }
    let (status, _) = as_key(&keys.carol, Method::GET, transfer.clone(), Value::Null).await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, reply) = as_key(
        &keys.alice,
        Method::POST,
        format!("{transfer}/accept"),
        json!({"agent": "agent_bob"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "alice may not speak for bob: {reply}"
    );
    let (status, _) = as_key(
        &keys.alice,
        Method::POST,
        "/v1/tokens".into(),
        json!({"transfer_id": f.transfer, "identity": "agent_bob", "role": "agent"}),
    )
    .await;
    assert_eq!(
        status,
        StatusCode::FORBIDDEN,
        "an agent key gets tokens for itself only"
    );
    let (status, _) = as_key(
        &keys.alice,
        Method::GET,
        "/agent/agent_bob/transfer-status".into(),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);

    // Bob accepts his own transfer; the caller is never let into the briefing room.
    let (status, reply) = as_key(
        &keys.bob,
        Method::POST,
        format!("{transfer}/accept"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
    let (status, _) = as_key(
        &keys.frontend,
        Method::POST,
        "/v1/tokens".into(),
        json!({"transfer_id": f.transfer, "identity": "Jane", "role": "caller"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, _) = as_key(
        &keys.frontend,
        Method::POST,
        "/v1/tokens".into(),
        json!({"transfer_id": f.transfer, "identity": "Jane", "role": "agent"}),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN);
    let (status, reply) = as_key(
        &keys.frontend,
        Method::GET,
        format!(
            "/token?identity=Jane&room={}",
            reply["transfer"]["briefing_room"].as_str().unwrap_or("x")
        ),
        Value::Null,
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{reply}");

    // A supervisor may cancel any transfer.
    let (status, reply) = as_key(
        &keys.supervisor,
        Method::POST,
        format!("{transfer}/cancel"),
        json!({}),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{reply}");
}
