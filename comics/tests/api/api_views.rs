//! Page views through HTTP (API.md "Ratings, bookmarks, views, rankings"):
//! `POST /comics/{id}/views` (202, its body rules, 404s), one reader's view
//! of a comic counting once per 10 minutes (keyed on the token's `sub`, else
//! the client address), exact counts in `GET /comics/{id}/stats` and the
//! comic document's `popularity`, the popular ranking, `sort=popularity`,
//! and accepted views surviving the process being killed right after 202.
//!
//! Most tests read without the 202's consistency token, polling (bounded)
//! until the counts arrive and failing at once should a count ever go past
//! what is expected: reads without a token may come from the hot-read
//! cache, which must therefore follow the projection too. One test reads
//! with the token, which must show the view at once.

use crate::support;

use std::time::Duration;

use crate::support::client::{consistency, json_with, problem};
use crate::support::pipeline::{bounded, settle, Rng};
use crate::support::{eventually, TestApp, TestEnv};
use comics::{Application, Roles};
use comics_command::popularity::batch::ViewBatch;
use comics_common::consistency::ConsistencyToken;
use comics_common::Settings;
use futures::future::join_all;
use reqwest::Method;
use serde_json::{json, Value};
use sqlx::PgPool;

/// How long views may take from 202 to the read side.
const WAIT: Duration = Duration::from_secs(60);
/// The whole of a test that kills processes.
const LIMIT: Duration = Duration::from_secs(240);

/// The write side alone: HTTP commands, the view intake and the recorder.
const COMMANDS: Roles = Roles {
    commands: true,
    queries: false,
    relay: false,
    projectors: false,
};

/// Everything but the write side.
const READS: Roles = Roles {
    commands: false,
    queries: true,
    relay: true,
    projectors: true,
};

// Helpers.

fn client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap()
}

fn user(env: &TestEnv, sub: &str) -> String {
    env.jwt()
        .mint(sub, &[], chrono::Duration::hours(1))
        .unwrap()
}

/// Creates a comic and waits until the read side shows it.
async fn new_comic(app: &TestApp, title: &str) -> (String, String) {
    let (id, token) = app.comic(title).await;
    app.wait_for_all(std::slice::from_ref(&token)).await;
    (id, token)
}

/// `POST {base}/api/v1/comics/{comic}/views` with no body; the status, or
/// the transport error's text.
async fn post_view(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    comic: &str,
) -> Result<u16, String> {
    post_view_answer(http, base, token, comic)
        .await
        .map(|a| a.status)
}

/// What a view was answered.
#[derive(Debug)]
struct Answer {
    status: u16,
    retry_after: bool,
    body: String,
}

async fn post_view_answer(
    http: &reqwest::Client,
    base: &str,
    token: Option<&str>,
    comic: &str,
) -> Result<Answer, String> {
    let mut req = http.post(format!("{base}/api/v1/comics/{comic}/views"));
    if let Some(t) = token {
        req = req.bearer_auth(t);
    }
    let r = req.send().await.map_err(|e| e.to_string())?;
    let status = r.status().as_u16();
    let retry_after = r.headers().contains_key("retry-after");
    let body = r.text().await.map_err(|e| e.to_string())?;
    Ok(Answer {
        status,
        retry_after,
        body,
    })
}

/// Waits until `GET {base}/api/v1/comics/{id}/stats` (no consistency
/// token) shows `expected` views in all; fails at once on more. Returns
/// the stats.
async fn wait_for_views(http: &reqwest::Client, base: &str, id: &str, expected: i64) -> Value {
    let url = format!("{base}/api/v1/comics/{id}/stats");
    eventually(WAIT, || async {
        let r = http.get(&url).send().await.ok()?;
        if r.status() != 200 {
            return None;
        }
        let stats: Value = r.json().await.ok()?;
        let total = stats["views"]["total"].as_i64()?;
        assert!(
            total <= expected,
            "comic {id} shows {total} views, more than the {expected} accepted: {stats}"
        );
        (total == expected).then_some(stats)
    })
    .await
}

/// How many `ViewsRecorded` events the log holds (of `comic`, or of all
/// comics) and how many views they count together.
async fn recorded(pool: &PgPool, comic: Option<&str>) -> (i64, i64) {
    sqlx::query_as(
        "SELECT count(*), coalesce(sum((payload->'ViewsRecorded'->>'count')::bigint), 0)::bigint \
         FROM events WHERE event_type = 'ViewsRecorded' AND ($1::text IS NULL OR aggregate_id = $1)",
    )
    .bind(comic)
    .fetch_one(pool)
    .await
    .expect("count ViewsRecorded events")
}

/// How many views the `<PREFIX>_VIEWS` stream holds (in all its batches).
async fn views_in_stream(env: &TestEnv) -> u64 {
    let js = async_nats::jetstream::new(env.nats().await);
    let mut stream = js
        .get_stream(env.names().views_stream())
        .await
        .expect("the views stream");
    let state = stream.info().await.expect("stream info").state.clone();
    let mut views = 0u64;
    for seq in state.first_sequence..=state.last_sequence {
        if state.messages == 0 {
            break;
        }
        let message = stream.get_raw_message(seq).await.expect("a views message");
        let batch: ViewBatch = serde_json::from_slice(&message.payload).expect("a batch of views");
        views += batch.len() as u64;
    }
    views
}

/// Waits until the recorder has recorded everything the views stream holds.
async fn wait_recorded_all(env: &TestEnv, pool: &PgPool) {
    let js = async_nats::jetstream::new(env.nats().await);
    let mut stream = js
        .get_stream(env.names().views_stream())
        .await
        .expect("the views stream");
    let last = stream
        .info()
        .await
        .expect("stream info")
        .state
        .last_sequence as i64;
    eventually(WAIT, || async {
        let reached: Option<i64> = sqlx::query_scalar("SELECT stream_sequence FROM view_recorder")
            .fetch_optional(pool)
            .await
            .expect("the recorder's position");
        (reached.unwrap_or(0) >= last).then_some(())
    })
    .await
}

