//! The word statistics call searches choose their way by, kept per process.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::PgConnection;

use super::store::{self, WordStatistics};

/// The word statistics searches choose their way by, read at most once a minute: they change
/// only when the planner's do (an `ANALYZE`), and reading them costs several times what the
/// rest of a term's look-up does.
#[derive(Debug, Default)]
pub struct SearchStatistics(Mutex<Option<(Instant, Arc<WordStatistics>)>>);

impl SearchStatistics {
    /// How long statistics once read are used.
    const FRESH: Duration = Duration::from_secs(60);

    /// The statistics, read through `db` when those held are older than [`Self::FRESH`].
    pub async fn get(&self, db: &mut PgConnection) -> sqlx::Result<Arc<WordStatistics>> {
        let held = self
            .0
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clone();
        if let Some((read, statistics)) = held
            && read.elapsed() < Self::FRESH
        {
            return Ok(statistics);
        }
        let statistics = Arc::new(store::word_statistics(db).await?);
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) =
            Some((Instant::now(), statistics.clone()));
        Ok(statistics)
    }
}
