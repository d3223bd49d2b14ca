use reqwest::{Method, StatusCode};
use serde_json::json;

use crate::support::{Body, TestApp, count};

#[tokio::test]
async fn a_created_call_can_be_read_back_with_its_room_and_status() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/calls",
            json!({"caller_name": "  Jane Doe ", "caller_phone": "+1 415 555 0100",
                   "issue": "Order 4411 arrived damaged", "metadata": {"crm_id": "C-1029"}}),
        )
        .await;
    assert_eq!(reply.status, StatusCode::CREATED, "{}", reply.body);
    let call = reply.body;
    let id = call["id"].as_str().unwrap();
    assert_eq!(
        reply.headers["location"],
        format!("/v1/calls/{id}").as_str()
    );
    assert_eq!(call["caller_name"], "Jane Doe");
    assert_eq!(call["caller_identity"], "Jane Doe");
    assert_eq!(call["room_name"], format!("call_{id}"));
    assert_eq!(call["status"], "waiting");
    assert_eq!(call["metadata"], json!({"crm_id": "C-1029"}));

    let fetched = app.get(&format!("/v1/calls/{id}")).await;
    assert_eq!(fetched.status, StatusCode::OK);
    assert_eq!(fetched.body, call);
}

#[tokio::test]
async fn invalid_calls_are_refused_with_every_bad_field_named_and_nothing_stored() {
    let app = TestApp::spawn().await;
    let reply = app
        .post(
            "/v1/calls",
            json!({"caller_name": "   ", "caller_phone": "call me maybe", "issue": "x".repeat(4001)}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(
        reply.error_fields(),
        ["caller_name", "caller_phone", "issue"]
    );

    let too_long = app
        .post("/v1/calls", json!({"caller_name": "n".repeat(129)}))
        .await;
    assert_eq!(
        too_long.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "caller_name"
    );

    let big_metadata = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "metadata": {"blob": "x".repeat(17_000)}}),
        )
        .await;
    assert_eq!(big_metadata.error_fields(), ["metadata"]);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn malformed_bodies_get_clear_client_errors() {
    let app = TestApp::spawn().await;
    let raw = |content_type, bytes: &str| Body::Raw {
        content_type,
        bytes: bytes.as_bytes().to_vec(),
    };

    let broken = app
        .send(
            Method::POST,
            "/v1/calls",
            raw("application/json", "{\"caller_name\": "),
        )
        .await;
    assert!(
        broken.problem(StatusCode::BAD_REQUEST)["detail"]
            .as_str()
            .unwrap()
            .contains("not valid JSON")
    );

    let wrong_type = app.post("/v1/calls", json!({"caller_name": 42})).await;
    assert_eq!(
        wrong_type.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "caller_name"
    );

    let typo = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "caler_phone": "123"}),
        )
        .await;
    let detail = typo.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
        .as_str()
        .unwrap()
        .to_owned();
    assert!(detail.contains("unknown field `caler_phone`"), "{detail}");

    let missing = app.post("/v1/calls", json!({})).await;
    assert!(
        missing.problem(StatusCode::UNPROCESSABLE_ENTITY)["detail"]
            .as_str()
            .unwrap()
            .contains("caller_name")
    );

    let not_json = app
        .send(
            Method::POST,
            "/v1/calls",
            raw("text/plain", "caller_name=Jane"),
        )
        .await;
    not_json.problem(StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let not_object = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "metadata": [1, 2]}),
        )
        .await;
    not_object.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn a_body_over_the_configured_limit_is_413() {
    let app = TestApp::spawn_with(&[("MAX_BODY_BYTES", "2048")]).await;
    let reply = app
        .post(
            "/v1/calls",
            json!({"caller_name": "Jane", "issue": "x".repeat(3000)}),
        )
        .await;
    reply.problem(StatusCode::PAYLOAD_TOO_LARGE);
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn unknown_and_malformed_ids_are_404_and_422() {
    let app = TestApp::spawn().await;
    let unknown = app
        .get("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80")
        .await;
    assert!(
        unknown.problem(StatusCode::NOT_FOUND)["detail"]
            .as_str()
            .unwrap()
            .contains("call")
    );
    let malformed = app.get("/v1/calls/not-a-uuid").await;
    assert_eq!(
        malformed.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
        "id"
    );
    app.post_empty("/v1/calls/not-a-uuid/end")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    app.post_empty("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/end")
        .await
        .problem(StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn the_list_is_newest_first_and_pages_with_an_opaque_cursor() {
    let app = TestApp::spawn().await;
    let mut ids = Vec::new();
    for i in 0..5 {
        ids.push(app.create_call(&format!("Caller {i}")).await["id"].clone());
    }
    ids.reverse();

    let first = app.get("/v1/calls?limit=2").await;
    assert_eq!(first.status, StatusCode::OK);
    let page_ids = |body: &serde_json::Value| {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].clone())
            .collect::<Vec<_>>()
    };
    assert_eq!(page_ids(&first.body), ids[..2]);
    let cursor = first.body["next_cursor"].as_str().unwrap().to_owned();
    let second = app.get(&format!("/v1/calls?limit=2&cursor={cursor}")).await;
    second.assert_ok();
    assert_eq!(page_ids(&second.body), ids[2..4]);
    let cursor = second.body["next_cursor"].as_str().unwrap().to_owned();
    let last = app.get(&format!("/v1/calls?limit=2&cursor={cursor}")).await;
    last.assert_ok();
    assert_eq!(page_ids(&last.body), ids[4..]);
    assert!(last.body.get("next_cursor").is_none());
}

#[tokio::test]
async fn the_list_filters_by_status_caller_and_creation_time() {
    let app = TestApp::spawn().await;
    let jane = app.create_call("Jane Doe").await;
    let _john = app.create_call("John Roe").await;
    app.post_empty_ok(&format!("/v1/calls/{}/end", jane["id"].as_str().unwrap()))
        .await;

    let ended = app.get("/v1/calls?status=ended").await;
    ended.assert_ok();
    assert_eq!(ended.body["items"].as_array().unwrap().len(), 1);
    assert_eq!(ended.body["items"][0]["id"], jane["id"]);

    let by_caller = app.get("/v1/calls?caller=jane%20doe").await;
    by_caller.assert_ok();
    assert_eq!(by_caller.body["items"].as_array().unwrap().len(), 1);

    let created = jane["created_at"].as_str().unwrap();
    let encoded = created.replace(':', "%3A").replace('+', "%2B");
    let after = app.get(&format!("/v1/calls?created_after={encoded}")).await;
    after.assert_ok();
    assert_eq!(after.body["items"].as_array().unwrap().len(), 2);
    let before = app
        .get(&format!("/v1/calls?created_before={encoded}"))
        .await;
    before.assert_ok();
    assert_eq!(before.body["items"].as_array().unwrap().len(), 0);
}

#[tokio::test]
async fn bad_list_parameters_are_422_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("limit=0", "limit"),
        ("limit=201", "limit"),
        ("cursor=bogus", "cursor"),
        (
            "created_after=2026-01-02T00:00:00Z&created_before=2026-01-01T00:00:00Z",
            "created_before",
        ),
        ("agent=%20", "agent"),
        ("final_agent=a%00b", "final_agent"),
        ("caller_phone=call%20me", "caller_phone"),
        ("min_duration_secs=-1", "min_duration_secs"),
        ("max_duration_secs=315360001", "max_duration_secs"),
        (
            "min_duration_secs=60&max_duration_secs=59",
            "max_duration_secs",
        ),
        (
            "has_transfer=false&transfer_state=completed",
            "has_transfer",
        ),
        ("has_transfer=false&transfer_outcome=busy", "has_transfer"),
    ] {
        let reply = app.get(&format!("/v1/calls?{query}")).await;
        assert_eq!(
            reply.problem(StatusCode::UNPROCESSABLE_ENTITY)["errors"][0]["field"],
            field,
            "{query}"
        );
    }
    for query in [
        "status=sleeping",
        "limit=ten",
        "created_after=yesterday",
        "colour=red",
        "has_transfer=maybe",
        "transfer_state=limbo",
        "transfer_outcome=shrug",
        "min_duration_secs=long",
    ] {
        app.get(&format!("/v1/calls?{query}"))
            .await
            .problem(StatusCode::UNPROCESSABLE_ENTITY);
    }
}

