//! Rebuilds of the ratings and bookmarks projections: after a workload of
//! ratings, changes, removals, bookmarks and a deleted comic driven through
//! HTTP, a rebuild from the event log reproduces the live query stores row
//! for row, and live projection carries on after the swap.

use std::collections::BTreeMap;
use std::time::Duration;

use crate::support::client::{consistency, json_with, TestApp};
use crate::support::eventually;
use crate::support::pipeline::{bounded, schema_snapshot, settle};
use comics_eventlog::record::{read_committed_after, CommitCursor};
use comics_projections::bookmarks::BookmarksProjector;
use comics_projections::ratings::RatingsProjector;
use comics_projections::rebuild::rebuild;
use comics_projections::runtime::{apply_batch, ensure_schema};
use comics_projections::Projector;
use futures::future::join_all;
use serde_json::{json, Value};
use sqlx::PgPool;

const LIMIT: Duration = Duration::from_secs(180);
const USERS: usize = 6;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuild_reproduces_the_live_ratings_and_bookmarks_exactly() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, rebuild_equals_live(&app)).await;
    app.stop().await;
    settle(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn ratings_and_bookmarks_written_after_a_rebuild_are_still_projected() {
    let app = TestApp::spawn().await;
    let outcome = bounded(LIMIT, writes_after_rebuild(&app)).await;
    app.stop().await;
    settle(outcome);
}

struct Stores {
    events: PgPool,
    ratings: PgPool,
    bookmarks: PgPool,
}

impl Stores {
    async fn of(app: &TestApp) -> Self {
        let settings = &app.env.settings;
        let connect =
            |url: String| async move { comics_common::db::connect(&url, 4).await.expect("pool") };
        Self {
            events: connect(settings.database_url.clone()).await,
            ratings: connect(settings.projection_database_url("ratings").to_string()).await,
            bookmarks: connect(settings.projection_database_url("bookmarks").to_string()).await,
        }
    }
}

/// What the workload leaves: the comics, and the votes and bookmarks the
/// test expects per live comic.
struct Outcome {
    comics: Vec<String>,
    deleted: String,
    votes: BTreeMap<String, Vec<i64>>,
    bookmarks: BTreeMap<String, i64>,
    users: Vec<String>,
}

/// Four comics; six users rate three of them (with changes and removals)
/// and bookmark all four (with removals and a re-bookmark), concurrently
/// across users; then one comic is renamed and a rated, bookmarked one is
/// deleted, and some users act on the deleted one afterwards.
async fn workload(app: &TestApp) -> Outcome {
    let mut comics = Vec::new();
    for title in ["Zero", "One", "Two", "Three"] {
        comics.push(app.comic(title).await.0);
    }
    let users: Vec<String> = (0..USERS).map(|i| app.user(&format!("fan{i}"))).collect();
    let c = &comics;
    join_all(users.iter().enumerate().map(|(i, user)| async move {
        let i = i as i64;
        app.rated(user, &c[0], 1 + i).await;
        app.rated(user, &c[1], 10 - i).await;
        app.rated(user, &c[2], 5).await;
        if i % 2 == 0 {
            app.rated(user, &c[0], 1 + (i + 3) % 10).await;
        }
        if i % 3 == 0 {
            let r = app.unrate_comic(Some(user), &c[1]).await;
            assert_eq!(r.status(), 204, "unrate");
        }
        for comic in c {
            let r = app.bookmark_comic(Some(user), comic).await;
            assert_eq!(r.status(), 204, "bookmark");
        }
        if i % 2 == 1 {
            let r = app.unbookmark_comic(Some(user), &c[1]).await;
            assert_eq!(r.status(), 204, "unbookmark");
        }
        if i == 4 {
            for _ in 0..2 {
                assert_eq!(app.unbookmark_comic(Some(user), &c[3]).await.status(), 204);
                assert_eq!(app.bookmark_comic(Some(user), &c[3]).await.status(), 204);
            }
        }
        // Changes to the comics between the ratings and bookmarks: batches
        // fold runs of changes across runs of ratings.
        let status = ["completed", "hiatus", "ongoing"][i as usize % 3];
        let change = match i % 3 {
            0 => json!({"title": format!("Zero, take {i}")}),
            1 => json!({"status": status, "type": "manhwa"}),
            _ => json!({"title": format!("Three, take {i}"), "status": status}),
        };
        let target = [&c[0], &c[1], &c[3]][i as usize % 3];
        let score = if i % 2 == 0 { 1 + (i + 3) % 10 } else { 1 + i };
        assert_eq!(app.patch_comic(target, change).await.status(), 200);
        app.rated(user, &c[0], 1 + score % 10).await;
        assert_eq!(
            app.patch_comic(target, json!({"title": format!("Again {i}")}))
                .await
                .status(),
            200
        );
        app.rated(user, &c[0], score).await;
    }))
    .await;
    let r = app
        .patch_comic(&comics[1], json!({"title": "One, renamed"}))
        .await;
    assert_eq!(r.status(), 200);
    let r = app.delete_comic(&comics[2]).await;
    assert_eq!(r.status(), 204);
    // After the deletion: removing a rating or a bookmark of the deleted
    // comic may be refused or accepted, but must not bring it back.
    app.unrate_comic(Some(&users[0]), &comics[2]).await;
    app.unbookmark_comic(Some(&users[1]), &comics[2]).await;

    let mut votes = BTreeMap::new();
    votes.insert(
        comics[0].clone(),
        (0..USERS as i64)
            .map(|i| if i % 2 == 0 { 1 + (i + 3) % 10 } else { 1 + i })
            .collect::<Vec<_>>(),
    );
    votes.insert(
        comics[1].clone(),
        (0..USERS as i64)
            .filter(|i| i % 3 != 0)
            .map(|i| 10 - i)
            .collect(),
    );
    let mut bookmarks = BTreeMap::new();
    bookmarks.insert(comics[0].clone(), USERS as i64);
    bookmarks.insert(comics[1].clone(), USERS.div_ceil(2) as i64);
    bookmarks.insert(comics[3].clone(), USERS as i64);
    Outcome {
        deleted: comics[2].clone(),
        comics,
        votes,
        bookmarks,
        users,
    }
}

/// Waits until the relay published every event and both projections
/// applied the whole stream; returns the stream's last sequence.
async fn wait_caught_up(app: &TestApp, stores: &Stores) -> u64 {
    let js = async_nats::jetstream::new(app.env.nats().await);
    let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
        .fetch_one(&stores.events)
        .await
        .unwrap();
    let last = eventually(Duration::from_secs(60), || async {
        let mut stream = js.get_stream(app.env.names().stream()).await.ok()?;
        let last = stream.info().await.ok()?.state.last_sequence;
        (last == events as u64).then_some(last)
    })
    .await;
    for (pool, schema) in [
        (&stores.ratings, "ratings"),
        (&stores.bookmarks, "bookmarks"),
    ] {
        eventually(Duration::from_secs(60), || async {
            let at: i64 =
                sqlx::query_scalar(&format!("SELECT stream_sequence FROM {schema}.checkpoint"))
                    .fetch_one(pool)
                    .await
                    .ok()?;
            (at as u64 == last).then_some(())
        })
        .await;
    }
    last
}

fn assert_same(schema: &str, live: &BTreeMap<String, Value>, rebuilt: &BTreeMap<String, Value>) {
    assert_eq!(
        live.keys().collect::<Vec<_>>(),
        rebuilt.keys().collect::<Vec<_>>(),
        "{schema}: the tables"
    );
    for (table, rows) in live {
        assert_eq!(
            rows, &rebuilt[table],
            "{schema}.{table}: rebuilt differs from live"
        );
    }
}

fn rows<'a>(snapshot: &'a BTreeMap<String, Value>, table: &str) -> &'a Vec<Value> {
    snapshot[table]
        .as_array()
        .unwrap_or_else(|| panic!("table {table}"))
}

