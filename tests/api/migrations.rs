use crate::support::{TestApp, TestDb, sqlstate};

#[tokio::test]
async fn the_event_log_refuses_updates_and_deletes() {
    let app = TestApp::spawn().await;
    app.create_call("Jane").await;
    for sql in [
        "UPDATE events SET kind = 'forged'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let code = sqlstate(&app.pool, sql, None).await;
        assert_eq!(
            code.as_deref(),
            Some(warmline::error::SQLSTATE_APPEND_ONLY),
            "{sql}"
        );
    }
}

#[tokio::test]
async fn every_migration_can_be_undone_and_applied_again() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    let migrator = &warmline::db::MIGRATOR;
    migrator.run(&pool).await.expect("up");
    migrator.undo(&pool, 0).await.expect("down to nothing");
    let tables: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM information_schema.tables WHERE table_schema = 'public' AND table_name <> '_sqlx_migrations'",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(tables, 0, "down migrations leave nothing behind");
    migrator.run(&pool).await.expect("up again");
    assert!(warmline::db::migrations_current(&pool).await.unwrap());
    pool.close().await;
}

#[tokio::test]
async fn the_database_refuses_a_forbidden_transfer_state_change_whoever_asks() {
    let app = TestApp::spawn().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", serde_json::json!({}))
        .await;
    let id = Some(uuid::Uuid::parse_str(created["transfer"]["id"].as_str().unwrap()).unwrap());
    let refused = Some(warmline::error::SQLSTATE_TRANSITION_REFUSED.to_owned());

    // initiated -> completed skips the briefing and the hand-off.
    let skip = "UPDATE transfers SET state = 'completed' WHERE id = $1";
    assert_eq!(sqlstate(&app.pool, skip, id).await, refused);
    // Setting the state it already has is not a transition either.
    let same = "UPDATE transfers SET state = 'initiated' WHERE id = $1";
    assert_eq!(sqlstate(&app.pool, same, id).await, refused);
    // A listed transition passes and stamps its time.
    let brief = "UPDATE transfers SET state = 'briefing' WHERE id = $1";
    assert_eq!(sqlstate(&app.pool, brief, id).await, None);
    let stamped: bool =
        sqlx::query_scalar("SELECT briefing_at IS NOT NULL FROM transfers WHERE id = $1")
            .bind(id)
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(stamped);
    // Terminal states are final.
    let cancel =
        "UPDATE transfers SET state = 'cancelled', outcome = 'agent_cancelled' WHERE id = $1";
    assert_eq!(sqlstate(&app.pool, cancel, id).await, None);
    assert_eq!(sqlstate(&app.pool, brief, id).await, refused);
}

/// The quoted values of a constraint's or an index's definition: `'a'::text` → `a`.
fn quoted_values(definition: &str) -> std::collections::BTreeSet<String> {
    definition
        .split('\'')
        .skip(1)
        .step_by(2)
        .map(str::to_owned)
        .collect()
}

/// The names of some enum values, as they are stored (their serde names).
fn names<T: serde::Serialize>(values: &[T]) -> std::collections::BTreeSet<String> {
    values
        .iter()
        .map(|v| {
            serde_json::to_value(v)
                .unwrap()
                .as_str()
                .unwrap()
                .to_owned()
        })
        .collect()
}

#[tokio::test]
async fn the_state_tables_agree_with_the_rust_enum_and_the_active_index() {
    use warmline::transfers::model::TransferState;
    let app = TestApp::spawn().await;
    let rows: Vec<(TransferState, bool)> =
        sqlx::query_as("SELECT state, terminal FROM transfer_states ORDER BY state")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    let stored: Vec<TransferState> = rows.iter().map(|(s, _)| *s).collect();
    assert_eq!(names(&stored), names(&TransferState::ALL));
    assert_eq!(rows.len(), TransferState::ALL.len());
    for (state, terminal) in rows {
        assert_eq!(state.is_terminal(), terminal, "{state:?}");
        assert_eq!(
            !terminal,
            TransferState::ACTIVE.contains(&state),
            "{state:?}"
        );
    }
    let from_terminal: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM transfer_transitions t JOIN transfer_states s ON s.state = t.from_state WHERE s.terminal",
    )
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!(from_terminal, 0, "nothing leaves a terminal state");
    let index: String =
        sqlx::query_scalar("SELECT pg_get_indexdef('transfers_one_active_per_call'::regclass)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        quoted_values(&index),
        names(&TransferState::ACTIVE),
        "{index}"
    );
}