/// Drops the database and both streams (the harness knows only the events one).
async fn cleanup(env: TestEnv) {
    let js = async_nats::jetstream::new(env.nats().await);
    let _ = js.delete_stream(env.names().views_stream()).await;
    env.cleanup().await;
}

async fn finish(app: TestApp) {
    let js = async_nats::jetstream::new(app.env.nats().await);
    let _ = js.delete_stream(app.env.names().views_stream()).await;
    app.stop().await;
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap_or_else(|| panic!("items in {list}"))
        .iter()
        .map(|i| {
            i["comic"]["id"]
                .as_str()
                .or_else(|| i["id"].as_str())
                .expect("an id")
                .to_string()
        })
        .collect()
}

/// A comics process in a runtime of its own, so that it can be killed at
/// once: every task dropped wherever it is awaiting, every connection cut,
/// nothing drained or acknowledged on the way out (unlike the shutdown
/// token, which lets the recorder finish its batch, and aborting the
/// `run_until_stopped` task, which leaves the tasks it spawned running).
struct Process {
    base: String,
    kill: Option<std::sync::mpsc::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Process {
    async fn start(settings: &Settings, roles: Roles) -> Self {
        let settings = settings.clone();
        let (port_tx, port_rx) = tokio::sync::oneshot::channel();
        let (kill, killed) = std::sync::mpsc::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("a runtime");
            match rt.block_on(Application::build(&settings, roles)) {
                Ok(app) => {
                    let _ = port_tx.send(Ok(app.port()));
                    rt.spawn(app.run_until_stopped());
                }
                Err(e) => {
                    let _ = port_tx.send(Err(format!("{e:#}")));
                    return;
                }
            }
            // A kill, or the test going away.
            let _ = killed.recv();
            rt.shutdown_background();
        });
        let port = port_rx
            .await
            .expect("the process thread")
            .expect("the application starts");
        Self {
            base: format!("http://127.0.0.1:{port}"),
            kill: Some(kill),
            thread: Some(thread),
        }
    }

    async fn kill(mut self) {
        self.kill.take();
        if let Some(thread) = self.thread.take() {
            tokio::task::spawn_blocking(move || thread.join())
                .await
                .unwrap()
                .expect("the process thread ends");
        }
    }
}

impl Drop for Process {
    fn drop(&mut self) {
        self.kill.take();
    }
}

/// Creates a comic through `base` as an admin; returns its id.
async fn create_comic(env: &TestEnv, http: &reqwest::Client, base: &str, title: &str) -> String {
    let admin = env
        .jwt()
        .mint("admin-1", &["admin"], chrono::Duration::hours(1))
        .unwrap();
    let r = http
        .post(format!("{base}/api/v1/comics"))
        .bearer_auth(admin)
        .json(&json!({ "title": title }))
        .send()
        .await
        .expect("create a comic");
    let body = json_with(r, 201).await;
    body["id"].as_str().expect("id").to_string()
}

/// Takes the event store's write lock in a transaction of its own: until it
/// ends, nothing can be appended (reads go on), so views pile up in the
/// stream as they would behind a slow event store.
async fn hold_event_store(pool: &PgPool) -> sqlx::Transaction<'static, sqlx::Postgres> {
    let mut tx = pool.begin().await.expect("begin");
    sqlx::query("LOCK TABLE events IN EXCLUSIVE MODE")
        .execute(&mut *tx)
        .await
        .expect("lock the events table");
    tx
}

// Accepting a view.

#[tokio::test]
async fn a_view_is_accepted_with_202_with_no_body_an_empty_object_or_a_chapter_id() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Viewed").await;
    let (chapter, _) = app.chapter(&id, "1").await;
    let path = format!("/api/v1/comics/{id}/views");

    // No body and no Content-Type, anonymously.
    let r = app
        .send_raw(Method::POST, &path, None, None, Vec::new())
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    // `{}` and `{"chapter_id"}` as two users.
    let r = app
        .view_comic(Some(&app.user("empty")), &id, Some(json!({})))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());
    let body = json!({ "chapter_id": chapter });
    let r = app
        .view_comic(Some(&app.user("reader")), &id, Some(body))
        .await;
    assert_eq!(r.status(), 202, "{}", r.text().await.unwrap());

    let stats = wait_for_views(&app.http, &app.base, &id, 3).await;
    assert_eq!(
        stats["views"],
        json!({"total": 3, "24h": 3, "7d": 3, "30d": 3}),
        "{stats}"
    );
    finish(app).await;
}

