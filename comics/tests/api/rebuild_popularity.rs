//! Rebuilds of the popularity projection: after views of several comics
//! (by users and anonymously), a renamed and a re-statused comic, and a
//! viewed comic deleted (with a view accepted just after its deletion),
//! a rebuild from the event log reproduces the live query store row for row
//! and every read shows the same; views recorded after the swap are still
//! projected.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::client::{consistency, json_with, TestApp};
use crate::support::eventually;
use crate::support::pipeline::{bounded, settle};
use comics_projections::popularity::PopularityProjector;
use comics_projections::rebuild::rebuild;
use comics_projections::Projector;
use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::PgPool;

const LIMIT: Duration = Duration::from_secs(180);
const WAIT: Duration = Duration::from_secs(60);

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_reproduces_the_live_popularity_store_and_reads_exactly() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, rebuild_equals_live(&app)).await;
    finish(app).await;
    settle(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn views_recorded_after_a_rebuild_are_still_projected() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, views_after_rebuild(&app)).await;
    finish(app).await;
    settle(outcome);
}

async fn finish(app: TestApp) {
    let js = async_nats::jetstream::new(app.env.nats().await);
    let _ = js.delete_stream(app.env.names().views_stream()).await;
    app.stop().await;
}

struct Stores {
    events: PgPool,
    popularity: PgPool,
}

impl Stores {
    async fn of(app: &TestApp) -> Self {
        let settings = &app.env.settings;
        let popularity = settings.projection_database_url("popularity").to_string();
        Self {
            events: app.env.events_pool().await,
            popularity: comics_common::db::connect(&popularity, 4)
                .await
                .expect("popularity pool"),
        }
    }
}

/// What the workload leaves: the live comics with the views each must
/// show, the deleted one, and the token of the last catalog write.
struct Outcome {
    views: BTreeMap<String, i64>,
    renamed: String,
    completed: String,
    deleted: String,
    token: String,
}

/// Waits until `GET /comics/{id}/stats` shows `expected` views in all; fails
/// at once on more.
async fn wait_for_views(app: &TestApp, id: &str, expected: i64) {
    eventually(WAIT, || async {
        let r = app.comic_stats(id, None).await;
        if r.status() != 200 {
            return None;
        }
        let stats: Value = r.json().await.ok()?;
        let total = stats["views"]["total"].as_i64()?;
        assert!(
            total <= expected,
            "{id}: {total} views, expected {expected}"
        );
        (total == expected).then_some(())
    })
    .await
}

/// Views by `readers` users named `{tag}{i}` (and one anonymous view when
/// `anonymous`), all at once; each must be accepted.
async fn views(app: &TestApp, comic: &str, tag: &str, readers: usize, anonymous: bool) {
    let tokens: Vec<Option<String>> = (0..readers)
        .map(|i| Some(app.user(&format!("{tag}{i}"))))
        .chain(anonymous.then_some(None))
        .collect();
    join_all(tokens.iter().map(|t| app.viewed(t.as_deref(), comic))).await;
}

/// The views recorded in the event log, all comics together.
async fn recorded_views(events: &PgPool) -> i64 {
    sqlx::query_scalar(
        "SELECT coalesce(sum((payload->'ViewsRecorded'->>'count')::bigint), 0)::bigint \
         FROM events WHERE event_type = 'ViewsRecorded'",
    )
    .fetch_one(events)
    .await
    .unwrap()
}