#[tokio::test]
async fn ending_a_call_is_idempotent() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let path = format!("/v1/calls/{}/end", call["id"].as_str().unwrap());
    let first = app.post_empty(&path).await;
    assert_eq!(first.status, StatusCode::OK);
    assert_eq!(first.body["status"], "ended");
    assert!(first.body["ended_at"].is_string());
    let second = app.post_empty(&path).await;
    assert_eq!(second.status, StatusCode::OK);
    assert_eq!(second.body["ended_at"], first.body["ended_at"]);
}

#[tokio::test]
async fn the_timeline_records_creation_transcript_batches_and_the_end_in_order() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let id = call["id"].as_str().unwrap();
    let segments = json!({"segments": [
        {"segment_id": "s1", "speaker": "Jane", "role": "caller", "text": "Hello", "start_ms": 0},
        {"segment_id": "s2", "speaker": "agent_a", "role": "agent", "text": "Hi", "start_ms": 900}
    ]});
    app.post_ok(&format!("/v1/calls/{id}/transcript"), segments.clone())
        .await;
    // A retry stores nothing and so adds no event.
    app.post_ok(&format!("/v1/calls/{id}/transcript"), segments)
        .await;
    app.post_empty_ok(&format!("/v1/calls/{id}/end")).await;
    app.post_empty_ok(&format!("/v1/calls/{id}/end")).await;

    let timeline = app.get(&format!("/v1/calls/{id}/timeline")).await;
    assert_eq!(timeline.status, StatusCode::OK);
    let kinds: Vec<_> = timeline.body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(kinds, ["call.created", "transcript.appended", "call.ended"]);
    assert_eq!(timeline.body["items"][1]["data"]["segments"], 2);

    let paged = app.get(&format!("/v1/calls/{id}/timeline?limit=1")).await;
    paged.assert_ok();
    let cursor = paged.body["next_cursor"].as_str().unwrap();
    let rest = app
        .get(&format!("/v1/calls/{id}/timeline?cursor={cursor}"))
        .await;
    rest.assert_ok();
    assert_eq!(rest.body["items"].as_array().unwrap().len(), 2);

    app.get("/v1/calls/0193a5b0-7d6e-7c1f-8f3a-2b4c5d6e7f80/timeline")
        .await
        .problem(StatusCode::NOT_FOUND);
    app.get(&format!("/v1/calls/{id}/timeline?limit=500"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn searches_plan_by_the_statistics_of_segments_and_of_calls_words() {
    let app = TestApp::spawn().await;
    for n in 0..4 {
        let id = app.create_call(&format!("Caller {n}")).await["id"]
            .as_str()
            .unwrap()
            .to_owned();
        app.post_ok(
            &format!("/v1/calls/{id}/transcript"),
            json!({"segments": [
                {"segment_id": "1", "speaker": "Jane", "role": "caller", "start_ms": 0,
                 "text": "A refund please"},
                {"segment_id": "2", "speaker": "Jane", "role": "caller", "start_ms": 10,
                 "text": "The refund now"}]}),
        )
        .await;
    }
    let before = warmline::calls::store::word_statistics(&app.pool)
        .await
        .unwrap();
    assert!(before.segment_shares.is_empty() && before.call_shares.is_empty());
    sqlx::query("ANALYZE transcript_segments, call_words, calls")
        .execute(&app.pool)
        .await
        .unwrap();
    let stats = warmline::calls::store::word_statistics(&app.pool)
        .await
        .unwrap();
    assert_eq!((stats.segments, stats.calls), (8.0, 4.0));
    assert_eq!(stats.segment_shares.get("refund"), Some(&1.0));
    assert_eq!(stats.segment_shares.get("please"), Some(&0.5));
    // A call's words are its name's and issue's too, which no segment holds.
    assert_eq!(stats.call_shares.get("refund"), Some(&1.0));
    assert_eq!(stats.call_shares.get("caller"), Some(&1.0));
    assert_eq!(stats.segment_shares.get("caller"), None);
}

#[tokio::test]
async fn supervisors_find_calls_by_what_was_said_or_summarized() {
    let app = TestApp::spawn().await;
    let refund = app.create_call("Jane").await;
    let other = app
        .post(
            "/v1/calls",
            json!({"caller_name": "John", "issue": "Password reset"}),
        )
        .await
        .body;
    let id = refund["id"].as_str().unwrap();
    app.post_ok(
        &format!("/v1/calls/{id}/transcript"),
        json!({"segments": [{"segment_id": "1", "speaker": "Jane", "role": "caller", "start_ms": 0,
                             "text": "I want a refund for the blender"}]}),
    )
    .await;
    let ids = |reply: &crate::support::Reply| -> Vec<String> {
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(ids(&app.get("/v1/calls?q=blender").await), [id]);
    assert_eq!(
        ids(&app.get("/v1/calls?q=password").await),
        [other["id"].as_str().unwrap()]
    );
    assert_eq!(
        ids(&app.get("/v1/calls?q=refund%20-blender").await),
        Vec::<String>::new()
    );
    assert_eq!(ids(&app.get("/v1/calls?q=%22refund%20for%22").await), [id]);
    // Summaries are searched too.
    app.post_empty_ok(&format!(
        "/v1/calls/{}/summaries",
        other["id"].as_str().unwrap()
    ))
    .await;
    assert_eq!(ids(&app.get("/v1/calls?q=John").await).len(), 1);
    let long = "x".repeat(201);
    app.get(&format!("/v1/calls?q={long}"))
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    // Odd syntax is not an error: websearch syntax never fails to parse.
    assert_eq!(
        app.get("/v1/calls?q=%22%22%20or%20-").await.status,
        StatusCode::OK
    );
}

#[tokio::test]
async fn text_postgres_cannot_store_is_422_wherever_it_comes_in() {
    let app = TestApp::spawn().await;
    // A NUL in a metadata value and in a metadata key (jsonb refuses both).
    for (body, field) in [
        (
            json!({"caller_name": "a", "metadata": {"k": "\u{0}"}}),
            "metadata.k",
        ),
        (
            json!({"caller_name": "a", "metadata": {"k\u{0}": 1}}),
            "metadata.k\\u0000",
        ),
    ] {
        let reply = app.post("/v1/calls", body).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [field], "{}", reply.body);
    }
    assert_eq!(count(&app.pool, "calls").await, 0);
    // A NUL in a filter.
    for (query, field) in [("q=a%00b", "q"), ("caller=a%00b", "caller")] {
        let reply = app.get(&format!("/v1/calls?{query}")).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), [field]);
    }
    // An instant chrono reads and Postgres does not: in a forged cursor and in a filter.
    use base64::Engine;
    let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(br#"["-9999-01-01T00:00:00Z","00000000-0000-0000-0000-000000000000"]"#);
    let reply = app.get(&format!("/v1/calls?cursor={cursor}")).await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["cursor"]);
    app.get("/v1/calls?created_after=-9999-01-01T00:00:00Z")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
    let call = app.create_call("Jane").await;
    let reply = app
        .post(
            &format!("/v1/calls/{}/transcript", call["id"].as_str().unwrap()),
            json!({"segments": [{"segment_id": "1", "speaker": "Jane", "role": "caller",
                                 "text": "hi", "start_ms": 0, "spoken_at": "+99999-01-01T00:00:00Z"}]}),
        )
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_body_must_be_a_json_object_not_an_array_or_null() {
    let app = TestApp::spawn().await;
    // serde would fill the struct's fields from an array, by position.
    for body in [
        json!(["Array Caller", null, null, null, null]),
        json!(null),
        json!("Jane"),
    ] {
        let reply = app.post("/v1/calls", body).await;
        reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(reply.error_fields(), ["body"], "{}", reply.body);
    }
    assert_eq!(count(&app.pool, "calls").await, 0);
}

#[tokio::test]
async fn a_call_no_agent_answers_ends_by_itself() {
    // Long enough for the answered call's agent to join in time however slow the machine.
    let app = TestApp::spawn_with(&[("CALL_UNANSWERED_TIMEOUT_SECS", "5")]).await;
    let unanswered = app.create_call("Jane").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let answered = app.call_with_agent("John", "agent_alice").await["id"]
        .as_str()
        .unwrap()
        .to_owned();
    // The answered call was created before this.
    let answered_by = tokio::time::Instant::now();
    crate::support::eventually("the unanswered call has ended", || async {
        app.get_ok(&format!("/v1/calls/{unanswered}")).await["status"] == "ended"
    })
    .await;
    let ended = app.get_ok(&format!("/v1/calls/{unanswered}")).await;
    assert!(ended["ended_at"].is_string());
    assert!(
        app.timeline_kinds(&unanswered)
            .await
            .contains(&"call.ended".to_owned())
    );
    // Well past its time (a second beyond its timeout), the answered call goes on.
    tokio::time::sleep_until(answered_by + std::time::Duration::from_secs(6)).await;
    let going_on = app.get_ok(&format!("/v1/calls/{answered}")).await;
    assert_eq!(going_on["status"], "active", "an answered call goes on");
    // No job per call: the sweep needs none.
    assert_eq!(crate::support::count(&app.pool, "jobs").await, 0);
}

/// A seeded call, as the brute-force search below sees it.
struct SeededCall {
    id: uuid::Uuid,
    created_at: chrono::DateTime<chrono::Utc>,
    status: &'static str,
    caller_name: String,
    agents: Vec<&'static str>,
    by_frontend: bool,
    caller_phone: Option<String>,
    /// Whole seconds from creation to end, for ended calls.
    duration_secs: Option<i64>,
    /// The state and outcome of each transfer of the call.
    transfers: Vec<(&'static str, Option<&'static str>)>,
    /// The sentiment its summary gives, when it has one.
    sentiment: Option<&'static str>,
    /// The words of each searchable text: its name and issue, each segment, each summary.
    documents: Vec<Vec<String>>,
}

/// Which seeded calls a filter or a key lets through.
type Keep = Box<dyn Fn(&SeededCall) -> bool>;

/// A term of a web-search query: a word, a phrase, or a word that must be absent.
enum Term {
    Word(&'static str),
    Phrase(&'static [&'static str]),
    Not(&'static str),
}

/// Does one text match every term? (Postgres matches a query per text, never across texts.)
fn document_matches(words: &[String], terms: &[Term]) -> bool {
    terms.iter().all(|term| match term {
        Term::Word(w) => words.iter().any(|x| x == w),
        Term::Not(w) => !words.iter().any(|x| x == w),
        Term::Phrase(p) => words.windows(p.len()).any(|win| win == *p),
    })
}

fn words_of(text: &str) -> Vec<String> {
    text.split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_lowercase)
        .collect()
}

/// A few thousand calls with transcripts, issues and summaries whose words range from one in
/// most texts to one in a dozen, written straight to the database.
async fn seed_calls(app: &TestApp, frontend_key_id: uuid::Uuid) -> Vec<SeededCall> {
    use rand::{Rng, SeedableRng};
    const VOCABULARY: [&str; 23] = [
        "alpha", "beta", "gamma", "delta", "epsilon", "eta", "theta", "iota", "kappa", "lambda",
        "mu", "nu", "xi", "omicron", "pi", "rho", "sigma", "tau", "upsilon", "phi", "chi", "psi",
        "omega",
    ];
    // Zipf weights: the first word is in most segments, the last in a few percent.
    let weights: Vec<f64> = (1..=VOCABULARY.len()).map(|r| 1.0 / r as f64).collect();
    let total: f64 = weights.iter().sum();
    let mut rng = rand::rngs::StdRng::seed_from_u64(17);
    // Within the app's unanswered timeout (30 days): its sweep must not end the seeded
    // waiting calls under the test. Spread over 16 days, so that a search walking the days
    // newest first crosses many.
    let start = chrono::Utc::now() - chrono::Duration::days(20);
    let mut calls = Vec::new();
    let mut segments: (Vec<uuid::Uuid>, Vec<String>, Vec<String>) = Default::default();
    let mut summaries: (
        Vec<uuid::Uuid>,
        Vec<uuid::Uuid>,
        Vec<String>,
        Vec<&'static str>,
    ) = Default::default();
    type TransferRows = (
        Vec<uuid::Uuid>,
        Vec<&'static str>,
        Vec<Option<&'static str>>,
    );
    let mut transfers: TransferRows = Default::default();
    for i in 0..3000_usize {
        let id = uuid::Uuid::new_v4();
        // Pairs of calls share a creation time: the id breaks the tie.
        let created_at = start + chrono::Duration::minutes(15 * (i / 2) as i64);
        let status = ["ended", "ended", "active", "waiting", "transferring"][i % 5];
        let agents = match (status, i % 3) {
            ("waiting", _) => vec![],
            (_, 0) => vec!["agent_a"],
            (_, 1) => vec!["agent_b", "agent_c"],
            _ => vec!["agent_c", "agent_a"],
        };
        let caller_name = format!("Caller {}", i % 400);
        let issue = match i % 6 {
            0 => Some("order arrived damaged".to_owned()),
            3 => Some(format!("{} again", VOCABULARY[i % 23])),
            _ => None,
        };
        let mut documents = vec![words_of(&format!(
            "{caller_name} {}",
            issue.as_deref().unwrap_or("")
        ))];
        for s in 0..rng.random_range(1..8) {
            let mut text: Vec<&str> = (0..rng.random_range(3..7))
                .map(|_| {
                    let mut pick = rng.random::<f64>() * total;
                    let mut word = VOCABULARY.len() - 1;
                    for (k, w) in weights.iter().enumerate() {
                        if pick < *w {
                            word = k;
                            break;
                        }
                        pick -= w;
                    }
                    VOCABULARY[word]
                })
                .collect();
            if (i * 7 + s) % 41 == 0 {
                text.extend(["i", "want", "a", "refund", "for", "the", "blender"]);
            }
            if (i + s) % 250 == 0 {
                text.push("zeta");
            }
            // Only in the oldest calls: a search finds its page after days without one.
            if i < 300 && s == 0 {
                text.push("vintage");
            }
            // In few calls (under one in twenty, as the statistics count), all along: a search
            // walks its days.
            if i % 37 == 0 && s == 0 {
                text.push("sparse");
            }
            let text = text.join(" ");
            documents.push(words_of(&text));
            segments.0.push(id);
            segments.1.push(format!("s{s}"));
            segments.2.push(text);
        }
        // In many texts of few calls (one in 40): more texts than a search gathers, in too few
        // calls for a walk of the newest calls to find a page soon.
        if i % 40 == 13 {
            for s in 0..80 {
                let text = "chorus".to_owned();
                documents.push(words_of(&text));
                segments.0.push(id);
                segments.1.push(format!("c{s}"));
                segments.2.push(text);
            }
        }
        let mut sentiment = None;
        if i % 7 == 0 {
            sentiment = Some(["neutral", "negative", "frustrated", "positive"][(i / 7) % 4]);
            let text = if i % 2 == 0 {
                format!("call escalated about {}", VOCABULARY[i % 23])
            } else {
                "caller satisfied".to_owned()
            };
            documents.push(words_of(&format!("{text} ")));
            summaries.0.push(uuid::Uuid::new_v4());
            summaries.1.push(id);
            summaries.2.push(text);
            summaries.3.extend(sentiment);
        }
        // Half a second over a whole number of seconds on odd calls: durations count whole
        // seconds.
        let duration_secs = (status == "ended").then_some(((i * 37) % 600) as i64);
        let ended_at = duration_secs.map(|d| {
            created_at
                + chrono::Duration::seconds(d)
                + chrono::Duration::milliseconds(500 * (i % 2) as i64)
        });
        let caller_phone = (i % 3 == 0).then(|| format!("+1 415 555 {:04}", i % 40));
        let mut call_transfers = Vec::new();
        if i % 4 == 1 && status != "waiting" {
            call_transfers = match (i / 4) % 4 {
                0 => vec![("completed", None)],
                1 => vec![("declined", Some("busy"))],
                2 => vec![("declined", Some("busy")), ("completed", None)],
                _ => vec![("expired", Some("no_answer"))],
            };
            if status == "transferring" {
                call_transfers.push(("initiated", None));
            }
        }
        for (state, outcome) in &call_transfers {
            transfers.0.push(id);
            transfers.1.push(state);
            transfers.2.push(*outcome);
        }
        calls.push(SeededCall {
            id,
            created_at,
            status,
            caller_name,
            agents,
            by_frontend: i % 3 == 1,
            caller_phone,
            duration_secs,
            transfers: call_transfers,
            sentiment,
            documents,
        });
        sqlx::query(
            "INSERT INTO calls (id, room_name, caller_name, caller_identity, issue, status,
                                current_agent, agents, created_by, created_at, updated_at, ended_at,
                                caller_phone)
             VALUES ($1, 'call_' || $1, $2, $2, $3, $4, $5[1], $5, $6, $7, $7, $8, $9)",
        )
        .bind(id)
        .bind(&calls[i].caller_name)
        .bind(&issue)
        .bind(status)
        .bind(&calls[i].agents)
        .bind((i % 3 == 1).then_some(frontend_key_id))
        .bind(created_at)
        .bind(ended_at)
        .bind(&calls[i].caller_phone)
        .execute(&app.pool)
        .await
        .unwrap();
    }
    sqlx::query(
        "INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms)
         SELECT call_id, segment_id, 'Caller', 'caller', text, 0
         FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS s(call_id, segment_id, text)",
    )
    .bind(&segments.0)
    .bind(&segments.1)
    .bind(&segments.2)
    .execute(&app.pool)
    .await
    .unwrap();
    sqlx::query(
        "INSERT INTO summaries (id, call_id, provider, model, prompt_version, content,
                                summary_text, briefing_script, fallback, segments_used)
         SELECT id, call_id, 'extractive', 'test', 'test',
                jsonb_build_object('customer_sentiment', sentiment), text, '', true, 0
         FROM UNNEST($1::uuid[], $2::uuid[], $3::text[], $4::text[]) AS s(id, call_id, text, sentiment)",
    )
    .bind(&summaries.0)
    .bind(&summaries.1)
    .bind(&summaries.2)
    .bind(&summaries.3)
    .execute(&app.pool)
    .await
    .unwrap();
    // Transfers straight into their final states: the state machine's trigger would refuse
    // them, so it is off for this transaction. Accept deadlines are ahead, or the deadline
    // sweep would expire the `initiated` ones while the test reads.
    let mut tx = app.pool.begin().await.unwrap();
    sqlx::query("SET LOCAL session_replication_role = replica")
        .execute(&mut *tx)
        .await
        .unwrap();
    sqlx::query(
        "INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff, state, outcome,
                                caller_room, briefing_room, accept_deadline)
         SELECT id, call_id, 'agent_a', 'agent_b', 'consult', 'agent_joins_caller',
                state::transfer_state, outcome, 'call_' || call_id, 'transfer_' || id,
                now() + interval '1 hour'
         FROM (SELECT gen_random_uuid() AS id, *
               FROM UNNEST($1::uuid[], $2::text[], $3::text[]) AS t(call_id, state, outcome)) t",
    )
    .bind(&transfers.0)
    .bind(&transfers.1)
    .bind(&transfers.2)
    .execute(&mut *tx)
    .await
    .unwrap();
    // What the transfers' triggers, off here, would have added to their calls' facets.
    sqlx::query(
        "UPDATE call_words w SET facets = w.facets || ended.facets
         FROM (SELECT call_id, array_agg(DISTINCT f) AS facets
               FROM transfers, unnest(transfer_facets(state::text, outcome)) AS f
               WHERE outcome IS NOT NULL GROUP BY call_id) AS ended
         WHERE w.call_id = ended.call_id",
    )
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
    sqlx::query("ANALYZE").execute(&app.pool).await.unwrap();
    calls
}