#[tokio::test]
async fn the_databases_statuses_and_roles_are_exactly_the_rust_enums() {
    use warmline::calls::model::CallStatus;
    use warmline::jobs::model::JobStatus;
    use warmline::participants::model::ParticipantRole;
    use warmline::transfers::model::Outcome;
    let app = TestApp::spawn().await;
    let constraint = |name: &'static str| {
        let pool = app.pool.clone();
        async move {
            let definition: String = sqlx::query_scalar(
                "SELECT pg_get_constraintdef(oid) FROM pg_constraint WHERE conname = $1",
            )
            .bind(name)
            .fetch_one(&pool)
            .await
            .unwrap();
            quoted_values(&definition)
        }
    };
    assert_eq!(
        constraint("calls_status_known").await,
        names(&CallStatus::ALL)
    );
    assert_eq!(
        constraint("jobs_status_known").await,
        names(&JobStatus::ALL)
    );
    assert_eq!(
        constraint("participants_role_known").await,
        names(&ParticipantRole::ALL)
    );
    // Searches and statistics name outcomes with `as_str`, so it must give the same names.
    assert_eq!(
        constraint("transfers_outcome_known").await,
        names(&Outcome::ALL)
    );
    for outcome in Outcome::ALL {
        assert_eq!(names(&[outcome]), names(&[outcome.as_str()]));
    }
    // The queue's claim names this status literally, for this partial index.
    let pending: String =
        sqlx::query_scalar("SELECT pg_get_indexdef('jobs_pending_idx'::regclass)")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert_eq!(
        quoted_values(&pending),
        names(&[JobStatus::Pending]),
        "{pending}"
    );
}

#[tokio::test]
async fn calls_summarized_before_the_sentiment_column_get_their_latest_summarys_sentiment() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    let migrator = &warmline::db::MIGRATOR;
    migrator.run_to(18, &pool).await.expect("up to 0018");
    // More calls than one batch of the fill, each summarized once, by `i % 4`.
    sqlx::query(
        "WITH made AS (
             INSERT INTO calls (id, room_name, caller_name, caller_identity)
             SELECT gen_random_uuid(), 'call_' || i, 'Caller ' || i, 'caller_' || i
             FROM generate_series(1, 12001) AS i
             RETURNING id, caller_name)
         INSERT INTO summaries (id, call_id, provider, model, prompt_version, content,
                                summary_text, briefing_script, fallback, segments_used)
         SELECT gen_random_uuid(), id, 'extractive', 'test', 'test',
                jsonb_build_object('customer_sentiment',
                    (ARRAY['neutral', 'negative', 'frustrated', 'positive'])
                        [1 + substr(caller_name, 8)::int % 4]),
                '', '', false, 0
         FROM made",
    )
    .execute(&pool)
    .await
    .unwrap();
    // One call summarized three times, the oldest stored last; one never summarized.
    let twice = uuid::Uuid::now_v7();
    let never = uuid::Uuid::now_v7();
    for id in [twice, never] {
        sqlx::query(
            "INSERT INTO calls (id, room_name, caller_name, caller_identity)
             VALUES ($1, 'call_' || $1, 'Caller', 'caller_' || $1)",
        )
        .bind(id)
        .execute(&pool)
        .await
        .unwrap();
    }
    for (sentiment, hours_ago) in [("neutral", 2), ("frustrated", 1), ("positive", 3)] {
        sqlx::query(
            "INSERT INTO summaries (id, call_id, provider, model, prompt_version, content,
                                    summary_text, briefing_script, fallback, segments_used,
                                    created_at)
             VALUES (gen_random_uuid(), $1, 'extractive', 'test', 'test',
                     jsonb_build_object('customer_sentiment', $2::text), '', '', false, 0,
                     now() - make_interval(hours => $3))",
        )
        .bind(twice)
        .bind(sentiment)
        .bind(hours_ago)
        .execute(&pool)
        .await
        .unwrap();
    }

    migrator.run(&pool).await.expect("up to the last");
    let counts: Vec<(Option<String>, i64)> = sqlx::query_as(
        "SELECT sentiment, count(*) FROM calls GROUP BY sentiment ORDER BY sentiment NULLS LAST",
    )
    .fetch_all(&pool)
    .await
    .unwrap();
    let expected: Vec<(Option<String>, i64)> = vec![
        (Some("frustrated".into()), 3000 + 1),
        (Some("negative".into()), 3000 + 1),
        (Some("neutral".into()), 3000),
        (Some("positive".into()), 3000),
        (None, 1),
    ];
    assert_eq!(counts, expected);
    let latest: Option<String> = sqlx::query_scalar("SELECT sentiment FROM calls WHERE id = $1")
        .bind(twice)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(latest.as_deref(), Some("frustrated"));
    let usable: bool = sqlx::query_scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'calls_sentiment_idx'::regclass",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(usable, "the index is built and valid");
    pool.close().await;
}