#[tokio::test]
async fn a_views_consistency_token_makes_the_next_read_show_it_counted_or_not() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Seen at once").await;
    let (other, _) = new_comic(&app, "Never seen").await;
    let stats = |r: &Value| r["views"]["total"].as_i64();

    let reader = app.user("first");
    let r = app.view_comic(Some(&reader), &id, None).await;
    assert_eq!(r.status(), 202);
    let token = consistency(&r);
    let r = app
        .get_after(&format!("/api/v1/comics/{id}/stats"), &token)
        .await;
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    assert_eq!(stats(&body), Some(1), "{body}");

    // A repeat within ten minutes is not counted: its token still resolves
    // (no event recorded it) and the count stays.
    let r = app.view_comic(Some(&reader), &id, None).await;
    assert_eq!(r.status(), 202);
    let token = consistency(&r);
    let body: Value = app
        .get_after(&format!("/api/v1/comics/{id}/stats"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(stats(&body), Some(1), "{body}");

    // A second reader: the document, the ranking and the list all show it.
    let r = app.view_comic(Some(&app.user("second")), &id, None).await;
    assert_eq!(r.status(), 202);
    let token = consistency(&r);
    let doc: Value = app.get_comic(&id, &token).await.json().await.unwrap();
    assert_eq!(doc["popularity"]["views"], 2, "{doc}");
    let r = app
        .get_after("/api/v1/rankings/popular?window=24h", &token)
        .await;
    assert_eq!(r.status(), 200);
    let ranking: Value = r.json().await.unwrap();
    assert_eq!(ids(&ranking), vec![id.clone()], "{ranking}");
    let r = app
        .get_after(&format!("/api/v1/comics/{other}/stats"), &token)
        .await;
    let body: Value = r.json().await.unwrap();
    assert_eq!(stats(&body), Some(0), "{body}");

    // A view further on than the recorder ever got: the read gives up.
    let mut ahead = ConsistencyToken::decode(&token).expect("a token the platform made");
    let mark = ahead.marks[0].clone();
    assert_eq!(mark.aggregate_type, "Views");
    ahead.push(
        &mark.aggregate_type,
        &mark.aggregate_id,
        mark.sequence + 1000,
    );
    let r = app
        .get_after(&format!("/api/v1/comics/{id}/stats"), &ahead.encode())
        .await;
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    problem(r, 503).await;
    // A route that shows no views does not wait for the recorder at all.
    let r = app.get_after("/api/v1/genres", &ahead.encode()).await;
    assert_eq!(r.status(), 200, "{}", r.text().await.unwrap());
    finish(app).await;
}

#[tokio::test]
async fn refused_view_bodies_are_422_400_or_415_and_none_of_them_is_counted() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Strict views").await;
    let path = format!("/api/v1/comics/{id}/views");
    let json_ct = Some("application/json");
    // Each refused request comes from a reader of its own, so that any of
    // them counted would show.
    let cases: [(&str, Option<&str>, &str, u16); 7] = [
        (
            "unknown-field",
            json_ct,
            r#"{"chapter_id": null, "page": 3}"#,
            422,
        ),
        (
            "not-a-uuid",
            json_ct,
            r#"{"chapter_id": "chapter one"}"#,
            422,
        ),
        ("a-number", json_ct, "7", 422),
        ("an-array", json_ct, "[null]", 422),
        ("malformed", json_ct, r#"{"chapter_id": "#, 400),
        ("not-json", json_ct, "chapter_id=1", 400),
        ("plain-text", Some("text/plain"), "{}", 415),
    ];
    // Past the limit of every JSON body (1 MiB) and past the view's own
    // (4 KiB): 413 as problem+json either way.
    for size in [5 * 1024, 1024 * 1024 + 10] {
        let body = format!(r#"{{"chapter_id": null, "pad": "{}"}}"#, "x".repeat(size));
        let r = app
            .send_raw(
                Method::POST,
                &path,
                Some(&app.user("too-large")),
                json_ct,
                body.into_bytes(),
            )
            .await;
        problem(r, 413).await;
    }
    let mut wrong = Vec::new();
    for (reader, content_type, body, expected) in cases {
        let token = app.user(reader);
        let r = app
            .send_raw(
                Method::POST,
                &path,
                Some(&token),
                content_type,
                body.as_bytes().to_vec(),
            )
            .await;
        let status = r.status().as_u16();
        if status != expected {
            wrong.push(format!(
                "{body} ({content_type:?}) -> {status}, expected {expected}: {}",
                r.text().await.unwrap_or_default()
            ));
            continue;
        }
        let problem = problem(r, expected).await;
        if expected == 422 {
            let errors = problem["errors"].as_array();
            assert!(
                errors.is_some_and(|e| !e.is_empty()),
                "a validation problem names what is wrong: {problem}"
            );
            let named = match reader {
                "unknown-field" => "page",
                "not-a-uuid" => "chapter_id",
                _ => "body",
            };
            assert_eq!(problem["errors"][0]["field"], named, "{problem}");
        }
    }
    assert!(wrong.is_empty(), "refused wrongly: {wrong:#?}");
    // A witness after them: once it is counted, anything before it would be.
    app.viewed(Some(&app.user("witness")), &id).await;
    wait_for_views(&app.http, &app.base, &id, 1).await;
    finish(app).await;
}

#[tokio::test]
async fn viewing_an_unknown_comic_is_404() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(app.view_comic(None, &unknown, None).await, 404).await;
    let token = app.user("reader");
    problem(app.view_comic(Some(&token), &unknown, None).await, 404).await;
    problem(app.view_comic(None, "not-a-uuid", None).await, 404).await;
    // Nothing reached the stream.
    assert_eq!(views_in_stream(&app.env).await, 0);
    finish(app).await;
}

#[tokio::test]
async fn viewing_a_deleted_comic_is_404() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Deleted unseen").await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    problem(app.view_comic(None, &id, None).await, 404).await;
    problem(
        app.view_comic(Some(&app.user_token), &id, Some(json!({})))
            .await,
        404,
    )
    .await;
    finish(app).await;
}