/// The live stores hold what the workload implies (so that "rebuilt equals
/// live" compares meaningful rows, not two empty copies).
fn assert_live_matches(
    outcome: &Outcome,
    ratings: &BTreeMap<String, Value>,
    bookmarks: &BTreeMap<String, Value>,
) {
    for table in ["applied", "comics", "ratings", "stats", "totals"] {
        assert!(ratings.contains_key(table), "ratings.{table} exists");
    }
    for table in ["applied", "bookmarks", "comics", "counts"] {
        assert!(bookmarks.contains_key(table), "bookmarks.{table} exists");
    }
    let stats: BTreeMap<String, (i64, i64)> = rows(ratings, "stats")
        .iter()
        .map(|r| {
            let id = r["comic_id"].as_str().unwrap().to_string();
            (
                id,
                (
                    r["votes"].as_i64().unwrap(),
                    r["score_sum"].as_i64().unwrap(),
                ),
            )
        })
        .collect();
    let expected: BTreeMap<String, (i64, i64)> = outcome
        .votes
        .iter()
        .map(|(id, v)| (id.clone(), (v.len() as i64, v.iter().sum())))
        .collect();
    assert_eq!(stats, expected, "ratings.stats");
    let all: Vec<i64> = outcome.votes.values().flatten().copied().collect();
    let totals = &rows(ratings, "totals")[0];
    assert_eq!(
        (
            &totals["votes"],
            &totals["score_sum"],
            &totals["rated_comics"]
        ),
        (
            &json!(all.len()),
            &json!(all.iter().sum::<i64>()),
            &json!(outcome.votes.len())
        ),
        "ratings.totals"
    );
    assert_eq!(rows(ratings, "ratings").len(), all.len(), "ratings.ratings");
    let counts: BTreeMap<String, i64> = rows(bookmarks, "counts")
        .iter()
        .map(|r| {
            (
                r["comic_id"].as_str().unwrap().to_string(),
                r["bookmarks"].as_i64().unwrap(),
            )
        })
        .collect();
    assert_eq!(counts, outcome.bookmarks, "bookmarks.counts");
    let total: i64 = outcome.bookmarks.values().sum();
    assert_eq!(
        rows(bookmarks, "bookmarks").len() as i64,
        total,
        "bookmarks.bookmarks"
    );
    for snapshot in [ratings, bookmarks] {
        let cards: Vec<&str> = rows(snapshot, "comics")
            .iter()
            .map(|c| c["id"].as_str().unwrap())
            .collect();
        assert_eq!(
            cards.len(),
            outcome.comics.len() - 1,
            "cards of live comics"
        );
        assert!(
            !cards.contains(&outcome.deleted.as_str()),
            "no card of the deleted comic"
        );
    }
}

