//! The shared state of the read endpoints: the query stores' pools, the
//! token verifier, the consistency settings and the clock that view windows
//! are measured against.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::FromRef;
use chrono::{DateTime, Utc};
use comics_common::auth::Jwt;
use comics_common::config::ReadCacheSettings;
use sqlx::PgPool;

use crate::consistency::{ViewsSource, DEFAULT_TIMEOUT};

/// What the read handlers need, shared: axum clones the state for every
/// request, and one reference count is cheaper than one per field.
#[derive(Clone)]
pub struct QueryState(Arc<QueryStores>);

impl std::ops::Deref for QueryState {
    type Target = QueryStores;

    fn deref(&self) -> &QueryStores {
        &self.0
    }
}

/// The fields of a [`QueryState`].
///
/// Each projection's pool may point at its own database: no query of this
/// crate joins tables of two projections in SQL, results are merged in Rust.
#[derive(Clone)]
pub struct QueryStores {
    /// The catalog projection's query store (schema `catalog`).
    pub catalog: PgPool,
    /// The ratings projection's query store (schema `ratings`).
    pub ratings: PgPool,
    /// The bookmarks projection's query store (schema `bookmarks`).
    pub bookmarks: PgPool,
    /// The popularity projection's query store (schema `popularity`).
    pub popularity: PgPool,
    /// The plans projection's query store (schema `plans`): the catalog's
    /// pool unless [`QueryState::with_plans`] gives another.
    pub plans: PgPool,
    /// The thumbnails projection's query store (schema `thumbnails`): the
    /// catalog's pool unless [`QueryState::with_thumbnails`] gives another.
    pub thumbnails: PgPool,
    /// Verifies the bearer tokens of the `/me/*` reads.
    pub jwt: Arc<Jwt>,
    /// How long a read waits for its consistency token before answering 503.
    pub consistency_timeout: Duration,
    /// "Now" for the view windows (24h, 7d, 30d); `Utc::now` unless a test
    /// injects another with [`QueryState::with_clock`].
    pub clock: Arc<dyn Fn() -> DateTime<Utc> + Send + Sync>,
    /// The hot-read cache; `None` serves every read from the stores.
    pub cache: Option<Arc<crate::cache::ResponseCache>>,
    /// Where the marks of recorded views are resolved; `None` leaves them
    /// unchecked (see [`QueryState::with_views`]).
    pub views: Option<ViewsSource>,
    /// Where image bytes are read; `None` answers their reads 503.
    pub storage: Option<comics_storage::Storage>,
    /// Image bytes kept in memory by sha256; `None` reads every image from
    /// `storage`.
    pub images: Option<Arc<crate::images::ImageCache>>,
    /// The rows of read pages, kept while their comic is unchanged (with
    /// the read cache, whose change listener they follow).
    pub page_rows: Option<Arc<crate::page_rows::PageRows>>,
    /// The stats parts that a comic's change rarely touches, kept while
    /// unchanged (with the read cache, whose change listener they follow).
    pub stats_parts: Option<Arc<crate::stats_parts::StatsParts>>,
}

impl QueryState {
    /// State over the projections' pools, waiting at most 5 s for
    /// consistency tokens as API.md requires.
    pub fn new(
        catalog: PgPool,
        ratings: PgPool,
        bookmarks: PgPool,
        popularity: PgPool,
        jwt: Arc<Jwt>,
    ) -> Self {
        Self(Arc::new(QueryStores {
            plans: catalog.clone(),
            thumbnails: catalog.clone(),
            catalog,
            ratings,
            bookmarks,
            popularity,
            jwt,
            consistency_timeout: DEFAULT_TIMEOUT,
            clock: Arc::new(Utc::now),
            cache: None,
            views: None,
            storage: None,
            images: None,
            page_rows: None,
            stats_parts: None,
        }))
    }

    /// The fields, to change while building (cloned if already shared).
    fn fields(&mut self) -> &mut QueryStores {
        Arc::make_mut(&mut self.0)
    }

    /// The same state resolving the consistency tokens of `POST
    /// /comics/{id}/views` through the event store `events`, where the view
    /// recorder keeps its position in the views stream `stream`.
    pub fn with_views(mut self, events: PgPool, stream: String) -> Self {
        self.fields().views = Some(ViewsSource { events, stream });
        self
    }

    /// The same state reading the plans projection from `plans` (call it
    /// before [`Self::with_cache`], whose listener must hear that database).
    pub fn with_plans(mut self, plans: PgPool) -> Self {
        self.fields().plans = plans;
        self
    }

    /// The same state reading the cover thumbnails from `thumbnails`.
    pub fn with_thumbnails(mut self, thumbnails: PgPool) -> Self {
        self.fields().thumbnails = thumbnails;
        self
    }

    /// The same state serving image bytes from `storage`.
    pub fn with_storage(mut self, storage: comics_storage::Storage) -> Self {
        self.fields().storage = Some(storage);
        self
    }

    /// The same state keeping up to `bytes` of image bytes in memory (see
    /// [`crate::images::ImageCache`]); none when `bytes` is 0.
    pub fn with_image_cache(mut self, bytes: u64) -> Self {
        self.fields().images = crate::images::ImageCache::new(bytes);
        self
    }

    /// The same state with another consistency timeout (tests use a short one).
    pub fn with_consistency_timeout(mut self, timeout: Duration) -> Self {
        self.fields().consistency_timeout = timeout;
        self
    }

    /// The same state reading "now" from `clock` (tests move time with it).
    pub fn with_clock(mut self, clock: impl Fn() -> DateTime<Utc> + Send + Sync + 'static) -> Self {
        self.fields().clock = Arc::new(clock);
        self
    }

    /// The same state serving hot public reads from an in-memory cache that
    /// projection change notifications keep fresh (see [`crate::cache`]);
    /// none when `settings.bytes` is 0.
    pub fn with_cache(mut self, settings: ReadCacheSettings) -> Self {
        if settings.bytes == 0 {
            return self;
        }
        let pools = vec![
            self.catalog.clone(),
            self.ratings.clone(),
            self.bookmarks.clone(),
            self.popularity.clone(),
            self.plans.clone(),
        ];
        let mut distinct: Vec<PgPool> = Vec::new();
        for pool in pools {
            if !distinct.iter().any(|p| {
                p.connect_options().get_database() == pool.connect_options().get_database()
                    && p.connect_options().get_host() == pool.connect_options().get_host()
                    && p.connect_options().get_port() == pool.connect_options().get_port()
            }) {
                distinct.push(pool);
            }
        }
        let freshness = crate::cache::Freshness::spawn(distinct);
        self.fields().page_rows = Some(crate::page_rows::PageRows::new(freshness.clone()));
        self.fields().stats_parts = Some(crate::stats_parts::StatsParts::new(freshness.clone()));
        self.fields().cache = Some(crate::cache::ResponseCache::new(
            freshness,
            settings,
            self.ratings.clone(),
        ));
        self
    }

    /// The current time by the state's clock.
    pub fn now(&self) -> DateTime<Utc> {
        (self.clock)()
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
            .field("popularity", &self.popularity)
            .field("plans", &self.plans)
            .field("consistency_timeout", &self.consistency_timeout)
            .finish_non_exhaustive()
    }
}
