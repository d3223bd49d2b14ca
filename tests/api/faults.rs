//! Faults, kept true: racing actions across two replicas, live events and jobs across
//! replicas, a process killed under load, and a database that goes away and comes back.

use std::collections::HashSet;
use std::process::Stdio;
use std::time::Duration;

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::cli::{free_port, wait_until_ready, warmline};
use crate::events::EventStream;
use crate::support::{TestApp, TestDb, eventually, id};

const TERMINAL: &str = "('transfer.completed', 'transfer.cancelled', 'transfer.declined', \
                        'transfer.expired', 'transfer.failed', 'transfer.abandoned')";

/// How many terminal events the transfer has on its timeline.
async fn terminal_events(app: &TestApp, transfer: &str) -> i64 {
    sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
        "SELECT count(*) FROM events WHERE transfer_id = $1::uuid AND kind IN {TERMINAL}"
    )))
    .bind(transfer)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

/// One request succeeded and the other was refused as a conflict.
fn one_winner(a: StatusCode, b: StatusCode, what: &str) {
    let mut statuses = [a.as_u16(), b.as_u16()];
    statuses.sort_unstable();
    let ok = statuses[0] / 100 == 2 && statuses[1] == 409;
    assert!(ok, "{what}: expected one 2xx and one 409, got {statuses:?}");
}

#[tokio::test]
async fn racing_actions_on_two_replicas_each_have_exactly_one_winner() {
    let a = TestApp::spawn_with(&[("DATABASE_MAX_CONNECTIONS", "6")]).await;
    let b = a.replica().await;
    for round in 0..4 {
        // complete / complete
        let (_, t) = a.transfer_in_briefing(&format!("Caller {round}a")).await;
        let path = format!("/v1/transfers/{t}/complete");
        let (x, y) = tokio::join!(a.post_empty(&path), b.post_empty(&path));
        one_winner(x.status, y.status, "complete/complete");

        // complete / cancel
        let (_, t) = a.transfer_in_briefing(&format!("Caller {round}b")).await;
        let (complete, cancel) = (
            format!("/v1/transfers/{t}/complete"),
            format!("/v1/transfers/{t}/cancel"),
        );
        let (x, y) = tokio::join!(a.post_empty(&complete), b.post_empty(&cancel));
        one_winner(x.status, y.status, "complete/cancel");

        // accept / decline
        let call = a
            .call_with_agent(&format!("Caller {round}c"), "agent_alice")
            .await;
        let created = a
            .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
            .await;
        let t = id(&created["transfer"]);
        let (accept, decline) = (
            format!("/v1/transfers/{t}/accept"),
            format!("/v1/transfers/{t}/decline"),
        );
        let (x, y) = tokio::join!(
            a.post_empty(&accept),
            b.post(&decline, json!({"reason": "busy"}))
        );
        one_winner(x.status, y.status, "accept/decline");
        let declined = x.status == StatusCode::CONFLICT;
        assert_eq!(terminal_events(&a, &t).await, i64::from(declined));

        // create / create
        let call = a
            .call_with_agent(&format!("Caller {round}d"), "agent_alice")
            .await;
        let path = format!("/v1/calls/{}/transfers", id(&call));
        let (x, y) = tokio::join!(
            a.post(
                &path,
                json!({"from_agent": "agent_alice", "to_agent": "agent_bob"})
            ),
            b.post(
                &path,
                json!({"from_agent": "agent_alice", "to_agent": "agent_carol"})
            )
        );
        one_winner(x.status, y.status, "create/create");
        let transfers: i64 =
            sqlx::query_scalar("SELECT count(*) FROM transfers WHERE call_id = $1::uuid")
                .bind(id(&call))
                .fetch_one(&a.pool)
                .await
                .unwrap();
        assert_eq!(transfers, 1);

        // end / complete: the call ends either way, and the transfer has one end.
        let (call, t) = a.transfer_in_briefing(&format!("Caller {round}e")).await;
        let (end, complete) = (
            format!("/v1/calls/{}/end", id(&call)),
            format!("/v1/transfers/{t}/complete"),
        );
        let (x, y) = tokio::join!(a.post_empty(&end), b.post_empty(&complete));
        assert_eq!(x.status, StatusCode::OK, "ending a call always succeeds");
        assert!(
            matches!(y.status.as_u16(), 200 | 409),
            "complete: {}",
            y.status
        );
        let state = a.transfer(&t).await["state"].as_str().unwrap().to_owned();
        assert_eq!(state, "abandoned", "the call ended under the transfer");
        assert_eq!(terminal_events(&a, &t).await, 1);
    }
    // Each race's loser saw a conflict, not an error: nothing was left half done.
    let stuck: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM calls WHERE status = 'transferring'
           AND NOT EXISTS (SELECT 1 FROM transfers t WHERE t.call_id = calls.id
                           AND t.state IN ('initiated', 'briefing', 'connecting'))",
    )
    .fetch_one(&a.pool)
    .await
    .unwrap();
    assert_eq!(stuck, 0, "no call is left transferring without a transfer");
}