#[tokio::test]
async fn calls_stored_before_their_words_were_kept_get_every_word_and_facet() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    let migrator = &warmline::db::MIGRATOR;
    migrator.run_to(21, &pool).await.expect("up to 0021");
    sqlx::query(
        "INSERT INTO agents (identity, display_name) VALUES ('agent_a', 'A'), ('agent_b', 'B')",
    )
    .execute(&pool)
    .await
    .unwrap();
    // More calls than two batches of the fill: call i says `word<i>`, every third one has a
    // summary saying `note<i>` (and so a sentiment), every fifth has had an agent, and every
    // seventh a transfer declined as busy.
    sqlx::query(
        "WITH made AS (
             INSERT INTO calls (id, room_name, caller_name, caller_identity, agents)
             SELECT gen_random_uuid(), 'call_' || i, 'Caller ' || i, 'caller_' || i,
                    CASE WHEN i % 5 = 0 THEN ARRAY['agent_' || i % 7] ELSE '{}' END
             FROM generate_series(1, 12001) AS i
             RETURNING id, room_name, substr(caller_name, 8)::int AS i),
         said AS (
             INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms)
             SELECT id, 's1', 'caller', 'caller', 'my word' || i || ' please', 0 FROM made),
         offered AS (
             INSERT INTO transfers (id, call_id, from_agent, to_agent, mode, handoff,
                                    caller_room, briefing_room, accept_deadline)
             SELECT gen_random_uuid(), id, 'agent_a', 'agent_b', 'consult', 'agent_joins_caller',
                    room_name, 'briefing_' || i, now()
             FROM made WHERE i % 7 = 0)
         INSERT INTO summaries (id, call_id, provider, model, prompt_version, content,
                                summary_text, briefing_script, fallback, segments_used)
         SELECT gen_random_uuid(), id, 'extractive', 'test', 'test',
                jsonb_build_object('customer_sentiment',
                                   (ARRAY['neutral', 'negative', 'positive'])[1 + i % 3]),
                'note' || i, 'brief', false, 1
         FROM made WHERE i % 3 = 0",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("UPDATE transfers SET state = 'declined', outcome = 'busy'")
        .execute(&pool)
        .await
        .unwrap();

    migrator.run(&pool).await.expect("up to the last");
    let (calls, kept): (i64, i64) = sqlx::query_as(
        "SELECT count(*), count(*) FILTER (
                    WHERE w.words = strip(to_tsvector('simple',
                              c.caller_name || ' my word' || i || ' please'
                              || CASE WHEN i % 3 = 0 THEN ' note' || i || ' brief' ELSE '' END))
                      AND w.facets @> facets.expected AND w.facets <@ facets.expected
                      AND w.created_at = c.created_at)
         FROM calls c
         CROSS JOIN LATERAL (SELECT substr(c.caller_name, 8)::int AS i) AS n
         CROSS JOIN LATERAL (
             SELECT ARRAY(SELECT 'agent:' || a FROM unnest(c.agents) AS a)
                    || CASE WHEN i % 3 = 0
                            THEN ARRAY['sentiment:' || (ARRAY['neutral', 'negative', 'positive'])[1 + i % 3]]
                            ELSE '{}' END
                    || CASE WHEN i % 7 = 0
                            THEN ARRAY['transfer:declined:busy', 'transfer_state:declined',
                                       'transfer_outcome:busy']
                            ELSE '{}' END AS expected) AS facets
         LEFT JOIN call_words w ON w.call_id = c.id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((calls, kept), (12001, 12001));
    // The agents the facets were checked against: as made, and the transfers' receivers.
    let agents: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM calls
         WHERE cardinality(agents) = (substr(caller_name, 8)::int % 5 = 0)::int
                                     + (substr(caller_name, 8)::int % 7 = 0)::int",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(agents, 12001);
    let valid: bool = sqlx::query_scalar(
        "SELECT indisvalid FROM pg_index WHERE indexrelid = 'call_words_day_idx'::regclass",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(valid, "the index is built and valid");

    // A filled-in call's words grow with its texts as a new call's do.
    let call: uuid::Uuid =
        sqlx::query_scalar("SELECT id FROM calls WHERE caller_name = 'Caller 7'")
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms)
         VALUES ($1, 's2', 'agent', 'agent', 'a fresh answer', 1000)",
    )
    .bind(call)
    .execute(&pool)
    .await
    .unwrap();
    let words: String = sqlx::query_scalar("SELECT words::text FROM call_words WHERE call_id = $1")
        .bind(call)
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(
        words,
        "'7' 'a' 'answer' 'caller' 'fresh' 'my' 'please' 'word7'"
    );
    pool.close().await;
}

