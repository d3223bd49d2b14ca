//! `GET /v1/stats`: every figure checked against values worked out by hand from transfers
//! seeded with known timestamps.

use chrono::{DateTime, Duration, Utc};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use uuid::Uuid;

use crate::support::{Body, TestApp};

/// A transfer as the records would hold it, timed in seconds from `initiated`.
struct Seed {
    from: &'static str,
    to: &'static str,
    state: &'static str,
    outcome: Option<&'static str>,
    initiated: DateTime<Utc>,
    /// Accepted after this long (`briefing_at`).
    accept: Option<i64>,
    /// Then briefed this long (`connecting_at`).
    briefing: Option<i64>,
    /// Then completed after this long (`completed_at`), seen in the room or not.
    gap: Option<(i64, bool)>,
}

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("instant")
}

fn seed(
    from: &'static str,
    to: &'static str,
    state: &'static str,
    outcome: Option<&'static str>,
    initiated: &'static str,
) -> Seed {
    Seed {
        from,
        to,
        state,
        outcome,
        initiated: at(initiated),
        accept: None,
        briefing: None,
        gap: None,
    }
}

/// Writes transfers (each on a call of its own) with the timestamps given. The state machine's
/// trigger would stamp `now()` on every one, so the seeding transaction runs as a replica,
/// which fires no trigger; constraints still hold. The accept deadline is ahead, or the
/// deadline sweep would expire the transfer still `initiated` while the test reads.
async fn insert(app: &TestApp, seeds: &[Seed]) {
    let mut tx = app.pool.begin().await.expect("begin");
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .expect("seed as a replica");
    for s in seeds {
        let id = Uuid::now_v7();
        let initiated = s.initiated;
        let accepted = s.accept.map(|a| initiated + Duration::seconds(a));
        let connecting = accepted
            .zip(s.briefing)
            .map(|(a, b)| a + Duration::seconds(b));
        let completed = connecting
            .zip(s.gap)
            .map(|(c, (g, _))| c + Duration::seconds(g));
        // Every other end is stamped a little after the last step.
        let ended = initiated + Duration::seconds(300);
        let ended_as = |state: &str| (s.state == state).then_some(ended);
        sqlx::query(
            "INSERT INTO calls (id, room_name, caller_name, caller_identity, status, created_at,
                                ended_at)
             VALUES ($1, 'room_' || $1, 'Caller', 'caller_' || $1, 'ended', $2, $2)",
        )
        .bind(id)
        .bind(initiated)
        .execute(&mut *tx)
        .await
        .expect("seed call");
        sqlx::query(
            "INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff, caller_room,
                                    briefing_room, accept_deadline, state, outcome,
                                    handoff_confirmed, initiated_at, briefing_at, connecting_at,
                                    completed_at, cancelled_at, declined_at, expired_at,
                                    abandoned_at)
             VALUES ($1, $1, $2, $3, 'consult', 'agent_joins_caller', 'room_' || $1,
                     'briefing_' || $1, now() + interval '1 hour', $4::transfer_state, $5, $7,
                     $6, $8, $9, $10, $11, $12, $13, $14)",
        )
        .bind(id)
        .bind(s.from)
        .bind(s.to)
        .bind(s.state)
        .bind(s.outcome)
        .bind(initiated)
        .bind(s.gap.map(|(_, seen)| seen))
        .bind(accepted)
        .bind(connecting)
        .bind(completed)
        .bind(ended_as("cancelled"))
        .bind(ended_as("declined"))
        .bind(ended_as("expired"))
        .bind(ended_as("abandoned"))
        .execute(&mut *tx)
        .await
        .expect("seed transfer");
    }
    tx.commit().await.expect("commit seeds");
}

/// Alice and Bob are team red, Carol team blue, Dave has no team.
async fn agents(app: &TestApp) {
    for (agent, team) in [
        ("agent_alice", Some("red")),
        ("agent_bob", Some("red")),
        ("agent_carol", Some("blue")),
        ("agent_dave", None),
    ] {
        app.register_agent(agent).await;
        if let Some(team) = team {
            app.send(
                Method::PATCH,
                &format!("/v1/agents/{agent}"),
                Body::Json(json!({"team": team})),
            )
            .await
            .assert_ok();
        }
    }
}

