//! The durable queue: LiveKit outages, retries, giving up, and workers that die.

use std::time::Duration;

use reqwest::StatusCode;
use serde_json::json;

use crate::support::{TestApp, TestDb, eventually, id};

async fn job_status(app: &TestApp, kind: &str) -> (String, i32) {
    sqlx::query_as("SELECT status, attempts FROM jobs WHERE kind = $1 ORDER BY id DESC LIMIT 1")
        .bind(kind)
        .fetch_one(&app.pool)
        .await
        .expect("job exists")
}

#[tokio::test]
async fn with_livekit_down_the_api_still_answers_and_the_room_is_created_once_it_is_back() {
    let app = TestApp::spawn().await;
    app.livekit.set_down(true);
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("CreateRoom has been tried and failed twice", || async {
        app.livekit.calls_of("CreateRoom").len() >= 2
    })
    .await;
    assert!(!app.livekit.room_exists(&briefing));
    app.livekit.set_down(false);
    eventually("the briefing room exists", || async {
        app.livekit.room_exists(&briefing)
    })
    .await;
    eventually("the job is done", || async {
        job_status(&app, "create_room").await.0 == "done"
    })
    .await;
    let retries: i64 =
        sqlx::query_scalar("SELECT count(*) FROM job_attempts WHERE outcome = 'retry'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
    assert!(retries >= 2, "every failed attempt is recorded");
}

#[tokio::test]
async fn a_room_operation_that_keeps_failing_is_recorded_on_the_timeline_without_blocking_the_transfer()
 {
    let app = TestApp::spawn_with(&[("JOB_MAX_ATTEMPTS", "2")]).await;
    app.livekit.set_down(true);
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let t = id(&app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await["transfer"]);
    eventually("the CreateRoom job is dead", || async {
        job_status(&app, "create_room").await == ("dead".into(), 2)
    })
    .await;
    assert!(
        app.timeline_kinds(&id(&call))
            .await
            .contains(&"job.failed".to_owned())
    );
    let accepted = app.post_empty(&format!("/v1/transfers/{t}/accept")).await;
    assert_eq!(
        accepted.status,
        StatusCode::OK,
        "people can still act: LiveKit creates rooms on join"
    );
}

#[tokio::test]
async fn a_hand_off_livekit_keeps_refusing_to_confirm_fails_the_transfer_at_its_timeout() {
    let app =
        TestApp::spawn_with(&[("JOB_MAX_ATTEMPTS", "2"), ("HANDOFF_TIMEOUT_SECS", "2")]).await;
    let (_, t) = app.transfer_in_briefing("Jane").await;
    app.livekit.set_down(true);
    let done = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.body);
    // The regular checks fail meanwhile; they do not end the transfer, its timer does.
    eventually("the regular check tried LiveKit", || async {
        app.livekit.calls_of("ListParticipants").len() >= 2
    })
    .await;
    assert_eq!(app.transfer(&t).await["state"], "connecting");
    let failed = app.wait_for_state(&t, "failed").await;
    assert_eq!(failed["outcome"], "livekit_error");
}

