//! The hot-read cache: public `GET` answers kept in memory, so that hot
//! reads (a comic, its stats, the rankings) are served without a Postgres
//! round trip while writes flow.
//!
//! Freshness is scoped to what changed ([`freshness`]): projectors announce
//! with each commit which comics changed. An answer about one comic (a
//! handler attaches [`Scope`]) is kept until that comic changes. A
//! collection (rankings, lists, genres) is recomputed at most once per half
//! [`max_age`](ResponseCache::max_age) however fast writes come, by one
//! request in the background while the others are served the previous
//! answer, and is never served older than `max_age` after a change: past
//! that it is computed on the request path. A comic's deletion, a rebuild, or
//! a listener that lost its connection make answers unusable at once.
//! Answers that depend on the clock (view windows) go out of date at the next
//! minute. The Bayesian average a comic's answer shows is re-rated when served
//! ([`entry`]), so a rating of one comic does not evict the others.
//! A request with `X-Consistency-Token` always bypasses the cache.
//!
//! The cache is bounded by the memory its keys and bodies take
//! (`COMICS_READ_CACHE_MB`), evicting the least recently (and least often)
//! used; [`CacheStats`] counts hits, misses, stale answers and recomputes,
//! and each answer says which it was in `X-Cache`.

mod entry;
mod flight;
mod freshness;
mod tasks;

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{OriginalUri, Request, State};
use axum::http::{header, HeaderName, HeaderValue, Method, StatusCode};
use axum::middleware::{from_fn_with_state, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use comics_common::config::ReadCacheSettings;
use comics_common::consistency::HEADER;
use comics_common::projections::ProjectionInfo;
use comics_common::Problem;
use sqlx::PgPool;
use tower::Layer;

use entry::{Body as Kept, Entry, Prior};
pub use entry::{ComicAnswer, Rerate, Scope};
pub use freshness::{Freshness, Verdict};

const MAX_BODY: usize = 4 * 1024 * 1024;
/// What an entry costs beyond its key and body (the entry, the map's slot).
const ENTRY_OVERHEAD: usize = 256;
/// `X-Cache`: `hit`, `miss` or `stale` (a collection served while recomputed).
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The cache's counters since start.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct CacheStats {
    pub hits: u64,
    pub misses: u64,
    /// Collections served while a recompute ran (or was not yet due).
    pub stale: u64,
    /// Background recomputes of collections.
    pub recomputes: u64,
    /// Entries and bytes held now.
    pub entries: u64,
    pub bytes: u64,
}

#[derive(Clone)]
struct Weigh;

impl quick_cache::Weighter<String, Arc<Entry>> for Weigh {
    fn weight(&self, key: &String, entry: &Arc<Entry>) -> u64 {
        (key.len() + entry.body.len() + ENTRY_OVERHEAD) as u64
    }
}

pub struct ResponseCache {
    freshness: Arc<Freshness>,
    entries: quick_cache::sync::Cache<String, Arc<Entry>, Weigh>,
    /// Keys being computed now.
    flights: Arc<flight::Flights>,
    /// The global terms of the Bayesian average, with the change counter
    /// before they were read; `None` until read (or after a failed read).
    prior: RwLock<Option<(u64, Prior)>>,
    /// Answers larger than this are served, never kept.
    max_body: usize,
    max_age: Duration,
    counters: [AtomicU64; 4],
    /// The same counts, for `/metrics`.
    metered: [metrics::Counter; 4],
}

impl ResponseCache {
    /// A cache of `settings.bytes` whose re-rating prior is read from the
    /// ratings store `ratings`.
    pub fn new(
        freshness: Arc<Freshness>,
        settings: ReadCacheSettings,
        ratings: PgPool,
    ) -> Arc<Self> {
        let cache = Self::build(freshness, settings, MAX_BODY);
        tokio::spawn(tasks::keep_prior(Arc::downgrade(&cache), ratings));
        tokio::spawn(tasks::report(Arc::downgrade(&cache)));
        cache
    }

