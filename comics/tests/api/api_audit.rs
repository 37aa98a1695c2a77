//! The audit endpoint: admin only, every filter alone and combined, the
//! cursor walk while writes go on, malformed parameters, the request id
//! recorded, each filter planned on an index; and the hash chain: verify
//! passes on an intact log and names the first bad event after an edit, a
//! deletion, an insertion, and a rewrite of events and seals together.

use std::collections::HashSet;
use std::time::Duration;

use chrono::Duration as Ttl;
use comics_eventlog::audit::{chain, filter, query};
use comics_eventlog::EventRecord;
use comics_nats::audit::{heads, verify};
use reqwest::Method;
use serde_json::{json, Value};

use crate::support::client::{json_with, problem};
use crate::support::{eventually, TestApp, TestEnv};

const EVENTS: &str = "/api/v1/audit/events";
const TRACE: &str = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

async fn audit(app: &TestApp, query: &str) -> Value {
    let r = app
        .get_as(&format!("{EVENTS}?{query}"), Some(&app.admin_token), None)
        .await;
    json_with(r, 200).await
}

/// Every event passing `query`, walking the pages of `limit`.
async fn walk(app: &TestApp, query: &str, limit: usize) -> Vec<Value> {
    let mut items = Vec::new();
    let mut after = String::new();
    loop {
        let page = audit(app, &format!("{query}&limit={limit}{after}")).await;
        let got = page["items"].as_array().unwrap();
        assert!(got.len() <= limit);
        items.extend(got.iter().cloned());
        match page["next"].as_str() {
            Some(next) => after = format!("&after={next}"),
            None => return items,
        }
    }
}

fn positions(items: &[Value]) -> Vec<i64> {
    items
        .iter()
        .map(|e| e["position"].as_i64().unwrap())
        .collect()
}

#[tokio::test]
async fn only_admins_read_the_audit() {
    let app = TestApp::spawn().await;
    app.comic("Audited").await;
    let no_token = app.get_as(EVENTS, None, None).await;
    assert!(no_token.headers().contains_key("www-authenticate"));
    problem(no_token, 401).await;
    problem(app.get_as(EVENTS, Some("not.a.jwt"), None).await, 401).await;
    let expired = app
        .env
        .jwt()
        .mint("admin-1", &["admin"], Ttl::hours(-1))
        .unwrap();
    problem(app.get_as(EVENTS, Some(&expired), None).await, 401).await;
    problem(app.get_as(EVENTS, Some(&app.user_token), None).await, 403).await;
    let page = json_with(app.get_as(EVENTS, Some(&app.admin_token), None).await, 200).await;
    assert_eq!(page["items"][0]["event_type"], "ComicCreated");
    assert_eq!(page["limit"], 100);
    app.stop().await;
}

