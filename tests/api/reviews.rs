//! QA reviews: versioned scorecards, append-only reviews of ended transfers, the timeline
//! event, the lists and the review queue.

use reqwest::{Method, StatusCode};
use serde_json::{Value, json};

use crate::support::{Body, TestApp, id, sqlstate};

/// Two criteria on 1–5 scales, the briefing weighing twice the empathy.
fn warm_transfer_criteria() -> Value {
    json!([
        {"key": "briefing", "label": "Briefed Agent B fully", "weight": 2, "scale": {"min": 1, "max": 5}},
        {"key": "empathy", "label": "Showed empathy", "weight": 1, "scale": {"min": 1, "max": 5}}
    ])
}

async fn create_scorecard(app: &TestApp) -> Value {
    let reply = app
        .post(
            "/v1/scorecards",
            json!({"name": "warm-transfer", "criteria": warm_transfer_criteria()}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

/// A review in open mode, where the reviewer is named.
fn review(scores: Value) -> Value {
    json!({"scorecard": "warm-transfer", "scores": scores, "reviewer": "dana"})
}

async fn post_review(app: &TestApp, transfer: &str, body: Value) -> crate::support::Reply {
    app.post(&format!("/v1/transfers/{transfer}/reviews"), body)
        .await
}

/// Reviews `transfer` and returns the 201 body.
async fn reviewed(app: &TestApp, transfer: &str, body: Value) -> Value {
    let reply = post_review(app, transfer, body).await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    reply.body
}

fn ids(page: &Value) -> Vec<String> {
    page["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(id)
        .collect()
}

#[tokio::test]
async fn a_scorecard_gains_versions_and_its_old_versions_stay_as_they_were() {
    let app = TestApp::spawn().await;
    let first = create_scorecard(&app).await;
    assert_eq!(first["version"], 1);
    assert_eq!(first["criteria"][0]["label"], "Briefed Agent B fully");

    let mut criteria = warm_transfer_criteria();
    criteria.as_array_mut().unwrap().push(
        json!({"key": "hold_time", "label": "Short wait", "weight": 1, "scale": {"min": 0, "max": 3}}),
    );
    let second = app
        .post(
            "/v1/scorecards/warm-transfer/versions",
            json!({"criteria": criteria}),
        )
        .await;
    assert_eq!(second.status, StatusCode::CREATED, "{}", second.body);
    assert_eq!(second.body["version"], 2);
    assert_eq!(
        second.headers["location"],
        "/v1/scorecards/warm-transfer?version=2"
    );

    let latest = app.get("/v1/scorecards/warm-transfer").await;
    latest.assert_ok();
    assert_eq!(latest.body["version"], 2);
    assert_eq!(latest.body["criteria"].as_array().unwrap().len(), 3);
    let old = app.get("/v1/scorecards/warm-transfer?version=1").await;
    old.assert_ok();
    assert_eq!(old.body["criteria"], first["criteria"]);
    app.get("/v1/scorecards/warm-transfer?version=3")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/scorecards/nothing")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get("/v1/scorecards/warm-transfer?version=x")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);

    let again = app
        .post(
            "/v1/scorecards",
            json!({"name": "warm-transfer", "criteria": warm_transfer_criteria()}),
        )
        .await;
    again.problem(StatusCode::CONFLICT);
    app.post(
        "/v1/scorecards/nothing/versions",
        json!({"criteria": warm_transfer_criteria()}),
    )
    .await
    .problem(StatusCode::NOT_FOUND);

    // The database refuses to change a version, whoever asks.
    for sql in [
        "UPDATE scorecards SET criteria = '[]'",
        "DELETE FROM scorecards",
        "TRUNCATE scorecards CASCADE",
    ] {
        assert_eq!(
            sqlstate(&app.pool, sql, None).await.as_deref(),
            Some(warmline::error::SQLSTATE_APPEND_ONLY),
            "{sql}"
        );
    }
}

#[tokio::test]
async fn scorecards_are_listed_by_name_at_their_latest_version_page_by_page() {
    let app = TestApp::spawn().await;
    for name in ["c-card", "a-card", "b-card"] {
        let reply = app
            .post(
                "/v1/scorecards",
                json!({"name": name, "criteria": warm_transfer_criteria()}),
            )
            .await;
        assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    }
    app.post_ok(
        "/v1/scorecards/b-card/versions",
        json!({"criteria": warm_transfer_criteria()}),
    )
    .await;
    let first = app.get("/v1/scorecards?limit=2").await;
    first.assert_ok();
    let names: Vec<&str> = first.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["a-card", "b-card"]);
    assert_eq!(first.body["items"][1]["version"], 2, "the latest version");
    let cursor = first.body["next_cursor"].as_str().expect("a next page");
    let second = app
        .get(&format!("/v1/scorecards?limit=2&cursor={cursor}"))
        .await;
    second.assert_ok();
    assert_eq!(second.body["items"][0]["name"], "c-card");
    assert!(second.body.get("next_cursor").is_none());
    app.get("/v1/scorecards?cursor=nonsense")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn scorecard_names_and_criteria_are_checked() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/scorecards",
            json!({"name": "Warm Transfer", "criteria": [
                {"key": "briefing", "label": "Briefing", "weight": 1, "scale": {"min": 1, "max": 5}},
                {"key": "briefing", "label": " ", "weight": 0, "scale": {"min": 5, "max": 5}},
                {"key": "Bad key", "label": "x", "weight": -1, "scale": {"min": -5000, "max": 1}}
            ]}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        [
            "name",
            "criteria[1].key",
            "criteria[1].label",
            "criteria[1].weight",
            "criteria[1].scale",
            "criteria[2].key",
            "criteria[2].weight",
            "criteria[2].scale"
        ]
    );
    for body in [
        json!({"name": "qa", "criteria": []}),
        json!({"name": "qa"}),
        json!({"name": "qa", "criteria": [{"key": "a", "label": "A", "weight": 1, "scale": {"min": 1, "max": 2}, "colour": "red"}]}),
        json!({"name": "qa", "criteria": [{"key": "a", "label": "A", "weight": 1, "scale": {"min": 1.5, "max": 2}}]}),
    ] {
        app.post("/v1/scorecards", body.clone())
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
    assert_eq!(crate::support::count(&app.pool, "scorecards").await, 0);
}

#[tokio::test]
async fn a_review_scores_every_criterion_and_stores_the_weighted_total() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (call, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;

    let reply = post_review(
        &app,
        &transfer,
        json!({
            "scorecard": "warm-transfer", "scores": {"briefing": 5, "empathy": 1},
            "notes": "  Clear briefing; no warmth.  ", "at_ms": 61250, "reviewer": "dana"
        }),
    )
    .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let review = reply.body;
    // (2 × 100 % + 1 × 0 %) / 3
    assert_eq!(review["total"], 66.67);
    assert_eq!(review["scorecard_version"], 1, "the latest by default");
    assert_eq!(review["call_id"], call["id"]);
    assert_eq!(review["reviewer"], "dana");
    assert_eq!(review["notes"], "Clear briefing; no warmth.");
    assert_eq!(review["at_ms"], 61250);
    assert!(review["superseded_by"].is_null());
    let location = reply.headers["location"].to_str().unwrap().to_owned();
    assert_eq!(location, format!("/v1/reviews/{}", id(&review)));
    assert_eq!(app.get_ok(&location).await, review);
    app.get(&format!("/v1/reviews/{}", uuid::Uuid::now_v7()))
        .await
        .problem(StatusCode::NOT_FOUND);

    // On a later version, scored on the version named.
    app.post_ok(
        "/v1/scorecards/warm-transfer/versions",
        json!({"criteria": [{"key": "overall", "label": "Overall", "weight": 1, "scale": {"min": 0, "max": 4}}]}),
    )
    .await;
    let on_v2 = reviewed(
        &app,
        &transfer,
        json!({"scorecard": "warm-transfer", "scores": {"overall": 3}, "reviewer": "erin"}),
    )
    .await;
    assert_eq!(
        (on_v2["scorecard_version"].clone(), on_v2["total"].clone()),
        (json!(2), json!(75.0))
    );
    let on_v1 = reviewed(
        &app,
        &transfer,
        json!({"scorecard": "warm-transfer", "scorecard_version": 1,
               "scores": {"briefing": 1, "empathy": 1}, "reviewer": "erin"}),
    )
    .await;
    assert_eq!(on_v1["total"], 0.0);
}

#[tokio::test]
async fn scores_must_match_the_scorecard_version_exactly() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (_, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;

    let cases = [
        (review(json!({"briefing": 5})), vec!["scores.empathy"]),
        (
            review(json!({"briefing": 5, "empathy": 6})),
            vec!["scores.empathy"],
        ),
        (
            review(json!({"briefing": 0, "empathy": 3, "tone": 2})),
            vec!["scores.briefing", "scores.tone"],
        ),
        (
            json!({"scorecard": "nothing", "scores": {}, "reviewer": "dana"}),
            vec!["scorecard"],
        ),
        (
            json!({"scorecard": "No such name", "scores": {}, "reviewer": "dana"}),
            vec!["scorecard"],
        ),
        (
            json!({"scorecard": "warm-transfer", "scorecard_version": 7,
                   "scores": {"briefing": 5, "empathy": 5}, "reviewer": "dana"}),
            vec!["scorecard"],
        ),
        (
            review(json!({"briefing": 4.5, "empathy": 3})),
            vec!["scores.briefing"],
        ),
        (
            json!({"scorecard": "warm-transfer", "scores": {"briefing": 5, "empathy": 5},
                   "reviewer": "dana", "notes": "x".repeat(10_001)}),
            vec!["notes"],
        ),
        (
            json!({"scorecard": "warm-transfer", "scores": {"briefing": 5, "empathy": 5},
                   "reviewer": "dana", "grade": "A"}),
            vec!["body"],
        ),
    ];
    for (body, fields) in cases {
        let reply = post_review(&app, &transfer, body.clone()).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        let got = reply.error_fields();
        assert!(
            fields.iter().all(|f| got.contains(&f.to_string())) || fields == ["body"],
            "{body}: {got:?}"
        );
    }
    assert_eq!(crate::support::count(&app.pool, "reviews").await, 0);
}

#[tokio::test]
async fn a_review_is_pinned_to_a_moment_or_to_a_segment_of_its_own_call() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (call, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let (other_call, _) = app.ended_transfer("Jim", "agent_carol", "agent_dave").await;
    for (c, segment) in [(&call, "s1"), (&other_call, "s9")] {
        let appended = app
            .post(
                &format!("/v1/calls/{}/transcript", id(c)),
                json!({"segments": [{"segment_id": segment, "speaker": "Jane", "role": "caller", "text": "My order", "start_ms": 1200}]}),
            )
            .await;
        assert!(appended.status.is_success(), "{}", appended.body);
    }
    let scores = json!({"briefing": 3, "empathy": 3});
    let with = |extra: Value| {
        let mut body = review(scores.clone());
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };

    let pinned = reviewed(&app, &transfer, with(json!({"segment_id": "s1"}))).await;
    assert_eq!(pinned["segment_id"], "s1");
    for (extra, field) in [
        (json!({"segment_id": "s9"}), "segment_id"),
        (json!({"segment_id": "nowhere"}), "segment_id"),
        (json!({"at_ms": -1}), "at_ms"),
        (json!({"at_ms": 10, "segment_id": "s1"}), "segment_id"),
    ] {
        let reply = post_review(&app, &transfer, with(extra.clone())).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert!(
            reply.error_fields().contains(&field.to_owned()),
            "{extra}: {}",
            reply.body
        );
    }
}

#[tokio::test]
async fn only_an_ended_transfer_is_reviewed() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (_, transfer) = app.transfer_in_briefing("Jane").await;
    let scores = json!({"briefing": 3, "empathy": 3});
    let reply = post_review(&app, &transfer, review(scores.clone())).await;
    assert_eq!(
        reply.problem(StatusCode::CONFLICT)["current_state"],
        "briefing"
    );
    post_review(
        &app,
        &uuid::Uuid::now_v7().to_string(),
        review(scores.clone()),
    )
    .await
    .problem(StatusCode::NOT_FOUND);
    app.get(&format!("/v1/transfers/{}/reviews", uuid::Uuid::now_v7()))
        .await
        .problem(StatusCode::NOT_FOUND);
    // Open mode has no key to name the reviewer after.
    let (_, ended) = app.ended_transfer("Jim", "agent_carol", "agent_dave").await;
    let reply = post_review(
        &app,
        &ended,
        json!({"scorecard": "warm-transfer", "scores": scores}),
    )
    .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["reviewer"]);
}

#[tokio::test]
async fn a_revision_supersedes_a_review_which_is_kept_unchanged() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (_, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let (_, other) = app.ended_transfer("Jim", "agent_carol", "agent_dave").await;
    let first = reviewed(
        &app,
        &transfer,
        review(json!({"briefing": 2, "empathy": 2})),
    )
    .await;
    let mut revision = review(json!({"briefing": 4, "empathy": 2}));
    revision["supersedes"] = json!(id(&first));
    let second = reviewed(&app, &transfer, revision.clone()).await;
    assert_eq!(second["supersedes"], first["id"]);

    let path = format!("/v1/transfers/{transfer}/reviews");
    let current = app.get_ok(&path).await;
    assert_eq!(ids(&current), [id(&second)]);
    let all = app.get_ok(&format!("{path}?include_superseded=true")).await;
    assert_eq!(ids(&all), [id(&second), id(&first)], "newest first");
    let old = &all["items"][1];
    assert_eq!(old["superseded_by"], second["id"]);
    let mut unchanged = first.clone();
    unchanged["superseded_by"] = second["id"].clone();
    assert_eq!(*old, unchanged, "only superseded_by was set");

    // The superseded review cannot be revised again: its revision can.
    app.post(&path, revision.clone())
        .await
        .problem(StatusCode::CONFLICT);
    let mut elsewhere = revision.clone();
    elsewhere["supersedes"] = json!(id(&second));
    let reply = post_review(&app, &other, elsewhere).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["supersedes"]);
    let mut unknown = revision.clone();
    unknown["supersedes"] = json!(uuid::Uuid::now_v7());
    post_review(&app, &transfer, unknown)
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);

    // The database keeps reviews as written, whoever asks.
    let review_id = Some(uuid::Uuid::parse_str(&id(&second)).unwrap());
    for sql in [
        "UPDATE reviews SET total = 100 WHERE id = $1",
        "UPDATE reviews SET superseded_by = id WHERE id = $1",
        "DELETE FROM reviews WHERE id = $1",
    ] {
        assert_eq!(
            sqlstate(&app.pool, sql, review_id).await.as_deref(),
            Some(warmline::error::SQLSTATE_APPEND_ONLY),
            "{sql}"
        );
    }
    let first_id = Some(uuid::Uuid::parse_str(&id(&first)).unwrap());
    assert_eq!(
        sqlstate(
            &app.pool,
            "UPDATE reviews SET superseded_by = NULL WHERE id = $1",
            first_id
        )
        .await
        .as_deref(),
        Some(warmline::error::SQLSTATE_APPEND_ONLY)
    );
}