/// A migrated database with one call and no app (so no worker of its own), for tests that
/// play the workers; the database lives as long as the first value.
async fn queue_alone() -> (TestDb, sqlx::PgPool, uuid::Uuid) {
    let db = TestDb::create().await;
    let pool = db.pool().await;
    warmline::db::migrate(&pool).await.unwrap();
    let call_id = sqlx::query_scalar(
        "INSERT INTO calls (id, room_name, caller_name, caller_identity) VALUES (gen_random_uuid(), 'r', 'Jane', 'Jane') RETURNING id",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    (db, pool, call_id)
}

#[tokio::test]
async fn a_job_whose_worker_died_is_taken_again_after_its_lease() {
    // The queue alone, with no app and so no worker of its own: this test plays the workers.
    let (_db, pool, call_id) = queue_alone().await;
    let job = warmline::jobs::model::Job::DeleteRoom { room: "r".into() };
    warmline::jobs::store::enqueue(&pool, &job, call_id, None, None, 3)
        .await
        .unwrap();

    // A short lease: no assertion below depends on how fast the machine is within it.
    let claimed = warmline::jobs::store::claim_next(&pool, Duration::from_millis(200))
        .await
        .unwrap();
    let claimed = claimed.expect("the job is due");
    assert_eq!(claimed.attempts, 1);
    // The first worker dies without a word; once its lease runs out, the job is taken again.
    let mut retaken = None;
    for _ in 0..200 {
        retaken = warmline::jobs::store::claim_next(&pool, Duration::from_secs(60))
            .await
            .unwrap();
        if retaken.is_some() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let retaken = retaken.expect("the lease ran out: the job is taken again");
    assert_eq!((retaken.id, retaken.attempts), (claimed.id, 2));
    // While a lease holds (this one for a minute), nobody else takes it.
    assert!(
        warmline::jobs::store::claim_next(&pool, Duration::from_secs(60))
            .await
            .unwrap()
            .is_none(),
        "a job under a live lease was taken again"
    );
    // A late report of the dead worker does not count: the job is no longer its own.
    assert!(
        !warmline::jobs::store::finish_done(&pool, &claimed)
            .await
            .unwrap()
    );
    assert!(
        warmline::jobs::store::finish_done(&pool, &retaken)
            .await
            .unwrap()
    );
    let status: String = sqlx::query_scalar("SELECT status FROM jobs")
        .fetch_one(&pool)
        .await
        .unwrap();
    assert_eq!(status, "done");
    pool.close().await;
}

#[tokio::test]
async fn an_idle_worker_takes_a_new_job_on_its_notification_alone() {
    // Workers look for jobs once an hour: only the wake-up after the commit finds them in time.
    let app = TestApp::spawn_with(&[("JOB_POLL_INTERVAL_MS", "3600000")]).await;
    app.wait_until_listening().await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    for to in ["agent_bob", "agent_carol"] {
        let created = app
            .start_transfer(&call, "agent_alice", to, json!({}))
            .await;
        let briefing = created["transfer"]["briefing_room"]
            .as_str()
            .unwrap()
            .to_owned();
        eventually("the briefing room is created", || async {
            app.livekit.room_exists(&briefing)
        })
        .await;
        // The workers are idle again when the next transfer queues its room.
        let t = id(&created["transfer"]);
        app.post_empty_ok(&format!("/v1/transfers/{t}/cancel"))
            .await;
        eventually("the briefing room is closed", || async {
            !app.livekit.room_exists(&briefing)
        })
        .await;
    }
}

#[tokio::test]
async fn a_job_whose_payload_cannot_be_read_is_dead_at_once_and_the_worker_goes_on() {
    let app = TestApp::spawn().await;
    let call = app.create_call("Jane").await;
    let payloads = [
        (json!({"kind": "create_room"}), "missing field `room`"),
        (
            json!({"kind": "make_coffee"}),
            "unknown variant `make_coffee`",
        ),
        (json!("not an object"), "unreadable payload"),
    ];
    for (payload, _) in &payloads {
        sqlx::query(
            "INSERT INTO jobs (kind, payload, call_id, max_attempts) VALUES ('create_room', $1, $2::uuid, 8)",
        )
        .bind(sqlx::types::Json(payload))
        .bind(id(&call))
        .execute(&app.pool)
        .await
        .unwrap();
    }
    eventually("every unreadable job is dead", || async {
        let dead: i64 = sqlx::query_scalar("SELECT count(*) FROM jobs WHERE status = 'dead'")
            .fetch_one(&app.pool)
            .await
            .unwrap();
        dead == payloads.len() as i64
    })
    .await;
    let rows: Vec<(i32, String)> =
        sqlx::query_as("SELECT attempts, last_error FROM jobs WHERE status = 'dead' ORDER BY id")
            .fetch_all(&app.pool)
            .await
            .unwrap();
    for ((attempts, error), (_, why)) in rows.iter().zip(&payloads) {
        assert_eq!(*attempts, 1, "not retried: {error}");
        assert!(
            error.contains("unreadable payload") && error.contains(why),
            "{error}"
        );
    }
    assert!(
        app.timeline_kinds(&id(&call))
            .await
            .contains(&"job.failed".to_owned())
    );
    // The workers are still there.
    let call = app.call_with_agent("John", "agent_alice").await;
    let created = app
        .start_transfer(&call, "agent_alice", "agent_bob", json!({}))
        .await;
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    eventually("a readable job still runs", || async {
        app.livekit.room_exists(&briefing)
    })
    .await;
}

#[tokio::test]
async fn a_caller_move_livekit_keeps_refusing_fails_the_transfer() {
    let app = TestApp::spawn_with(&[
        ("LIVEKIT_MOVE_PARTICIPANT", "true"),
        ("JOB_MAX_ATTEMPTS", "2"),
    ])
    .await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    // The caller is not in its room as LiveKit sees it: MoveParticipant is refused (not found).
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"handoff": "move_caller"}),
        )
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    let complete = app.post_empty(&format!("/v1/transfers/{t}/complete")).await;
    complete.assert_ok();
    assert_eq!(
        complete.body["transfer"]["state"], "connecting",
        "{}",
        complete.body
    );

    let failed = app.wait_for_state(&t, "failed").await;
    assert_eq!(failed["outcome"], "livekit_error");
    let (job_id, status, attempts): (i64, String, i32) = sqlx::query_as(
        "SELECT id, status, attempts FROM jobs WHERE kind = 'move_participant' AND transfer_id = $1::uuid",
    )
    .bind(&t)
    .fetch_one(&app.pool)
    .await
    .unwrap();
    assert_eq!((status.as_str(), attempts), ("dead", 2));
    assert!(
        failed["outcome_detail"]
            .as_str()
            .unwrap()
            .contains(&format!("job {job_id}")),
        "{failed}"
    );
    let moves = app.livekit.calls_of("MoveParticipant");
    assert_eq!(moves.len(), 2, "{moves:?}");
    for asked in moves {
        assert_eq!(
            (
                asked.room.as_str(),
                asked.identity.as_deref(),
                asked.destination.as_deref()
            ),
            (room.as_str(), Some("Jane"), Some(briefing.as_str()))
        );
    }
}