/// Four comics viewed by users and anonymously; one renamed, one completed;
/// the fourth (viewed) deleted, then viewed once more right after (the
/// intake may still accept that); a last view of the first comic, which is
/// recorded after all the others, shows they all went through.
async fn workload(app: &TestApp, stores: &Stores) -> Outcome {
    let mut comics = Vec::new();
    for title in ["Most", "Renamed", "Completed", "Deleted"] {
        comics.push(app.comic(title).await.0);
    }
    let [most, renamed, completed, deleted] = [0, 1, 2, 3].map(|i| comics[i].clone());
    views(app, &most, "most", 5, false).await;
    views(app, &renamed, "renamed", 2, true).await;
    views(app, &completed, "completed", 1, false).await;
    views(app, &deleted, "deleted", 2, true).await;
    for (id, n) in [(&most, 5), (&renamed, 3), (&completed, 1), (&deleted, 3)] {
        wait_for_views(app, id, n).await;
    }
    let r = app
        .patch_comic(&renamed, json!({"title": "Renamed, again"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = app
        .patch_comic(&completed, json!({"status": "completed", "type": "manhwa"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = app.delete_comic(&deleted).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    let late = app
        .view_comic(Some(&app.user("late")), &deleted, None)
        .await
        .status()
        .as_u16();
    assert!(late == 202 || late == 404, "a late view answered {late}");
    app.viewed(Some(&app.user("late")), &most).await;
    wait_for_views(app, &most, 6).await;
    let expected = 6 + 3 + 1 + 3 + i64::from(late == 202);
    assert_eq!(recorded_views(&stores.events).await, expected, "recorded");

    let views = BTreeMap::from([(most, 6), (renamed.clone(), 3), (completed.clone(), 1)]);
    Outcome {
        views,
        renamed,
        completed,
        deleted,
        token,
    }
}

/// Waits until the relay published every event and the popularity
/// projection applied the whole stream; returns the stream's last sequence.
async fn wait_caught_up(app: &TestApp, stores: &Stores) -> u64 {
    let js = async_nats::jetstream::new(app.env.nats().await);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&stores.events)
        .await
        .unwrap();
    let last = eventually(WAIT, || async {
        let mut stream = js.get_stream(app.env.names().stream()).await.ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        assert!(last <= events as u64, "{last} messages for {events} events");
        (last == events as u64).then_some(last)
    })
    .await;
    eventually(WAIT, || async {
        let at: i64 = sqlx::query_scalar("SELECT stream_sequence FROM popularity.checkpoint")
            .fetch_one(&stores.popularity)
            .await
            .ok()?;
        (at as u64 == last).then_some(())
    })
    .await;
    last
}

/// Every table of the `popularity` schema but `checkpoint` and
/// `window_marks`, each as its rows in a fixed order. The marks are where
/// the ager last moved them (a rebuilt store starts at -infinity); the
/// window totals follow them, and here every view is recent enough to be in
/// every window whatever the marks (`popularity_windows` tests the marks).
async fn snapshot(pool: &PgPool) -> BTreeMap<String, Value> {
    let tables: Vec<String> = sqlx::query_scalar(
        "SELECT table_name::text FROM information_schema.tables \
         WHERE table_schema = 'popularity' AND table_type = 'BASE TABLE' \
           AND table_name NOT IN ('checkpoint', 'window_marks') ORDER BY table_name",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    let mut out = BTreeMap::new();
    for table in tables {
        let rows: Value = sqlx::query_scalar(&format!(
            "SELECT coalesce(jsonb_agg(to_jsonb(t) ORDER BY to_jsonb(t)::text), '[]'::jsonb) \
             FROM popularity.{table} t"
        ))
        .fetch_one(pool)
        .await
        .unwrap();
        out.insert(table, rows);
    }
    out
}

fn rows<'a>(snapshot: &'a BTreeMap<String, Value>, table: &str) -> &'a Vec<Value> {
    snapshot
        .get(table)
        .and_then(Value::as_array)
        .unwrap_or_else(|| panic!("popularity.{table}"))
}

fn assert_same(live: &BTreeMap<String, Value>, rebuilt: &BTreeMap<String, Value>) {
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>(),
        "the tables"
    );
    for (table, rows) in live {
        assert_eq!(
            rows, &rebuilt[table],
            "popularity.{table}: rebuilt differs from live"
        );
    }
}

/// The live store holds what the workload implies, so that "rebuilt equals
/// live" compares meaningful rows.
fn assert_live_matches(outcome: &Outcome, live: &BTreeMap<String, Value>) {
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        ["applied", "comics", "minutes", "totals", "windows"],
        "the popularity tables"
    );
    let totals: BTreeMap<String, i64> = rows(live, "totals")
        .iter()
        .map(|r| {
            let id = r["comic_id"].as_str().unwrap().to_string();
            (id, r["views"].as_i64().unwrap())
        })
        .collect();
    assert_eq!(totals, outcome.views, "popularity.totals");
    let mut minutes: BTreeMap<String, i64> = BTreeMap::new();
    for r in rows(live, "minutes") {
        let id = r["comic_id"].as_str().unwrap().to_string();
        *minutes.entry(id).or_default() += r["views"].as_i64().unwrap();
    }
    assert_eq!(minutes, outcome.views, "popularity.minutes per comic");
    for win in ["24h", "7d", "30d"] {
        let totals: BTreeMap<String, i64> = rows(live, "windows")
            .iter()
            .filter(|r| r["win"] == win)
            .map(|r| {
                let id = r["comic_id"].as_str().unwrap().to_string();
                (id, r["views"].as_i64().unwrap())
            })
            .collect();
        assert_eq!(totals, outcome.views, "popularity.windows {win}");
    }
    let cards: BTreeMap<String, Value> = rows(live, "comics")
        .iter()
        .map(|c| (c["id"].as_str().unwrap().to_string(), c.clone()))
        .collect();
    assert_eq!(
        cards.keys().collect::<Vec<_>>(),
        outcome.views.keys().collect::<Vec<_>>(),
        "cards of the live comics"
    );
    assert!(!cards.contains_key(&outcome.deleted));
    assert_eq!(cards[&outcome.renamed]["title"], json!("Renamed, again"));
    let completed = &cards[&outcome.completed];
    assert_eq!(
        (&completed["status"], &completed["type"]),
        (&json!("completed"), &json!("manhwa")),
        "{completed}"
    );
}

/// Reads that show the projection through HTTP, past the cache (each waits
/// for the workload's last catalog write and reads the stores).
async fn reads(app: &TestApp, outcome: &Outcome) -> Vec<Value> {
    let token = Some(outcome.token.as_str());
    let mut out = Vec::new();
    for window in ["24h", "7d", "30d", "all"] {
        let query = format!("window={window}");
        out.push(json_with(app.popular(&query, token).await, 200).await);
    }
    out.push(
        json_with(
            app.list_comics("sort=popularity", &outcome.token).await,
            200,
        )
        .await,
    );
    for id in outcome.views.keys() {
        out.push(json_with(app.comic_stats(id, token).await, 200).await);
    }
    let gone = app.comic_stats(&outcome.deleted, token).await;
    assert_eq!(gone.status(), 404, "stats of the deleted comic");
    out
}

/// The reads show the expected views: the ranking in order, the stats.
fn assert_reads_show(outcome: &Outcome, reads: &[Value]) {
    let mut expected: Vec<(&String, &i64)> = outcome.views.iter().collect();
    expected.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    let ranking: Vec<(String, i64)> = reads[3]["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| {
            (
                i["comic"]["id"].as_str().unwrap().to_string(),
                i["views"].as_i64().unwrap(),
            )
        })
        .collect();
    let expected: Vec<(String, i64)> = expected
        .into_iter()
        .map(|(id, n)| (id.clone(), *n))
        .collect();
    assert_eq!(ranking, expected, "the all-time ranking");
    for (stats, (id, n)) in reads[5..].iter().zip(&outcome.views) {
        assert_eq!(stats["views"]["total"], json!(n), "{id}: {stats}");
        assert_eq!(stats["views"]["24h"], json!(n), "{id}: {stats}");
    }
}

async fn rebuild_checked(stores: &Stores, last: u64) {
    let projector = PopularityProjector;
    let report = rebuild(&stores.events, &stores.popularity, &projector)
        .await
        .unwrap();
    assert_eq!(report.checkpoint, last, "the rebuilt checkpoint");
    let types: Vec<String> = projector
        .info()
        .aggregate_types
        .iter()
        .map(|t| t.to_string())
        .collect();
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
            .bind(&types)
            .fetch_one(&stores.events)
            .await
            .unwrap();
    assert_eq!(report.events_applied, events as u64, "events applied");
}

async fn rebuild_equals_live(app: &TestApp) {
    let stores = Stores::of(app).await;
    let outcome = workload(app, &stores).await;
    let last = wait_caught_up(app, &stores).await;
    let live = snapshot(&stores.popularity).await;
    assert_live_matches(&outcome, &live);
    let live_reads = reads(app, &outcome).await;
    assert_reads_show(&outcome, &live_reads);

    rebuild_checked(&stores, last).await;

    assert_same(&live, &snapshot(&stores.popularity).await);
    assert_eq!(
        live_reads,
        reads(app, &outcome).await,
        "reads after the rebuild"
    );
}

async fn views_after_rebuild(app: &TestApp) {
    let stores = Stores::of(app).await;
    let mut outcome = workload(app, &stores).await;
    let last = wait_caught_up(app, &stores).await;
    rebuild_checked(&stores, last).await;

    // New readers of a rebuilt comic, readers seen before (within ten
    // minutes: not counted again), and a comic created after the rebuild.
    let completed = outcome.completed.clone();
    views(app, &completed, "after", 3, false).await;
    views(app, &completed, "completed", 1, false).await;
    let (fresh, token) = app.comic("Fresh").await;
    views(app, &fresh, "fresh", 2, true).await;
    wait_for_views(app, &completed, 4).await;
    wait_for_views(app, &fresh, 3).await;
    *outcome.views.get_mut(&completed).unwrap() = 4;
    outcome.views.insert(fresh, 3);
    outcome.token = token;
    let reads_now = reads(app, &outcome).await;
    assert_reads_show(&outcome, &reads_now);

    // And a second rebuild still equals the live store that carried on.
    let last = wait_caught_up(app, &stores).await;
    let live = snapshot(&stores.popularity).await;
    assert_eq!(rows(&live, "totals").len(), 4, "{live:?}");
    rebuild_checked(&stores, last).await;
    assert_same(&live, &snapshot(&stores.popularity).await);
}