#[tokio::test]
async fn a_review_goes_on_the_calls_timeline() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (call, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let first = reviewed(
        &app,
        &transfer,
        review(json!({"briefing": 5, "empathy": 5})),
    )
    .await;
    let mut revision = review(json!({"briefing": 5, "empathy": 4}));
    revision["supersedes"] = first["id"].clone();
    let second = reviewed(&app, &transfer, revision).await;

    let timeline = app
        .get(&format!("/v1/calls/{}/timeline?limit=200", id(&call)))
        .await;
    timeline.assert_ok();
    let events: Vec<&Value> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["kind"] == "review.created")
        .collect();
    assert_eq!(events.len(), 2, "{}", timeline.body);
    assert_eq!(events[0]["transfer_id"].as_str(), Some(transfer.as_str()));
    assert_eq!(
        events[0]["data"],
        json!({"review_id": first["id"], "reviewer": "dana", "total": 100.0,
               "scorecard": "warm-transfer", "scorecard_version": 1, "supersedes": null})
    );
    assert_eq!(events[1]["data"]["review_id"], second["id"]);
    assert_eq!(events[1]["data"]["supersedes"], first["id"]);
    assert_eq!(events[1]["data"]["total"], 91.67, "(2 × 100 % + 75 %) / 3");
}