/// Twelve transfers in 2026-03-02 .. 2026-03-04, and two outside it.
fn story() -> Vec<Seed> {
    let (alice, bob, carol, dave) = ("agent_alice", "agent_bob", "agent_carol", "agent_dave");
    vec![
        // 1-3: completed, at 10:00, 10:05, 10:10; the third on Agent A's word.
        Seed {
            accept: Some(10),
            briefing: Some(60),
            gap: Some((2, true)),
            ..seed(alice, bob, "completed", None, "2026-03-02T10:00:00Z")
        },
        Seed {
            accept: Some(20),
            briefing: Some(30),
            gap: Some((4, true)),
            ..seed(alice, carol, "completed", None, "2026-03-02T10:05:00Z")
        },
        Seed {
            accept: Some(30),
            briefing: Some(90),
            gap: Some((0, false)),
            ..seed(carol, bob, "completed", None, "2026-03-02T10:10:00Z")
        },
        // 4-6: declined.
        seed(alice, bob, "declined", Some("busy"), "2026-03-02T10:20:00Z"),
        seed(
            carol,
            dave,
            "declined",
            Some("wrong_skill"),
            "2026-03-02T11:00:00Z",
        ),
        seed(alice, bob, "declined", Some("busy"), "2026-03-02T11:30:00Z"),
        // 7: the caller left during the briefing.
        Seed {
            accept: Some(40),
            ..seed(
                bob,
                carol,
                "abandoned",
                Some("caller_left"),
                "2026-03-02T11:40:00Z",
            )
        },
        // 8-11: the next day.
        Seed {
            accept: Some(50),
            briefing: Some(120),
            gap: Some((6, true)),
            ..seed(dave, carol, "completed", None, "2026-03-03T09:00:00Z")
        },
        seed(
            alice,
            dave,
            "cancelled",
            Some("agent_cancelled"),
            "2026-03-03T09:10:00Z",
        ),
        seed(bob, alice, "initiated", None, "2026-03-03T09:20:00Z"),
        Seed {
            accept: Some(5),
            ..seed(alice, bob, "briefing", None, "2026-03-03T09:30:00Z")
        },
        // 12: exactly at the start of the range, which includes it.
        seed(
            carol,
            alice,
            "expired",
            Some("no_answer"),
            "2026-03-02T00:00:00Z",
        ),
        // Outside: exactly at the end of the range, and before it.
        seed(alice, bob, "declined", Some("busy"), "2026-03-04T00:00:00Z"),
        seed(dave, bob, "declined", Some("busy"), "2026-03-01T23:59:59Z"),
    ]
}

const RANGE: &str = "from=2026-03-02T00:00:00Z&to=2026-03-04T00:00:00Z";

async fn seeded() -> TestApp {
    let app = TestApp::spawn().await;
    agents(&app).await;
    insert(&app, &story()).await;
    app
}

#[track_caller]
fn assert_close(actual: &Value, expected: f64, what: &str) {
    let actual = actual
        .as_f64()
        .unwrap_or_else(|| panic!("{what}: {actual} is no number"));
    assert!(
        (actual - expected).abs() < 1e-6,
        "{what}: {actual}, expected {expected}"
    );
}

/// Counts of a `by_state`/`by_outcome` object that are not 0.
fn nonzero(counts: &Value) -> Value {
    let kept: serde_json::Map<String, Value> = counts
        .as_object()
        .expect("counts")
        .iter()
        .filter(|(_, n)| n.as_i64() != Some(0))
        .map(|(k, n)| (k.clone(), n.clone()))
        .collect();
    Value::Object(kept)
}