#[tokio::test]
async fn undoing_the_waiting_words_moves_them_into_their_calls_rows() {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    let migrator = &warmline::db::MIGRATOR;
    migrator.run(&pool).await.expect("up");
    let call: uuid::Uuid = sqlx::query_scalar(
        "INSERT INTO calls (id, room_name, caller_name, caller_identity)
         VALUES (gen_random_uuid(), 'call_long', 'Long Caller', 'caller_long') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    // A long call (200 words), then a new word, which waits beside its row.
    for (segment, text) in [
        (
            "s1",
            (0..200)
                .map(|i| format!("w{i}"))
                .collect::<Vec<_>>()
                .join(" "),
        ),
        ("s2", "zebra".to_owned()),
    ] {
        sqlx::query(
            "INSERT INTO transcript_segments (call_id, segment_id, speaker, role, text, start_ms)
             VALUES ($1, $2, 'caller', 'caller', $3, 0)",
        )
        .bind(call)
        .bind(segment)
        .bind(text)
        .execute(&pool)
        .await
        .unwrap();
    }
    let waiting: i64 = sqlx::query_scalar("SELECT count(*) FROM call_words_recent")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(waiting, 1);
    migrator.undo(&pool, 24).await.expect("down to 0024");
    let (words, expected): (Vec<String>, Vec<String>) = sqlx::query_as(
        "SELECT tsvector_to_array(w.words),
                ARRAY(SELECT DISTINCT lexeme FROM (
                          SELECT search FROM calls WHERE id = w.call_id
                          UNION ALL
                          SELECT search FROM transcript_segments WHERE call_id = w.call_id) AS t,
                      unnest(t.search) ORDER BY lexeme)
         FROM call_words w WHERE w.call_id = $1",
    )
    .bind(call)
    .fetch_one(&pool)
    .await
    .unwrap();
    assert!(words.contains(&"zebra".to_owned()));
    assert_eq!(words, expected);
    migrator.run(&pool).await.expect("up again");
    pool.close().await;
}