#[tokio::test]
async fn with_move_participant_the_caller_is_moved_and_the_hand_off_completes() {
    let app = TestApp::spawn_with(&[("LIVEKIT_MOVE_PARTICIPANT", "true")]).await;
    let call = app.call_with_agent("Jane", "agent_alice").await;
    let room = call["room_name"].as_str().unwrap().to_owned();
    app.livekit.join(&room, "Jane");
    app.livekit.join(&room, "agent_alice");
    let created = app
        .start_transfer(
            &call,
            "agent_alice",
            "agent_bob",
            json!({"handoff": "move_caller"}),
        )
        .await;
    let t = id(&created["transfer"]);
    let briefing = created["transfer"]["briefing_room"]
        .as_str()
        .unwrap()
        .to_owned();
    app.post_empty_ok(&format!("/v1/transfers/{t}/accept"))
        .await;
    app.livekit.join(&briefing, "agent_bob");
    app.post_empty_ok(&format!("/v1/transfers/{t}/complete"))
        .await;
    let done = app.wait_for_state(&t, "completed").await;
    assert_eq!(
        (
            done["handoff_confirmed"].as_bool(),
            done["final_room"].as_str()
        ),
        (Some(true), Some(briefing.as_str()))
    );
    assert!(app.livekit.members(&briefing).contains(&"Jane".to_owned()));
    assert!(!app.livekit.members(&room).contains(&"Jane".to_owned()));
}

