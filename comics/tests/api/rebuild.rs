//! Rebuilds (DESIGN.md invariants 4 and 5): a catalog rebuilt from the event
//! log equals the one live projection produced, reads keep answering while
//! it is swapped in, and live projection carries on after the swap.

use std::sync::Arc;
use std::time::Duration;

use crate::support::client::TestApp;
use crate::support::pipeline::catalog::{
    assert_same_catalog, catalog_pool, catalog_snapshot, deadlocks, wait_caught_up, workload, Admin,
};
use crate::support::pipeline::{bounded, settle, Rng};
use comics_projections::catalog::CatalogProjector;
use comics_projections::rebuild::rebuild;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(180);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_reproduces_the_live_catalog_exactly() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, rebuild_equals_live(&app)).await;
    app.stop().await;
    settle(outcome);
}

async fn rebuild_equals_live(app: &TestApp) {
    let mut rng = Rng::seeded("rebuild equals live");
    let (kept, _) = workload(&Admin::for_app(app), &mut rng, "live", 16).await;
    let (events, catalog) = (app.env.events_pool().await, catalog_pool(&app.env).await);
    let last = wait_caught_up(&app.env, &events, &catalog).await;
    let live = catalog_snapshot(&catalog).await;
    assert_eq!(live["comics"].len(), kept.len());
    assert!(!live["chapters"].is_empty() && !live["genres"].is_empty());

    let report = rebuild(&events, &catalog, &CatalogProjector).await.unwrap();
    assert_eq!(report.checkpoint, last);
    let catalog_events: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type IN ('Comic', 'Chapter')",
    )
    .fetch_one(&events)
    .await
    .unwrap();
    assert_eq!(report.events_applied, catalog_events as u64);
    assert_same_catalog(&live, &catalog_snapshot(&catalog).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn reads_keep_answering_while_the_catalog_is_rebuilt() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, reads_during_rebuild(&app)).await;
    app.stop().await;
    settle(outcome);
}

async fn reads_during_rebuild(app: &TestApp) {
    let mut rng = Rng::seeded("reads during rebuild");
    let admin = Arc::new(Admin::for_app(app));
    let (comics, chapters) = workload(&admin, &mut rng, "read", 8).await;
    let (events, catalog) = (app.env.events_pool().await, catalog_pool(&app.env).await);
    wait_caught_up(&app.env, &events, &catalog).await;

    let mut paths = vec!["/api/v1/comics".to_string(), "/api/v1/genres".to_string()];
    for id in &comics {
        paths.push(format!("/api/v1/comics/{id}"));
        paths.push(format!("/api/v1/comics/{id}/chapters"));
    }
    paths.extend(chapters.iter().map(|id| format!("/api/v1/chapters/{id}")));
    let mut expected = Vec::new();
    for path in &paths {
        let (status, body) = admin.call(reqwest::Method::GET, path, None).await;
        assert_eq!(status, 200, "GET {path} before the rebuild");
        expected.push((path.clone(), body));
    }
    let expected = Arc::new(expected);

    let stop = CancellationToken::new();
    let _stop_readers = stop.clone().drop_guard();
    let readers: Vec<_> = (0..3)
        .map(|_| tokio::spawn(read_until(admin.clone(), expected.clone(), stop.clone())))
        .collect();
    for _ in 0..4 {
        rebuild(&events, &catalog, &CatalogProjector).await.unwrap();
    }
    stop.cancel();
    let mut failures = Vec::new();
    for reader in readers {
        let (reads, failed) = reader.await.unwrap();
        assert!(reads > 0, "a reader made no request");
        failures.extend(failed);
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let deadlocks = deadlocks(&catalog).await;
    assert!(
        failures.is_empty() && deadlocks == 0,
        "reads failed during the rebuild: {failures:?}; deadlocks detected: {deadlocks}"
    );
}

/// GETs every path until `stop`; returns how many, and every unexpected answer.
async fn read_until(
    admin: Arc<Admin>,
    expected: Arc<Vec<(String, Value)>>,
    stop: CancellationToken,
) -> (usize, Vec<String>) {
    let (mut reads, mut failures) = (0, Vec::new());
    while !stop.is_cancelled() && reads < 100_000 {
        for (path, body) in expected.iter() {
            match admin.try_call(reqwest::Method::GET, path, None).await {
                Ok((200, doc)) if &doc == body => {}
                Ok((status, doc)) => failures.push(format!("GET {path}: {status} {doc}")),
                Err(e) => failures.push(format!("GET {path}: {e}")),
            }
            reads += 1;
        }
    }
    (reads, failures)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn writes_after_a_rebuild_are_still_projected() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, writes_after_rebuild(&app)).await;
    app.stop().await;
    settle(outcome);
}

async fn writes_after_rebuild(app: &TestApp) {
    let mut rng = Rng::seeded("writes after rebuild");
    workload(&Admin::for_app(app), &mut rng, "before", 4).await;
    let (events, catalog) = (app.env.events_pool().await, catalog_pool(&app.env).await);
    wait_caught_up(&app.env, &events, &catalog).await;
    rebuild(&events, &catalog, &CatalogProjector).await.unwrap();

    let (id, token) = app.comic("Written after the rebuild").await;
    let r = app.get_after(&format!("/api/v1/comics/{id}"), &token).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["title"], json!("Written after the rebuild"));
    let (_, token) = app.chapter(&id, "1").await;
    let r = app.get_after(&format!("/api/v1/comics/{id}"), &token).await;
    assert_eq!(r.status(), 200);
    let doc: Value = r.json().await.unwrap();
    assert_eq!(doc["chapter_count"], json!(1));

    wait_caught_up(&app.env, &events, &catalog).await;
    let live = catalog_snapshot(&catalog).await;
    rebuild(&events, &catalog, &CatalogProjector).await.unwrap();
    assert_same_catalog(&live, &catalog_snapshot(&catalog).await);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_during_writes_loses_nothing_and_deadlocks_with_nothing() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, rebuild_during_writes(&app)).await;
    app.stop().await;
    settle(outcome);
}

async fn rebuild_during_writes(app: &TestApp) {
    let mut rng = Rng::seeded("rebuild during writes");
    let admin = Arc::new(Admin::for_app(app));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (admin, mut rng) = (admin.clone(), rng.fork());
            tokio::spawn(async move { workload(&admin, &mut rng, &format!("w{w}"), 8).await })
        })
        .collect();
    let (events, catalog) = (app.env.events_pool().await, catalog_pool(&app.env).await);
    let mut rebuilds = 0;
    while rebuilds < 3 || writers.iter().any(|w| !w.is_finished()) {
        tokio::time::sleep(rng.millis(100)).await;
        rebuild(&events, &catalog, &CatalogProjector)
            .await
            .unwrap_or_else(|e| panic!("rebuild {rebuilds} during writes failed: {e:#}"));
        rebuilds += 1;
        assert!(rebuilds < 100, "the writers do not finish");
    }
    for w in writers {
        w.await.unwrap();
    }
    wait_caught_up(&app.env, &events, &catalog).await;
    let live = catalog_snapshot(&catalog).await;
    rebuild(&events, &catalog, &CatalogProjector).await.unwrap();
    assert_same_catalog(&live, &catalog_snapshot(&catalog).await);
    // A projector batch that meets the swap must wait, not deadlock (and be
    // rolled back by Postgres after deadlock_timeout).
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(deadlocks(&catalog).await, 0, "Postgres detected deadlocks");
}