#[tokio::test]
async fn totals_match_the_figures_worked_out_by_hand() {
    let app = seeded().await;
    let stats = app.get_ok(&format!("/v1/stats?{RANGE}")).await;
    assert_eq!(stats["from"], "2026-03-02T00:00:00Z");
    assert_eq!(stats["to"], "2026-03-04T00:00:00Z");
    assert!(stats.get("series").is_none(), "no series without a bucket");
    let t = &stats["totals"];
    assert_eq!(t["transfers"], 12);
    assert_eq!(t["by_state"].as_object().unwrap().len(), 9, "every state");
    assert_eq!(
        nonzero(&t["by_state"]),
        json!({"completed": 4, "declined": 3, "abandoned": 1, "cancelled": 1, "initiated": 1,
               "briefing": 1, "expired": 1})
    );
    assert_eq!(
        t["by_outcome"].as_object().unwrap().len(),
        9,
        "every outcome"
    );
    assert_eq!(
        nonzero(&t["by_outcome"]),
        json!({"busy": 2, "wrong_skill": 1, "caller_left": 1, "agent_cancelled": 1, "no_answer": 1})
    );
    // 12 less the two under way; 4 of those 10 completed; 1 of 12 abandoned.
    assert_eq!(t["ended"], 10);
    assert_close(&t["completion_rate"], 0.4, "completion rate");
    assert_close(&t["abandoned_rate"], 1.0 / 12.0, "abandoned rate");
    // Accepted after 5, 10, 20, 30, 40, 50 s: the median halfway from 20 to 30, p90 at
    // position 0.9 × 5 = 4.5, halfway from 40 to 50.
    assert_eq!(t["time_to_accept"]["count"], 6);
    assert_close(&t["time_to_accept"]["p50_ms"], 25_000.0, "accept p50");
    assert_close(&t["time_to_accept"]["p90_ms"], 45_000.0, "accept p90");
    // Briefed 30, 60, 90, 120 s: p50 at 1.5 → 75 s; p90 at 2.7 → 90 + 0.7 × 30 = 111 s.
    assert_eq!(t["briefing"]["count"], 4);
    assert_close(&t["briefing"]["p50_ms"], 75_000.0, "briefing p50");
    assert_close(&t["briefing"]["p90_ms"], 111_000.0, "briefing p90");
    // Seen hand-offs took 2, 4, 6 s (the one on Agent A's word is left out): p50 4 s, p90 at
    // 1.8 → 4 + 0.8 × 2 = 5.6 s.
    assert_eq!(t["handoff_gap"]["count"], 3);
    assert_close(&t["handoff_gap"]["p50_ms"], 4_000.0, "gap p50");
    assert_close(&t["handoff_gap"]["p90_ms"], 5_600.0, "gap p90");
    assert_eq!(
        t["top_decliners"],
        json!([{"agent": "agent_bob", "declined": 2}, {"agent": "agent_dave", "declined": 1}])
    );
}

#[tokio::test]
async fn agent_and_team_filters_keep_transfers_with_them_on_either_side() {
    let app = seeded().await;
    let carol = app
        .get_ok(&format!("/v1/stats?{RANGE}&agent=agent_carol"))
        .await;
    assert_eq!(carol["agent"], "agent_carol");
    let t = &carol["totals"];
    // 2, 3, 5, 7, 8 and 12 of the story.
    assert_eq!(t["transfers"], 6);
    assert_eq!(
        nonzero(&t["by_state"]),
        json!({"completed": 3, "declined": 1, "abandoned": 1, "expired": 1})
    );
    assert_close(&t["completion_rate"], 0.5, "carol's completion rate");
    assert_eq!(
        t["top_decliners"],
        json!([{"agent": "agent_dave", "declined": 1}])
    );
    // Accepted after 20, 30, 40, 50 s.
    assert_close(
        &t["time_to_accept"]["p50_ms"],
        35_000.0,
        "carol's accept p50",
    );

    let blue = app.get_ok(&format!("/v1/stats?{RANGE}&team=blue")).await;
    assert_eq!(blue["team"], "blue");
    assert_eq!(blue["totals"], carol["totals"], "Carol is team blue alone");

    // Alice or Bob on a side: all but 5 and 8 (Carol and Dave between themselves).
    let red = app.get_ok(&format!("/v1/stats?{RANGE}&team=red")).await;
    let t = &red["totals"];
    assert_eq!(t["transfers"], 10);
    assert_eq!(
        nonzero(&t["by_state"]),
        json!({"completed": 3, "declined": 2, "abandoned": 1, "cancelled": 1, "initiated": 1,
               "briefing": 1, "expired": 1})
    );
    assert_eq!(
        t["top_decliners"],
        json!([{"agent": "agent_bob", "declined": 2}])
    );

    let both = app
        .get_ok(&format!("/v1/stats?{RANGE}&team=red&agent=agent_dave"))
        .await;
    // 9: Alice to Dave.
    assert_eq!(both["totals"]["transfers"], 1);
    assert_eq!(both["totals"]["by_state"]["cancelled"], 1);

    for nobody in ["team=green", "agent=agent_zed"] {
        let empty = app.get_ok(&format!("/v1/stats?{RANGE}&{nobody}")).await;
        let t = &empty["totals"];
        assert_eq!(t["transfers"], 0, "{nobody}");
        assert_eq!(t["ended"], 0);
        assert!(t["completion_rate"].is_null() && t["abandoned_rate"].is_null());
        assert_eq!(
            t["time_to_accept"],
            json!({"count": 0, "p50_ms": null, "p90_ms": null})
        );
        assert_eq!(t["top_decliners"], json!([]));
    }
}