#[tokio::test]
async fn an_event_written_through_one_replica_reaches_a_stream_on_the_other() {
    // Streams look for events once an hour: only the writer's announcement wakes b in time.
    let a = TestApp::spawn_with(&[("EVENT_STREAM_POLL_MS", "3600000")]).await;
    let b = a.replica().await;
    b.wait_until_listening().await;
    let mut stream = EventStream::open(&b, "?kind=call.created", None).await;
    let call = a.create_call("Jane").await;
    let (_, kind, data) = stream.next().await;
    assert_eq!(kind, "call.created");
    assert_eq!(data["call_id"], call["id"], "{data}");
    // The other way too: b, the newcomer, learned of a from a's answer to its hello.
    let mut stream = EventStream::open(&a, "?kind=call.created", None).await;
    let call = b.create_call("Joe").await;
    let (_, _, data) = stream.next().await;
    assert_eq!(data["call_id"], call["id"], "{data}");
}

#[tokio::test]
async fn with_two_replicas_every_job_runs_once() {
    let a = TestApp::spawn().await;
    let b = a.replica().await;
    let mut rooms = HashSet::new();
    for n in 0..6 {
        let app = if n % 2 == 0 { &a } else { &b };
        let call = app
            .call_with_agent(&format!("Caller {n}"), "agent_alice")
            .await;
        let created = app
            .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
            .await;
        rooms.insert(
            created["transfer"]["briefing_room"]
                .as_str()
                .unwrap()
                .to_owned(),
        );
    }
    eventually("every briefing room was created", || async {
        let created: HashSet<String> = a
            .livekit
            .calls_of("CreateRoom")
            .into_iter()
            .map(|c| c.room)
            .collect();
        rooms.is_subset(&created)
    })
    .await;
    eventually(
        "every room job has finished and recorded its attempt",
        || async {
            let open: i64 = sqlx::query_scalar(
                "SELECT count(*) FROM jobs WHERE kind = 'create_room' AND status <> 'done'",
            )
            .fetch_one(&a.pool)
            .await
            .unwrap();
            open == 0
        },
    )
    .await;
    // Both workers were running; neither ran a job the other had.
    let creates = a.livekit.calls_of("CreateRoom");
    assert_eq!(
        creates.len(),
        rooms.len(),
        "each room created once: {creates:?}"
    );
    let attempts: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM job_attempts a JOIN jobs j ON j.id = a.job_id WHERE j.kind = 'create_room'",
    )
    .fetch_one(&a.pool)
    .await
    .unwrap();
    assert_eq!(attempts, rooms.len() as i64);
}

/// A client that keeps a ledger of every write the service acknowledged.
#[derive(Default)]
struct Ledger {
    calls: Vec<String>,
    /// (call, segment id)
    segments: Vec<(String, String)>,
    transfers: Vec<String>,
}

