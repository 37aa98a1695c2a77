//! The hot-read cache: public `GET` answers kept in memory, so the hottest
//! reads (a comic, its stats, the rankings) are served without a Postgres
//! round trip.
//!
//! An answer is reused only while none of the projections it was computed
//! from has changed: each projector NOTIFYs `CHANGED_CHANNEL` when a batch
//! commits, a listener bumps that projection's generation, and an answer
//! remembers the generations it was computed under (read *before* computing,
//! so a change during the computation makes it stale at once). Answers that
//! depend on the clock (view windows) also expire at the next minute, the
//! windows' granularity. A request carrying `X-Consistency-Token` bypasses
//! the cache, and so does every request while a listener is disconnected.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::body::{to_bytes, Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{header, HeaderValue, Method, StatusCode};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use comics_common::consistency::HEADER;
use comics_common::projections::{ProjectionInfo, ALL, CHANGED_CHANNEL};
use comics_common::Problem;
use sqlx::postgres::PgListener;
use sqlx::PgPool;

const MAX_ENTRIES: usize = 50_000;
const MAX_BODY: usize = 4 * 1024 * 1024;

/// Per-projection change counters, fed by Postgres notifications.
pub struct Freshness {
    generations: Vec<(&'static str, AtomicU64)>,
    listening: Vec<AtomicBool>,
}

impl Freshness {
    /// Starts one listener per distinct pool (query stores may live in
    /// several databases).
    pub fn spawn(pools: Vec<PgPool>) -> Arc<Self> {
        let freshness = Arc::new(Self {
            generations: ALL.iter().map(|p| (p.name, AtomicU64::new(0))).collect(),
            listening: pools.iter().map(|_| AtomicBool::new(false)).collect(),
        });
        for (i, pool) in pools.into_iter().enumerate() {
            tokio::spawn(listen(freshness.clone(), i, pool));
        }
        freshness
    }

    fn bump(&self, name: &str) {
        for (n, g) in &self.generations {
            if name.is_empty() || *n == name {
                g.fetch_add(1, Ordering::SeqCst);
            }
        }
    }

    fn usable(&self) -> bool {
        self.listening.iter().all(|l| l.load(Ordering::SeqCst))
    }