#[tokio::test]
async fn items_are_the_log_in_commit_order_with_actor_request_id_and_traceparent() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(format!("{}/api/v1/comics", app.base))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "audit-req-42")
        .header("traceparent", TRACE)
        .json(&json!({"title": "Traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "audit-req-42");
    assert_eq!(r.status(), 201);
    let id = r.json::<Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    // A request id that is not a sane token is replaced by a generated one.
    let r = app
        .http
        .patch(format!("{}/api/v1/comics/{id}", app.base))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "has spaces")
        .header("traceparent", "00-not-a-trace-01")
        .json(&json!({"title": "Traced again"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let generated = r.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_ne!(generated, "has spaces");

    let r = app
        .http
        .get(format!("{}{EVENTS}?aggregate_id={id}", app.base))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "audit-read-1")
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-request-id"], "audit-read-1");
    let page = json_with(r, 200).await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let created = &items[0];
    let keys: HashSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(|k| k.as_str())
        .collect();
    let expected: HashSet<&str> = [
        "position",
        "aggregate_type",
        "aggregate_id",
        "sequence",
        "event_type",
        "event_version",
        "payload",
        "metadata",
        "recorded_at",
    ]
    .into();
    assert_eq!(keys, expected);
    assert_eq!(created["aggregate_type"], "Comic");
    assert_eq!(created["aggregate_id"], id.as_str());
    assert_eq!(created["sequence"], 1);
    assert_eq!(created["event_type"], "ComicCreated");
    assert_eq!(created["payload"]["details"]["title"], "Traced");
    assert_eq!(created["metadata"]["actor"], "admin-1");
    assert_eq!(created["metadata"]["request_id"], "audit-req-42");
    assert_eq!(created["metadata"]["traceparent"], TRACE);
    assert!(chrono::DateTime::parse_from_rfc3339(created["recorded_at"].as_str().unwrap()).is_ok());
    assert_eq!(items[1]["sequence"], 2);
    assert_eq!(items[1]["event_type"], "ComicUpdated");
    assert_eq!(items[1]["metadata"]["request_id"], generated.as_str());
    // A malformed traceparent is not recorded: a trace started here is.
    let started = items[1]["metadata"]["traceparent"].as_str().unwrap();
    assert!(
        comics_common::http::parse_traceparent(started).is_some() && !started.contains("not-a"),
        "{started}"
    );
    assert!(page["next"].is_null());
    app.stop().await;
}

#[tokio::test]
async fn every_filter_alone_and_combined_selects_exactly_its_events() {
    let app = TestApp::spawn().await;
    let other_admin = app
        .env
        .jwt()
        .mint("admin-2", &["admin"], Ttl::hours(1))
        .unwrap();
    let (a, _) = app.comic("Alpha").await;
    let (chapter, _) = app.chapter(&a, "1").await;
    let r = app
        .send(
            Method::POST,
            "/api/v1/comics",
            Some(&other_admin),
            Some(json!({"title": "Beta"})),
        )
        .await;
    let b = json_with(r, 201).await["id"].as_str().unwrap().to_string();
    let r = app
        .send(
            Method::PATCH,
            &format!("/api/v1/comics/{b}"),
            Some(&other_admin),
            Some(json!({"title": "Beta 2"})),
        )
        .await;
    assert_eq!(r.status(), 200);
    tokio::time::sleep(Duration::from_millis(50)).await;
    let middle = chrono::Utc::now();
    tokio::time::sleep(Duration::from_millis(50)).await;
    app.rated(&app.user_token, &a, 4).await;
    app.patch_comic(&a, json!({"title": "Alpha 2"})).await;

    let all = walk(&app, "", 1000).await;
    assert!(all.len() >= 7, "{all:?}");
    let mut sorted = positions(&all);
    sorted.sort();
    sorted.dedup();
    assert_eq!(sorted.len(), all.len(), "no event twice");
    let at = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["recorded_at"].as_str().unwrap()).unwrap()
    };
    let enc = |t: chrono::DateTime<chrono::Utc>| t.to_rfc3339().replace('+', "%2B");
    type Pred = Box<dyn Fn(&Value) -> bool>;
    let a2 = a.clone();
    let cases: Vec<(String, Pred)> = vec![
        (
            "aggregate_type=Comic".into(),
            Box::new(|e| e["aggregate_type"] == "Comic"),
        ),
        (
            "aggregate_type=Chapter".into(),
            Box::new(|e| e["aggregate_type"] == "Chapter"),
        ),
        (
            format!("aggregate_id={a}"),
            Box::new(move |e| e["aggregate_id"] == a2.as_str()),
        ),
        (
            "actor=admin-2".into(),
            Box::new(|e| e["metadata"]["actor"] == "admin-2"),
        ),
        (
            "actor=user-1".into(),
            Box::new(|e| e["metadata"]["actor"] == "user-1"),
        ),
        (
            "event_type=ComicUpdated".into(),
            Box::new(|e| e["event_type"] == "ComicUpdated"),
        ),
        (
            format!("since={}", enc(middle)),
            Box::new(move |e| at(e) >= middle),
        ),
        (
            format!("until={}", enc(middle)),
            Box::new(move |e| at(e) < middle),
        ),
        (
            format!(
                "actor=admin-1&event_type=ComicUpdated&since={}",
                enc(middle)
            ),
            Box::new(move |e| {
                e["metadata"]["actor"] == "admin-1"
                    && e["event_type"] == "ComicUpdated"
                    && at(e) >= middle
            }),
        ),
        (
            format!(
                "aggregate_type=Comic&aggregate_id={b}&event_type=ComicUpdated&until={}",
                enc(middle)
            ),
            Box::new({
                let b = b.clone();
                move |e| {
                    e["aggregate_id"] == b.as_str()
                        && e["event_type"] == "ComicUpdated"
                        && at(e) < middle
                }
            }),
        ),
        (
            format!("aggregate_type=Chapter&aggregate_id={chapter}"),
            Box::new({
                let chapter = chapter.clone();
                move |e| e["aggregate_id"] == chapter.as_str()
            }),
        ),
        ("actor=nobody".into(), Box::new(|_| false)),
    ];
    for (query, pred) in cases {
        let expected: Vec<i64> =
            positions(&all.iter().filter(|e| pred(e)).cloned().collect::<Vec<_>>());
        let got = positions(&walk(&app, &query, 2).await);
        assert_eq!(got, expected, "filter {query}");
        if !query.contains("nobody") {
            assert!(!expected.is_empty(), "filter {query} selects something");
        }
        if !query.starts_with("since") && !query.starts_with("until") {
            assert!(
                expected.len() < all.len(),
                "filter {query} leaves something out"
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn malformed_parameters_are_400_naming_the_parameter() {
    let app = TestApp::spawn().await;
    for (query, field) in [
        ("since=yesterday", "since"),
        ("until=2026-02-30T00:00:00Z", "until"),
        ("limit=0", "limit"),
        ("limit=1001", "limit"),
        ("limit=-5", "limit"),
        ("limit=many", "limit"),
        ("after=not-a-cursor", "after"),
    ] {
        let r = app
            .get_as(&format!("{EVENTS}?{query}"), Some(&app.admin_token), None)
            .await;
        let p = problem(r, 400).await;
        assert_eq!(p["errors"][0]["field"], field, "{query}: {p}");
    }
    let long = "x".repeat(300);
    let r = app
        .get_as(
            &format!("{EVENTS}?actor={long}"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(problem(r, 400).await["errors"][0]["field"], "actor");
    let page = audit(&app, "limit=1000").await;
    assert_eq!(page["limit"], 1000);
    app.stop().await;
}

/// A walk in pages of 3 while another task appends visits every event it
/// passes exactly once and skips none: it is a prefix of the final log, and
/// from its `resume` cursor the rest of the log follows.
#[tokio::test]
async fn a_cursor_walk_while_writes_go_on_sees_every_event_once() {
    let app = std::sync::Arc::new(TestApp::spawn().await);
    app.comic("First").await;
    let writer = {
        let app = app.clone();
        tokio::spawn(async move {
            for i in 0..40 {
                let (id, _) = app.comic(&format!("Written {i}")).await;
                app.patch_comic(&id, json!({"status": "completed"})).await;
            }
        })
    };
    let mut walked: Vec<Value> = Vec::new();
    let mut after = String::new();
    let mut resume = String::new();
    let mut pages = 0;
    while !writer.is_finished() || pages == 0 {
        let page = audit(&app, &format!("limit=3{after}")).await;
        pages += 1;
        walked.extend(page["items"].as_array().unwrap().iter().cloned());
        resume = page["resume"].as_str().unwrap().to_string();
        // At the end of what is committed, poll again from `resume`.
        let cursor = page["next"].as_str().unwrap_or(&resume).to_string();
        after = format!("&after={cursor}");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    writer.await.unwrap();
    // Drain what the writer committed last.
    loop {
        let page = audit(&app, &format!("limit=3&after={resume}")).await;
        walked.extend(page["items"].as_array().unwrap().iter().cloned());
        resume = page["resume"].as_str().unwrap().to_string();
        if page["next"].is_null() {
            break;
        }
    }
    let full = walk(&app, "", 1000).await;
    assert_eq!(full.len(), 81);
    assert_eq!(positions(&walked), positions(&full), "walked {pages} pages");
    let app = std::sync::Arc::into_inner(app).unwrap();
    app.stop().await;
}

/// Each filter's page is planned on an index, not a scan of the log (with
/// 20 000 events, a selective filter's index is the cheapest plan): the text
/// filters on the seals' indexes, none on an audit index of `events` (whose
/// appends every command waits for). The last 100 events are not sealed
/// yet, and each page holds exactly the first matching events of the log.
#[tokio::test]
async fn each_filter_is_answered_from_an_index() {
    let env = TestEnv::new().await;
    let pool = env.events_pool().await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                             payload, metadata, recorded_at) \
         SELECT CASE WHEN i % 100 = 0 THEN 'Rare' ELSE 'Rating' END, 'agg-' || (i / 4), i % 4 + 1, \
                CASE WHEN i % 200 = 0 THEN 'RareHappened' ELSE 'RatingGiven' END, '1', \
                '{\"RatingGiven\": {}}', \
                json_build_object('actor', 'user-' || (i % 500), 'request_id', 'r' || i), \
                now() - make_interval(secs => 20000 - i) \
         FROM generate_series(0, 19999) AS i",
    )
    .execute(&pool)
    .await
    .unwrap();
    // One event recorded long before it committed: the 15000th, recorded
    // between the 50th and the 51st (a time window's page must find it far
    // from the rest of its window in commit order).
    sqlx::query(
        "UPDATE events SET recorded_at = recorded_at - make_interval(secs => 14949.5) \
         WHERE position = (SELECT min(position) + 15000 FROM events)",
    )
    .execute(&pool)
    .await
    .unwrap();
    // The sealer's rows for all but the last 100 (their seals are not
    // checked here).
    sqlx::query(
        "INSERT INTO audit_seals (chain_index, tx_id, position, aggregate_type, aggregate_id, \
                                  sequence, seal, stream_sequence, recorded_max, event_type, \
                                  actor, recorded_at) \
         SELECT row_number() OVER w, tx_id, position, aggregate_type, aggregate_id, sequence, \
                '\\x00', row_number() OVER w, max(recorded_at) OVER w, event_type, \
                metadata ->> 'actor', recorded_at \
         FROM events WHERE position <= (SELECT max(position) - 100 FROM events) \
         WINDOW w AS (ORDER BY tx_id, position)",
    )
    .execute(&pool)
    .await
    .unwrap();
    sqlx::query("ANALYZE events").execute(&pool).await.unwrap();
    sqlx::query("ANALYZE audit_seals")
        .execute(&pool)
        .await
        .unwrap();
    let mut db = pool.acquire().await.unwrap();
    // The whole log in commit order, as the unfiltered walk reads it.
    let mut log: Vec<(i64, EventRecord)> = Vec::new();
    let mut after = comics_eventlog::CommitCursor::default();
    loop {
        let page = query::page(&mut db, &filter::Filter::default(), after, 1000)
            .await
            .unwrap();
        log.extend(page.items.into_iter().map(|(c, e)| (c.position, e)));
        match page.next {
            Some(next) => after = next,
            None => break,
        }
    }
    assert_eq!(log.len(), 20_000);
    let recent = chrono::Utc::now() - chrono::Duration::seconds(30);
    let old = chrono::Utc::now() - chrono::Duration::seconds(19990);
    let text = |s: &str| Some(s.to_string());
    let window = filter::Filter {
        since: Some(log[50].1.recorded_at),
        until: Some(log[51].1.recorded_at),
        ..Default::default()
    };
    let in_window: Vec<i64> = log
        .iter()
        .filter(|(_, e)| window.matches(e))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(in_window, [log[50].0, log[15000].0]);
    let cases = [
        (
            "aggregate_type",
            filter::Filter {
                aggregate_type: text("Rare"),
                ..Default::default()
            },
        ),
        (
            "aggregate_id",
            filter::Filter {
                aggregate_id: text("agg-77"),
                ..Default::default()
            },
        ),
        (
            "event_type",
            filter::Filter {
                event_type: text("RareHappened"),
                ..Default::default()
            },
        ),
        (
            "actor",
            filter::Filter {
                actor: text("user-7"),
                ..Default::default()
            },
        ),
        (
            "since",
            filter::Filter {
                since: Some(recent),
                ..Default::default()
            },
        ),
        (
            "until",
            filter::Filter {
                until: Some(old),
                ..Default::default()
            },
        ),
        ("since and until", window),
        ("none", filter::Filter::default()),
    ];
    let bound = comics_eventlog::record::release_bound(&mut *db)
        .await
        .unwrap();
    let sealed = query::sealed_end(&mut db).await.unwrap();
    for (name, filter) in &cases {
        let by_seals = filter.by_seals().then_some(sealed);
        // Where `page` starts: past what was recorded before `since`.
        let after = match filter.since {
            Some(since) => query::since_start(&mut db, since).await.unwrap(),
            None => Default::default(),
        };
        let plan: Vec<String> = filter::page_query("EXPLAIN ", filter, after, by_seals, bound, 101)
            .build_query_scalar()
            .fetch_all(&mut *db)
            .await
            .unwrap();
        let plan = plan.join("\n");
        assert!(!plan.contains("Seq Scan"), "{name}:\n{plan}");
        assert!(plan.contains("Index"), "{name}:\n{plan}");
        assert!(!plan.contains("events_audit"), "{name}:\n{plan}");
        if by_seals.is_some() {
            assert!(plan.contains("audit_seals_"), "{name}:\n{plan}");
        }
        if filter.time_window() {
            // Past its first seals, a window is gathered whole from an
            // index (the planner picks the smaller range), never walked
            // under the page's limit.
            let plan: Vec<String> = comics_eventlog::audit::window::window_query(
                "EXPLAIN ",
                filter,
                (after, sealed),
                bound,
                101,
            )
            .build_query_scalar()
            .fetch_all(&mut *db)
            .await
            .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("CTE w"), "{name}:\n{plan}");
            assert!(plan.contains("Index"), "{name}:\n{plan}");
            assert!(!plan.contains("Seq Scan"), "{name}:\n{plan}");
            // Its first seals are walked in commit order, on the index.
            let plan: Vec<String> =
                comics_eventlog::audit::window::walk_query("EXPLAIN ", (after, sealed), bound)
                    .build_query_scalar()
                    .fetch_all(&mut *db)
                    .await
                    .unwrap();
            let plan = plan.join("\n");
            assert!(plan.contains("audit_seals_commit_order"), "{name}:\n{plan}");
            assert!(!plan.contains("Sort"), "{name}:\n{plan}");
        }
        let page = query::page(&mut db, filter, Default::default(), 100)
            .await
            .unwrap();
        let expected: Vec<i64> = log
            .iter()
            .filter(|(_, e)| filter.matches(e))
            .take(100)
            .map(|(p, _)| *p)
            .collect();
        let got: Vec<i64> = page.items.iter().map(|(c, _)| c.position).collect();
        assert!(!got.is_empty(), "{name} selects something");
        assert_eq!(got, expected, "{name}");
    }
    // The unsealed tail: the last event of each kind is past the last seal.
    let rare = filter::Filter {
        aggregate_type: text("Rare"),
        ..Default::default()
    };
    let tail = query::page(&mut db, &rare, sealed, 100).await.unwrap();
    let expected: Vec<i64> = log
        .iter()
        .filter(|(p, e)| *p > sealed.position && rare.matches(e))
        .map(|(p, _)| *p)
        .collect();
    assert_eq!(expected.len(), 1);
    let got: Vec<i64> = tail.items.iter().map(|(c, _)| c.position).collect();
    assert_eq!(got, expected);
    drop(db);
    pool.close().await;
    env.cleanup().await;
}

/// `since` where `recorded_at` (the start of the writing transaction) is not
/// in commit order: an event recorded first but committed last, behind
/// sealed events recorded after it. For every `since` at an event's
/// `recorded_at` (and between two), the pages hold exactly the events
/// recorded then or later, in commit order; and a recent `since` starts
/// past the sealed events recorded before it.
#[tokio::test]
async fn since_is_exact_when_recorded_at_is_out_of_commit_order() {
    let app = TestApp::spawn().await;
    app.comic("Early").await;
    let pool = app.env.events_pool().await;
    // Begins now (recorded_at = its start), appends after the comics below.
    let mut late = pool.begin().await.unwrap();
    let began: chrono::DateTime<chrono::Utc> = sqlx::query_scalar("SELECT now()")
        .fetch_one(&mut *late)
        .await
        .unwrap();
    tokio::time::sleep(Duration::from_millis(20)).await;
    app.comic("Later").await;
    app.comic("Latest").await;
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                             payload, metadata) \
         VALUES ('Probe', 'late', 1, 'ProbeHappened', '1', '{\"ProbeHappened\": {}}', \
                 '{\"actor\": \"tester\", \"request_id\": \"late\"}')",
    )
    .execute(&mut *late)
    .await
    .unwrap();
    late.commit().await.unwrap();
    app.comic("After").await;
    sealed_and_published(&app).await;

    let all = walk(&app, "", 1000).await;
    let at = |e: &Value| {
        chrono::DateTime::parse_from_rfc3339(e["recorded_at"].as_str().unwrap())
            .unwrap()
            .with_timezone(&chrono::Utc)
    };
    let probe = all
        .iter()
        .position(|e| e["aggregate_type"] == "Probe")
        .unwrap();
    assert_eq!(at(&all[probe]), began);
    assert!(
        all[..probe].iter().any(|e| at(e) > began),
        "events recorded after the probe precede it in commit order"
    );
    let mut times: Vec<_> = all.iter().map(at).collect();
    times.push(began + Ttl::milliseconds(10));
    times.push(*times.iter().max().unwrap() + Ttl::seconds(1));
    for since in times {
        let text = since.to_rfc3339_opts(chrono::SecondsFormat::Micros, true);
        let got = walk(&app, &format!("since={}", text.replace('+', "%2B")), 2).await;
        let want: Vec<Value> = all.iter().filter(|e| at(e) >= since).cloned().collect();
        assert_eq!(positions(&got), positions(&want), "since {text}");
    }

    // The newest comic's events: the walk starts past every sealed event
    // recorded before them (not at the start of the log).
    let newest = all
        .iter()
        .rev()
        .find(|e| e["aggregate_type"] == "Comic")
        .unwrap();
    let mut db = pool.acquire().await.unwrap();
    let start = query::since_start(&mut db, at(newest)).await.unwrap();
    let (tx, position): (i64, i64) = sqlx::query_as(
        "SELECT tx_id::text::bigint, position FROM events WHERE aggregate_type = 'Probe'",
    )
    .fetch_one(&mut *db)
    .await
    .unwrap();
    assert_eq!(
        (start.tx_id, start.position),
        (tx, position),
        "starts right after the probe, the last event before"
    );
    drop(db);
    pool.close().await;
    app.stop().await;
}

// ---- tamper evidence ----

/// Waits until every event is sealed and the head of the last one is
/// published; returns the number of events.
async fn sealed_and_published(app: &TestApp) -> i64 {
    let pool = app.env.events_pool().await;
    let js = async_nats::jetstream::new(app.env.nats().await);
    let names = app.env.names();
    let n = eventually(Duration::from_secs(20), || async {
        let events: i64 = sqlx::query_scalar("SELECT count(*) FROM events")
            .fetch_one(&pool)
            .await
            .ok()?;
        let seals: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_seals")
            .fetch_one(&pool)
            .await
            .ok()?;
        let heads = heads::read_all(&js, &names).await.ok()?;
        let last = heads.keys().next_back().copied().unwrap_or(0);
        (events > 0 && seals == events && last == events).then_some(events)
    })
    .await;
    pool.close().await;
    n
}

async fn check(app: &TestApp) -> verify::Verification {
    let pool = app.env.events_pool().await;
    let js = async_nats::jetstream::new(app.env.nats().await);
    let v = verify::verify(&pool, &js, &app.env.names()).await.unwrap();
    pool.close().await;
    v
}

/// Some history: comics, chapters, a rating, edits.
async fn history(app: &TestApp) {
    for i in 0..4 {
        let (id, _) = app.comic(&format!("Sealed {i}")).await;
        app.chapter(&id, "1").await;
        app.patch_comic(&id, json!({"title": format!("Sealed {i} again")}))
            .await;
        app.rated(&app.user_token, &id, 5).await;
    }
}

/// The event at chain index `n` (1-based) in commit order.
async fn nth(pool: &sqlx::PgPool, n: i64) -> (i64, String, String, i64) {
    sqlx::query_as(
        "SELECT position, aggregate_type, aggregate_id, sequence FROM events \
         ORDER BY tx_id, position OFFSET $1 LIMIT 1",
    )
    .bind(n - 1)
    .fetch_one(pool)
    .await
    .unwrap()
}

fn assert_names(v: &verify::Verification, position: i64, aggregate_id: &str, word: &str) {
    let f = v
        .failure
        .as_ref()
        .unwrap_or_else(|| panic!("verify passed: {v:?}"));
    assert_eq!(f.position, position, "{f}");
    assert_eq!(f.aggregate_id, aggregate_id, "{f}");
    assert!(f.reason.contains(word), "{f}");
}

#[tokio::test]
async fn verify_names_an_edited_a_deleted_and_an_inserted_event() {
    let app = TestApp::spawn().await;
    history(&app).await;
    let n = sealed_and_published(&app).await;
    let v = check(&app).await;
    assert!(v.failure.is_none(), "{v:?}");
    assert_eq!((v.events, v.sealed), (n, n));
    assert!(v.heads_checked >= 1);

    let pool = app.env.events_pool().await;
    // (a) one event's payload edited
    let (position, _, id, _) = nth(&pool, 6).await;
    let original: String =
        sqlx::query_scalar("SELECT payload::text FROM events WHERE position = $1")
            .bind(position)
            .fetch_one(&pool)
            .await
            .unwrap();
    sqlx::query("UPDATE events SET payload = '{\"ComicUpdated\": {\"changes\": {\"title\": \"Forged\"}}}' WHERE position = $1")
        .bind(position)
        .execute(&pool)
        .await
        .unwrap();
    assert_names(&check(&app).await, position, &id, "edited");
    sqlx::query("UPDATE events SET payload = $2::json WHERE position = $1")
        .bind(position)
        .bind(&original)
        .execute(&pool)
        .await
        .unwrap();
    assert!(check(&app).await.failure.is_none(), "restored");

    // (b) one event deleted
    let (position, _, id, _) = nth(&pool, 9).await;
    sqlx::query("CREATE TABLE saved AS SELECT * FROM events WHERE position = $1")
        .bind(position)
        .execute(&pool)
        .await
        .unwrap_or_else(|_| panic!("save"));
    sqlx::query("DELETE FROM events WHERE position = $1")
        .bind(position)
        .execute(&pool)
        .await
        .unwrap();
    assert_names(&check(&app).await, position, &id, "deleted");
    sqlx::query("INSERT INTO events OVERRIDING SYSTEM VALUE SELECT * FROM saved")
        .execute(&pool)
        .await
        .unwrap();
    assert!(check(&app).await.failure.is_none(), "restored");

    // (c) an event inserted among old ones, with the next sequence of its
    // aggregate forged
    let (position, kind, id, _) = nth(&pool, 3).await;
    let next: i64 =
        sqlx::query_scalar("SELECT max(sequence) + 1 FROM events WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    let inserted: i64 = sqlx::query_scalar(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, \
                             payload, metadata, tx_id, recorded_at) \
         SELECT aggregate_type, aggregate_id, $2, 'ComicDeleted', '1', '{\"ComicDeleted\": {}}', \
                metadata, tx_id, recorded_at FROM events WHERE position = $1 \
         RETURNING position",
    )
    .bind(position)
    .bind(next)
    .fetch_one(&pool)
    .await
    .unwrap();
    let _ = kind;
    assert_names(&check(&app).await, inserted, &id, "inserted");
    sqlx::query("DELETE FROM events WHERE position = $1")
        .bind(inserted)
        .execute(&pool)
        .await
        .unwrap();
    assert!(check(&app).await.failure.is_none(), "restored");
    pool.close().await;
    app.stop().await;
}

#[tokio::test]
async fn verify_catches_events_and_seals_rewritten_together_by_the_published_heads() {
    let app = TestApp::spawn().await;
    history(&app).await;
    sealed_and_published(&app).await;
    let pool = app.env.events_pool().await;
    let (position, _, id, _) = nth(&pool, 7).await;
    sqlx::query("UPDATE events SET metadata = '{\"actor\": \"someone-else\", \"request_id\": \"x\"}' WHERE position = $1")
        .bind(position)
        .execute(&pool)
        .await
        .unwrap();
    // Reseal from the edited event on, as the sealer would have.
    let mut db = pool.acquire().await.unwrap();
    let all = query::page(&mut db, &Default::default(), Default::default(), 1000)
        .await
        .unwrap();
    let mut seal = chain::GENESIS;
    for (i, (_, e)) in all.items.iter().enumerate() {
        seal = chain::seal(&seal, e);
        sqlx::query("UPDATE audit_seals SET seal = $2 WHERE chain_index = $1")
            .bind(i as i64 + 1)
            .bind(seal.to_vec())
            .execute(&mut *db)
            .await
            .unwrap();
    }
    drop(db);
    let v = check(&app).await;
    assert_names(&v, position, &id, "published");
    pool.close().await;
    app.stop().await;
}

/// The whole pipeline behind the command line: `comics audit verify` exits 0
/// with its summary on an intact log and non-zero naming the position after
/// an edit; `--json` lines parse; `--follow` prints an event committed after
/// it started.
#[tokio::test]
async fn the_command_line_lists_follows_and_verifies() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("On the terminal").await;
    let pool = app.env.events_pool().await;

    let mut out = Vec::new();
    let filter = filter::Filter {
        aggregate_id: Some(comic.clone()),
        ..Default::default()
    };
    let mut printer = comics::audit::Printer::new(&mut out, comics::audit::Format::JsonLines);
    comics::audit::list(&pool, &filter, None, &mut printer)
        .await
        .unwrap();
    let lines: Vec<EventRecord> = String::from_utf8(out)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0].event_type, "ComicCreated");

    let mut table = Vec::new();
    let mut printer = comics::audit::Printer::new(&mut table, comics::audit::Format::Table);
    comics::audit::list(&pool, &Default::default(), None, &mut printer)
        .await
        .unwrap();
    let table = String::from_utf8(table).unwrap();
    assert!(table.starts_with("  POSITION"), "{table}");
    assert!(
        table.contains(&comic) && table.contains("ComicCreated"),
        "{table}"
    );

    // --follow: only what is committed after it started, filtered.
    let buffer = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let shutdown = tokio_util::sync::CancellationToken::new();
    let follower = {
        let (buffer, shutdown) = (buffer.clone(), shutdown.clone());
        let js = async_nats::jetstream::new(app.env.nats().await);
        let names = app.env.names();
        let pool = pool.clone();
        tokio::spawn(async move {
            let filter = filter::Filter {
                aggregate_type: Some("Comic".into()),
                ..Default::default()
            };
            let mut printer =
                comics::audit::Printer::new(Shared(buffer), comics::audit::Format::JsonLines);
            let after = comics::audit::list(&pool, &filter, None, &mut printer)
                .await
                .unwrap();
            comics::audit::follow(&js, &names, &filter, after, &mut printer, &shutdown)
                .await
                .unwrap();
        })
    };
    let printed = |buffer: &std::sync::Mutex<Vec<u8>>| -> Vec<EventRecord> {
        String::from_utf8(buffer.lock().unwrap().clone())
            .unwrap()
            .lines()
            .map(|l| serde_json::from_str(l).unwrap())
            .collect()
    };
    eventually(Duration::from_secs(10), || async {
        (printed(&buffer).len() == 1).then_some(())
    })
    .await;
    let (later, _) = app.comic("Committed later").await;
    app.chapter(&later, "1").await;
    app.patch_comic(&later, json!({"title": "Committed later, changed"}))
        .await;
    let seen = eventually(Duration::from_secs(10), || async {
        let p = printed(&buffer);
        (p.len() == 4).then_some(p)
    })
    .await;
    shutdown.cancel();
    follower.await.unwrap();
    assert_eq!(seen[0].aggregate_id, comic);
    // The chapter's events are not Comic events; the comic's claim of the
    // chapter number is.
    let types: Vec<&str> = seen[1..].iter().map(|e| e.event_type.as_str()).collect();
    assert_eq!(
        types,
        ["ComicCreated", "ChapterNumberClaimed", "ComicUpdated"]
    );
    assert!(seen[1..].iter().all(|e| e.aggregate_id == later));

    // verify, through the binary
    sealed_and_published(&app).await;
    let run = || {
        std::process::Command::new(env!("CARGO_BIN_EXE_comics"))
            .args(["audit", "verify"])
            .env("DATABASE_URL", &app.env.settings.database_url)
            .env("COMICS_NATS_PREFIX", &app.env.settings.nats_prefix)
            .env("RUST_LOG", "error")
            .output()
            .unwrap()
    };
    let ok = run();
    let stdout = String::from_utf8_lossy(&ok.stdout);
    assert!(
        ok.status.success(),
        "{stdout} {}",
        String::from_utf8_lossy(&ok.stderr)
    );
    assert!(
        stdout.contains("audit chain intact: 5 events checked"),
        "{stdout}"
    );
    let (position, _, id, _) = nth(&pool, 2).await;
    sqlx::query("UPDATE events SET payload = '{\"ComicCreated\": {}}' WHERE position = $1")
        .bind(position)
        .execute(&pool)
        .await
        .unwrap();
    let bad = run();
    let stderr = String::from_utf8_lossy(&bad.stderr);
    assert!(!bad.status.success(), "{stderr}");
    assert!(
        stderr.contains(&format!("position {position} ")) && stderr.contains(&id),
        "{stderr}"
    );
    pool.close().await;
    app.stop().await;
}