/// The intake trusts a comic it found live for 30 s, so a view right after
/// the comic's deletion may still be accepted (reported, not asserted here);
/// either way no read may show the deleted comic or its views.
#[tokio::test]
async fn views_of_a_comic_deleted_moments_ago_never_show_anywhere() {
    let app = TestApp::spawn().await;
    let (doomed, _) = new_comic(&app, "Doomed").await;
    let (witness, _) = new_comic(&app, "Witness").await;
    app.viewed(Some(&app.user("early")), &doomed).await;
    wait_for_views(&app.http, &app.base, &doomed, 1).await;

    let r = app.delete_comic(&doomed).await;
    assert_eq!(r.status(), 204);
    let token = support::client::consistency(&r);
    let late = app.view_comic(Some(&app.user("late")), &doomed, None).await;
    let late = late.status().as_u16();
    eprintln!("a view 0 s after the comic's deletion answered {late}");
    assert!(late == 202 || late == 404, "a late view answered {late}");
    // Views are recorded in order: once the witness's view shows, the late
    // one has been through the projection too.
    app.viewed(Some(&app.user("late")), &witness).await;
    wait_for_views(&app.http, &app.base, &witness, 1).await;

    problem(app.comic_stats(&doomed, Some(&token)).await, 404).await;
    problem(app.comic_stats(&doomed, None).await, 404).await;
    for window in ["24h", "7d", "30d", "all"] {
        let ranking = json_with(
            app.popular(&format!("window={window}"), Some(&token)).await,
            200,
        )
        .await;
        assert_eq!(ids(&ranking), vec![witness.clone()], "{window}: {ranking}");
        assert_eq!(ranking["total"], json!(1), "{window}");
    }
    let list = json_with(app.list_comics("sort=popularity", &token).await, 200).await;
    assert_eq!(ids(&list), vec![witness.clone()], "{list}");
    finish(app).await;
}

// Counting: once per reader per 10 minutes, exactly.

#[tokio::test]
async fn a_readers_views_of_different_chapters_within_ten_minutes_count_once() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Binge").await;
    let (c1, _) = app.chapter(&id, "1").await;
    let (c2, _) = app.chapter(&id, "2").await;
    let reader = app.user("binger");
    for body in [
        None,
        Some(json!({"chapter_id": c1})),
        Some(json!({"chapter_id": c2})),
        Some(json!({"chapter_id": c1})),
    ] {
        let r = app.view_comic(Some(&reader), &id, body).await;
        assert_eq!(r.status(), 202, "a repeated view is accepted too");
    }
    for _ in 0..3 {
        app.viewed(None, &id).await;
    }
    // The same `sub` in a new token is the same reader.
    app.viewed(Some(&app.user("binger")), &id).await;
    // A witness after them all: the reader, the address, the witness.
    app.viewed(Some(&app.user("witness")), &id).await;
    wait_for_views(&app.http, &app.base, &id, 3).await;
    finish(app).await;
}

#[tokio::test]
async fn readers_whose_subjects_differ_only_in_accents_spaces_or_length_count_apart() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Everyone").await;
    let long = "x".repeat(200);
    let subjects = [
        "jos".to_string(),
        "josé".to_string(),
        "jo s".to_string(),
        "jös".to_string(),
        format!("{long}a"),
        format!("{long}b"),
    ];
    for sub in &subjects {
        app.viewed(Some(&app.user(sub)), &id).await;
    }
    // Each again: still once each.
    for sub in &subjects {
        app.viewed(Some(&app.user(sub)), &id).await;
    }
    // All twelve are accepted; the recorder counts each reader once.
    assert_eq!(views_in_stream(&app.env).await, 2 * subjects.len() as u64);
    let events = app.env.events_pool().await;
    wait_recorded_all(&app.env, &events).await;
    assert_eq!(
        recorded(&events, Some(&id)).await.1,
        subjects.len() as i64,
        "views counted of {} readers",
        subjects.len()
    );
    wait_for_views(&app.http, &app.base, &id, subjects.len() as i64).await;
    finish(app).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_readers_viewing_three_times_and_five_anonymous_views_count_fifty_one_exactly() {
    let app = TestApp::spawn().await;
    let (id, token) = new_comic(&app, "Crowded").await;
    let events = app.env.events_pool().await;
    let readers: Vec<Option<String>> = (0..50)
        .flat_map(|i| {
            let token = app.user(&format!("reader{i}"));
            [Some(token.clone()), Some(token.clone()), Some(token)]
        })
        .chain((0..5).map(|_| None))
        .collect();

    // The document read into the hot-read cache before any view (documents
    // do not expire with the clock: only a projection change refreshes them).
    let path = format!("/api/v1/comics/{id}");
    let before: Value = app.get(&path).await.json().await.unwrap();
    assert_eq!(before["popularity"]["views"], json!(0), "{before}");

    // The burst arrives while the event store is slow, as in a spike: every
    // view must still be answered at once, and recorded in batches later.
    let lock = hold_event_store(&events).await;
    let answers = join_all(readers.iter().map(|token| async {
        let r = app.view_comic(token.as_deref(), &id, None).await;
        r.status().as_u16()
    }))
    .await;
    let refused: Vec<_> = answers.iter().filter(|s| **s != 202).collect();
    assert!(refused.is_empty(), "views not answered 202: {refused:?}");
    assert_eq!(recorded(&events, None).await, (0, 0), "nothing written yet");
    lock.rollback().await.unwrap();

    let stats = wait_for_views(&app.http, &app.base, &id, 51).await;
    assert_eq!(
        stats["views"],
        json!({"total": 51, "24h": 51, "7d": 51, "30d": 51}),
        "{stats}"
    );
    // The document, read past the cache, and through it.
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    assert_eq!(
        doc["popularity"],
        json!({"views": 51, "bookmarks": 0}),
        "{doc}"
    );
    eventually(Duration::from_secs(10), || async {
        let doc: Value = app.get(&path).await.json().await.ok()?;
        (doc["popularity"]["views"] == json!(51)).then_some(())
    })
    .await;

    // The event log: batches, not an event per view, that add up exactly.
    let (batches, views) = recorded(&events, Some(&id)).await;
    assert_eq!(views, 51, "the ViewsRecorded counts add up to the views");
    assert!(
        (1..51).contains(&batches),
        "{batches} ViewsRecorded events for 51 views sent in a burst"
    );
    let (all, _) = recorded(&events, None).await;
    assert_eq!(all, batches, "ViewsRecorded events of another comic");
    let odd: Vec<(String, Value)> = sqlx::query_as(
        "SELECT aggregate_type || ':' || aggregate_id, metadata FROM events \
         WHERE event_type = 'ViewsRecorded' \
           AND (metadata->>'actor' IS DISTINCT FROM 'system:view-recorder' \
                OR aggregate_type <> 'Popularity' OR aggregate_id <> $1)",
    )
    .bind(&id)
    .fetch_all(&events)
    .await
    .unwrap();
    assert!(
        odd.is_empty(),
        "ViewsRecorded events not by the recorder: {odd:?}"
    );
    finish(app).await;
}