    fn build(freshness: Arc<Freshness>, settings: ReadCacheSettings, max_body: usize) -> Arc<Self> {
        let items = (settings.bytes / 2048).clamp(1024, 1 << 20) as usize;
        Arc::new(Self {
            freshness,
            entries: quick_cache::sync::Cache::with_weighter(items, settings.bytes.max(1), Weigh),
            flights: Default::default(),
            prior: RwLock::new(None),
            max_body,
            max_age: settings.max_age,
            counters: Default::default(),
            metered: ["hit", "miss", "stale", "recompute"]
                .map(|outcome| metrics::counter!("comics_read_cache_total", "outcome" => outcome)),
        })
    }

    /// The oldest a changed collection (or shared figure) is ever served.
    pub fn max_age(&self) -> Duration {
        self.max_age
    }

    /// The counters since start.
    pub fn stats(&self) -> CacheStats {
        let [hits, misses, stale, recomputes] =
            [0, 1, 2, 3].map(|i| self.counters[i].load(Ordering::Relaxed));
        CacheStats {
            hits,
            misses,
            stale,
            recomputes,
            entries: self.entries.len() as u64,
            bytes: self.entries.weight(),
        }
    }

    fn count(&self, counter: Counter) {
        self.counters[counter as usize].fetch_add(1, Ordering::Relaxed);
        self.metered[counter as usize].increment(1);
    }

    fn current_prior(&self) -> Option<Prior> {
        let prior = *self.prior.read().unwrap_or_else(|e| e.into_inner());
        prior.map(|(_, p)| p)
    }

    /// Sends a kept answer (re-rated with the current prior); `None` when it
    /// cannot be (no prior known).
    fn serve(&self, entry: &Entry, how: &'static str) -> Option<Response> {
        let body = entry.body.render(self.current_prior())?;
        let mut response = (StatusCode::OK, body).into_response();
        let headers = response.headers_mut();
        headers.insert(header::CONTENT_TYPE, entry.content_type.clone());
        headers.insert(X_CACHE, HeaderValue::from_static(how));
        if let Some(route) = &entry.route {
            response.extensions_mut().insert(route.clone());
        }
        Some(response)
    }
}

#[derive(Clone, Copy)]
enum Counter {
    Hits,
    Misses,
    Stale,
    Recomputes,
}

/// What a group of routes reads, for the cache.
#[derive(Clone)]
pub struct CachePolicy {
    pub cache: Arc<ResponseCache>,
    pub deps: Arc<[ProjectionInfo]>,
    /// The answer changes as time passes (view windows): out of date at the
    /// next minute.
    pub clock_bound: bool,
}

fn next_minute() -> Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Instant::now() + Duration::from_secs(60 - now.as_secs() % 60)
}

/// Whether `req` may be answered from the cache at all.
fn cacheable(cache: &ResponseCache, req: &Request) -> bool {
    req.method() == Method::GET && !req.headers().contains_key(HEADER) && cache.freshness.usable()
}

/// The cache key: the request's whole path and query (as sent, also inside
/// a nested router).
fn key_of(req: &Request) -> String {
    match req.extensions().get::<OriginalUri>() {
        Some(OriginalUri(uri)) => uri.to_string(),
        None => req.uri().to_string(),
    }
}

/// `app` behind a layer that answers fresh kept answers (and stale
/// collections not yet due for a recompute) at once, before routing, the routes' own layers and the application's outer layers (it
/// echoes the request id itself); everything else goes on to `app`, whose
/// routes' [`cached`] layers recompute or keep.
pub fn in_front(cache: Arc<ResponseCache>, app: Router) -> Router {
    Router::new().fallback_service(from_fn_with_state(cache, serve_hits).layer(app))
}

async fn serve_hits(State(cache): State<Arc<ResponseCache>>, req: Request, next: Next) -> Response {
    if cacheable(&cache, &req) {
        if let Some(entry) = cache.entries.get(&key_of(&req)) {
            // A stale collection whose recompute is not due yet is served
            // here too: under live writes collections are stale most of the
            // time, and the full stack costs each of them what a hit does
            // not. Once it is due, the request goes on to the route's
            // [`cached`] layer, which starts the one recompute.
            let (outcome, counter) = match verdict(&cache, &entry) {
                Verdict::Fresh => ("hit", Counter::Hits),
                Verdict::Stale if entry.computed_at.elapsed() < cache.max_age / 2 => {
                    ("stale", Counter::Stale)
                }
                _ => return next.run(req).await,
            };
            if let Some(mut answer) = cache.serve(&entry, outcome) {
                cache.count(counter);
                let id = comics_common::http::request_id_for(req.headers());
                if let Ok(id) = HeaderValue::from_str(&id) {
                    answer
                        .headers_mut()
                        .insert(comics_common::http::REQUEST_ID, id);
                }
                return answer;
            }
        }
    }
    next.run(req).await
}