async fn write_until_refused(base: &str, worker: usize, ledger: &tokio::sync::Mutex<Ledger>) {
    let client = reqwest::Client::builder()
        .timeout(Duration::from_secs(5))
        .build()
        .unwrap();
    for n in 0.. {
        let created = match client
            .post(format!("{base}/v1/calls"))
            .json(&json!({"caller_name": format!("Caller {worker}-{n}")}))
            .send()
            .await
        {
            Ok(r) if r.status() == StatusCode::CREATED => r.json::<Value>().await.ok(),
            _ => return,
        };
        let Some(call) = created.and_then(|c| c["id"].as_str().map(str::to_owned)) else {
            return;
        };
        ledger.lock().await.calls.push(call.clone());
        let segment = format!("s{worker}-{n}");
        let appended = client
            .post(format!("{base}/v1/calls/{call}/transcript"))
            .json(&json!({"segments": [{"segment_id": segment, "speaker": "Caller", "role": "caller", "text": "My order arrived broken", "start_ms": 0}]}))
            .send()
            .await;
        match appended {
            Ok(r) if r.status().is_success() => {
                ledger.lock().await.segments.push((call.clone(), segment))
            }
            _ => return,
        }
        let joined = client
            .post(format!("{base}/v1/calls/{call}/join"))
            .json(&json!({"identity": format!("agent_{worker}"), "role": "agent"}))
            .send()
            .await;
        if !joined.is_ok_and(|r| r.status().is_success()) {
            return;
        }
        let transfer = client
            .post(format!("{base}/v1/calls/{call}/transfers"))
            .json(&json!({"from_agent": format!("agent_{worker}"), "to_agent": "agent_b"}))
            .send()
            .await;
        match transfer {
            Ok(r) if r.status() == StatusCode::CREATED => {
                let body: Value = r.json().await.unwrap_or_default();
                if let Some(t) = body["transfer"]["id"].as_str() {
                    ledger.lock().await.transfers.push(t.to_owned());
                }
            }
            _ => return,
        }
    }
}

#[tokio::test]
async fn a_process_killed_under_load_loses_and_duplicates_nothing() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let db = TestDb::create().await;
    let fake_livekit = crate::support::livekit::FakeLiveKit::start().await;
    let start = |port: u16| {
        warmline()
            .env("DATABASE_URL", &db.url)
            .env("PORT", port.to_string())
            .env("LIVEKIT_URL", &fake_livekit.url)
            .env("LIVEKIT_API_KEY", crate::support::livekit::API_KEY)
            .env("LIVEKIT_API_SECRET", crate::support::livekit::API_SECRET)
            .env("RATE_LIMIT_WRITES_PER_ADDRESS", "0")
            .env("RATE_LIMIT_WRITES_PER_KEY", "0")
            // Unanswered transfers expire fast, and a dead process's leases run out fast.
            .env("TRANSFER_ACCEPT_TTL_SECS", "2")
            .env("JOB_LEASE_SECS", "1")
            .env("JOB_POLL_INTERVAL_MS", "100")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    };
    let port = free_port();
    let mut first = start(port);
    wait_until_ready(port).await;
    let base = format!("http://127.0.0.1:{port}");
    let ledger = std::sync::Arc::new(tokio::sync::Mutex::new(Ledger::default()));
    let writers: Vec<_> = (0..6)
        .map(|worker| {
            let ledger = ledger.clone();
            let base = base.clone();
            tokio::spawn(async move { write_until_refused(&base, worker, &ledger).await })
        })
        .collect();
    eventually("the load is under way", || async {
        ledger.lock().await.transfers.len() >= 10
    })
    .await;
    first.kill().unwrap(); // SIGKILL: no shutdown of any kind.
    first.wait().unwrap();
    for writer in writers {
        writer.await.unwrap();
    }

    let port = free_port();
    let mut second = start(port);
    wait_until_ready(port).await;
    let pool = db.pool().await;
    let ledger = ledger.lock().await;
    for call in &ledger.calls {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM calls WHERE id = $1::uuid")
            .bind(call)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "acknowledged call {call}");
    }
    for (call, segment) in &ledger.segments {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM transcript_segments WHERE call_id = $1::uuid AND segment_id = $2",
        )
        .bind(call)
        .bind(segment)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(n, 1, "acknowledged segment {segment}");
    }
    let every: Vec<String> = ledger.transfers.clone();
    eventually(
        "every transfer reached an end, its jobs taken over",
        || async {
            let open: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM transfers WHERE state IN ('initiated', 'briefing', 'connecting')",
        )
        .fetch_one(&pool)
        .await
        .unwrap();
            open == 0
        },
    )
    .await;
    for t in &every {
        let ends: i64 = sqlx::query_scalar(sqlx::AssertSqlSafe(format!(
            "SELECT count(*) FROM events WHERE transfer_id = $1::uuid AND kind IN {TERMINAL}"
        )))
        .bind(t)
        .fetch_one(&pool)
        .await
        .unwrap();
        assert_eq!(ends, 1, "transfer {t} ended once");
    }
    let unfinished: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM jobs WHERE status = 'running' AND locked_until < now()",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(unfinished, 0, "no job is left with a lapsed lease");
    pool.close().await;
    second.kill().unwrap();
    second.wait().unwrap();
}

