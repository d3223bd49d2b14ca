//! SQL of exports: the snapshot they read in (the rows come from each resource's store).

use sqlx::{PgPool, Postgres, Transaction};

/// A read-only transaction on one snapshot, so a call and all its records agree.
pub async fn snapshot(db: &PgPool) -> sqlx::Result<Transaction<'static, Postgres>> {
    db.begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ, READ ONLY")
        .await
}