/// Middleware (`from_fn_with_state` with a [`CachePolicy`]).
pub async fn cached(State(policy): State<CachePolicy>, req: Request, next: Next) -> Response {
    let cache = &policy.cache;
    if !cacheable(cache, &req) {
        return next.run(req).await;
    }
    let key = key_of(&req);
    if let Some(entry) = cache.entries.get(&key) {
        let age = entry.computed_at.elapsed();
        match verdict(cache, &entry) {
            Verdict::Fresh => {
                if let Some(hit) = cache.serve(&entry, "hit") {
                    cache.count(Counter::Hits);
                    return hit;
                }
            }
            Verdict::Stale if age < cache.max_age => {
                if let Some(old) = cache.serve(&entry, "stale") {
                    cache.count(Counter::Stale);
                    // Recompute at most once per half max age, in the
                    // background, by one request.
                    if age >= cache.max_age / 2 {
                        if let flight::Turn::Lead(leader) = cache.flights.join(&key) {
                            cache.count(Counter::Recomputes);
                            let policy = policy.clone();
                            tokio::spawn(async move {
                                compute(&policy, key, req, next).await;
                                drop(leader);
                            });
                        }
                    }
                    return old;
                }
            }
            Verdict::Stale | Verdict::Invalid => {}
        }
    }
    cache.count(Counter::Misses);
    match cache.flights.join(&key) {
        flight::Turn::Lead(_leader) => compute(&policy, key, req, next).await,
        flight::Turn::Follow(running) => {
            flight::wait(running, FOLLOW_LIMIT).await;
            let fresh = cache
                .entries
                .get(&key)
                .filter(|e| verdict(cache, e) == Verdict::Fresh);
            match fresh.and_then(|entry| cache.serve(&entry, "hit")) {
                Some(answer) => answer,
                None => compute(&policy, key, req, next).await,
            }
        }
    }
}

/// How long a miss waits for another request computing the same answer
/// before computing it itself.
const FOLLOW_LIMIT: Duration = Duration::from_secs(2);

fn verdict(cache: &ResponseCache, entry: &Entry) -> Verdict {
    let scope = entry.scope.map(|Scope(id)| id);
    let judged = cache.freshness.judge(&entry.deps, scope, entry.stamp);
    let expired = entry.expires.is_some_and(|t| Instant::now() >= t);
    match (judged, expired, scope) {
        (Verdict::Fresh, true, Some(_)) => Verdict::Invalid,
        (Verdict::Fresh, true, None) => Verdict::Stale,
        (judged, _, _) => judged,
    }
}

/// Runs the handler and keeps its answer (a `200` up to `max_body` bytes).
async fn compute(policy: &CachePolicy, key: String, req: Request, next: Next) -> Response {
    let cache = &policy.cache;
    let (stamp, computed_at) = (cache.freshness.stamp(), Instant::now());
    let route = req
        .extensions()
        .get::<axum::extract::MatchedPath>()
        .map(|p| comics_common::metrics::Route(p.as_str().into()));
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    // The handler built the body in memory already; collecting it costs no
    // more.
    let body: Bytes = match to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a response to cache it");
            return Problem::internal(&e).into_response();
        }
    };
    let content_type = parts.headers.get(header::CONTENT_TYPE).cloned();
    if let (Some(content_type), true) = (content_type, body.len() <= cache.max_body) {
        let entry = Entry {
            deps: policy.deps.clone(),
            stamp,
            computed_at,
            expires: policy.clock_bound.then(next_minute),
            scope: parts.extensions.get::<Scope>().copied(),
            content_type,
            route,
            body: Kept::new(body.clone(), parts.extensions.get::<Rerate>().copied()),
        };
        cache.entries.insert(key, Arc::new(entry));
        metrics::gauge!("comics_read_cache_entries").set(cache.entries.len() as f64);
        metrics::gauge!("comics_read_cache_bytes").set(cache.entries.weight() as f64);
    }
    parts
        .headers
        .insert(X_CACHE, HeaderValue::from_static("miss"));
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests;