// The popular ranking and sort=popularity.

/// Comics A (2 views), B (4 views, one anonymous), C and D (none), every
/// view counted; returns their ids and the token of D's creation.
async fn viewed_four(app: &TestApp) -> ([String; 4], String) {
    let (a, _) = app.comic("A").await;
    let (b, _) = app.comic("B").await;
    let (c, _) = app.comic("C").await;
    let (d, token) = app.comic("D").await;
    app.wait_for_all(std::slice::from_ref(&token)).await;
    for i in 0..2 {
        app.viewed(Some(&app.user(&format!("a{i}"))), &a).await;
    }
    app.viewed(None, &b).await;
    for i in 0..3 {
        app.viewed(Some(&app.user(&format!("b{i}"))), &b).await;
    }
    wait_for_views(&app.http, &app.base, &a, 2).await;
    wait_for_views(&app.http, &app.base, &b, 4).await;
    ([a, b, c, d], token)
}

#[tokio::test]
async fn the_popular_ranking_puts_the_most_viewed_first_in_every_window_and_omits_unviewed_comics()
{
    let app = TestApp::spawn().await;
    // An empty ranking, read into the cache before any view.
    let empty = json_with(app.popular("window=24h", None).await, 200).await;
    assert_eq!(empty["items"], json!([]), "{empty}");
    assert_eq!(empty["total"], json!(0));

    let ([a, b, _, _], token) = viewed_four(&app).await;
    for (query, window) in [
        ("window=24h", "24h"),
        ("window=7d", "7d"),
        ("window=30d", "30d"),
        ("window=all", "all"),
        ("", "7d"),
    ] {
        let ranking = json_with(app.popular(query, Some(&token)).await, 200).await;
        assert_eq!(ranking["window"], json!(window), "{query}: {ranking}");
        assert_eq!(
            ids(&ranking),
            vec![b.clone(), a.clone()],
            "{query}: {ranking}"
        );
        assert_eq!(ranking["total"], json!(2), "{query}");
        let items = &ranking["items"];
        assert_eq!(
            (&items[0]["rank"], &items[0]["views"]),
            (&json!(1), &json!(4)),
            "{query}"
        );
        assert_eq!(
            (&items[1]["rank"], &items[1]["views"]),
            (&json!(2), &json!(2)),
            "{query}"
        );
    }
    let ranking = json_with(app.popular("window=all", Some(&token)).await, 200).await;
    let card = &ranking["items"][0]["comic"];
    assert_eq!(card["title"], json!("B"), "{card}");
    assert_eq!(card["status"], json!("ongoing"));
    assert_eq!(card["type"], json!("manga"));
    assert_eq!(card["cover_url"], Value::Null);
    assert_eq!(card["rating"]["count"], json!(0), "{card}");

    // Ranks count over the whole ranking, not the page.
    let page = json_with(
        app.popular("window=24h&limit=1&offset=1", Some(&token))
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&page), vec![a.clone()], "{page}");
    assert_eq!(page["items"][0]["rank"], json!(2));
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(2), &json!(1), &json!(1))
    );

    // The cached empty ranking gave way to the new one (at once: not only
    // when cached rankings expire, each minute).
    eventually(Duration::from_secs(10), || async {
        let ranking: Value = app.popular("window=24h", None).await.json().await.ok()?;
        (ids(&ranking) == vec![b.clone(), a.clone()]).then_some(())
    })
    .await;
    finish(app).await;
}

#[tokio::test]
async fn the_popular_ranking_refuses_an_unknown_window_with_400() {
    let app = TestApp::spawn().await;
    for bad in ["bogus", "1d", "24H", "all%20"] {
        let body = problem(app.popular(&format!("window={bad}"), None).await, 400).await;
        let fields: Vec<&str> = body["errors"]
            .as_array()
            .map(|e| e.iter().filter_map(|e| e["field"].as_str()).collect())
            .unwrap_or_default();
        assert_eq!(fields, vec!["window"], "window={bad}: {body}");
    }
    finish(app).await;
}

#[tokio::test]
async fn sorting_comics_by_popularity_puts_the_most_viewed_first_and_unviewed_comics_last() {
    let app = TestApp::spawn().await;
    let ([a, b, c, d], token) = viewed_four(&app).await;
    let list = json_with(app.list_comics("sort=popularity", &token).await, 200).await;
    let order = ids(&list);
    assert_eq!(order[..2], [b.clone(), a.clone()], "{order:?}");
    let mut unviewed = order[2..].to_vec();
    unviewed.sort();
    let mut expected = vec![c.clone(), d.clone()];
    expected.sort();
    assert_eq!(unviewed, expected, "unviewed comics last");
    assert_eq!(list["total"], json!(4));
    let views: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["popularity"]["views"])
        .collect();
    assert_eq!(views, [&json!(4), &json!(2), &json!(0), &json!(0)]);

    let page = json_with(
        app.list_comics("sort=popularity&limit=1&offset=1", &token)
            .await,
        200,
    )
    .await;
    assert_eq!(ids(&page), vec![a.clone()], "{page}");
    // Each document shows the same count as the list.
    for (id, views) in [(&a, 2), (&b, 4), (&c, 0)] {
        let doc = json_with(app.get_comic(id, &token).await, 200).await;
        assert_eq!(doc["popularity"]["views"], json!(views), "{doc}");
    }
    finish(app).await;
}

