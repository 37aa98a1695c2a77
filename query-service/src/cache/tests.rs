//! The cache in front of stand-in handlers, its change counters fed by hand.

use std::sync::atomic::AtomicUsize;

use axum::extract::Path;
use axum::middleware::from_fn_with_state;
use axum::routing::get;
use axum::{Extension, Router};
use comics_common::projections::{Changes, ALL};
use tower::ServiceExt;
use uuid::Uuid;

use super::*;

fn settings(bytes: u64, max_age_ms: u64) -> ReadCacheSettings {
    ReadCacheSettings {
        bytes,
        max_age: Duration::from_millis(max_age_ms),
    }
}

fn policy(cache: Arc<ResponseCache>) -> CachePolicy {
    CachePolicy {
        cache,
        deps: ALL.into(),
        clock_bound: false,
    }
}

const JSON: [(header::HeaderName, &str); 1] = [(header::CONTENT_TYPE, "application/json")];

async fn fetch(app: &Router, path: &str) -> (StatusCode, String, String) {
    let req = Request::get(path).body(Body::empty()).unwrap();
    let response = app.clone().oneshot(req).await.unwrap();
    let status = response.status();
    let how = response
        .headers()
        .get(X_CACHE)
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = to_bytes(response.into_body(), usize::MAX).await.unwrap();
    (status, String::from_utf8(body.to_vec()).unwrap(), how)
}

fn about(comics: &[Uuid]) -> Changes {
    Changes {
        comics: comics.to_vec(),
        ..Changes::default()
    }
}

#[tokio::test]
async fn an_answer_within_the_limit_is_kept_and_a_larger_one_served_each_time() {
    let calls = Arc::new(AtomicUsize::new(0));
    let cache = ResponseCache::build(Arc::new(Freshness::unfed()), settings(1 << 20, 1000), 16);
    let answer = |body: String| {
        let calls = calls.clone();
        move || {
            calls.fetch_add(1, Ordering::SeqCst);
            let body = body.clone();
            async move { (JSON, body) }
        }
    };
    let app = Router::new()
        .route("/small", get(answer("[]".to_string())))
        .route("/large", get(answer(format!("\"{}\"", "x".repeat(62)))))
        .route_layer(from_fn_with_state(policy(cache), cached));
    for _ in 0..2 {
        assert_eq!(fetch(&app, "/small").await.1, "[]");
    }
    assert_eq!(calls.load(Ordering::SeqCst), 1, "the second read was a hit");
    let large = format!("\"{}\"", "x".repeat(62));
    for _ in 0..2 {
        assert_eq!(fetch(&app, "/large").await.1, large);
    }
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "each large read ran the handler"
    );
}

/// `/comics/{id}` answers about its comic (counting calls per comic).
fn comic_app(cache: Arc<ResponseCache>, calls: Arc<AtomicUsize>) -> Router {
    let handler = move |Path(id): Path<Uuid>| {
        let n = calls.fetch_add(1, Ordering::SeqCst);
        async move { (JSON, Extension(Scope(id)), format!("{{\"n\":{n}}}")) }
    };
    Router::new()
        .route("/comics/{id}", get(handler))
        .route_layer(from_fn_with_state(policy(cache), cached))
}

#[tokio::test]
async fn a_change_to_one_comic_keeps_another_comics_answer_and_refreshes_its_own() {
    let freshness = Arc::new(Freshness::unfed());
    let cache = ResponseCache::build(freshness.clone(), settings(1 << 20, 1000), MAX_BODY);
    let calls = Arc::new(AtomicUsize::new(0));
    let app = comic_app(cache.clone(), calls.clone());
    let (x, y) = (Uuid::now_v7(), Uuid::now_v7());
    let (px, py) = (format!("/comics/{x}"), format!("/comics/{y}"));
    assert_eq!(fetch(&app, &px).await.2, "miss");
    assert_eq!(fetch(&app, &py).await.2, "miss");
    freshness.record("ratings", &about(&[x]));
    assert_eq!(fetch(&app, &py).await.2, "hit", "y's answer stays");
    let (_, body, how) = fetch(&app, &px).await;
    assert_eq!((body.as_str(), how.as_str()), ("{\"n\":2}", "miss"));
    assert_eq!(fetch(&app, &px).await.2, "hit");
    assert_eq!(cache.stats().hits, 2);
    assert_eq!(cache.stats().misses, 3);
}

/// `/list` answers the milliseconds since `start` when it was computed.
fn collection_app(cache: Arc<ResponseCache>, start: Instant, calls: Arc<AtomicUsize>) -> Router {
    let handler = move || {
        calls.fetch_add(1, Ordering::SeqCst);
        let at = start.elapsed().as_millis();
        async move {
            tokio::time::sleep(Duration::from_millis(5)).await;
            (JSON, at.to_string())
        }
    };
    Router::new()
        .route("/list", get(handler))
        .route_layer(from_fn_with_state(policy(cache), cached))
}