#[tokio::test]
async fn search_with_filters_and_paging_returns_exactly_the_matching_calls_newest_first() {
    let app = TestApp::spawn_with(&[("CALL_UNANSWERED_TIMEOUT_SECS", "2592000")]).await;
    let supervisor = app.api_key("supervisor", None).await;
    for agent in ["agent_a", "agent_b", "agent_c"] {
        app.register_agent(agent).await;
    }
    let agent = app.api_key("agent", Some("agent_b")).await;
    let frontend = app.api_key("frontend", None).await;
    let frontend_id: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM api_keys WHERE role = 'frontend'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    let calls = seed_calls(&app, frontend_id).await;

    use Term::{Not, Phrase, Word};
    // The query as sent, and what it means: any of the groups, each all of its terms.
    let queries: Vec<(&str, Vec<Vec<Term>>)> = vec![
        ("alpha", vec![vec![Word("alpha")]]),
        ("delta", vec![vec![Word("delta")]]),
        ("omicron", vec![vec![Word("omicron")]]),
        ("zeta", vec![vec![Word("zeta")]]),
        ("vintage", vec![vec![Word("vintage")]]),
        ("sparse", vec![vec![Word("sparse")]]),
        ("chorus", vec![vec![Word("chorus")]]),
        ("damaged", vec![vec![Word("damaged")]]),
        ("escalated", vec![vec![Word("escalated")]]),
        ("caller", vec![vec![Word("caller")]]),
        ("\"refund for\"", vec![vec![Phrase(&["refund", "for"])]]),
        ("alpha -beta", vec![vec![Word("alpha"), Not("beta")]]),
        (
            "zeta or omega",
            vec![vec![Word("zeta")], vec![Word("omega")]],
        ),
        ("nothingmatchesthis", vec![vec![Word("nothingmatchesthis")]]),
        // No search: the filters alone (a group of no terms matches every call).
        ("", vec![vec![]]),
    ];
    // Early in its (UTC) day, so that a day's worth of calls follows it on that day.
    let cut = calls[1700..]
        .iter()
        .map(|c| c.created_at)
        .find(|t| chrono::Timelike::hour(t) == 1)
        .unwrap();
    let filters: Vec<(Vec<(&str, String)>, Keep)> = vec![
        (vec![], Box::new(|_| true)),
        (
            vec![("status", "ended".into())],
            Box::new(|c| c.status == "ended"),
        ),
        (
            vec![
                ("status", "waiting".into()),
                ("created_after", cut.to_rfc3339()),
            ],
            Box::new(move |c| c.status == "waiting" && c.created_at >= cut),
        ),
        (
            vec![("created_before", cut.to_rfc3339())],
            Box::new(move |c| c.created_at < cut),
        ),
        (
            vec![("caller", "CALLER 7".into())],
            Box::new(|c| c.caller_name == "Caller 7"),
        ),
        (
            vec![("agent", "agent_c".into()), ("has_transfer", "true".into())],
            Box::new(|c| c.agents.contains(&"agent_c") && !c.transfers.is_empty()),
        ),
        (
            vec![
                ("final_agent", "agent_a".into()),
                ("min_duration_secs", "100".into()),
            ],
            Box::new(|c| c.agents.first() == Some(&"agent_a") && c.duration_secs >= Some(100)),
        ),
        (
            vec![
                ("max_duration_secs", "250".into()),
                ("has_transfer", "false".into()),
            ],
            Box::new(|c| c.duration_secs.is_some_and(|d| d <= 250) && c.transfers.is_empty()),
        ),
        (
            vec![
                ("transfer_state", "declined".into()),
                ("transfer_outcome", "busy".into()),
                ("status", "ended".into()),
            ],
            Box::new(|c| c.status == "ended" && c.transfers.contains(&("declined", Some("busy")))),
        ),
        (
            vec![("transfer_outcome", "no_answer".into())],
            Box::new(|c| c.transfers.iter().any(|t| t.1 == Some("no_answer"))),
        ),
        (
            vec![
                ("transfer_state", "declined".into()),
                ("agent", "agent_a".into()),
            ],
            Box::new(|c| {
                c.agents.contains(&"agent_a") && c.transfers.iter().any(|t| t.0 == "declined")
            }),
        ),
        (
            vec![
                ("transfer_state", "completed".into()),
                ("agent", "agent_b".into()),
            ],
            Box::new(|c| {
                c.agents.contains(&"agent_b") && c.transfers.iter().any(|t| t.0 == "completed")
            }),
        ),
        // A state and an outcome hold for one transfer: no completed transfer was busy.
        (
            vec![
                ("transfer_state", "completed".into()),
                ("transfer_outcome", "busy".into()),
            ],
            Box::new(|_| false),
        ),
        (
            vec![("sentiment", "negative".into())],
            Box::new(|c| c.sentiment == Some("negative")),
        ),
        (
            vec![
                ("sentiment", "frustrated".into()),
                ("agent", "agent_c".into()),
            ],
            Box::new(|c| c.sentiment == Some("frustrated") && c.agents.contains(&"agent_c")),
        ),
        (
            vec![("caller_phone", " +1 415 555 0007 ".into())],
            Box::new(|c| c.caller_phone.as_deref() == Some("+1 415 555 0007")),
        ),
    ];
    let keys: [(&str, &str, Keep); 3] = [
        ("supervisor", &supervisor, Box::new(|_| true)),
        (
            "agent",
            &agent,
            Box::new(|c| c.status == "waiting" || c.agents.contains(&"agent_b")),
        ),
        ("frontend", &frontend, Box::new(|c| c.by_frontend)),
    ];

    let mut newest_first: Vec<&SeededCall> = calls.iter().collect();
    newest_first.sort_by_key(|c| std::cmp::Reverse((c.created_at, c.id)));
    let mut checked = 0;
    for (q, meaning) in &queries {
        for (params, keep) in &filters {
            for (who, key, visible) in &keys {
                let expected: Vec<String> = newest_first
                    .iter()
                    .filter(|c| {
                        keep(c)
                            && visible(c)
                            && c.documents
                                .iter()
                                .any(|d| meaning.iter().any(|terms| document_matches(d, terms)))
                    })
                    .map(|c| c.id.to_string())
                    .collect();
                // Small pages through the first few, large pages through all.
                for (limit, pages) in [(7, 4), (200, usize::MAX)] {
                    let mut got = Vec::new();
                    let mut cursor: Option<String> = None;
                    for _ in 0..pages {
                        let mut query = url::form_urlencoded::Serializer::new(String::new());
                        query
                            .append_pair("q", q)
                            .append_pair("limit", &limit.to_string());
                        for (k, v) in params {
                            query.append_pair(k, v);
                        }
                        if let Some(c) = &cursor {
                            query.append_pair("cursor", c);
                        }
                        let path = format!("/v1/calls?{}", query.finish());
                        let reply = app.send_as(key, Method::GET, &path, Body::None).await;
                        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
                        // Every hit of a search says where it matched.
                        let items = reply.body["items"].as_array().unwrap();
                        assert!(
                            items
                                .iter()
                                .all(|c| c["snippet"].is_string() != q.is_empty()),
                            "{path}: {}",
                            reply.body
                        );
                        got.extend(
                            reply.body["items"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|c| c["id"].as_str().unwrap().to_owned()),
                        );
                        cursor = reply.body["next_cursor"].as_str().map(str::to_owned);
                        if cursor.is_none() {
                            break;
                        }
                    }
                    let want = &expected[..expected.len().min(limit * pages.min(1000))];
                    assert_eq!(
                        got,
                        want,
                        "q={q} {params:?} as {who}, limit {limit}: {} expected in all",
                        expected.len()
                    );
                    checked += 1;
                }
                // By relevance, in pages of 50: the same calls, each once.
                if !q.is_empty() {
                    let mut got = Vec::new();
                    let mut cursor: Option<String> = None;
                    loop {
                        let mut query = url::form_urlencoded::Serializer::new(String::new());
                        query.append_pair("q", q).append_pair("sort", "relevance");
                        for (k, v) in params {
                            query.append_pair(k, v);
                        }
                        if let Some(c) = &cursor {
                            query.append_pair("cursor", c);
                        }
                        let path = format!("/v1/calls?{}", query.finish());
                        let reply = app.send_as(key, Method::GET, &path, Body::None).await;
                        assert_eq!(reply.status, StatusCode::OK, "{path}: {}", reply.body);
                        got.extend(
                            reply.body["items"]
                                .as_array()
                                .unwrap()
                                .iter()
                                .map(|c| c["id"].as_str().unwrap().to_owned()),
                        );
                        cursor = reply.body["next_cursor"].as_str().map(str::to_owned);
                        if cursor.is_none() {
                            break;
                        }
                    }
                    // A term in more than 5,000 texts is common: only its newest 100 matching
                    // calls are ranked. A rarer one's matches are all ranked.
                    let texts = calls
                        .iter()
                        .flat_map(|c| &c.documents)
                        .filter(|d| meaning.iter().any(|terms| document_matches(d, terms)))
                        .count();
                    let window = if texts > 5000 { 100 } else { usize::MAX };
                    let mut want: Vec<String> = expected.iter().take(window).cloned().collect();
                    want.sort();
                    got.sort();
                    assert_eq!(
                        got, want,
                        "q={q} {params:?} as {who}, by relevance ({texts} matching texts)"
                    );
                }
            }
        }
    }
    assert_eq!(checked, queries.len() * filters.len() * keys.len() * 2);
    // Every filter but the one meant to match nothing lets some seeded calls through.
    let empty = filters.iter().filter(|(_, keep)| !calls.iter().any(keep));
    assert_eq!(empty.count(), 1);
    // The seed covers both ways a search runs: terms in thousands of texts and in a few.
    let matches = |word: &str| -> usize {
        calls
            .iter()
            .flat_map(|c| &c.documents)
            .filter(|d| d.iter().any(|w| w == word))
            .count()
    };
    // (The store walks the newest calls past 5000 matching texts, and looks matches up below.)
    assert!(matches("alpha") > 6000, "{}", matches("alpha"));
    assert!(matches("zeta") < 100, "{}", matches("zeta"));
    // A word in more texts than that, held by few calls: the store finds its newest calls by day.
    assert!(matches("chorus") > 5000, "{}", matches("chorus"));
    let holding = calls
        .iter()
        .filter(|c| c.documents.iter().any(|d| d.iter().any(|w| w == "chorus")))
        .count();
    assert!(holding * 20 < calls.len(), "{holding}");
}

