//! The rolling view windows through the whole pipeline, with the real
//! projector and ager: the window totals always hold the minutes from their
//! marks on; the 24h/7d/30d answers stay exact when the marks are aged past
//! the views (to a future clock), across a restart of the projectors (views
//! recorded meanwhile land before the marks) and after a rebuild.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::client::{json_with, TestApp};
use crate::support::eventually;
use crate::support::pipeline::{bounded, settle};
use chrono::{TimeDelta, Utc};
use comics::Roles;
use comics_projections::popularity::{ager, PopularityProjector};
use comics_projections::rebuild::rebuild;
use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

const LIMIT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(60);

/// Everything but the projectors (and their ager), which run apart.
const FRONT: Roles = Roles {
    commands: true,
    queries: true,
    relay: true,
    projectors: false,
};

const PROJECTORS: Roles = Roles {
    commands: false,
    queries: false,
    relay: false,
    projectors: true,
};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn window_answers_stay_exact_across_ageing_a_restart_and_a_rebuild() {
    let app = TestApp::spawn_as(FRONT, |_| {}).await;
    let projectors = app.env.start(PROJECTORS).await;
    let outcome = bounded(LIMIT, scenario(&app, projectors)).await;
    let js = async_nats::jetstream::new(app.env.nats().await);
    let _ = js.delete_stream(app.env.names().views_stream()).await;
    app.stop().await;
    settle(outcome);
}

type Running = (u16, CancellationToken, tokio::task::JoinHandle<()>);

async fn stop(projectors: Running) {
    projectors.1.cancel();
    let _ = tokio::time::timeout(Duration::from_secs(10), projectors.2).await;
}

async fn scenario(app: &TestApp, projectors: Running) {
    let settings = &app.env.settings;
    let url = settings.projection_database_url("popularity").to_string();
    let pool = comics_common::db::connect(&url, 4).await.unwrap();
    let events = app.env.events_pool().await;
    let mut expected = BTreeMap::new();
    let mut token = String::new();
    for (title, readers) in [("Most", 4), ("Less", 2), ("Least", 1)] {
        let (id, t) = app.comic(title).await;
        views(app, &id, title, readers).await;
        expected.insert(id, readers as i64);
        token = t;
    }
    wait_for(app, &expected).await;
    let live = reads(app, &expected, &token).await;
    assert_follow_marks(&pool).await;

    // Projectors stopped; the marks aged two days ahead: 24h and 7d hold
    // none of these views any more, reads add them back.
    stop(projectors).await;
    let ahead = Utc::now() + TimeDelta::days(2);
    assert_eq!(ager::age(&pool, "popularity", ahead).await.unwrap(), 3);
    assert_follow_marks(&pool).await;
    let empty: i64 =
        sqlx::query_scalar("SELECT count(*) FROM popularity.windows WHERE win = '24h'")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(empty, 0, "the aged 24h totals");
    assert_eq!(reads(app, &expected, &token).await, live, "aged ahead");

    // Views recorded while the projectors are down, applied after their
    // restart: before the 24h mark, after the 7d one.
    let most = expected.keys().next().unwrap().clone();
    views(app, &most, "again", 3).await;
    *expected.get_mut(&most).unwrap() += 3;
    let restarted = app.env.start(PROJECTORS).await;
    wait_for(app, &expected).await;
    assert_follow_marks(&pool).await;
    let after_restart = reads(app, &expected, &token).await;

    let last = caught_up(app, &events, &pool).await;
    let report = rebuild(&events, &pool, &PopularityProjector).await.unwrap();
    assert_eq!(report.checkpoint, last);
    assert_follow_marks(&pool).await;
    assert_eq!(
        reads(app, &expected, &token).await,
        after_restart,
        "rebuilt"
    );
    stop(restarted).await;
}

/// Views of `comic` by `readers` users named `{tag}{i}`, all accepted.
async fn views(app: &TestApp, comic: &str, tag: &str, readers: usize) {
    let tokens: Vec<String> = (0..readers)
        .map(|i| app.user(&format!("{tag}{i}")))
        .collect();
    join_all(tokens.iter().map(|t| app.viewed(Some(t), comic))).await;
}

/// Waits until every comic's stats show its expected views in all.
async fn wait_for(app: &TestApp, expected: &BTreeMap<String, i64>) {
    for (id, n) in expected {
        eventually(WAIT, || async {
            let stats: Value = app.comic_stats(id, None).await.json().await.ok()?;
            (stats["views"]["total"] == json!(n)).then_some(())
        })
        .await;
    }
}

/// The rankings of every window and each comic's stats, read past the
/// cache; every view is recent, so each window shows every view.
async fn reads(app: &TestApp, expected: &BTreeMap<String, i64>, token: &str) -> Vec<Value> {
    let mut ranking: Vec<(&String, &i64)> = expected.iter().collect();
    ranking.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let mut out = Vec::new();
    for window in ["24h", "7d", "30d", "all"] {
        let query = format!("window={window}");
        let body = json_with(app.popular(&query, Some(token)).await, 200).await;
        let shown: Vec<(&str, i64)> = body["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|i| {
                (
                    i["comic"]["id"].as_str().unwrap(),
                    i["views"].as_i64().unwrap(),
                )
            })
            .collect();
        let wanted: Vec<(&str, i64)> = ranking.iter().map(|(id, n)| (id.as_str(), **n)).collect();
        assert_eq!(shown, wanted, "{window}");
        out.push(body);
    }
    for (id, n) in expected {
        let stats = json_with(app.comic_stats(id, Some(token)).await, 200).await;
        let views = json!({"total": n, "24h": n, "7d": n, "30d": n});
        assert_eq!(stats["views"], views, "{id}");
        out.push(stats);
    }
    out
}

/// Each window's totals are the minutes from its mark on, with no zero rows
/// (read in one snapshot: the ager may be running).
async fn assert_follow_marks(pool: &PgPool) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        .execute(&mut *tx)
        .await
        .unwrap();
    let rows: Vec<(String, uuid::Uuid, i64)> =
        sqlx::query_as("SELECT win, comic_id, views FROM popularity.windows ORDER BY 1, 2")
            .fetch_all(&mut *tx)
            .await
            .unwrap();
    let wanted: Vec<(String, uuid::Uuid, i64)> = sqlx::query_as(
        "SELECT k.win, m.comic_id, sum(m.views)::int8 FROM popularity.window_marks k \
         JOIN popularity.minutes m ON m.minute >= k.aged_from \
         GROUP BY 1, 2 HAVING sum(m.views) <> 0 ORDER BY 1, 2",
    )
    .fetch_all(&mut *tx)
    .await
    .unwrap();
    assert_eq!(rows, wanted, "the window totals");
}

/// Waits until the popularity projection applied the whole event stream;
/// returns the stream's last sequence.
async fn caught_up(app: &TestApp, events: &PgPool, pool: &PgPool) -> u64 {
    let js = async_nats::jetstream::new(app.env.nats().await);
    let count: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(events)
        .await
        .unwrap();
    eventually(WAIT, || async {
        let mut stream = js.get_stream(app.env.names().stream()).await.ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        let at: i64 = sqlx::query_scalar("SELECT stream_sequence FROM popularity.checkpoint")
            .fetch_one(pool)
            .await
            .ok()?;
        (last == count as u64 && at as u64 == last).then_some(last)
    })
    .await
}