/// Reads that show the two projections through HTTP.
async fn reads(app: &TestApp, outcome: &Outcome) -> Vec<Value> {
    let mut out = vec![json_with(app.top_rated("", None).await, 200).await];
    for user in &outcome.users {
        out.push(json_with(app.my_ratings(Some(user), "", None).await, 200).await);
        out.push(json_with(app.my_bookmarks(Some(user), "", None).await, 200).await);
    }
    out
}

async fn rebuild_checked(stores: &Stores, pool: &PgPool, projector: &dyn Projector, last: u64) {
    let report = rebuild(&stores.events, pool, projector).await.unwrap();
    assert_eq!(report.checkpoint, last, "{} checkpoint", report.name);
    let types = projector.info().aggregate_types;
    let types: Vec<String> = types.iter().map(|t| t.to_string()).collect();
    let events: i64 =
        sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = ANY($1)")
            .bind(&types)
            .fetch_one(&stores.events)
            .await
            .unwrap();
    assert_eq!(
        report.events_applied, events as u64,
        "{} events",
        report.name
    );
}

async fn rebuild_equals_live(app: &TestApp) {
    let outcome = workload(app).await;
    let stores = Stores::of(app).await;
    let last = wait_caught_up(app, &stores).await;
    let live_ratings = schema_snapshot(&stores.ratings, "ratings").await;
    let live_bookmarks = schema_snapshot(&stores.bookmarks, "bookmarks").await;
    assert_live_matches(&outcome, &live_ratings, &live_bookmarks);
    let live_reads = reads(app, &outcome).await;

    rebuild_checked(&stores, &stores.ratings, &RatingsProjector, last).await;
    rebuild_checked(&stores, &stores.bookmarks, &BookmarksProjector, last).await;

    assert_same(
        "ratings",
        &live_ratings,
        &schema_snapshot(&stores.ratings, "ratings").await,
    );
    assert_same(
        "bookmarks",
        &live_bookmarks,
        &schema_snapshot(&stores.bookmarks, "bookmarks").await,
    );
    assert_eq!(
        live_reads,
        reads(app, &outcome).await,
        "reads after the rebuild"
    );
    // Live batches and the rebuild both fold runs of events; each event
    // applied alone must come to the same rows (the fold's reference).
    one_by_one_equals(&stores, &stores.ratings, &RatingsProjector, &live_ratings).await;
    one_by_one_equals(
        &stores,
        &stores.bookmarks,
        &BookmarksProjector,
        &live_bookmarks,
    )
    .await;
}