#[tokio::test]
async fn a_search_by_relevance_puts_the_best_match_first_and_shows_where_it_matched() {
    use crate::support::id;
    use serde_json::Value;
    let app = TestApp::spawn().await;
    let say = |call: Value, text: &'static str| {
        let app = &app;
        async move {
            let id = id(&call);
            app.post_ok(
                &format!("/v1/calls/{id}/transcript"),
                json!({"segments": [{"segment_id": "1", "speaker": "Caller", "role": "caller",
                                     "start_ms": 0, "text": text}]}),
            )
            .await;
            id
        }
    };
    // Oldest first: the one that says little else but "refund" ranks best.
    let best = say(app.create_call("Ann").await, "refund refund refund").await;
    let middle = say(
        app.create_call("Bob").await,
        "a refund or else a refund of the order",
    )
    .await;
    let newest = say(
        app.create_call("Cy").await,
        "the parcel came late and the box was torn but what I want now is a refund",
    )
    .await;
    let _unrelated = say(app.create_call("Di").await, "password reset please").await;
    let ids = |reply: &crate::support::Reply| -> Vec<String> {
        reply.assert_ok();
        reply.body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(id)
            .collect()
    };

    let by_time = app.get("/v1/calls?q=refund").await;
    assert_eq!(
        ids(&by_time),
        [newest.as_str(), middle.as_str(), best.as_str()]
    );
    let by_rank = app.get("/v1/calls?q=refund&sort=relevance").await;
    assert_eq!(
        ids(&by_rank),
        [best.as_str(), middle.as_str(), newest.as_str()]
    );
    for hit in by_rank.body["items"].as_array().unwrap() {
        let snippet = hit["snippet"].as_str().unwrap();
        assert!(snippet.contains("**refund**"), "{snippet}");
        // Each says which text it is from: here the transcript segment "1".
        assert_eq!(hit["matched_in"], "segment", "{hit}");
        assert_eq!(hit["segment_id"], "1", "{hit}");
        assert!(hit.get("summary_id").is_none(), "{hit}");
    }
    // A match in the call's own issue says so, with no segment; line breaks read as spaces.
    let by_issue = app
        .post_ok(
            "/v1/calls",
            json!({"caller_name": "Eve", "issue": "wants a quick\n  rebate"}),
        )
        .await;
    let reply = app.get("/v1/calls?q=rebate").await;
    assert_eq!(ids(&reply), [id(&by_issue)]);
    let hit = &reply.body["items"][0];
    assert_eq!(hit["matched_in"], "call", "{hit}");
    assert_eq!(hit["snippet"], "Eve wants a quick **rebate**", "{hit}");
    assert!(hit.get("segment_id").is_none(), "{hit}");
    // Pages of one continue where the last ended, among the calls there were at the first:
    // a match that arrives meanwhile joins only a new listing.
    let first_page = app.get("/v1/calls?q=refund&sort=relevance&limit=1").await;
    // It ranks below the first page's call, so the cursor alone would not keep it out.
    let late = say(
        app.create_call("Fay").await,
        "and then much later someone on the line asked about a refund for the lamp",
    )
    .await;
    let second = app
        .get(&format!(
            "/v1/calls?q=refund&sort=relevance&limit=5&cursor={}",
            first_page.body["next_cursor"].as_str().unwrap()
        ))
        .await;
    assert_eq!(ids(&second), [middle.as_str(), newest.as_str()]);
    let fresh = ids(&app.get("/v1/calls?q=refund&sort=relevance").await);
    assert_eq!(fresh.len(), 4);
    assert!(fresh.contains(&late), "{fresh:?}");
    let mut paged = Vec::new();
    let mut cursor = String::new();
    loop {
        let reply = app
            .get(&format!(
                "/v1/calls?q=refund&sort=relevance&limit=1{cursor}"
            ))
            .await;
        paged.extend(ids(&reply));
        match reply.body["next_cursor"].as_str() {
            Some(next) => cursor = format!("&cursor={next}"),
            None => break,
        }
    }
    assert_eq!(paged, fresh);
    // Filters still apply; without a search there is no snippet.
    assert_eq!(
        ids(&app
            .get("/v1/calls?q=refund&sort=relevance&caller=Bob")
            .await),
        [middle.as_str()]
    );
    let plain = app.get("/v1/calls?sort=newest").await;
    assert_eq!(ids(&plain).len(), 6);
    assert!(plain.body["items"][0].get("snippet").is_none());
    // A call ranks by its best text: here its second, as good as the best call's only one
    // (the newer of the two then comes first).
    let twice = say(
        app.create_call("Gus").await,
        "so much else was said on this line before anyone got round to a refund",
    )
    .await;
    app.post_ok(
        &format!("/v1/calls/{twice}/transcript"),
        json!({"segments": [{"segment_id": "2", "speaker": "Caller", "role": "caller",
                             "start_ms": 1000, "text": "refund refund refund"}]}),
    )
    .await;
    let ranked = ids(&app.get("/v1/calls?q=refund&sort=relevance").await);
    assert_eq!(ranked[..2], [twice.clone(), best.clone()], "{ranked:?}");

    // Relevance needs a search, and a cursor of one order is no cursor of the other.
    let reply = app.get("/v1/calls?sort=relevance").await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["sort"]);
    let first = app.get("/v1/calls?q=refund&limit=1").await;
    let newest_cursor = first.body["next_cursor"].as_str().unwrap();
    let reply = app
        .get(&format!(
            "/v1/calls?q=refund&sort=relevance&cursor={newest_cursor}"
        ))
        .await;
    reply.problem(StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(reply.error_fields(), ["cursor"]);
    app.get("/v1/calls?q=refund&sort=oldest")
        .await
        .problem(StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn calls_are_found_by_the_sentiment_of_their_latest_summary() {
    let app = TestApp::spawn().await;
    use crate::support::id;
    use serde_json::Value;
    let calm = id(&app.create_call("Calm Caller").await);
    let upset = id(&app.create_call("Upset Caller").await);
    // A call with no summary has no sentiment, and matches none.
    app.create_call("Quiet Caller").await;
    // The upset caller calmed down: the latest summary speaks for the call.
    for (call, sentiment) in [
        (&calm, "neutral"),
        (&upset, "neutral"),
        (&upset, "frustrated"),
    ] {
        sqlx::query(
            "INSERT INTO summaries (id, call_id, provider, model, prompt_version, content,
                                    summary_text, briefing_script, fallback, segments_used)
             VALUES (gen_random_uuid(), $1::uuid, 'extractive', 'test', 'test',
                     jsonb_build_object('customer_sentiment', $2::text), '', '', false, 0)",
        )
        .bind(call)
        .bind(sentiment)
        .execute(&app.pool)
        .await
        .unwrap();
        tokio::time::sleep(std::time::Duration::from_millis(5)).await;
    }
    // A summary stored last but written earlier (a model's late answer) is not the latest.
    sqlx::query(
        "INSERT INTO summaries (id, call_id, provider, model, prompt_version, content,
                                summary_text, briefing_script, fallback, segments_used, created_at)
         VALUES (gen_random_uuid(), $1::uuid, 'openai_compatible', 'test', 'test',
                 '{\"customer_sentiment\": \"positive\"}', '', '', false, 0,
                 now() - interval '1 hour')",
    )
    .bind(&upset)
    .execute(&app.pool)
    .await
    .unwrap();
    let ids = |body: &Value| -> Vec<String> {
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|c| c["id"].as_str().unwrap().to_owned())
            .collect()
    };
    let frustrated = app.get_ok("/v1/calls?sentiment=frustrated").await;
    assert_eq!(ids(&frustrated), [upset.as_str()]);
    let neutral = app.get_ok("/v1/calls?sentiment=neutral").await;
    assert_eq!(ids(&neutral), [calm.as_str()]);
    // It combines with the other filters and with search.
    let searched = app
        .get_ok("/v1/calls?sentiment=frustrated&q=upset&status=waiting")
        .await;
    assert_eq!(ids(&searched), [upset.as_str()]);
    assert!(ids(&app.get_ok("/v1/calls?sentiment=positive").await).is_empty());
    let refused = app.get("/v1/calls?sentiment=furious").await;
    refused.problem(StatusCode::UNPROCESSABLE_ENTITY);
}