#[tokio::test]
async fn the_range_bounds_initiated_at_and_defaults_to_the_last_seven_days() {
    let app = seeded().await;
    let next_day = app
        .get_ok("/v1/stats?from=2026-03-03T00:00:00Z&to=2026-03-04T00:00:00Z")
        .await;
    assert_eq!(next_day["totals"]["transfers"], 4, "8 to 11 of the story");
    let wider = app
        .get_ok("/v1/stats?from=2026-03-01T00:00:00Z&to=2026-03-05T00:00:00Z")
        .await;
    assert_eq!(
        wider["totals"]["transfers"], 14,
        "the two just outside are in"
    );
    assert_eq!(
        wider["totals"]["top_decliners"][0],
        json!({"agent": "agent_bob", "declined": 4})
    );

    // Without a range, the story (long ago) is out and yesterday's transfer is in.
    let recent = Seed {
        initiated: Utc::now() - Duration::days(1),
        ..seed(
            "agent_alice",
            "agent_bob",
            "initiated",
            None,
            "2026-01-01T00:00:00Z",
        )
    };
    insert(&app, &[recent]).await;
    let default = app.get_ok("/v1/stats").await;
    assert_eq!(default["totals"]["transfers"], 1);
    let (from, to) = (
        at(default["from"].as_str().unwrap()),
        at(default["to"].as_str().unwrap()),
    );
    assert_eq!(to - from, Duration::days(7));
    assert!((Utc::now() - to).num_seconds().abs() < 60, "to is now");
}