// Stats.

#[tokio::test]
async fn a_comic_never_viewed_has_zero_views_and_an_unknown_comic_has_no_stats() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Quiet").await;
    let stats = json_with(app.comic_stats(&id, Some(&token)).await, 200).await;
    assert_eq!(
        stats["views"],
        json!({"total": 0, "24h": 0, "7d": 0, "30d": 0}),
        "{stats}"
    );
    assert_eq!(stats["bookmarks"], json!(0));
    assert_eq!(stats["rating"]["count"], json!(0));
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    assert_eq!(doc["popularity"], json!({"views": 0, "bookmarks": 0}));
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(app.comic_stats(&unknown, Some(&token)).await, 404).await;
    finish(app).await;
}

#[tokio::test]
async fn bookmarks_count_in_the_stats_and_the_documents_popularity() {
    let app = TestApp::spawn().await;
    let (id, _) = new_comic(&app, "Kept").await;
    let first = app.user("keeper1");
    let second = app.user("keeper2");
    let passing = app.user("passing");
    let mut tokens = Vec::new();
    for (token, method) in [
        (&first, Method::PUT),
        (&second, Method::PUT),
        // Again: idempotent.
        (&first, Method::PUT),
        (&passing, Method::PUT),
        (&passing, Method::DELETE),
    ] {
        let r = match method {
            Method::PUT => app.bookmark_comic(Some(token), &id).await,
            _ => app.unbookmark_comic(Some(token), &id).await,
        };
        assert_eq!(r.status(), 204, "{method} bookmark");
        tokens.push(support::client::consistency(&r));
    }
    let token = tokens.last().unwrap();
    let stats = json_with(app.comic_stats(&id, Some(token)).await, 200).await;
    assert_eq!(stats["bookmarks"], json!(2), "{stats}");
    let doc = json_with(app.get_comic(&id, token).await, 200).await;
    assert_eq!(doc["popularity"]["bookmarks"], json!(2), "{doc}");
    assert_eq!(doc["popularity"]["views"], json!(0), "{doc}");
    finish(app).await;
}

// Views survive the process being killed.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn views_answered_202_survive_a_kill_right_after_and_count_exactly_once() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, killed_after_202(&env, false)).await;
    cleanup(env).await;
    settle(outcome);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn views_accepted_but_not_yet_recorded_when_the_process_is_killed_are_counted_once() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, killed_after_202(&env, true)).await;
    cleanup(env).await;
    settle(outcome);
}

/// Twenty readers and one anonymous view on a process running the write
/// side only, killed as soon as the last 202 is in (with `hold`, while the
/// event store is locked, so that nothing can have been recorded); then the
/// whole system starts on the same database and streams and must count
/// every view once.
async fn killed_after_202(env: &TestEnv, hold: bool) {
    let http = client();
    let events = env.events_pool().await;
    let writer = Process::start(&env.settings, COMMANDS).await;
    let comic = create_comic(env, &http, &writer.base, "Survivor").await;
    let readers: Vec<Option<String>> = (0..20)
        .map(|i| Some(user(env, &format!("survivor{i}"))))
        .chain([None])
        .collect();
    let lock = if hold {
        Some(hold_event_store(&events).await)
    } else {
        None
    };
    let answers = join_all(
        readers
            .iter()
            .map(|t| post_view(&http, &writer.base, t.as_deref(), &comic)),
    )
    .await;
    assert!(
        answers.iter().all(|a| *a == Ok(202)),
        "every view is accepted: {answers:?}"
    );
    // Accepted means durable: every view is in the stream before its 202.
    assert_eq!(views_in_stream(env).await, 21, "views in the stream");
    writer.kill().await;
    if let Some(lock) = lock {
        lock.rollback().await.unwrap();
        // The killed recorder's append was waiting on the lock: it is never
        // committed.
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert_eq!(
            recorded(&events, None).await,
            (0, 0),
            "recorded before the kill"
        );
    } else {
        let (batches, views) = recorded(&events, None).await;
        eprintln!("at the kill: {views} views recorded in {batches} events");
    }

    let system = Process::start(&env.settings, Roles::ALL).await;
    let stats = wait_for_views(&http, &system.base, &comic, 21).await;
    assert_eq!(stats["views"]["24h"], json!(21), "{stats}");
    assert_eq!(
        recorded(&events, Some(&comic)).await.1,
        21,
        "views recorded"
    );
    system.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn views_delivered_again_after_their_acknowledgements_were_lost_are_not_counted_twice() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, acks_lost(&env)).await;
    cleanup(env).await;
    settle(outcome);
}

