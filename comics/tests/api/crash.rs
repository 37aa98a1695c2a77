//! Crashes (DESIGN.md invariants 1–3): a relay or a projector killed at any
//! moment, or dying between two steps that belong together, loses nothing,
//! doubles nothing and reorders nothing.

use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

use crate::support::pipeline::catalog::{
    assert_same_catalog, catalog_pool, catalog_snapshot, wait_caught_up, workload, Admin,
};
use crate::support::pipeline::{
    assert_exactly_once_in_order, bounded, committed, event_count, read_stream, schema_snapshot,
    settle, spawn_relay, wait_stream_len, write_events, writers_pool, Rng,
};
use crate::support::{eventually, TestEnv};
use async_nats::jetstream::{self, message::PublishMessage};
use comics::Roles;
use comics_eventlog::record::read_committed_after;
use comics_eventlog::CommitCursor;
use comics_nats::relay::{POSITION_HEADER, TX_ID_HEADER};
use comics_projections::bookmarks::BookmarksProjector;
use comics_projections::catalog::CatalogProjector;
use comics_projections::ratings::RatingsProjector;
use comics_projections::rebuild::rebuild;
use comics_projections::runtime::{
    apply_batch, apply_batch_through, ensure_schema, read_checkpoint, CheckpointBehind,
};
use comics_projections::{Projector, ProjectorRunner};
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(30);
const KILLS: usize = 12;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_relay_killed_at_random_moments_loses_doubles_and_reorders_nothing() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, relay_killed(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn relay_killed(env: &TestEnv) {
    let mut rng = Rng::seeded("relay killed");
    let pool = writers_pool(env).await;
    let stop_writing = CancellationToken::new();
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let stop = Some(stop_writing.clone());
            tokio::spawn(write_events(pool.clone(), w, 5000, rng.fork(), 4, stop))
        })
        .collect();
    for _ in 0..KILLS {
        let (_, relay) = spawn_relay(env, &pool).await;
        tokio::time::sleep(rng.millis(1500)).await;
        relay.abort();
        assert!(relay.await.unwrap_err().is_cancelled());
    }
    stop_writing.cancel();
    let mut written = HashSet::new();
    for w in writers {
        written.extend(w.await.unwrap());
    }
    let (stop, relay) = spawn_relay(env, &pool).await;
    wait_stream_len(env, written.len() as u64, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let table = committed(&pool).await;
    assert_eq!(table.len(), written.len());
    assert_exactly_once_in_order(&read_stream(env).await, &table, &env.names());
    stop.cancel();
    let _ = tokio::time::timeout(WAIT, relay)
        .await
        .expect("relay stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn events_published_before_a_crash_are_not_published_again() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, published_not_saved(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn published_not_saved(env: &TestEnv) {
    let mut rng = Rng::seeded("published, cursor not saved");
    let pool = writers_pool(env).await;
    write_events(pool.clone(), 0, 100, rng.fork(), 0, None).await;
    // A relay that died after publishing part of a batch, before saving
    // anything: the stream holds a prefix, relay_cursors nothing.
    let js = jetstream::new(env.nats().await);
    comics_nats::stream::ensure_stream(&js, &env.names())
        .await
        .unwrap();
    let batch = read_committed_after(
        &mut pool.acquire().await.unwrap(),
        CommitCursor::default(),
        &[],
        1000,
    )
    .await
    .unwrap();
    let prefix = &batch[..batch.len() / 3];
    for (i, (cursor, record)) in prefix.iter().enumerate() {
        let message = PublishMessage::build()
            .payload(serde_json::to_vec(record).unwrap().into())
            .message_id(record.message_id())
            .expected_last_sequence(i as u64)
            .header(TX_ID_HEADER, cursor.tx_id.to_string().as_str())
            .header(POSITION_HEADER, cursor.position.to_string().as_str());
        let subject = env
            .names()
            .subject(&record.aggregate_type, &record.aggregate_id);
        js.send_publish(subject, message)
            .await
            .unwrap()
            .await
            .unwrap();
    }
    let (stop, relay) = spawn_relay(env, &pool).await;
    // Every event, not just `batch`: other tests' open transactions may have
    // held some back from that first read.
    wait_stream_len(env, event_count(&pool).await, WAIT).await;
    // Its cursor row lost as well: the stream stays the cursor of record.
    stop.cancel();
    let _ = tokio::time::timeout(WAIT, relay)
        .await
        .expect("relay stops");
    sqlx::query("DELETE FROM relay_cursors")
        .execute(&pool)
        .await
        .unwrap();
    write_events(pool.clone(), 1, 30, rng.fork(), 0, None).await;
    let (stop, relay) = spawn_relay(env, &pool).await;
    wait_stream_len(env, event_count(&pool).await, WAIT).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    let table = committed(&pool).await;
    assert_exactly_once_in_order(&read_stream(env).await, &table, &env.names());
    stop.cancel();
    let _ = tokio::time::timeout(WAIT, relay)
        .await
        .expect("relay stops");
}

/// The app without projectors: commands, queries and the relay.
const WITHOUT_PROJECTORS: Roles = Roles {
    projectors: false,
    ..Roles::ALL
};

/// The projectors killed: a group sharing one consumer and one transaction
/// per batch, as `comics serve` runs them.
fn group() -> Vec<Arc<dyn Projector>> {
    vec![
        Arc::new(CatalogProjector),
        Arc::new(RatingsProjector),
        Arc::new(BookmarksProjector),
    ]
}

async fn spawn_projector(env: &TestEnv) -> (CancellationToken, tokio::task::JoinHandle<()>) {
    let runner = ProjectorRunner {
        projectors: group(),
        pool: catalog_pool(env).await,
        js: jetstream::new(env.nats().await),
        names: env.names(),
    };
    let token = CancellationToken::new();
    let run = runner.run(token.clone());
    (
        token,
        tokio::spawn(async move { run.await.expect("projector") }),
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_projector_killed_at_random_moments_ends_equal_to_a_rebuild() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, projector_killed(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn projector_killed(env: &TestEnv) {
    let mut rng = Rng::seeded("projector killed");
    let (port, app_stop, app) = env.start(WITHOUT_PROJECTORS).await;
    let admin = Arc::new(Admin::for_env(env, port));
    let writers: Vec<_> = (0..3)
        .map(|w| {
            let (admin, mut rng) = (admin.clone(), rng.fork());
            tokio::spawn(async move { workload(&admin, &mut rng, &format!("w{w}"), 8).await })
        })
        .collect();
    let mut kills = 0;
    while kills < KILLS || writers.iter().any(|w| !w.is_finished()) {
        let (_, projector) = spawn_projector(env).await;
        tokio::time::sleep(rng.millis(700)).await;
        projector.abort();
        let _ = projector.await;
        kills += 1;
        assert!(kills < 200, "the writers do not finish");
    }
    let mut kept = 0;
    for w in writers {
        kept += w.await.unwrap().0.len();
    }
    let (stop, projector) = spawn_projector(env).await;
    let (events, catalog) = (env.events_pool().await, catalog_pool(env).await);
    let n = wait_caught_up(env, &events, &catalog).await;
    let live = catalog_snapshot(&catalog).await;
    assert_eq!(live["comics"].len(), kept, "comics left by the workload");
    rebuild(&events, &catalog, &CatalogProjector).await.unwrap();
    assert_same_catalog(&live, &catalog_snapshot(&catalog).await);
    // The others of the group: every row as a rebuild makes it.
    for p in &group()[1..] {
        let schema = p.info().schema;
        eventually(WAIT, || async {
            let at = read_checkpoint(&catalog, schema).await.ok()?;
            (at == n).then_some(())
        })
        .await;
        let live = schema_snapshot(&catalog, schema).await;
        assert!(!live["applied"].as_array().unwrap().is_empty(), "{schema}");
        rebuild(&events, &catalog, p.as_ref()).await.unwrap();
        assert_eq!(live, schema_snapshot(&catalog, schema).await, "{schema}");
    }
    stop.cancel();
    let _ = tokio::time::timeout(WAIT, projector)
        .await
        .expect("projector stops");
    app_stop.cancel();
    let _ = tokio::time::timeout(WAIT, app).await.expect("app stops");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_applied_again_after_a_lost_ack_changes_nothing() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, applied_not_acked(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn applied_not_acked(env: &TestEnv) {
    let mut rng = Rng::seeded("applied, not acked");
    let (port, app_stop, app) = env.start(WITHOUT_PROJECTORS).await;
    workload(&Admin::for_env(env, port), &mut rng, "once", 10).await;
    let events = env.events_pool().await;
    let n = event_count(&events).await;
    wait_stream_len(env, n, WAIT).await;
    let batch: Vec<_> = read_stream(env)
        .await
        .into_iter()
        .map(|m| (Some(m.sequence), m.record))
        .collect();
    let catalog = catalog_pool(env).await;
    let p = &CatalogProjector;
    ensure_schema(&catalog, p, "catalog").await.unwrap();
    let half = &batch[..batch.len() / 2];
    assert_eq!(
        apply_batch(&catalog, p, "catalog", half).await.unwrap(),
        half.len() as u64
    );
    let once = catalog_snapshot(&catalog).await;
    // Redelivered after a lost ack: the checkpoint guard skips it.
    apply_batch(&catalog, p, "catalog", half).await.unwrap();
    assert_same_catalog(&once, &catalog_snapshot(&catalog).await);
    // A redelivery overlapping new events applies just the new ones.
    let rest = &batch[batch.len() / 4..];
    assert_eq!(apply_batch(&catalog, p, "catalog", rest).await.unwrap(), n);
    let all = catalog_snapshot(&catalog).await;
    // Old events without stream sequences (as a rebuild reads them): the
    // per-aggregate guard alone skips them.
    let old: Vec<_> = half.iter().map(|(_, e)| (None, e.clone())).collect();
    apply_batch(&catalog, p, "catalog", &old).await.unwrap();
    assert_same_catalog(&all, &catalog_snapshot(&catalog).await);
    rebuild(&events, &catalog, p).await.unwrap();
    assert_same_catalog(&all, &catalog_snapshot(&catalog).await);
    app_stop.cancel();
    let _ = tokio::time::timeout(WAIT, app).await.expect("app stops");
}

/// A database crash loses the last projector commits (they do not wait for
/// their WAL flush) while the projector process lives on: its next batch
/// finds the checkpoint behind what it committed and is refused, so the
/// runner restarts delivery from the stored checkpoint instead of moving it
/// past the lost events.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_batch_after_commits_the_database_lost_is_refused_not_applied_past_them() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, lost_commits(&env)).await;
    env.cleanup().await;
    settle(outcome);
}

async fn lost_commits(env: &TestEnv) {
    let mut rng = Rng::seeded("lost commits");
    let (port, app_stop, app) = env.start(WITHOUT_PROJECTORS).await;
    workload(&Admin::for_env(env, port), &mut rng, "lost", 10).await;
    let events = env.events_pool().await;
    let n = event_count(&events).await;
    wait_stream_len(env, n, WAIT).await;
    let batch: Vec<_> = read_stream(env)
        .await
        .into_iter()
        .map(|m| (Some(m.sequence), m.record))
        .collect();
    let catalog = catalog_pool(env).await;
    let p = &CatalogProjector;
    ensure_schema(&catalog, p, "catalog").await.unwrap();
    let (h, q) = (batch.len() / 3, 2 * batch.len() / 3);
    // Committed and kept: up to h. Committed, then lost in the crash: h..q.
    assert_eq!(
        apply_batch(&catalog, p, "catalog", &batch[..h])
            .await
            .unwrap(),
        h as u64
    );
    let kept = catalog_snapshot(&catalog).await;
    let refused = apply_batch_through(&catalog, p, "catalog", &batch[q..], n, q as u64)
        .await
        .expect_err("a batch past lost commits");
    let behind = refused
        .downcast_ref::<CheckpointBehind>()
        .unwrap_or_else(|| panic!("not CheckpointBehind: {refused:#}"));
    assert_eq!((behind.saved, behind.found), (q as u64, h as u64));
    assert_same_catalog(&kept, &catalog_snapshot(&catalog).await);
    // Delivery restarted from the stored checkpoint: everything is applied.
    assert_eq!(
        apply_batch_through(&catalog, p, "catalog", &batch[h..], n, h as u64)
            .await
            .unwrap(),
        n
    );
    let live = catalog_snapshot(&catalog).await;
    rebuild(&events, &catalog, p).await.unwrap();
    assert_same_catalog(&live, &catalog_snapshot(&catalog).await);
    app_stop.cancel();
    let _ = tokio::time::timeout(WAIT, app).await.expect("app stops");
}