/// A call's words (its row's and its newest, waiting beside it) and facets in `call_words`, as
/// the triggers keep them, and the words of its texts and the facets of its agents and sentiment, read from them.
async fn call_words(app: &TestApp, call: &str) -> [Vec<String>; 4] {
    let (words, facets, texts, own): (Vec<String>, Vec<String>, Vec<String>, Vec<String>) =
        sqlx::query_as(
            "SELECT tsvector_to_array(w.words || COALESCE(r.words, '')),
                    ARRAY(SELECT f FROM unnest(w.facets) AS f ORDER BY f),
                    ARRAY(SELECT DISTINCT lexeme FROM (
                              SELECT search FROM calls WHERE id = w.call_id
                              UNION ALL
                              SELECT search FROM transcript_segments WHERE call_id = w.call_id
                              UNION ALL
                              SELECT search FROM summaries WHERE call_id = w.call_id) AS t,
                          unnest(t.search) ORDER BY lexeme),
                    ARRAY(SELECT 'agent:' || a FROM unnest(c.agents) AS a
                          UNION ALL
                          SELECT 'sentiment:' || c.sentiment WHERE c.sentiment IS NOT NULL
                          ORDER BY 1)
             FROM call_words w JOIN calls c ON c.id = w.call_id
             LEFT JOIN call_words_recent r ON r.call_id = w.call_id
             WHERE w.call_id = $1::uuid",
        )
        .bind(call)
        .fetch_one(&app.pool)
        .await
        .unwrap();
    [words, facets, texts, own]
}

