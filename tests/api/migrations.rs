use crate::support::{TestApp, TestDb};

#[tokio::test]
async fn the_event_log_refuses_updates_and_deletes() {
    let app = TestApp::spawn().await;
    app.create_call("Jane").await;
    for sql in [
        "UPDATE events SET kind = 'forged'",
        "DELETE FROM events",
        "TRUNCATE events",
    ] {
        let err = sqlx::query(sql).execute(&app.pool).await.expect_err(sql);
        let code = err
            .as_database_error()
            .and_then(|e| e.code())
            .map(|c| c.into_owned());
        assert_eq!(
            code.as_deref(),
            Some(warmline::error::SQLSTATE_EVENTS_APPEND_ONLY),
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
