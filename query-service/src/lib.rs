//! The comics read side: `GET` endpoints under `/api/v1` served from the
//! projected query stores — the `catalog` projection (comics, chapters,
//! genres), the `ratings` projection (each comic's `rating`, `/me/ratings`,
//! `/rankings/top-rated`), the `bookmarks` projection (`/me/bookmarks`, each
//! comic's bookmark count) and the `popularity` projection (each comic's
//! views, `sort=popularity`, `/rankings/popular`) — honouring the
//! `X-Consistency-Token` of API.md.
//!
//! Each projection's pool may point at its own database: reads that need two
//! projections query each store on its own and merge in Rust.
//!
//! The crate exposes [`router`] over a [`QueryState`]; the `comics` binary
//! composes it with the other services.
#![forbid(unsafe_code)]

pub mod audit;
mod bookmarks;
pub mod cache;
mod chapters;
mod comics;
pub mod consistency;
mod genres;
mod images;
mod listing;
mod openapi;
mod page_rows;
mod pages;
mod plans;
mod popularity;
mod ratings;
pub mod search;
mod state;
mod stats_parts;

use axum::extract::Request;
use axum::middleware::{from_fn_with_state, Next};
use axum::response::Response;
use axum::Router;
use cache::CachePolicy;
use comics_common::auth::User;
use comics_common::projections::{ProjectionInfo, BOOKMARKS, CATALOG, PLANS, POPULARITY, RATINGS};
use comics_domain::aggregate_types::{CHAPTER, COMIC, PAGE};

pub use consistency::{ConsistencyGate, ProjectionStore, ViewsSource};
pub use images::ImageCache;
pub use openapi::document as openapi;
pub use state::QueryState;

/// Every read endpoint of this crate, nested under `/api/v1`.
///
/// Each route waits for the consistency token (if one was sent) on the
/// projections it reads before it reads: `/comics` and `/comics/{id}` on the
/// catalog (which keeps each document whole), `/comics/{id}/stats` on
/// catalog, ratings, popularity and bookmarks, chapters and genres on the
/// catalog's comics and chapters, `/me/ratings` and
/// `/rankings/top-rated` on ratings, `/rankings/popular` on popularity and
/// ratings, `/me/bookmarks` on bookmarks, `/plans` and `/plans/{id}` on plans. The `/me/*` routes check the
/// bearer token (401) before waiting.
/// Fallbacks for unknown paths are left to whoever composes routers.
pub fn router(state: QueryState) -> Router {
    let stores = Stores::of(&state);
    // Everything a comic's stats show.
    let comic_stores = [
        &stores.catalog,
        &stores.ratings,
        &stores.popularity,
        &stores.bookmarks,
    ];
    let reads = Reads::of(&state);
    let signed_in = |routes: Router<QueryState>| {
        routes.route_layer(from_fn_with_state(state.clone(), signed_in))
    };
    let api = Router::new()
        // A document or a list is read from the catalog alone.
        .merge(reads.of_stores(comics::routes(), &[&stores.catalog], Keep::KEPT))
        // Stats read the catalog only to know the comic exists: its deletion
        // is announced by the other three as well (they follow Comic events),
        // so the catalog's other changes leave kept stats alone.
        .merge(reads.of_stores(
            comics::stats_routes(),
            &comic_stores,
            Keep::Answers {
                clock_bound: true,
                unless: Some(CATALOG),
            },
        ))
        .merge(reads.of_stores(chapters::routes(), &[&stores.chapters], Keep::KEPT))
        // Bytes are not kept in the read cache: a page's row is kept by
        // `page_rows` (dropped when its comic changes), its bytes by sha256
        // in the image cache (see `images`).
        .merge(reads.of_stores(pages::routes(), &[&stores.chapters], Keep::No))
        .merge(reads.of_stores(genres::routes(), &[&stores.chapters], Keep::KEPT))
        .merge(reads.of_stores(ratings::ranking_routes(), &[&stores.ratings], Keep::KEPT))
        .merge(reads.of_stores(
            popularity::ranking_routes(),
            &[&stores.popularity, &stores.ratings],
            Keep::CLOCK_BOUND,
        ))
        // Plans: any plan's change invalidates every kept plans answer.
        .merge(reads.of_stores(plans::routes(), &[&stores.plans], Keep::KEPT))
        .merge(signed_in(reads.of_stores(
            ratings::my_routes(),
            &[&stores.ratings],
            Keep::No,
        )))
        .merge(signed_in(reads.of_stores(
            bookmarks::my_routes(),
            &[&stores.bookmarks],
            Keep::No,
        )))
        .with_state(state);
    Router::new().nest("/api/v1", api)
}