#[tokio::test]
async fn due_jobs_are_claimed_and_finished_in_batches() {
    // The queue alone: this test plays the workers.
    let (_db, pool, call_id) = queue_alone().await;
    let later = chrono::Utc::now() + chrono::Duration::hours(1);
    let jobs: Vec<_> = (0..5)
        .map(|n| {
            let job = warmline::jobs::model::Job::DeleteRoom {
                room: format!("r{n}"),
            };
            // The last one is not due yet.
            (job, (n == 4).then_some(later))
        })
        .collect();
    warmline::jobs::store::enqueue_all(&pool, &jobs, call_id, None, 3)
        .await
        .unwrap();
    let lease = Duration::from_secs(60);
    let all = warmline::jobs::store::Reach::All;
    let first = warmline::jobs::store::claim_due(&pool, lease, 3, all)
        .await
        .unwrap();
    assert_eq!(first.len(), 3);
    let rest = warmline::jobs::store::claim_due(&pool, lease, 3, all)
        .await
        .unwrap();
    assert_eq!(rest.len(), 1, "only the due job that is left: {rest:?}");
    assert!(first.iter().all(|j| j.id != rest[0].id));

    let finished = warmline::jobs::store::finish_all_done(&pool, &first)
        .await
        .unwrap();
    assert_eq!(finished, 3);
    // Finishing again changes nothing: they are no longer running.
    assert_eq!(
        warmline::jobs::store::finish_all_done(&pool, &first)
            .await
            .unwrap(),
        0
    );
    let (done, attempts): (i64, i64) = sqlx::query_as(
        "SELECT (SELECT count(*) FROM jobs WHERE status = 'done'),
                (SELECT count(*) FROM job_attempts WHERE outcome = 'done')",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!((done, attempts), (3, 3));
}

#[tokio::test]
async fn a_recent_claim_takes_only_what_came_due_within_its_window() {
    // The queue alone: this test plays the workers.
    use warmline::jobs::store::{Reach, claim_due};
    let (_db, pool, call_id) = queue_alone().await;
    let now = chrono::Utc::now();
    let job = |room: &str, due| {
        let job = warmline::jobs::model::Job::DeleteRoom { room: room.into() };
        (job, Some(due))
    };
    let jobs = [
        job("long-due", now - chrono::Duration::minutes(10)),
        job("just-due", now - chrono::Duration::milliseconds(100)),
        job("not-yet", now + chrono::Duration::hours(1)),
    ];
    warmline::jobs::store::enqueue_all(&pool, &jobs, call_id, None, 3)
        .await
        .unwrap();
    // A job whose worker died: its lease ran out a minute ago.
    sqlx::query(
        "INSERT INTO jobs (kind, payload, call_id, status, attempts, max_attempts, locked_until)
         VALUES ('delete_room', '{\"kind\": \"delete_room\", \"room\": \"lapsed\"}', $1,
                 'running', 1, 3, now() - interval '1 minute')",
    )
    .bind(call_id)
    .execute(&pool)
    .await
    .unwrap();
    let room =
        |j: &warmline::jobs::model::ClaimedJob| j.payload["room"].as_str().unwrap().to_owned();
    let lease = Duration::from_secs(60);

    let recent = claim_due(&pool, lease, 10, Reach::Recent(Duration::from_secs(5)))
        .await
        .unwrap();
    assert_eq!(recent.iter().map(room).collect::<Vec<_>>(), ["just-due"]);
    let all = claim_due(&pool, lease, 10, Reach::All).await.unwrap();
    let mut rooms: Vec<_> = all.iter().map(room).collect();
    rooms.sort();
    assert_eq!(
        rooms,
        ["lapsed", "long-due"],
        "the rest that is due, and the lapsed lease"
    );
    let lapsed = all.iter().find(|j| room(j) == "lapsed").unwrap();
    assert_eq!(lapsed.attempts, 2, "taken again: a second attempt");
    assert!(
        claim_due(&pool, lease, 10, Reach::All)
            .await
            .unwrap()
            .is_empty(),
        "only the job not due yet is left"
    );
}
