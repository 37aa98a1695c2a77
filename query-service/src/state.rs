//! The shared state of the read endpoints: the query stores' pools and the
//! consistency settings.

use std::time::Duration;

use sqlx::PgPool;

use crate::consistency::DEFAULT_TIMEOUT;

/// What the read handlers need.
#[derive(Debug, Clone)]
pub struct QueryState {
    /// The catalog projection's query store (schema `catalog`).
    pub catalog: PgPool,
    /// How long a read waits for its consistency token before answering 503.
    pub consistency_timeout: Duration,
}

impl QueryState {
    /// State over the catalog pool, waiting at most 5 s for consistency tokens
    /// as API.md requires.
    pub fn new(catalog: PgPool) -> Self {
        Self {
            catalog,
            consistency_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same state with another consistency timeout (tests use a short one).
    pub fn with_consistency_timeout(mut self, timeout: Duration) -> Self {
        self.consistency_timeout = timeout;
        self
    }
}