#[tokio::test]
async fn a_calls_words_and_facets_follow_its_transcript_agents_and_ended_transfers() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane Quincy", "agent_alice").await;
    let id = call["id"].as_str().unwrap().to_owned();
    let [words, facets, texts, _] = call_words(&app, &id).await;
    assert!(words.contains(&"quincy".to_owned()), "{words:?}");
    assert_eq!(words, texts);
    assert_eq!(facets, ["agent:agent_alice"]);

    let path = format!("/v1/calls/{id}/transcript");
    for (segment, text) in [("s1", "my Router blinks"), ("s2", "the router blinks red")] {
        app.post(
            &path,
            json!({"segments": [{"segment_id": segment, "speaker": "Jane", "role": "caller",
                                 "text": text, "start_ms": 0}]}),
        )
        .await
        .assert_ok();
    }
    let transfer = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post(
        &format!("/v1/transfers/{transfer}/decline"),
        json!({"agent": "agent_bob", "reason": "busy"}),
    )
    .await
    .assert_ok();

    let [words, facets, texts, own] = call_words(&app, &id).await;
    for word in ["router", "blinks", "red"] {
        assert!(words.contains(&word.to_owned()), "{word}: {words:?}");
    }
    assert_eq!(words, texts);
    let mut expected = own;
    expected.extend(
        [
            "transfer:declined:busy",
            "transfer_outcome:busy",
            "transfer_state:declined",
        ]
        .map(String::from),
    );
    expected.sort();
    assert!(
        expected.contains(&"agent:agent_bob".to_owned()),
        "{expected:?}"
    );
    assert_eq!(facets, expected);
}