    fn stamp(&self, deps: &[ProjectionInfo]) -> Vec<u64> {
        deps.iter()
            .map(|d| {
                self.generations
                    .iter()
                    .find(|(n, _)| *n == d.name)
                    .map(|(_, g)| g.load(Ordering::SeqCst))
                    .unwrap_or(0)
            })
            .collect()
    }
}

async fn listen(freshness: Arc<Freshness>, slot: usize, pool: PgPool) {
    loop {
        match PgListener::connect_with(&pool).await {
            Ok(mut listener) => {
                if listener.listen(CHANGED_CHANNEL).await.is_ok() {
                    // Whatever happened while deaf is unknown: start over.
                    freshness.bump("");
                    freshness.listening[slot].store(true, Ordering::SeqCst);
                    while let Ok(n) = listener.recv().await {
                        freshness.bump(n.payload());
                    }
                }
            }
            Err(e) => tracing::warn!(error = %e, "read cache cannot listen for projection changes"),
        }
        freshness.listening[slot].store(false, Ordering::SeqCst);
        freshness.bump("");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

struct Entry {
    stamp: Vec<u64>,
    expires: Option<Instant>,
    content_type: HeaderValue,
    body: Bytes,
}

pub struct ResponseCache {
    freshness: Arc<Freshness>,
    entries: RwLock<HashMap<String, Entry>>,
    /// Answers larger than this are served, never kept.
    max_body: usize,
}

impl ResponseCache {
    pub fn new(freshness: Arc<Freshness>) -> Arc<Self> {
        Self::with_max_body(freshness, MAX_BODY)
    }

    fn with_max_body(freshness: Arc<Freshness>, max_body: usize) -> Arc<Self> {
        Arc::new(Self {
            freshness,
            entries: RwLock::new(HashMap::new()),
            max_body,
        })
    }

    fn get(&self, key: &str, stamp: &[u64]) -> Option<Response> {
        let entries = self.entries.read().unwrap_or_else(|e| e.into_inner());
        let entry = entries.get(key)?;
        if entry.stamp != stamp || entry.expires.is_some_and(|t| Instant::now() >= t) {
            return None;
        }
        let mut response = (StatusCode::OK, entry.body.clone()).into_response();
        response
            .headers_mut()
            .insert(header::CONTENT_TYPE, entry.content_type.clone());
        Some(response)
    }

    fn put(&self, key: String, entry: Entry) {
        let mut entries = self.entries.write().unwrap_or_else(|e| e.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.clear();
        }
        entries.insert(key, entry);
    }
}

/// What a group of routes reads, for the cache.
#[derive(Clone)]
pub struct CachePolicy {
    pub cache: Arc<ResponseCache>,
    pub deps: &'static [ProjectionInfo],
    /// The answer changes as time passes (view windows): expire each minute.
    pub clock_bound: bool,
}

fn next_minute() -> Instant {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap_or_default();
    Instant::now() + Duration::from_secs(60 - now.as_secs() % 60)
}

/// Middleware (`from_fn_with_state` with a [`CachePolicy`]).
pub async fn cached(State(policy): State<CachePolicy>, req: Request, next: Next) -> Response {
    let bypass = req.method() != Method::GET
        || req.headers().contains_key(HEADER)
        || !policy.cache.freshness.usable();
    if bypass {
        return next.run(req).await;
    }
    let key = req.uri().to_string();
    let stamp = policy.cache.freshness.stamp(policy.deps);
    if let Some(hit) = policy.cache.get(&key, &stamp) {
        return hit;
    }
    let response = next.run(req).await;
    if response.status() != StatusCode::OK {
        return response;
    }
    let (parts, body) = response.into_parts();
    // The handler built the body in memory already; collecting it costs no
    // more. Only answers up to `max_body` are kept.
    let body = match to_bytes(body, usize::MAX).await {
        Ok(body) => body,
        Err(e) => {
            tracing::warn!(error = %e, "cannot read a response to cache it");
            return Problem::internal(&e).into_response();
        }
    };
    if body.len() > policy.cache.max_body {
        return Response::from_parts(parts, Body::from(body));
    }
    if let Some(content_type) = parts.headers.get(header::CONTENT_TYPE) {
        let entry = Entry {
            stamp,
            expires: policy.clock_bound.then(next_minute),
            content_type: content_type.clone(),
            body: body.clone(),
        };
        policy.cache.put(key, entry);
    }
    Response::from_parts(parts, Body::from(body))
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicUsize;

    use axum::middleware::from_fn_with_state;
    use axum::routing::get;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// A cache that is always usable, in front of `/small` (2 bytes) and
    /// `/large` (64 bytes) answers, keeping answers up to 16 bytes; each
    /// handler counts its calls.
    fn app(calls: Arc<AtomicUsize>) -> Router {
        let freshness = Arc::new(Freshness {
            generations: ALL.iter().map(|p| (p.name, AtomicU64::new(0))).collect(),
            listening: Vec::new(),
        });
        let policy = CachePolicy {
            cache: ResponseCache::with_max_body(freshness, 16),
            deps: ALL,
            clock_bound: false,
        };
        let answer = |body: String| {
            let calls = calls.clone();
            move || {
                calls.fetch_add(1, Ordering::SeqCst);
                let body = body.clone();
                async move { ([(header::CONTENT_TYPE, "application/json")], body) }
            }
        };
        Router::new()
            .route("/small", get(answer("[]".to_string())))
            .route("/large", get(answer(format!("\"{}\"", "x".repeat(62)))))
            .route_layer(from_fn_with_state(policy, cached))
    }

    async fn fetch(app: &Router, path: &str) -> (StatusCode, String) {
        let req = Request::get(path).body(Body::empty()).unwrap();
        let response = app.clone().oneshot(req).await.unwrap();
        let status = response.status();
        let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn an_answer_within_the_limit_is_kept_and_a_larger_one_served_each_time() {
        let calls = Arc::new(AtomicUsize::new(0));
        let app = app(calls.clone());
        for _ in 0..2 {
            assert_eq!(fetch(&app, "/small").await, (StatusCode::OK, "[]".into()));
        }
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the second read was a hit");

        let large = format!("\"{}\"", "x".repeat(62));
        for _ in 0..2 {
            assert_eq!(fetch(&app, "/large").await, (StatusCode::OK, large.clone()));
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            3,
            "each large read ran the handler"
        );
    }
}