#[tokio::test]
async fn a_series_gives_the_same_figures_per_bucket_with_empty_buckets_too() {
    let app = seeded().await;
    let days = app.get_ok(&format!("/v1/stats?{RANGE}&bucket=day")).await;
    assert_eq!(days["bucket"], "day");
    let series = days["series"].as_array().expect("series");
    assert_eq!(series.len(), 2);
    let (first, second) = (&series[0], &series[1]);
    assert_eq!(first["start"], "2026-03-02T00:00:00Z");
    assert_eq!(second["start"], "2026-03-03T00:00:00Z");
    // Day one: 1 to 7 and 12, all ended, 3 completed.
    assert_eq!(first["transfers"], 8);
    assert_eq!(first["ended"], 8);
    assert_close(&first["completion_rate"], 3.0 / 8.0, "day one completion");
    assert_close(&first["abandoned_rate"], 1.0 / 8.0, "day one abandoned");
    assert_eq!(
        first["top_decliners"],
        json!([{"agent": "agent_bob", "declined": 2}, {"agent": "agent_dave", "declined": 1}])
    );
    // Accepted after 10, 20, 30, 40 s.
    assert_close(&first["time_to_accept"]["p50_ms"], 25_000.0, "day one p50");
    assert_close(&first["time_to_accept"]["p90_ms"], 37_000.0, "day one p90");
    // Day two: 8 to 11; 8 and 9 ended, 8 completed; accepted after 5 and 50 s.
    assert_eq!(second["transfers"], 4);
    assert_eq!(second["ended"], 2);
    assert_close(&second["completion_rate"], 0.5, "day two completion");
    assert_close(&second["abandoned_rate"], 0.0, "day two abandoned");
    assert_close(&second["time_to_accept"]["p50_ms"], 27_500.0, "day two p50");
    assert_close(&second["time_to_accept"]["p90_ms"], 45_500.0, "day two p90");
    assert_eq!(second["handoff_gap"]["count"], 1);
    assert_close(&second["handoff_gap"]["p90_ms"], 6_000.0, "day two gap");
    assert_eq!(second["top_decliners"], json!([]));
    let plain = app.get_ok(&format!("/v1/stats?{RANGE}")).await;
    assert_eq!(days["totals"], plain["totals"], "the totals do not change");

    let hours = app
        .get_ok("/v1/stats?from=2026-03-02T00:00:00Z&to=2026-03-03T00:00:00Z&bucket=hour")
        .await;
    let series = hours["series"].as_array().expect("series");
    assert_eq!(series.len(), 24, "every hour, empty or not");
    let by_hour: Vec<i64> = series
        .iter()
        .map(|b| b["transfers"].as_i64().unwrap())
        .collect();
    let mut expected = vec![0; 24];
    (expected[0], expected[10], expected[11]) = (1, 4, 3);
    assert_eq!(by_hour, expected);
    assert_eq!(series[11]["by_state"]["declined"], 2);
    assert_eq!(series[11]["top_decliners"].as_array().unwrap().len(), 2);
    let empty = &series[5];
    assert_eq!(empty["start"], "2026-03-02T05:00:00Z");
    assert!(empty["completion_rate"].is_null() && empty["briefing"]["p50_ms"].is_null());
    assert_eq!(hours["totals"]["transfers"], 8);

    // A range starting mid-hour: the first bucket starts on the hour, counting from `from`.
    let cut = app
        .get_ok("/v1/stats?from=2026-03-02T10:30:00Z&to=2026-03-02T12:00:00Z&bucket=hour")
        .await;
    let starts: Vec<(&str, i64)> = cut["series"]
        .as_array()
        .unwrap()
        .iter()
        .map(|b| {
            (
                b["start"].as_str().unwrap(),
                b["transfers"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        starts,
        [("2026-03-02T10:00:00Z", 0), ("2026-03-02T11:00:00Z", 3)]
    );
}

#[tokio::test]
async fn unreasonable_ranges_and_filters_are_422_naming_the_field() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("from=2026-03-02T00:00:00Z&to=2026-03-02T00:00:00Z", "to"),
        ("from=2026-03-03T00:00:00Z&to=2026-03-02T00:00:00Z", "to"),
        ("from=2025-01-01T00:00:00Z&to=2026-01-02T00:00:01Z", "from"),
        (
            "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:01Z&bucket=hour",
            "bucket",
        ),
        ("agent=", "agent"),
        ("team=%20", "team"),
        ("bucket=week", "query"),
        ("from=yesterday", "query"),
        ("from=0000-01-01T00:00:00Z", "query"),
        ("group=agent", "query"),
    ] {
        let reply = app.get(&format!("/v1/stats?{query}")).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [field], "{query}: {}", reply.body);
    }
    // The limits themselves are allowed.
    for query in [
        "from=2025-01-01T00:00:00Z&to=2026-01-02T00:00:00Z&bucket=day",
        "from=2026-01-01T00:00:00Z&to=2026-02-01T00:00:00Z&bucket=hour",
    ] {
        let stats = app.get_ok(&format!("/v1/stats?{query}")).await;
        assert_eq!(stats["totals"]["transfers"], 0, "{query}");
    }
}