/// Ten views recorded, then the process killed and the recorder's durable
/// consumer deleted: as if every acknowledgement had been lost, the whole
/// stream is delivered again from its first view. Only a new view counts.
async fn acks_lost(env: &TestEnv) {
    let http = client();
    let events = env.events_pool().await;
    let writer = Process::start(&env.settings, COMMANDS).await;
    let comic = create_comic(env, &http, &writer.base, "Delivered twice").await;
    for i in 0..10 {
        let token = user(env, &format!("once{i}"));
        let answer = post_view(&http, &writer.base, Some(&token), &comic).await;
        assert_eq!(answer, Ok(202));
    }
    eventually(WAIT, || async {
        let views = recorded(&events, Some(&comic)).await.1;
        assert!(views <= 10, "{views} views recorded");
        (views == 10).then_some(())
    })
    .await;
    writer.kill().await;
    let js = async_nats::jetstream::new(env.nats().await);
    let stream = js
        .get_stream(env.names().views_stream())
        .await
        .expect("the views stream");
    stream
        .delete_consumer("view-recorder")
        .await
        .expect("delete the recorder's consumer");

    let system = Process::start(&env.settings, Roles::ALL).await;
    let witness = user(env, "after");
    let answer = post_view(&http, &system.base, Some(&witness), &comic).await;
    assert_eq!(answer, Ok(202));
    // The witness is after all the redelivered views in the stream.
    wait_for_views(&http, &system.base, &comic, 11).await;
    assert_eq!(
        recorded(&events, Some(&comic)).await.1,
        11,
        "views recorded"
    );
    system.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_write_side_instances_at_once_count_each_reader_once() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, two_writers(&env)).await;
    cleanup(env).await;
    settle(outcome);
}

/// Two write-side processes (two intakes, two recorders on one durable
/// consumer) and the read side; every reader views through both, spread
/// over a second and a half.
async fn two_writers(env: &TestEnv) {
    const READERS: usize = 150;
    let http = client();
    let events = env.events_pool().await;
    let reads = Process::start(&env.settings, READS).await;
    let first = Process::start(&env.settings, COMMANDS).await;
    let second = Process::start(&env.settings, COMMANDS).await;
    let comic = create_comic(env, &http, &first.base, "Twice served").await;
    let posts = (0..READERS).flat_map(|i| {
        let token = user(env, &format!("both{i}"));
        [&first.base, &second.base].map(|base| {
            let (http, base, comic, token) = (&http, base, &comic, token.clone());
            async move {
                tokio::time::sleep(Duration::from_millis(i as u64 * 10)).await;
                post_view(http, base, Some(&token), comic).await
            }
        })
    });
    let answers = join_all(posts).await;
    assert!(
        answers.iter().all(|a| *a == Ok(202)),
        "every view is accepted: {answers:?}"
    );
    wait_for_views(&http, &reads.base, &comic, READERS as i64).await;
    assert_eq!(recorded(&events, Some(&comic)).await.1, READERS as i64);
    first.kill().await;
    second.kill().await;
    reads.kill().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_view_recorder_killed_again_and_again_mid_stream_loses_and_doubles_nothing() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, recorder_killed(&env)).await;
    cleanup(env).await;
    settle(outcome);
}

const KILLS: usize = 10;
const NEW_PER_ROUND: usize = 15;

/// Rounds of: a write-side process starts, readers (new ones and those
/// still without a 202) post views at random moments, the process is
/// killed at a random moment, mid-request and mid-recording. A reader
/// without an answer retries in the next round (the stream's duplicate
/// window makes that safe). The read side runs throughout. In the end
/// every reader counts exactly once.
async fn recorder_killed(env: &TestEnv) {
    let mut rng = Rng::seeded("view recorder killed");
    let http = client();
    let events = env.events_pool().await;
    let reads = Process::start(&env.settings, READS).await;
    let mut writer = Process::start(&env.settings, COMMANDS).await;
    let comic = create_comic(env, &http, &writer.base, "Unkillable").await;

    let mut waiting: Vec<String> = Vec::new();
    let mut readers = 0usize;
    let (mut accepted, mut interrupted, mut unavailable) = (0usize, 0usize, 0usize);
    for _ in 0..KILLS {
        for _ in 0..NEW_PER_ROUND {
            readers += 1;
            waiting.push(format!("reader{readers}"));
        }
        let posts: Vec<_> = waiting
            .drain(..)
            .map(|sub| {
                let (http, base, comic) = (http.clone(), writer.base.clone(), comic.clone());
                let token = user(env, &sub);
                let delay = rng.millis(400);
                tokio::spawn(async move {
                    tokio::time::sleep(delay).await;
                    let answer = post_view_answer(&http, &base, Some(&token), &comic).await;
                    (sub, answer)
                })
            })
            .collect();
        tokio::time::sleep(rng.millis(400)).await;
        writer.kill().await;
        for post in posts {
            let (sub, answer) = post.await.unwrap();
            match answer {
                Ok(a) if a.status == 202 => accepted += 1,
                // A dependency going away with the process: not accepted,
                // to be retried.
                Ok(a) if a.status == 503 => {
                    assert!(a.retry_after, "a 503 without Retry-After: {a:?}");
                    eprintln!("a view answered 503 during the kill: {}", a.body);
                    unavailable += 1;
                    waiting.push(sub);
                }
                Ok(a) => panic!("a view answered {a:?} before the kill"),
                Err(_) => {
                    interrupted += 1;
                    waiting.push(sub);
                }
            }
        }
        writer = Process::start(&env.settings, COMMANDS).await;
    }
    // The last writer lives: whoever is still waiting retries until accepted.
    for sub in waiting.drain(..) {
        let token = user(env, &sub);
        let answer = post_view(&http, &writer.base, Some(&token), &comic).await;
        assert_eq!(answer, Ok(202), "{sub}'s retry");
        accepted += 1;
    }
    eprintln!(
        "{KILLS} kills: {readers} readers, {accepted} answers 202, \
         {interrupted} interrupted, {unavailable} answers 503"
    );

    wait_for_views(&http, &reads.base, &comic, readers as i64).await;
    let (batches, views) = recorded(&events, Some(&comic)).await;
    eprintln!("{views} views recorded in {batches} events");
    assert_eq!(views, readers as i64, "views in the event log");
    // Still exact a moment later (nothing redelivered is counted again).
    tokio::time::sleep(Duration::from_millis(500)).await;
    wait_for_views(&http, &reads.base, &comic, readers as i64).await;
    assert_eq!(recorded(&events, Some(&comic)).await.1, readers as i64);
    writer.kill().await;
    reads.kill().await;
}

