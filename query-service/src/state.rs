//! The shared state of the read endpoints: the query stores' pools, the
//! token verifier and the consistency settings.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use comics_common::auth::Jwt;
use sqlx::PgPool;

use crate::consistency::DEFAULT_TIMEOUT;

/// What the read handlers need.
///
/// Each projection's pool may point at its own database: no query of this
/// crate joins tables of two projections in SQL, results are merged in Rust.
#[derive(Clone)]
pub struct QueryState {
    /// The catalog projection's query store (schema `catalog`).
    pub catalog: PgPool,
    /// The ratings projection's query store (schema `ratings`).
    pub ratings: PgPool,
    /// The bookmarks projection's query store (schema `bookmarks`).
    pub bookmarks: PgPool,
    /// Verifies the bearer tokens of the `/me/*` reads.
    pub jwt: Arc<Jwt>,
    /// How long a read waits for its consistency token before answering 503.
    pub consistency_timeout: Duration,
}

impl QueryState {
    /// State over the projections' pools, waiting at most 5 s for
    /// consistency tokens as API.md requires.
    pub fn new(catalog: PgPool, ratings: PgPool, bookmarks: PgPool, jwt: Arc<Jwt>) -> Self {
        Self {
            catalog,
            ratings,
            bookmarks,
            jwt,
            consistency_timeout: DEFAULT_TIMEOUT,
        }
    }

    /// The same state with another consistency timeout (tests use a short one).
    pub fn with_consistency_timeout(mut self, timeout: Duration) -> Self {
        self.consistency_timeout = timeout;
        self
    }
}

impl FromRef<QueryState> for Arc<Jwt> {
    fn from_ref(state: &QueryState) -> Self {
        state.jwt.clone()
    }
}

impl std::fmt::Debug for QueryState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueryState")
            .field("catalog", &self.catalog)
            .field("ratings", &self.ratings)
            .field("bookmarks", &self.bookmarks)
            .field("consistency_timeout", &self.consistency_timeout)
            .finish_non_exhaustive()
    }
}