#[tokio::test]
async fn reviews_are_listed_newest_first_by_agent_reviewer_scorecard_score_and_time() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    app.post_ok(
        "/v1/scorecards",
        json!({"name": "short", "criteria": [{"key": "overall", "label": "Overall", "weight": 1, "scale": {"min": 0, "max": 1}}]}),
    )
    .await;
    let (_, to_bob) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let (_, to_carol) = app
        .ended_transfer("Jim", "agent_alice", "agent_carol")
        .await;
    let (_, dave_to_erin) = app.ended_transfer("Joe", "agent_dave", "agent_erin").await;

    let a = reviewed(&app, &to_bob, review(json!({"briefing": 5, "empathy": 5}))).await;
    let mut by_erin = review(json!({"briefing": 1, "empathy": 1}));
    by_erin["reviewer"] = json!("erin");
    let b = reviewed(&app, &to_carol, by_erin).await;
    let c = reviewed(
        &app,
        &dave_to_erin,
        json!({"scorecard": "short", "scores": {"overall": 1}, "reviewer": "dana"}),
    )
    .await;
    let mut revision = review(json!({"briefing": 3, "empathy": 3}));
    revision["supersedes"] = a["id"].clone();
    let d = reviewed(&app, &to_bob, revision).await;

    let list = |query: &str| {
        let app = &app;
        let path = format!("/v1/reviews{query}");
        async move {
            let reply = app.get(&path).await;
            assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
            ids(&reply.body)
        }
    };
    assert_eq!(list("").await, [id(&d), id(&c), id(&b)], "current only");
    assert_eq!(
        list("?include_superseded=true").await,
        [id(&d), id(&c), id(&b), id(&a)]
    );
    assert_eq!(list("?agent=agent_alice").await, [id(&d), id(&b)]);
    assert_eq!(list("?agent=agent_bob").await, [id(&d)]);
    assert_eq!(list("?agent=agent_erin").await, [id(&c)]);
    assert_eq!(list("?reviewer=erin").await, [id(&b)]);
    assert_eq!(list("?scorecard=short").await, [id(&c)]);
    assert_eq!(
        list("?scorecard=warm-transfer&scorecard_version=1").await,
        [id(&d), id(&b)]
    );
    assert_eq!(list("?min_score=50").await, [id(&d), id(&c)]);
    assert_eq!(list("?max_score=50").await, [id(&d), id(&b)]);
    assert_eq!(list("?min_score=10&max_score=90").await, [id(&d)]);
    let at = |review: &Value| review["created_at"].as_str().unwrap().replace('+', "%2B");
    assert_eq!(
        list(&format!("?created_after={}", at(&c))).await,
        [id(&d), id(&c)]
    );
    assert_eq!(list(&format!("?created_before={}", at(&c))).await, [id(&b)]);

    // Page by page, the same reviews in the same order.
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let path = match &cursor {
            Some(c) => format!("/v1/reviews?include_superseded=true&limit=1&cursor={c}"),
            None => "/v1/reviews?include_superseded=true&limit=1".to_owned(),
        };
        let page = app.get_ok(&path).await;
        seen.extend(ids(&page));
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, [id(&d), id(&c), id(&b), id(&a)]);

    for query in [
        "?min_score=101",
        "?min_score=60&max_score=40",
        "?scorecard_version=1",
        "?scorecard=Not%20a%20name",
        "?created_after=yesterday",
        "?cursor=nonsense",
        "?limit=0",
        "?grade=A",
    ] {
        app.get(&format!("/v1/reviews{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

/// The ids the queue lists for `query`, every page read with pages of `limit`.
async fn queue_ids(app: &TestApp, query: &str, limit: usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/reviews/queue?limit={limit}{query}");
        if let Some(c) = &cursor {
            path.push_str(&format!("&cursor={c}"));
        }
        let reply = app.get(&path).await;
        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
        seen.extend(ids(&reply.body));
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return seen,
        }
    }
}

/// The transfers to `agent` the sample should hold: the `n` with the smallest MD5 of their id.
async fn lowest_md5(app: &TestApp, agent: &str, n: i64) -> Vec<String> {
    let mut picked: Vec<String> = sqlx::query_scalar(
        "SELECT id::text FROM transfers WHERE to_agent = $1 ORDER BY md5(id::text) LIMIT $2",
    )
    .bind(agent)
    .bind(n)
    .fetch_all(&app.pool)
    .await
    .unwrap();
    picked.sort();
    picked
}

#[tokio::test]
async fn the_queue_holds_ended_unreviewed_transfers_and_a_stable_sample_per_agent() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let mut to_bob = Vec::new();
    for i in 0..5 {
        let (_, t) = app
            .ended_transfer(&format!("Caller {i}"), "agent_alice", "agent_bob")
            .await;
        to_bob.push(t);
    }
    let mut to_carol = Vec::new();
    for i in 0..3 {
        let (_, t) = app
            .ended_transfer(&format!("Other {i}"), "agent_alice", "agent_carol")
            .await;
        to_carol.push(t);
    }
    // Under way: not in the queue.
    let call = app.call_with_agent("Still talking", "agent_dave").await;
    let active = id(&app
        .start_transfer(&call, "agent_dave", "agent_erin", json!({}))
        .await["transfer"]);

    let everything = queue_ids(&app, "", 50).await;
    assert_eq!(everything.len(), 8);
    assert!(!everything.contains(&active));
    assert_eq!(queue_ids(&app, "", 3).await, everything, "pages agree");
    assert_eq!(
        queue_ids(&app, "&agent=agent_carol", 50).await.len(),
        3,
        "by receiving agent"
    );

    // The week the transfers started in, all in one: set up across Monday 00:00 UTC, they
    // would fall in two weeks (moved back to the first one's start, as a replica: the state
    // machine's trigger keeps history as it was).
    let week: String = {
        let mut tx = app.pool.begin().await.unwrap();
        sqlx::query("SET LOCAL session_replication_role = replica")
            .execute(&mut *tx)
            .await
            .unwrap();
        let week = sqlx::query_scalar(
            "WITH first AS (SELECT min(initiated_at) AS at FROM transfers)
             UPDATE transfers SET initiated_at = first.at FROM first
             RETURNING to_char(first.at AT TIME ZONE 'UTC', 'IYYY-\"W\"IW')",
        )
        .fetch_all(&mut *tx)
        .await
        .unwrap()
        .swap_remove(0);
        tx.commit().await.unwrap();
        week
    };
    let sample_query = format!("&sample_per_agent=2&week={week}");
    let sample = queue_ids(&app, &sample_query, 50).await;
    assert_eq!(sample.len(), 4, "two per receiving agent");
    assert_eq!(
        queue_ids(&app, &sample_query, 1).await,
        sample,
        "stable across pages"
    );
    assert_eq!(
        queue_ids(&app, &sample_query, 50).await,
        sample,
        "and requests"
    );
    let mut bobs: Vec<String> = sample
        .iter()
        .filter(|t| to_bob.contains(t))
        .cloned()
        .collect();
    bobs.sort();
    assert_eq!(bobs, lowest_md5(&app, "agent_bob", 2).await);
    let mut carols: Vec<String> = sample
        .iter()
        .filter(|t| to_carol.contains(t))
        .cloned()
        .collect();
    carols.sort();
    assert_eq!(carols, lowest_md5(&app, "agent_carol", 2).await);

    // A review takes its transfer out, and pulls no other into the sample.
    reviewed(&app, &bobs[0], review(json!({"briefing": 3, "empathy": 3}))).await;
    let after = queue_ids(&app, &sample_query, 50).await;
    assert_eq!(after.len(), 3);
    assert!(!after.contains(&bobs[0]) && after.contains(&bobs[1]));
    assert_eq!(queue_ids(&app, "", 50).await.len(), 7);

    // Another week holds none of them.
    assert!(queue_ids(&app, "&week=2020-W10", 50).await.is_empty());
    let from = chrono::Utc::now() + chrono::Duration::hours(1);
    let later = format!(
        "&from={}",
        from.to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
    );
    assert!(queue_ids(&app, &later, 50).await.is_empty());

    for query in [
        "?sample_per_agent=0",
        "?sample_per_agent=101",
        "?week=2026-48",
        "?week=2026-W60",
        "?week=2026-W10&from=2026-03-01T00:00:00Z",
        "?from=2026-03-02T00:00:00Z&to=2026-03-01T00:00:00Z",
        "?cursor=nonsense",
    ] {
        app.get(&format!("/v1/reviews/queue{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn a_key_reviews_as_itself_and_only_it_or_an_admin_revises_its_reviews() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (_, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let admin = app.api_key_labelled("admin", Some("Ops admin")).await;
    let dana = app.api_key_labelled("supervisor", Some("Dana")).await;
    let other = app.api_key_labelled("supervisor", Some("Dana")).await;
    let unlabelled = app.api_key_labelled("supervisor", None).await;
    let path = format!("/v1/transfers/{transfer}/reviews");
    let post = |key: &str, body: Value| {
        let (app, path, key) = (&app, path.clone(), key.to_owned());
        async move {
            app.send_as(&key, Method::POST, &path, Body::Json(body))
                .await
        }
    };
    let scores = json!({"briefing": 4, "empathy": 4});

    let own = post(
        &dana,
        json!({"scorecard": "warm-transfer", "scores": scores}),
    )
    .await;
    assert_eq!(own.status, StatusCode::CREATED, "{}", own.body);
    assert_eq!(own.body["reviewer"], "Dana", "the key's label");
    let named_self = post(
        &dana,
        json!({"scorecard": "warm-transfer", "scores": scores, "reviewer": "Dana"}),
    )
    .await;
    assert_eq!(
        named_self.status,
        StatusCode::CREATED,
        "{}",
        named_self.body
    );
    post(
        &dana,
        json!({"scorecard": "warm-transfer", "scores": scores, "reviewer": "erin"}),
    )
    .await
    .problem(StatusCode::FORBIDDEN);
    let prefixed = post(
        &unlabelled,
        json!({"scorecard": "warm-transfer", "scores": scores}),
    )
    .await;
    let prefix = unlabelled.split('_').nth(1).unwrap();
    assert_eq!(
        prefixed.body["reviewer"], prefix,
        "a key without a label: its prefix"
    );

    // Another key with the same label is another reviewer.
    let revision =
        json!({"scorecard": "warm-transfer", "scores": scores, "supersedes": own.body["id"]});
    post(&other, revision.clone())
        .await
        .problem(StatusCode::FORBIDDEN);
    let by_admin = post(
        &admin,
        json!({"scorecard": "warm-transfer", "scores": scores, "supersedes": own.body["id"], "reviewer": "Dana's lead"}),
    )
    .await;
    assert_eq!(by_admin.status, StatusCode::CREATED, "{}", by_admin.body);
    assert_eq!(by_admin.body["reviewer"], "Dana's lead");
    let mut again = revision.clone();
    again["supersedes"] = named_self.body["id"].clone();
    let by_dana = post(&dana, again).await;
    assert_eq!(by_dana.status, StatusCode::CREATED, "{}", by_dana.body);

    let listed = app
        .send_as(&dana, Method::GET, "/v1/reviews?reviewer=Dana", Body::None)
        .await;
    listed.assert_ok();
    assert_eq!(ids(&listed.body), [id(&by_dana.body)]);
}

#[tokio::test]
async fn agents_and_frontends_neither_review_nor_read_reviews() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (_, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let supervisor = app.api_key("supervisor", None).await;
    let alice = app.api_key("agent", Some("agent_alice")).await;
    let frontend = app.api_key("frontend", None).await;
    let body = json!({"scorecard": "warm-transfer", "scores": {"briefing": 5, "empathy": 5}});
    let routes = [
        (Method::GET, "/v1/scorecards".to_owned(), Value::Null),
        (
            Method::POST,
            "/v1/scorecards".to_owned(),
            json!({"name": "mine", "criteria": warm_transfer_criteria()}),
        ),
        (
            Method::GET,
            "/v1/scorecards/warm-transfer".to_owned(),
            Value::Null,
        ),
        (
            Method::POST,
            "/v1/scorecards/warm-transfer/versions".to_owned(),
            json!({"criteria": warm_transfer_criteria()}),
        ),
        (
            Method::POST,
            format!("/v1/transfers/{transfer}/reviews"),
            body.clone(),
        ),
        (
            Method::GET,
            format!("/v1/transfers/{transfer}/reviews"),
            Value::Null,
        ),
        (Method::GET, "/v1/reviews".to_owned(), Value::Null),
        (Method::GET, "/v1/reviews/queue".to_owned(), Value::Null),
    ];
    for (method, path, body) in &routes {
        for key in [&alice, &frontend] {
            let sent = match body {
                Value::Null => Body::None,
                b => Body::Json(b.clone()),
            };
            app.send_as(key, method.clone(), path, sent)
                .await
                .problem(StatusCode::FORBIDDEN);
        }
        let sent = match body {
            Value::Null => Body::None,
            b => Body::Json(b.clone()),
        };
        let reply = app.send_as(&supervisor, method.clone(), path, sent).await;
        assert!(reply.status.is_success(), "{method} {path}: {}", reply.body);
    }
    assert_eq!(crate::support::count(&app.pool, "reviews").await, 1);
}

#[tokio::test]
async fn of_two_revisions_or_versions_sent_at_once_one_wins_and_the_other_is_a_conflict() {
    let app = TestApp::spawn().await;
    create_scorecard(&app).await;
    let (_, transfer) = app.ended_transfer("Jane", "agent_alice", "agent_bob").await;
    let first = reviewed(
        &app,
        &transfer,
        review(json!({"briefing": 2, "empathy": 2})),
    )
    .await;
    let mut revision = review(json!({"briefing": 4, "empathy": 4}));
    revision["supersedes"] = first["id"].clone();
    let (a, b) = tokio::join!(
        post_review(&app, &transfer, revision.clone()),
        post_review(&app, &transfer, revision.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert_eq!(
        statuses,
        [StatusCode::CREATED, StatusCode::CONFLICT],
        "{} {}",
        a.body,
        b.body
    );
    let current = app.get(&format!("/v1/transfers/{transfer}/reviews")).await;
    current.assert_ok();
    assert_eq!(current.body["items"].as_array().unwrap().len(), 1);

    let version = json!({"criteria": warm_transfer_criteria()});
    let path = "/v1/scorecards/warm-transfer/versions";
    let (a, b) = tokio::join!(
        app.post(path, version.clone()),
        app.post(path, version.clone())
    );
    let mut statuses = [a.status, b.status];
    statuses.sort();
    assert!(
        statuses == [StatusCode::CREATED, StatusCode::CREATED]
            || statuses == [StatusCode::CREATED, StatusCode::CONFLICT],
        "{} {}",
        a.body,
        b.body
    );
    let versions: Vec<i64> =
        sqlx::query_scalar("SELECT version::bigint FROM scorecards ORDER BY version")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let expected: Vec<i64> = (1..=statuses
        .iter()
        .filter(|s| **s == StatusCode::CREATED)
        .count() as i64
        + 1)
        .collect();
    assert_eq!(
        versions, expected,
        "versions are numbered without gaps or twins"
    );
}