#[tokio::test]
async fn under_steady_changes_a_collection_is_recomputed_at_most_twice_per_max_age_and_never_older()
{
    let freshness = Arc::new(Freshness::unfed());
    let max_age = 200;
    let cache = ResponseCache::build(freshness.clone(), settings(1 << 20, max_age), MAX_BODY);
    let (start, calls) = (Instant::now(), Arc::new(AtomicUsize::new(0)));
    let app = collection_app(cache.clone(), start, calls.clone());
    let run = Duration::from_millis(2000);
    let mut worst = 0;
    while start.elapsed() < run {
        freshness.record("popularity", &about(&[Uuid::now_v7()]));
        let (_, body, _) = fetch(&app, "/list").await;
        // Changes land every couple of milliseconds: the answer is as old
        // as its computation.
        let age = start.elapsed().as_millis() - body.parse::<u128>().unwrap();
        worst = worst.max(age);
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let computed = calls.load(Ordering::SeqCst) as u128;
    let most = run.as_millis() / (max_age as u128 / 2) + 2;
    assert!(
        computed <= most,
        "{computed} recomputes in 2 s, at most {most}"
    );
    assert!(
        computed >= 5,
        "only {computed} recomputes: the list went stale"
    );
    assert!(
        worst <= max_age as u128 + 30,
        "an answer {worst} ms old was served"
    );
    assert!(
        cache.stats().stale > cache.stats().recomputes,
        "{:?}",
        cache.stats()
    );
}

#[tokio::test]
async fn a_deleted_comic_leaves_every_collection_at_once() {
    let freshness = Arc::new(Freshness::unfed());
    let cache = ResponseCache::build(freshness.clone(), settings(1 << 20, 60_000), MAX_BODY);
    let calls = Arc::new(AtomicUsize::new(0));
    let app = collection_app(cache, Instant::now(), calls.clone());
    fetch(&app, "/list").await;
    freshness.record("catalog", &about(&[Uuid::now_v7()]));
    assert_eq!(
        fetch(&app, "/list").await.2,
        "stale",
        "a change: served stale"
    );
    let deleted = Changes {
        deleted: true,
        ..about(&[Uuid::now_v7()])
    };
    freshness.record("bookmarks", &deleted);
    assert_eq!(
        fetch(&app, "/list").await.2,
        "miss",
        "a deletion: never stale"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

#[tokio::test]
async fn the_cache_stays_within_its_memory_bound_while_100k_comics_are_read() {
    let bound = 4 << 20;
    let cache = ResponseCache::build(
        Arc::new(Freshness::unfed()),
        settings(bound, 1000),
        MAX_BODY,
    );
    let handler = |Path(id): Path<Uuid>| async move {
        let doc = format!(
            "{{\"id\":\"{id}\",\"description\":\"{}\"}}",
            "d".repeat(500)
        );
        (JSON, Extension(Scope(id)), doc)
    };
    let app = Router::new()
        .route("/comics/{id}", get(handler))
        .route_layer(from_fn_with_state(policy(cache.clone()), cached));
    let ids: Vec<Uuid> = (0..100_000).map(|_| Uuid::now_v7()).collect();
    for id in &ids {
        assert_eq!(
            fetch(&app, &format!("/comics/{id}")).await.0,
            StatusCode::OK
        );
        assert!(cache.stats().bytes <= bound, "{:?}", cache.stats());
    }
    let stats = cache.stats();
    assert!(
        stats.entries > 1000,
        "the bound still holds many answers: {stats:?}"
    );
    assert!(
        stats.entries < 100_000,
        "not everything was kept: {stats:?}"
    );
    // The most recent reads are still there.
    let last = format!("/comics/{}", ids[ids.len() - 1]);
    assert_eq!(fetch(&app, &last).await.2, "hit");
}

#[tokio::test]
async fn concurrent_misses_of_one_answer_compute_it_once() {
    let freshness = Arc::new(Freshness::unfed());
    let cache = ResponseCache::build(freshness.clone(), settings(1 << 20, 1000), MAX_BODY);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = calls.clone();
    let handler = move |Path(id): Path<Uuid>| {
        counted.fetch_add(1, Ordering::SeqCst);
        async move {
            tokio::time::sleep(Duration::from_millis(100)).await;
            (JSON, Extension(Scope(id)), "{}")
        }
    };
    let app = Router::new()
        .route("/comics/{id}", get(handler))
        .route_layer(from_fn_with_state(policy(cache), cached));
    let x = Uuid::now_v7();
    for round in 1..=2 {
        let reads = (0..20).map(|_| {
            let app = app.clone();
            tokio::spawn(async move { fetch(&app, &format!("/comics/{x}")).await })
        });
        for read in futures::future::join_all(reads).await {
            assert_eq!(read.unwrap().0, StatusCode::OK);
        }
        assert_eq!(
            calls.load(Ordering::SeqCst),
            round,
            "one computation per change"
        );
        freshness.record("catalog", &about(&[x]));
    }
}

#[tokio::test]
async fn a_stale_collection_is_answered_in_front_until_its_recompute_is_due() {
    let freshness = Arc::new(Freshness::unfed());
    let max_age = 400;
    let cache = ResponseCache::build(freshness.clone(), settings(1 << 20, max_age), MAX_BODY);
    let (calls, routed) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let counted = routed.clone();
    let inner = collection_app(cache.clone(), Instant::now(), calls.clone()).layer(
        axum::middleware::from_fn(move |req: Request, next: Next| {
            counted.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        }),
    );
    let app = in_front(cache.clone(), inner);
    assert_eq!(fetch(&app, "/list").await.2, "miss");
    assert_eq!(fetch(&app, "/list").await.2, "hit");
    freshness.record("popularity", &about(&[Uuid::now_v7()]));
    for _ in 0..5 {
        assert_eq!(fetch(&app, "/list").await.2, "stale");
    }
    assert_eq!(routed.load(Ordering::SeqCst), 1, "only the miss was routed");
    // Past half the max age, a request goes on and starts the recompute.
    tokio::time::sleep(Duration::from_millis(max_age / 2 + 20)).await;
    assert_eq!(fetch(&app, "/list").await.2, "stale");
    assert_eq!(routed.load(Ordering::SeqCst), 2);
    eventually_fresh(&app).await;
    assert_eq!(calls.load(Ordering::SeqCst), 2);
}

async fn eventually_fresh(app: &Router) {
    for _ in 0..100 {
        if fetch(app, "/list").await.2 == "hit" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("the recomputed answer never came");
}