/// Appends one segment saying `text` to a call's transcript.
async fn say(app: &TestApp, call: &str, segment: &str, text: &str) {
    app.post(
        &format!("/v1/calls/{call}/transcript"),
        json!({"segments": [{"segment_id": segment, "speaker": "Jane", "role": "caller",
                             "text": text, "start_ms": 0}]}),
    )
    .await
    .assert_ok();
}

/// Where a call's words are: (in its row, waiting in `call_words_recent`), each sorted.
async fn words_where(app: &TestApp, call: &str) -> (Vec<String>, Option<Vec<String>>) {
    sqlx::query_as(
        "SELECT tsvector_to_array(w.words), tsvector_to_array(r.words)
         FROM call_words w LEFT JOIN call_words_recent r ON r.call_id = w.call_id
         WHERE w.call_id = $1::uuid",
    )
    .bind(call)
    .fetch_one(&app.pool)
    .await
    .unwrap()
}

#[tokio::test]
async fn a_long_calls_newest_words_wait_beside_its_row_and_are_searched_with_it() {
    use crate::support::id;
    let app = TestApp::spawn().await;
    let long = id(&app.call_with_agent("Jane Quincy", "agent_alice").await);
    // A short call of the same agent saying one of the words, alone.
    let short = id(&app.call_with_agent("Joe Short", "agent_alice").await);
    say(&app, &short, "s1", "zebra").await;
    assert_eq!(words_where(&app, &short).await.1, None);

    // 130 words make the call long: its row holds more than 128, and its new words wait.
    let many = |prefix: &str, n: usize| (0..n).map(|i| format!("{prefix}{i}")).collect::<Vec<_>>();
    say(&app, &long, "s1", &many("first", 130).join(" ")).await;
    assert_eq!(words_where(&app, &long).await.1, None);
    say(&app, &long, "s2", "zebra router first7").await;
    let (kept, waiting) = words_where(&app, &long).await;
    assert_eq!(
        waiting.as_deref(),
        Some(&["router", "zebra"].map(String::from)[..])
    );
    assert!(!kept.contains(&"zebra".to_owned()), "{kept:?}");
    let [words, _, texts, _] = call_words(&app, &long).await;
    assert_eq!(words, texts);

    // Searches through the words (an agent's calls): one word found where it waits, and a
    // term said in one segment whose words are partly in the row and partly waiting. The
    // words of two segments do not match together, as everywhere.
    let found = |q: &'static str| {
        let app = &app;
        async move {
            let page = app
                .get_ok(&format!("/v1/calls?agent=agent_alice&q={q}"))
                .await;
            let mut ids: Vec<String> = page["items"].as_array().unwrap().iter().map(id).collect();
            ids.sort();
            ids
        }
    };
    let mut both = vec![long.clone(), short.clone()];
    both.sort();
    let only_long = vec![long.clone()];
    assert_eq!(found("zebra").await, both);
    assert_eq!(found("router").await, only_long);
    assert_eq!(found("zebra+first7").await, only_long);
    assert_eq!(found("router+first7+zebra").await, only_long);
    assert!(found("first129+zebra").await.is_empty());
    assert!(found("zebra+absent").await.is_empty());
    assert!(found("first7+absent").await.is_empty());

    // 256 waiting words move into the row; later ones wait again.
    say(&app, &long, "s3", &many("later", 300).join(" ")).await;
    let (kept, waiting) = words_where(&app, &long).await;
    assert_eq!(waiting, None);
    for word in ["zebra", "router", "later299", "first0"] {
        assert!(kept.contains(&word.to_owned()), "{word}");
    }
    say(&app, &long, "s4", "yak later3").await;
    assert_eq!(
        words_where(&app, &long).await.1,
        Some(vec!["yak".to_owned()])
    );
    assert_eq!(found("yak+later3").await, only_long);

    // Ending the call moves them too; a segment of its grace period goes to the row.
    app.post_empty_ok(&format!("/v1/calls/{long}/end")).await;
    assert_eq!(words_where(&app, &long).await.1, None);
    say(&app, &long, "s5", "gnu yak first1").await;
    let (kept, waiting) = words_where(&app, &long).await;
    assert_eq!(waiting, None);
    assert!(kept.contains(&"yak".to_owned()) && kept.contains(&"gnu".to_owned()));
    let [words, _, texts, _] = call_words(&app, &long).await;
    assert_eq!(words, texts);
    assert_eq!(found("yak+gnu+first1").await, only_long);
}