#[tokio::test]
async fn admins_and_supervisors_read_stats_and_no_one_else() {
    let app = TestApp::spawn().await;
    app.register_agent("agent_alice").await;
    let admin = app.api_key("admin", None).await;
    let supervisor = app.api_key("supervisor", None).await;
    let agent = app.api_key("agent", Some("agent_alice")).await;
    let frontend = app.api_key("frontend", None).await;
    for key in [&admin, &supervisor] {
        let reply = app.send_as(key, Method::GET, "/v1/stats", Body::None).await;
        assert_eq!(reply.status, StatusCode::OK, "{}", reply.body);
    }
    for key in [&agent, &frontend] {
        let reply = app.send_as(key, Method::GET, "/v1/stats", Body::None).await;
        reply.problem(StatusCode::FORBIDDEN);
    }
    app.get("/v1/stats").await.problem(StatusCode::UNAUTHORIZED);
}

/// 20,000 transfers, one every 15 minutes from 2026-01-01 (about 208 days), between 100
/// agents in 10 teams, analyzed: enough for the planner to choose as it would in production.
async fn many_transfers(app: &TestApp) {
    let mut tx = app.pool.begin().await.unwrap();
    for sql in [
        "SET LOCAL session_replication_role = replica",
        "INSERT INTO agents (identity, display_name, team)
         SELECT 'agent_' || i, 'Agent ' || i, 'team_' || i % 10 FROM generate_series(0, 99) i",
        "INSERT INTO calls (id, room_name, caller_name, caller_identity, status, created_at, ended_at)
         SELECT gen_random_uuid(), 'room_' || i, 'Caller', 'caller_' || i, 'ended', at, at
         FROM generate_series(0, 19999) i,
              LATERAL (SELECT '2026-01-01T00:00:00Z'::timestamptz + i * interval '15 minutes') t(at)",
        "INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff, caller_room,
                                briefing_room, accept_deadline, state, outcome, initiated_at,
                                declined_at)
         SELECT gen_random_uuid(), c.id, 'agent_' || n % 100, 'agent_' || (n * 7 + 3) % 100,
                'consult', 'agent_joins_caller', c.room_name, 'briefing_' || c.room_name,
                c.created_at, 'declined', 'busy', c.created_at, c.created_at
         FROM (SELECT *, substr(room_name, 6)::int AS n FROM calls) c
         WHERE n % 100 <> (n * 7 + 3) % 100",
    ] {
        sqlx::query(sql).execute(&mut *tx).await.expect(sql);
    }
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE agents, transfers")
        .execute(&app.pool)
        .await
        .unwrap();
}

#[tokio::test]
async fn the_plan_reads_the_range_and_agent_indexes_not_the_table() {
    use warmline::stats::model::Bucket;
    use warmline::stats::store::{StatsFilter, plan};
    let app = TestApp::spawn().await;
    many_transfers(&app).await;
    let filter = |agent: Option<&str>, team: Option<&str>, bucket| StatsFilter {
        from: at("2026-03-02T00:00:00Z"),
        to: at("2026-03-04T00:00:00Z"),
        agent: agent.map(str::to_owned),
        team: team.map(str::to_owned),
        bucket,
    };
    // A team's members are looked up once (a hundred agents are read whole, rightly), then
    // found through the same indexes as one agent.
    let agent_indexes = ["transfers_from_agent_idx", "transfers_to_agent_idx"];
    for (f, indexes) in [
        (filter(None, None, None), &["transfers_created_idx"][..]),
        (
            filter(None, None, Some(Bucket::Hour)),
            &["transfers_created_idx"],
        ),
        (filter(Some("agent_7"), None, None), &agent_indexes),
        (
            filter(None, Some("team_3"), Some(Bucket::Day)),
            &agent_indexes,
        ),
    ] {
        let plan = plan(&app.pool, &f).await.unwrap().join("\n");
        for index in indexes {
            assert!(plan.contains(index), "{f:?} uses {index}:\n{plan}");
        }
        assert!(
            !plan.contains("Seq Scan on transfers"),
            "{f:?} reads no whole table:\n{plan}"
        );
    }
}