/// Applies every event of `projector`'s types from the log, one batch per
/// event, to a scratch schema, and compares it with the `live` snapshot.
async fn one_by_one_equals(
    stores: &Stores,
    pool: &PgPool,
    projector: &dyn Projector,
    live: &BTreeMap<String, Value>,
) {
    let info = projector.info();
    let scratch = format!("{}_one_by_one", info.schema);
    ensure_schema(pool, projector, &scratch).await.unwrap();
    let mut reader = stores.events.acquire().await.unwrap();
    let mut cursor = CommitCursor::default();
    let mut applied = 0;
    loop {
        let page = read_committed_after(&mut reader, cursor, info.aggregate_types, 500)
            .await
            .unwrap();
        let Some((last, _)) = page.last() else { break };
        cursor = *last;
        for (_, event) in page {
            apply_batch(pool, projector, &scratch, &[(None, event)])
                .await
                .unwrap();
            applied += 1;
        }
    }
    assert!(applied > 0, "{}: events to apply", info.name);
    assert_same(info.schema, live, &schema_snapshot(pool, &scratch).await);
    sqlx::query(&format!("DROP SCHEMA {scratch} CASCADE"))
        .execute(pool)
        .await
        .unwrap();
}

async fn writes_after_rebuild(app: &TestApp) {
    let outcome = workload(app).await;
    let stores = Stores::of(app).await;
    let last = wait_caught_up(app, &stores).await;
    rebuild_checked(&stores, &stores.ratings, &RatingsProjector, last).await;
    rebuild_checked(&stores, &stores.bookmarks, &BookmarksProjector, last).await;

    // A new vote on comic 3 and a changed one on comic 0, then a bookmark.
    let newcomer = app.user("newcomer");
    let three = &outcome.comics[3];
    let token = app.rated(&newcomer, three, 7).await;
    let doc = json_with(app.get_comic(three, &token).await, 200).await;
    assert_eq!(doc["rating"]["count"], json!(1), "{doc}");
    assert_eq!(doc["rating"]["average"], json!(7.0));
    let token = app.rated(&outcome.users[1], &outcome.comics[0], 10).await;
    let doc = json_with(app.get_comic(&outcome.comics[0], &token).await, 200).await;
    let mut zero = outcome.votes[&outcome.comics[0]].clone();
    zero[1] = 10;
    assert_eq!(doc["rating"]["count"], json!(zero.len()));
    let average = doc["rating"]["average"].as_f64().unwrap();
    let expected = zero.iter().sum::<i64>() as f64 / zero.len() as f64;
    assert!((average - expected).abs() < 1e-9, "{average} != {expected}");
    let r = app.bookmark_comic(Some(&newcomer), three).await;
    assert_eq!(r.status(), 204);
    let list = json_with(
        app.my_bookmarks(Some(&newcomer), "", Some(&consistency(&r)))
            .await,
        200,
    )
    .await;
    assert_eq!(list["items"][0]["comic_id"], json!(three), "{list}");

    // And a second rebuild still equals the live copy that carried on.
    let last = wait_caught_up(app, &stores).await;
    let live_ratings = schema_snapshot(&stores.ratings, "ratings").await;
    let live_bookmarks = schema_snapshot(&stores.bookmarks, "bookmarks").await;
    rebuild_checked(&stores, &stores.ratings, &RatingsProjector, last).await;
    rebuild_checked(&stores, &stores.bookmarks, &BookmarksProjector, last).await;
    assert_same(
        "ratings",
        &live_ratings,
        &schema_snapshot(&stores.ratings, "ratings").await,
    );
    assert_same(
        "bookmarks",
        &live_bookmarks,
        &schema_snapshot(&stores.bookmarks, "bookmarks").await,
    );
}