/// What a client saw of one request while the database was away.
struct Seen {
    status: StatusCode,
    retry_after: bool,
    took: Duration,
    created: Option<String>,
}

/// Creates calls one after another until `stop`, recording every answer.
async fn create_calls_until(base: String, stop: tokio_util::sync::CancellationToken) -> Vec<Seen> {
    let client = reqwest::Client::new();
    let mut seen = Vec::new();
    while !stop.is_cancelled() {
        let started = std::time::Instant::now();
        let Ok(reply) = client
            .post(format!("{base}/v1/calls"))
            .json(&json!({"caller_name": "Jane"}))
            .send()
            .await
        else {
            // The connection itself failed (never the case here, but do not spin).
            tokio::time::sleep(Duration::from_millis(10)).await;
            continue;
        };
        let status = reply.status();
        let retry_after = reply.headers().contains_key("retry-after");
        let body: Value = reply.json().await.unwrap_or_default();
        seen.push(Seen {
            status,
            retry_after,
            took: started.elapsed(),
            created: body["id"].as_str().map(str::to_owned),
        });
    }
    seen
}

/// No 500, only answers or 503 with Retry-After, and each 503 within the acquire timeout.
fn check_outage(seen: &[Seen], acquire_timeout: Duration) {
    assert!(seen.iter().any(|s| s.status == StatusCode::CREATED));
    for s in seen {
        match s.status {
            StatusCode::CREATED => {}
            StatusCode::SERVICE_UNAVAILABLE => {
                assert!(s.retry_after, "a 503 says when to retry");
                // Generous: a loaded 2-core machine is slow, but never 10 s slow.
                assert!(
                    s.took < acquire_timeout * 4,
                    "a 503 came after {:?}",
                    s.took
                );
            }
            other => panic!("the outage was answered {other}"),
        }
    }
}

