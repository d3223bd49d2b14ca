//! The web console: its files are served from the binary to anyone (the API calls they make
//! carry the key), with headers that keep the pages to their own scripts; and what it needs
//! from the API.

use std::path::Path;

use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::events::EventStream;
use crate::support::{Body, TestApp, id};

/// The console's source files, as the repository has them (the npm files only pin the
/// vendored library).
fn console_files() -> Vec<String> {
    fn walk(dir: &Path, base: &Path, out: &mut Vec<String>) {
        for entry in std::fs::read_dir(dir).expect("read console/") {
            let path = entry.expect("entry").path();
            let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
            if path.is_dir() {
                if name != "node_modules" {
                    walk(&path, base, out);
                }
            } else if !name.starts_with("package") {
                let rel = path.strip_prefix(base).expect("under console/");
                out.push(rel.to_string_lossy().replace('\\', "/"));
            }
        }
    }
    let base = Path::new(env!("CARGO_MANIFEST_DIR")).join("console");
    let mut files = Vec::new();
    walk(&base, &base, &mut files);
    files.sort();
    files
}

fn expected_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("html") => "text/html; charset=utf-8",
        Some("js" | "mjs") => "text/javascript; charset=utf-8",
        Some("css") => "text/css; charset=utf-8",
        Some("svg") => "image/svg+xml",
        other => panic!("the console has a file of an unexpected kind: {other:?}"),
    }
}

async fn fetch(app: &TestApp, path: &str) -> reqwest::Response {
    app.client
        .get(format!("{}{path}", app.base))
        .send()
        .await
        .expect("request reaches the app")
}

#[tokio::test]
async fn every_console_file_is_served_without_a_key_while_the_api_still_needs_one() {
    let app = TestApp::spawn().await;
    app.api_key("admin", None).await;

    let files = console_files();
    assert!(files.len() >= 10, "{files:?}");
    for file in &files {
        let response = fetch(&app, &format!("/console/{file}")).await;
        assert_eq!(response.status(), StatusCode::OK, "{file}");
        assert_eq!(
            response.headers()["content-type"],
            expected_type(file),
            "{file}"
        );
        let on_disk = std::fs::read(
            Path::new(env!("CARGO_MANIFEST_DIR"))
                .join("console")
                .join(file),
        )
        .expect("read the file");
        assert_eq!(
            response.bytes().await.expect("body").as_ref(),
            on_disk.as_slice(),
            "{file} is served as committed"
        );
    }
    for page in ["/console", "/console/"] {
        let response = fetch(&app, page).await;
        assert_eq!(response.status(), StatusCode::OK, "{page}");
        assert_eq!(
            response.headers()["content-type"],
            "text/html; charset=utf-8"
        );
        let html = response.text().await.expect("body");
        assert!(
            html.contains(r#"<script type="module" src="/console/app.js">"#),
            "{html}"
        );
    }
    assert_eq!(
        app.get("/v1/calls").await.status,
        StatusCode::UNAUTHORIZED,
        "the pages need no key; the API they call does"
    );
}

#[tokio::test]
async fn console_files_keep_the_page_to_its_own_scripts_and_are_revalidated() {
    let app = TestApp::spawn_with(&[("LIVEKIT_PUBLIC_URL", "wss://livekit.example.com")]).await;
    let response = fetch(&app, "/console/app.js").await;
    let headers = response.headers().clone();
    let policy = headers["content-security-policy"].to_str().expect("ascii");
    assert!(policy.contains("script-src 'self'"), "{policy}");
    assert!(policy.contains("default-src 'none'"), "{policy}");
    assert!(
        policy.contains("connect-src 'self' wss://livekit.example.com https://livekit.example.com"),
        "the audio may reach LiveKit: {policy}"
    );
    assert!(!policy.contains("unsafe"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-cache");

    let etag = headers["etag"].to_str().expect("etag").to_owned();
    let again = app
        .client
        .get(format!("{}/console/app.js", app.base))
        .header("if-none-match", &etag)
        .send()
        .await
        .expect("request");
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
    let index = fetch(&app, "/console").await;
    assert_ne!(
        index.headers()["etag"],
        etag.as_str(),
        "each file has its own tag"
    );
}

#[tokio::test]
async fn an_unknown_console_file_is_a_404_problem() {
    let app = TestApp::spawn().await;
    for path in [
        "/console/nope.js",
        "/console/vendor/",
        "/console/..%2fCargo.toml",
        "/console/package.json",
    ] {
        let reply = app.get(path).await;
        let problem = reply.problem(StatusCode::NOT_FOUND);
        assert_eq!(problem["type"], "/problems/not-found", "{path}");
    }
    let reply = app.post("/console/app.js", json!({})).await;
    assert_eq!(reply.status, StatusCode::METHOD_NOT_ALLOWED);
}

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
