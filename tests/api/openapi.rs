//! The committed `openapi/openapi.json` is the contract: it must be what the code produces.
//! Regenerate with `cargo run -- openapi > openapi/openapi.json` (or `UPDATE_OPENAPI=1 cargo test`).

#[test]
fn the_committed_openapi_document_matches_the_code() {
    let generated = warmline::openapi().to_pretty_json().unwrap() + "\n";
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/openapi/openapi.json");
    if std::env::var_os("UPDATE_OPENAPI").is_some() {
        // Rewriting the file first would compare it with itself: CI would always pass.
        assert!(
            std::env::var_os("CI").is_none(),
            "UPDATE_OPENAPI is set in CI (CI is set): CI checks the committed document, it never rewrites it"
        );
        std::fs::write(path, &generated).unwrap();
    }
    let committed = std::fs::read_to_string(path).unwrap_or_default();
    assert!(
        committed == generated,
        "openapi/openapi.json is out of date: run `cargo run -- openapi > openapi/openapi.json` and commit it"
    );
}

#[test]
fn every_operation_documents_its_errors_as_problem_json() {
    let spec = serde_json::to_value(warmline::openapi()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            let responses = op["responses"].as_object().unwrap();
            for (status, response) in responses
                .iter()
                .filter(|(s, _)| s.starts_with('4') || s.starts_with('5'))
            {
                assert!(
                    response["content"]["application/problem+json"].is_object(),
                    "{method} {path} {status} is not documented as problem+json"
                );
            }
            assert!(op["summary"].is_string(), "{method} {path} has no summary");
        }
    }
}

#[test]
fn every_schema_the_document_refers_to_is_defined() {
    let spec = serde_json::to_value(warmline::openapi()).unwrap();
    let defined = spec["components"]["schemas"].as_object().unwrap();
    let text = spec.to_string();
    let missing: Vec<&str> = text
        .split("\"#/components/schemas/")
        .skip(1)
        .filter_map(|rest| rest.split('"').next())
        .filter(|name| !defined.contains_key(*name))
        .collect();
    assert!(
        missing.is_empty(),
        "referenced but not defined: {missing:?}"
    );
}

#[test]
fn every_operation_with_a_body_documents_unreadable_and_wrongly_typed_bodies() {
    let spec = serde_json::to_value(warmline::openapi()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for (method, op) in item.as_object().unwrap() {
            if op.get("requestBody").is_none() {
                continue;
            }
            for status in ["400", "413", "415"] {
                assert!(
                    op["responses"][status].is_object(),
                    "{method} {path} takes a body but does not list {status}"
                );
            }
        }
    }
}

#[test]
fn every_post_but_the_webhook_documents_idempotency_keys() {
    let spec = serde_json::to_value(warmline::openapi()).unwrap();
    for (path, item) in spec["paths"].as_object().unwrap() {
        let Some(post) = item.get("post") else {
            continue;
        };
        let takes_key = post["parameters"].as_array().is_some_and(|params| {
            params
                .iter()
                .any(|p| p["name"] == "Idempotency-Key" && p["in"] == "header")
        });
        if path == "/v1/webhooks/livekit" {
            assert!(!takes_key, "LiveKit's event id already dedupes webhooks");
            continue;
        }
        assert!(takes_key, "POST {path} does not document Idempotency-Key");
        for status in ["409", "422"] {
            let description = post["responses"][status]["description"]
                .as_str()
                .unwrap_or_default();
            assert!(
                description.contains("Idempotency-Key"),
                "POST {path} {status} does not say what it means for Idempotency-Key"
            );
        }
    }
}