#[tokio::test]
async fn killed_database_connections_are_503s_and_the_service_recovers_alone() {
    let app = TestApp::spawn_with(&[("DATABASE_ACQUIRE_TIMEOUT_MS", "1000")]).await;
    let stop = tokio_util::sync::CancellationToken::new();
    let load = tokio::spawn(create_calls_until(app.base.clone(), stop.clone()));
    eventually("calls are being created", || async {
        crate::support::count(&app.pool, "calls").await > 3
    })
    .await;
    for _ in 0..3 {
        sqlx::query(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity
             WHERE datname = current_database() AND pid <> pg_backend_pid()",
        )
        .execute(&app.pool)
        .await
        .ok();
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    let before = crate::support::count(&app.pool, "calls").await;
    eventually("calls are created again, with no restart", || async {
        crate::support::count(&app.pool, "calls").await > before + 3
    })
    .await;
    stop.cancel();
    let seen = load.await.unwrap();
    check_outage(&seen, Duration::from_secs(1));
    for created in seen.iter().filter_map(|s| s.created.as_ref()) {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM calls WHERE id = $1::uuid")
            .bind(created)
            .fetch_one(&app.pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "acknowledged call {created}");
    }
}

#[tokio::test]
async fn a_restarted_database_is_503s_meanwhile_and_nothing_acknowledged_is_lost() {
    let _ = rustls::crypto::ring::default_provider().install_default();
    let binaries = warmline::db::embedded::find_binaries()
        .expect("PostgreSQL's server binaries (initdb, pg_ctl) are needed for this test");
    let dir = std::env::temp_dir().join(format!(
        "warmline-restart-{}",
        uuid::Uuid::new_v4().simple()
    ));
    let cluster = warmline::db::EmbeddedPostgres::start(binaries, &dir.join("postgres"))
        .await
        .unwrap();
    let settings = [
        ("DATABASE_MAX_CONNECTIONS", "4"),
        ("DATABASE_ACQUIRE_TIMEOUT_MS", "1000"),
        ("RATE_LIMIT_WRITES_PER_ADDRESS", "0"),
        ("RATE_LIMIT_WRITES_PER_KEY", "0"),
    ];
    let config = warmline::Config::from_lookup(|k| {
        settings
            .iter()
            .find(|(name, _)| *name == k)
            .map(|(_, v)| (*v).to_owned())
    })
    .unwrap();
    let url = cluster.url("warmline");
    let pool = warmline::db::open(&url, &config).await.unwrap();
    warmline::db::migrate(&pool).await.unwrap();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let state = warmline::AppState::new(pool.clone(), config).unwrap();
    let shutdown = tokio_util::sync::CancellationToken::new();
    let server = tokio::spawn(warmline::serve(listener, state, shutdown.clone()));

    let stop = tokio_util::sync::CancellationToken::new();
    let load = tokio::spawn(create_calls_until(base.clone(), stop.clone()));
    let client = reqwest::Client::new();
    eventually("calls are being created", || async {
        let page: Value = match client.get(format!("{base}/v1/calls")).send().await {
            Ok(r) => r.json().await.unwrap_or_default(),
            Err(_) => Value::Null,
        };
        page["items"]
            .as_array()
            .is_some_and(|items| items.len() > 3)
    })
    .await;
    let cluster = tokio::task::spawn_blocking(move || {
        cluster.restart().unwrap();
        cluster
    })
    .await
    .unwrap();
    let mut recovered = false;
    for _ in 0..100 {
        let reply = client
            .post(format!("{base}/v1/calls"))
            .json(&json!({"caller_name": "After"}))
            .send()
            .await
            .unwrap();
        if reply.status() == StatusCode::CREATED {
            recovered = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(
        recovered,
        "the service recovered without a restart of its own"
    );
    stop.cancel();
    let seen = load.await.unwrap();
    check_outage(&seen, Duration::from_secs(1));
    for created in seen.iter().filter_map(|s| s.created.as_ref()) {
        let n: i64 = sqlx::query_scalar("SELECT count(*) FROM calls WHERE id = $1::uuid")
            .bind(created)
            .fetch_one(&pool)
            .await
            .unwrap();
        assert_eq!(n, 1, "acknowledged call {created}");
    }
    shutdown.cancel();
    server.await.unwrap().unwrap();
    pool.close().await;
    cluster.stop().await.unwrap();
    std::fs::remove_dir_all(&dir).ok();
}