/// The query stores the routes read.
struct Stores {
    catalog: ProjectionStore,
    /// The catalog as chapters, pages, covers and genres see it.
    chapters: ProjectionStore,
    ratings: ProjectionStore,
    bookmarks: ProjectionStore,
    popularity: ProjectionStore,
    plans: ProjectionStore,
}

impl Stores {
    fn of(state: &QueryState) -> Self {
        let catalog = ProjectionStore::new(CATALOG, state.catalog.clone());
        Self {
            // Chapters (with their page counts), pages, covers and genres show
            // nothing of ratings, bookmarks or views.
            chapters: catalog.showing(&[COMIC, CHAPTER, PAGE]),
            catalog,
            ratings: ProjectionStore::new(RATINGS, state.ratings.clone()),
            bookmarks: ProjectionStore::new(BOOKMARKS, state.bookmarks.clone()),
            popularity: ProjectionStore::new(POPULARITY, state.popularity.clone()),
            plans: ProjectionStore::new(PLANS, state.plans.clone()),
        }
    }
}

/// What a group of reads is wrapped in: each group of routes names the
/// stores it reads once; its consistency gate waits on them and its cached
/// answers follow their changes.
struct Reads {
    timeout: std::time::Duration,
    views: Option<ViewsSource>,
    cache: Option<std::sync::Arc<cache::ResponseCache>>,
}

impl Reads {
    fn of(state: &QueryState) -> Self {
        Self {
            timeout: state.consistency_timeout,
            views: state.views.clone(),
            cache: state.cache.clone(),
        }
    }

    /// `routes`, reading `stores`, behind their consistency gate and, as
    /// `keep` says, the read cache.
    fn of_stores(
        &self,
        routes: Router<QueryState>,
        stores: &[&ProjectionStore],
        keep: Keep,
    ) -> Router<QueryState> {
        let gate =
            ConsistencyGate::new(stores.iter().map(|s| (*s).clone()).collect(), self.timeout)
                .with_views(self.views.clone());
        let routes = routes.route_layer(from_fn_with_state(gate, consistency::require));
        match (&self.cache, keep) {
            (
                Some(cache),
                Keep::Answers {
                    clock_bound,
                    unless,
                },
            ) => {
                let policy = CachePolicy {
                    cache: cache.clone(),
                    deps: stores
                        .iter()
                        .map(|s| s.info)
                        .filter(|info| Some(*info) != unless)
                        .collect(),
                    clock_bound,
                };
                routes.route_layer(from_fn_with_state(policy, cache::cached))
            }
            _ => routes,
        }
    }
}

/// Whether a group of routes' answers are kept in the read cache.
#[derive(Clone, Copy)]
enum Keep {
    /// Not kept: bytes, or answers that differ per caller.
    No,
    /// Kept until a change of the projections read (but `unless`) makes
    /// them out of date, or, if `clock_bound`, the next minute comes.
    Answers {
        clock_bound: bool,
        unless: Option<ProjectionInfo>,
    },
}

impl Keep {
    const KEPT: Keep = Keep::Answers {
        clock_bound: false,
        unless: None,
    };
    /// Windows of time: out of date as the clock moves, too.
    const CLOCK_BOUND: Keep = Keep::Answers {
        clock_bound: true,
        unless: None,
    };
}

/// Middleware: refuses a request without a valid bearer token (401) before
/// anything else runs, so it never waits on a consistency token first.
async fn signed_in(_user: User, req: Request, next: Next) -> Response {
    next.run(req).await
}
