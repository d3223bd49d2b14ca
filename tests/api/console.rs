//! The web console: its files are served from the binary to anyone (the API calls they make
//! carry the key), with headers that keep the pages to their own scripts; what it needs from
//! the API; and, driven by Chromium, its pages working against a real warmline (`.ci/run`
//! runs that test).

use std::path::{Path, PathBuf};

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::events::EventStream;
use crate::support::{Body, TestApp, id, lk_event};

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

/// A port nothing listens on: LiveKit "unreachable" for the browser.
fn closed_port() -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr").port()
}

/// Where the browser test saves its screenshots: under the build's target directory.
fn screenshot_dir() -> PathBuf {
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("target"));
    let target = if target.is_relative() {
        Path::new(env!("CARGO_MANIFEST_DIR")).join(target)
    } else {
        target
    };
    target.join("console-screenshots")
}

/// A transfer from Alice to Bob that went all the way, with who was in which room when (as
/// LiveKit's webhooks tell it) spread over a few seconds so the replay has something to draw.
async fn seed_completed_transfer(app: &TestApp) -> (String, String) {
    let now = || chrono::Utc::now().timestamp();
    let call = app
        .create_call_with("Jane Doe", "My blender arrived broken")
        .await;
    let call_id = id(&call);
    let caller_room = call["room_name"].as_str().expect("room").to_owned();
    let joined = |n: &str, room: &str, who: &str| {
        lk_event(
            &format!("EV_{n}_{call_id}"),
            "participant_joined",
            room,
            Some((who, &format!("PA_{who}_{room}"))),
            now(),
        )
    };
    let left = |n: &str, room: &str, who: &str| {
        lk_event(
            &format!("EV_{n}_{call_id}"),
            "participant_left",
            room,
            Some((who, &format!("PA_{who}_{room}"))),
            now(),
        )
    };
    app.webhook_ok(&joined("1", &caller_room, "Jane Doe")).await;
    app.post_ok(
        &format!("/v1/calls/{call_id}/join"),
        json!({"identity": "agent_alice", "role": "agent"}),
    )
    .await;
    app.webhook_ok(&joined("2", &caller_room, "agent_alice"))
        .await;
    app.post_ok(
        &format!("/v1/calls/{call_id}/transcript"),
        json!({"segments": [
            {"segment_id": "s1", "speaker": "Jane Doe", "role": "caller", "text": "Hello, my blender arrived broken and I want a refund.", "start_ms": 1000},
            {"segment_id": "s2", "speaker": "agent_alice", "role": "agent", "text": "I am sorry. Refunds are handled by billing; let me bring in a colleague.", "start_ms": 6000},
        ]}),
    )
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"reason": "Refund needs billing"}),
        )
        .await;
    let transfer = id(&created["transfer"]);
    let briefing_room = created["transfer"]["briefing_room"]
        .as_str()
        .expect("briefing room")
        .to_owned();
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.webhook_ok(&joined("3", &briefing_room, "agent_alice"))
        .await;
    app.post_ok(&format!("/v1/transfers/{transfer}/accept"), json!({}))
        .await;
    app.webhook_ok(&joined("4", &briefing_room, "agent_bob"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(2100)).await;
    app.post_ok(&format!("/v1/transfers/{transfer}/complete"), json!({}))
        .await;
    app.webhook_ok(&left("5", &briefing_room, "agent_bob"))
        .await;
    app.webhook_ok(&left("6", &briefing_room, "agent_alice"))
        .await;
    app.webhook_ok(&joined("7", &caller_room, "agent_bob"))
        .await;
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    app.webhook_ok(&left("8", &caller_room, "agent_alice"))
        .await;
    app.wait_for_state(&transfer, "completed").await;
    (call_id, transfer)
}

impl TestApp {
    /// Creates a call for `caller` about `issue`, in open mode.
    async fn create_call_with(&self, caller: &str, issue: &str) -> Value {
        let reply = self
            .post(
                "/v1/calls",
                json!({"caller_name": caller, "issue": issue, "caller_phone": "+1 415 555 0100"}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
        reply.body
    }
}

#[tokio::test]
#[ignore = "drives Chromium: .ci/run runs it"]
async fn the_console_pages_work_in_a_real_browser() {
    let livekit_port = closed_port();
    let livekit_url = format!("ws://127.0.0.1:{livekit_port}");
    // Completion on Agent A's word: the browser has no media to be seen in a room with.
    let app = TestApp::spawn_with(&[
        ("LIVEKIT_PUBLIC_URL", livekit_url.as_str()),
        ("HANDOFF_CONFIRMATION", "agent"),
        // Four pages, each with its event stream and its requests, as in production.
        ("DATABASE_MAX_CONNECTIONS", "10"),
    ])
    .await;
    for agent in ["agent_alice", "agent_bob", "agent_carol"] {
        app.register_agent(agent).await;
    }

    // History, in open mode: a completed transfer with its rooms, a cancelled one, an
    // untransferred call, and a scorecard to review them on.
    let (call, transfer) = seed_completed_transfer(&app).await;
    let (_, cancelled) = app
        .ended_transfer("Sam Lee", "agent_carol", "agent_alice")
        .await;
    app.create_call_with("Omar Haddad", "Change of billing address")
        .await;
    app.post_ok(
        "/v1/scorecards",
        json!({"name": "warm-transfer", "criteria": [
            {"key": "briefing", "label": "Briefed the receiving agent fully", "weight": 2, "scale": {"min": 1, "max": 5}},
            {"key": "empathy", "label": "Showed empathy for the caller", "weight": 1, "scale": {"min": 1, "max": 5}}]}),
    )
    .await;

    let supervisor = app.api_key("supervisor", None).await;
    let alice = app.api_key("agent", Some("agent_alice")).await;
    let bob = app.api_key("agent", Some("agent_bob")).await;
    let frontend = app.api_key("frontend", None).await;
    let screenshots = screenshot_dir();
    std::fs::create_dir_all(&screenshots).expect("screenshot directory");

    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console/scenarios.mjs");
    let started = std::time::Instant::now();
    let output = tokio::process::Command::new("node")
        .arg(&script)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("WARMLINE_URL", &app.base)
        .env("SUPERVISOR_KEY", &supervisor)
        .env("ALICE_KEY", &alice)
        .env("BOB_KEY", &bob)
        .env("FRONTEND_KEY", &frontend)
        .env("SEEDED_CALL", &call)
        .env("SEEDED_TRANSFER", &transfer)
        .env("CANCELLED_TRANSFER", &cancelled)
        .env("LIVEKIT_URL", &livekit_url)
        .env("SCREENSHOT_DIR", &screenshots)
        .kill_on_drop(true)
        .output()
        .await
        .expect("run node (is Node.js installed?)");
    println!("{}", String::from_utf8_lossy(&output.stdout));
    eprintln!("{}", String::from_utf8_lossy(&output.stderr));
    println!(
        "browser scenarios took {:.1} s; screenshots in {}",
        started.elapsed().as_secs_f64(),
        screenshots.display()
    );
    assert!(
        output.status.success(),
        "the browser scenarios failed ({})",
        output.status
    );
}