// Several write-side instances grouping rating commands (not views, but the
// same two-process set-up): their grouped appends collide on the event key
// and fall back to committing one by one, and nothing is lost or doubled.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_write_side_instances_rating_as_the_same_users_at_once_count_each_once() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, two_raters(&env)).await;
    cleanup(env).await;
    settle(outcome);
}

async fn two_raters(env: &TestEnv) {
    const RATERS: usize = 120;
    let http = client();
    let reads = Process::start(&env.settings, READS).await;
    let first = Process::start(&env.settings, COMMANDS).await;
    let second = Process::start(&env.settings, COMMANDS).await;
    let comic = create_comic(env, &http, &first.base, "Rated twice").await;
    // Each user gives the same score through both instances at once: one
    // of the two is the rating, the other finds it given (no change).
    let puts = (0..RATERS).flat_map(|i| {
        let token = user(env, &format!("rater{i}"));
        let score = 1 + (i % 10) as i64;
        [&first.base, &second.base].map(|base| {
            let (http, comic, token) = (&http, &comic, token.clone());
            async move {
                let r = http
                    .put(format!("{base}/api/v1/comics/{comic}/rating"))
                    .bearer_auth(token)
                    .json(&json!({ "score": score }))
                    .send()
                    .await
                    .expect("rate");
                r.status().as_u16()
            }
        })
    });
    let answers = join_all(puts).await;
    assert!(
        answers.iter().all(|a| *a == 200 || *a == 201),
        "every rating is answered with success: {answers:?}"
    );
    let stats = eventually(WAIT, || async {
        let r = http
            .get(format!("{}/api/v1/comics/{comic}/stats", reads.base))
            .send()
            .await
            .ok()?;
        let body: Value = r.json().await.ok()?;
        (body["rating"]["count"] == json!(RATERS)).then_some(body)
    })
    .await;
    assert_eq!(stats["rating"]["average"], json!(5.5), "{stats}");
    let events = env.events_pool().await;
    let given: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM events WHERE aggregate_type = 'Rating' AND event_type = 'RatingGiven'",
    )
    .fetch_one(&events)
    .await
    .unwrap();
    assert_eq!(given, RATERS as i64, "one RatingGiven per user");
    first.kill().await;
    second.kill().await;
    reads.kill().await;
}

// An instance decides a user's rating on its in-memory copy without reading
// the store; when another instance changed the rating since, the copy is
// stale. An append on it conflicts; a decision with nothing to append must
// be taken again on the store's state.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_instance_whose_copy_of_a_rating_is_stale_decides_on_the_current_rating() {
    let env = TestEnv::new().await;
    let outcome = bounded(LIMIT, stale_copies(&env)).await;
    cleanup(env).await;
    settle(outcome);
}

async fn stale_copies(env: &TestEnv) {
    let http = client();
    let reads = Process::start(&env.settings, READS).await;
    let first = Process::start(&env.settings, COMMANDS).await;
    let second = Process::start(&env.settings, COMMANDS).await;
    let comic = create_comic(env, &http, &first.base, "Rated from two places").await;
    let me = user(env, "changer");
    let rating = |base: &str, score: Option<i64>| {
        let url = format!("{base}/api/v1/comics/{comic}/rating");
        let req = match score {
            Some(score) => http.put(url).json(&json!({ "score": score })),
            None => http.delete(url),
        };
        let me = me.clone();
        async move {
            let r = req.bearer_auth(me).send().await.expect("rating");
            let token = r
                .headers()
                .get("x-consistency-token")
                .map(|v| v.to_str().unwrap().to_string());
            (r.status().as_u16(), token)
        }
    };
    let mine = |token: String| {
        let (http, base, me) = (http.clone(), reads.base.clone(), me.clone());
        async move {
            let r = http
                .get(format!("{base}/api/v1/me/ratings"))
                .bearer_auth(me)
                .header("x-consistency-token", token)
                .send()
                .await
                .expect("my ratings");
            assert_eq!(r.status(), 200);
            let body: Value = r.json().await.unwrap();
            body["items"]
                .as_array()
                .expect("items")
                .iter()
                .map(|i| i["score"].as_i64().expect("a score"))
                .collect::<Vec<_>>()
        }
    };

    assert_eq!(rating(&first.base, Some(5)).await.0, 200);
    let (status, token) = rating(&second.base, Some(7)).await;
    assert_eq!(status, 200);
    assert_eq!(mine(token.expect("a token")).await, vec![7]);
    // The first instance's copy still says 5: giving 5 there is a change.
    let (status, token) = rating(&first.base, Some(5)).await;
    assert_eq!(status, 200);
    assert_eq!(mine(token.expect("a token")).await, vec![5]);

    // Removed through the second; the first's copy says it is there.
    assert_eq!(rating(&second.base, None).await.0, 204);
    assert_eq!(rating(&first.base, None).await.0, 404);
    // Given again through the second; the first's copy says it is not there.
    assert_eq!(rating(&second.base, Some(3)).await.0, 200);
    let (status, token) = rating(&first.base, None).await;
    assert_eq!(
        status, 204,
        "the rating given through the other instance is removed"
    );
    assert_eq!(mine(token.expect("a token")).await, Vec::<i64>::new());
    first.kill().await;
    second.kill().await;
    reads.kill().await;
}