struct Shared(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl std::io::Write for Shared {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// A sealer killed at random moments while the relay publishes and writers
/// append (its task dropped mid-await, as a kill -9 leaves it) leaves no
/// gap and no double seal: once one runs to the end, every event is sealed
/// once, in commit order, and verify passes.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_sealer_killed_at_random_moments_seals_every_event_once() {
    use crate::support::pipeline::{
        bounded, event_count, settle, spawn_relay, stop_relay, write_events, writers_pool, Rng,
    };
    let env = TestEnv::new().await;
    let outcome = bounded(Duration::from_secs(180), async {
        let mut rng = Rng::seeded("sealer killed");
        let pool = writers_pool(&env).await;
        let js = async_nats::jetstream::new(env.nats().await);
        let sealer = || comics_nats::audit::sealer::Sealer {
            pool: pool.clone(),
            js: js.clone(),
            names: env.names(),
        };
        let (stop_relay_token, relay) = spawn_relay(&env, &pool).await;
        let stop_writing = tokio_util::sync::CancellationToken::new();
        let writers: Vec<_> = (0..3)
            .map(|w| {
                let stop = Some(stop_writing.clone());
                tokio::spawn(write_events(pool.clone(), w, 3000, rng.fork(), 3, stop))
            })
            .collect();
        for _ in 0..8 {
            let task = tokio::spawn(sealer().run(tokio_util::sync::CancellationToken::new()));
            tokio::time::sleep(rng.millis(1200)).await;
            task.abort();
            assert!(task.await.unwrap_err().is_cancelled());
        }
        stop_writing.cancel();
        for w in writers {
            w.await.unwrap();
        }
        let shutdown = tokio_util::sync::CancellationToken::new();
        let last = tokio::spawn(sealer().run(shutdown.clone()));
        let n = event_count(&pool).await as i64;
        eventually(Duration::from_secs(60), || async {
            let sealed: i64 = sqlx::query_scalar("SELECT count(*) FROM audit_seals")
                .fetch_one(&pool)
                .await
                .ok()?;
            let heads = heads::read_all(&js, &env.names()).await.ok()?;
            (sealed == n && heads.keys().next_back() == Some(&n)).then_some(())
        })
        .await;
        let (max, streamed): (i64, i64) =
            sqlx::query_as("SELECT max(chain_index), max(stream_sequence) FROM audit_seals")
                .fetch_one(&pool)
                .await
                .unwrap();
        assert_eq!((max, streamed), (n, n), "one seal per event, no gap");
        let v = verify::verify(&pool, &js, &env.names()).await.unwrap();
        assert!(v.failure.is_none(), "{v:?}");
        assert_eq!((v.events, v.sealed), (n, n));
        assert!(v.heads_checked >= 1);
        shutdown.cancel();
        last.await.unwrap().unwrap();
        stop_relay(stop_relay_token, relay).await;
    })
    .await;
    env.cleanup().await;
    settle(outcome);
}
