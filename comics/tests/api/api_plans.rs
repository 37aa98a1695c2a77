//! Premium plans through the real path (HTTP → event store → relay → NATS →
//! plans projection → HTTP): creating, listing (cheapest first, ties by
//! name, paged), changing with `If-Match`, retiring (then 404 everywhere),
//! every validation rule, the role rules, the read cache following changes,
//! and a rebuild (library call and the `comics projections` CLI) answering
//! as the live projection did.

use std::time::Duration;

use crate::support::client::{consistency, created, error_fields, json_with, problem};
use crate::support::{eventually, TestApp};
use comics_projections::plans::PlansProjector;
use comics_projections::rebuild::rebuild;
use reqwest::{Method, Response};
use serde_json::{json, Value};

/// One method per plans endpoint.
impl TestApp {
    pub async fn create_plan_as(&self, token: Option<&str>, body: Value) -> Response {
        self.send(Method::POST, "/api/v1/plans", token, Some(body))
            .await
    }

    pub async fn create_plan(&self, body: Value) -> Response {
        self.create_plan_as(Some(&self.admin_token), body).await
    }

    pub async fn patch_plan_as(&self, token: Option<&str>, id: &str, body: Value) -> Response {
        let path = format!("/api/v1/plans/{id}");
        self.send(Method::PATCH, &path, token, Some(body)).await
    }

    pub async fn patch_plan(&self, id: &str, body: Value) -> Response {
        self.patch_plan_as(Some(&self.admin_token), id, body).await
    }

    pub async fn retire_plan_as(&self, token: Option<&str>, id: &str) -> Response {
        let path = format!("/api/v1/plans/{id}");
        self.send(Method::DELETE, &path, token, None).await
    }

    pub async fn retire_plan(&self, id: &str) -> Response {
        self.retire_plan_as(Some(&self.admin_token), id).await
    }

    /// Creates a plan from `body`; its id and consistency token.
    pub async fn plan_with(&self, body: Value) -> (String, String) {
        let r = self.create_plan(body.clone()).await;
        assert_eq!(r.status(), 201, "create plan {body}");
        created(r).await
    }

    /// `GET /api/v1/plans/{id}` after the write behind `consistency`.
    pub async fn get_plan(&self, id: &str, consistency: &str) -> Response {
        self.get_after(&format!("/api/v1/plans/{id}"), consistency)
            .await
    }

    /// `GET /api/v1/plans?{query}` after the write behind `consistency`.
    pub async fn list_plans(&self, query: &str, consistency: &str) -> Response {
        self.get_after(&format!("/api/v1/plans?{query}"), consistency)
            .await
    }
}

/// A valid plan body named `name` at `price` cents a month.
fn plan(name: &str, price: i64) -> Value {
    json!({"name": name, "price_cents": price, "currency": "USD", "interval": "month"})
}

/// The names of a list's items, in order.
fn names(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|p| p["name"].as_str().expect("name").to_string())
        .collect()
}

#[tokio::test]
async fn a_created_plan_answers_201_and_reads_back_with_its_token() {
    let app = TestApp::spawn().await;
    let body = json!({
        "name": "  Gold  ", "description": "Every chapter, no ads.", "price_cents": 999,
        "currency": "EUR", "interval": "year", "perks": ["ad-free", "offline", "ad-free"]
    });
    let r = app.create_plan(body).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token = consistency(&r);
    let answer: Value = r.json().await.unwrap();
    let id = answer["id"].as_str().unwrap().to_string();
    assert_eq!(answer, json!({"id": id, "version": 1}));
    assert_eq!(location, format!("/api/v1/plans/{id}"));

    let doc = json_with(app.get_after(&location, &token).await, 200).await;
    assert_eq!(doc["id"], json!(id));
    assert_eq!(doc["name"], json!("Gold"));
    assert_eq!(doc["description"], json!("Every chapter, no ads."));
    assert_eq!(doc["price_cents"], json!(999));
    assert_eq!(doc["currency"], json!("EUR"));
    assert_eq!(doc["interval"], json!("year"));
    assert_eq!(doc["perks"], json!(["ad-free", "offline"]));
    assert_eq!(doc["version"], json!(1));
    assert_eq!(doc["created_at"], doc["updated_at"]);
    assert!(doc["created_at"].as_str().unwrap().ends_with('Z'), "{doc}");

    // Optional fields default: no description, no perks.
    let (bare, token) = app.plan_with(plan("Free", 0)).await;
    let doc = json_with(app.get_plan(&bare, &token).await, 200).await;
    assert_eq!(doc["description"], json!(""));
    assert_eq!(doc["perks"], json!([]));
    assert_eq!(doc["price_cents"], json!(0));
    app.stop().await;
}

#[tokio::test]
async fn plans_are_listed_cheapest_first_ties_by_name_and_paged() {
    let app = TestApp::spawn().await;
    let mut last = String::new();
    for (name, price) in [
        ("Zeta", 500),
        ("Yearly", 5000),
        ("beta", 500),
        ("Gold", 999),
        ("Alpha", 500),
        ("Free", 0),
        ("alpha", 500),
    ] {
        last = app.plan_with(plan(name, price)).await.1;
    }
    let list = json_with(app.list_plans("", &last).await, 200).await;
    assert_eq!(
        names(&list),
        ["Free", "Alpha", "alpha", "beta", "Zeta", "Gold", "Yearly"]
    );
    assert_eq!(list["total"], json!(7));
    assert_eq!(list["limit"], json!(20));
    assert_eq!(list["offset"], json!(0));
    let prices: Vec<i64> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["price_cents"].as_i64().unwrap())
        .collect();
    assert!(prices.windows(2).all(|w| w[0] <= w[1]), "{prices:?}");

    let page = json_with(app.list_plans("limit=2&offset=2", &last).await, 200).await;
    assert_eq!(names(&page), ["alpha", "beta"]);
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(7), &json!(2), &json!(2))
    );
    let past = json_with(app.list_plans("offset=7", &last).await, 200).await;
    assert_eq!(past["items"], json!([]));
    assert_eq!(past["total"], json!(7));
    for (query, param) in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("offset=-1", "offset"),
    ] {
        let p = problem(app.list_plans(query, &last).await, 400).await;
        assert_eq!(error_fields(&p), [param], "{query}: {p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn a_change_is_read_back_and_a_stale_if_match_is_refused() {
    let app = TestApp::spawn().await;
    let (cheap, _) = app.plan_with(plan("Basic", 300)).await;
    let body = json!({
        "name": "Premium", "description": "All of it", "price_cents": 900,
        "currency": "USD", "interval": "month", "perks": ["ad-free"]
    });
    let (id, _) = app.plan_with(body).await;
    let path = format!("/api/v1/plans/{id}");

    let r = app
        .patch_if_match(
            &path,
            "1",
            json!({"price_cents": 100, "perks": ["hd", "ad-free"]}),
        )
        .await;
    let token = consistency(&r);
    assert_eq!(r.headers()["etag"], "\"2\"");
    assert_eq!(json_with(r, 200).await, json!({"id": id, "version": 2}));
    let doc = json_with(app.get_plan(&id, &token).await, 200).await;
    assert_eq!(doc["price_cents"], json!(100));
    assert_eq!(doc["perks"], json!(["hd", "ad-free"]));
    assert_eq!(doc["name"], json!("Premium"), "untouched fields stay");
    assert_eq!(doc["version"], json!(2));
    let at = |field: &str| chrono::DateTime::parse_from_rfc3339(doc[field].as_str().unwrap());
    assert!(
        at("updated_at").unwrap() > at("created_at").unwrap(),
        "{doc}"
    );
    // Now the cheaper of the two.
    let list = json_with(app.list_plans("", &token).await, 200).await;
    assert_eq!(names(&list), ["Premium", "Basic"]);
    assert_eq!(list["items"][1]["id"], json!(cheap));

    // The version it names is gone: 412, and nothing changes.
    let r = app
        .patch_if_match(&path, "1", json!({"name": "Lost"}))
        .await;
    let p = problem(r, 412).await;
    assert!(p["detail"].as_str().unwrap().contains('2'), "{p}");
    let r = app
        .patch_if_match(&path, "x", json!({"name": "Lost"}))
        .await;
    problem(r, 400).await;

    // Without If-Match; null clears the description and the perks.
    let r = app
        .patch_plan(
            &id,
            json!({"description": null, "perks": null, "interval": "year"}),
        )
        .await;
    let token = consistency(&r);
    assert_eq!(json_with(r, 200).await["version"], json!(3));
    let doc = json_with(app.get_plan(&id, &token).await, 200).await;
    assert_eq!(doc["name"], json!("Premium"));
    assert_eq!(doc["description"], json!(""));
    assert_eq!(doc["perks"], json!([]));
    assert_eq!(doc["interval"], json!("year"));

    // A change to what it already is, or an empty one, writes nothing.
    for same in [json!({}), json!({"interval": "year", "price_cents": 100})] {
        let r = app.patch_plan(&id, same).await;
        assert_eq!(json_with(r, 200).await["version"], json!(3));
    }
    let r = app
        .patch_if_match(&path, "3", json!({"currency": "JPY"}))
        .await;
    let token = consistency(&r);
    assert_eq!(json_with(r, 200).await["version"], json!(4));
    let doc = json_with(app.get_plan(&id, &token).await, 200).await;
    assert_eq!(doc["currency"], json!("JPY"));
    app.stop().await;
}

#[tokio::test]
async fn a_retired_plan_is_gone_from_every_read_and_cannot_be_changed() {
    let app = TestApp::spawn().await;
    let (kept, _) = app.plan_with(plan("Kept", 500)).await;
    let (id, token) = app.plan_with(plan("Retired", 100)).await;
    assert_eq!(app.get_plan(&id, &token).await.status(), 200);

    // A stale If-Match on retire is refused like on a change.
    let r = app
        .http
        .delete(format!("{}/api/v1/plans/{id}", app.base))
        .bearer_auth(&app.admin_token)
        .header("if-match", "\"7\"")
        .send()
        .await
        .unwrap();
    problem(r, 412).await;

    let r = app.retire_plan(&id).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    assert!(r.bytes().await.unwrap().is_empty());
    problem(app.get_plan(&id, &token).await, 404).await;
    let list = json_with(app.list_plans("", &token).await, 200).await;
    assert_eq!(names(&list), ["Kept"]);
    assert_eq!(list["total"], json!(1));
    assert_eq!(list["items"][0]["id"], json!(kept));

    problem(app.patch_plan(&id, json!({"name": "Back"})).await, 404).await;
    problem(app.patch_plan(&id, json!({})).await, 404).await;
    problem(app.retire_plan(&id).await, 404).await;
    // Still gone after those attempts (they wrote nothing).
    problem(app.get_plan(&id, &token).await, 404).await;

    // Plans that never were.
    let never = uuid::Uuid::now_v7().to_string();
    problem(app.get_plan(&never, &token).await, 404).await;
    problem(app.patch_plan(&never, json!({"name": "x"})).await, 404).await;
    problem(app.retire_plan(&never).await, 404).await;
    problem(app.get("/api/v1/plans/not-a-uuid").await, 404).await;
    app.stop().await;
}

/// Asserts that creating a plan from `body` is a 422 naming `field`.
async fn refused(app: &TestApp, body: Value, field: &str) {
    let p = problem(app.create_plan(body.clone()).await, 422).await;
    assert!(
        error_fields(&p).iter().any(|f| f == field),
        "expected errors[].field {field:?} for {body}, got {p}"
    );
}

/// `plan("P", 100)` with `field` set to `value`.
fn with(field: &str, value: Value) -> Value {
    let mut body = plan("P", 100);
    body[field] = value;
    body
}

/// `plan("P", 100)` without `field`.
fn without(field: &str) -> Value {
    let mut body = plan("P", 100);
    body.as_object_mut().unwrap().remove(field);
    body
}

#[tokio::test]
async fn every_broken_rule_is_a_422_naming_its_field() {
    let app = TestApp::spawn().await;
    let cases = [
        ("name", json!("")),
        ("name", json!("   ")),
        ("name", json!("n".repeat(101))),
        ("name", json!(null)),
        ("description", json!("d".repeat(2001))),
        ("price_cents", json!(-1)),
        ("price_cents", json!(9.99)),
        ("price_cents", json!("999")),
        ("price_cents", json!(null)),
        ("price_cents", json!(1_000_000_000_001_i64)),
        ("currency", json!("usd")),
        ("currency", json!("US")),
        ("currency", json!("EURO")),
        ("currency", json!("ABC")),
        ("interval", json!("week")),
        ("interval", json!("Month")),
        (
            "perks",
            json!((0..21).map(|i| format!("p{i}")).collect::<Vec<_>>()),
        ),
        ("perks[0]", json!(["Ad Free"])),
        ("perks[1]", json!(["ok", "x".repeat(41)])),
        ("perks", json!("ad-free")),
    ];
    for (field, value) in cases {
        let name = field.split('[').next().unwrap();
        refused(&app, with(name, value), field).await;
    }
    for field in ["name", "price_cents", "currency", "interval"] {
        refused(&app, without(field), field).await;
    }
    refused(&app, with("prise_cents", json!(1)), "prise_cents").await;
    // Every rule at once.
    let p = problem(
        app.create_plan(
            json!({"name": "", "price_cents": -5, "currency": "usd", "interval": "day"}),
        )
        .await,
        422,
    )
    .await;
    assert_eq!(
        error_fields(&p),
        ["name", "price_cents", "currency", "interval"]
    );
    // The limits themselves are accepted.
    let edge = json!({
        "name": "é".repeat(100), "description": "d".repeat(2000),
        "price_cents": 1_000_000_000_000_i64, "currency": "KRW", "interval": "year",
        "perks": (0..20).map(|i| format!("perk-{i}")).collect::<Vec<_>>()
    });
    let (id, token) = app.plan_with(edge).await;
    let doc = json_with(app.get_plan(&id, &token).await, 200).await;
    assert_eq!(doc["perks"].as_array().unwrap().len(), 20);

    // A change is held to the same rules, and null is refused where a
    // value is required.
    for (body, field) in [
        (json!({"name": ""}), "name"),
        (json!({"name": null}), "name"),
        (json!({"price_cents": -1}), "price_cents"),
        (json!({"price_cents": null}), "price_cents"),
        (json!({"currency": "eur"}), "currency"),
        (json!({"interval": null}), "interval"),
        (json!({"perks": ["A"]}), "perks[0]"),
        (json!({"description": "d".repeat(2001)}), "description"),
        (json!({"nmae": "x"}), "nmae"),
    ] {
        let p = problem(app.patch_plan(&id, body.clone()).await, 422).await;
        assert_eq!(error_fields(&p), [field], "{body}: {p}");
    }
    // Not JSON, not an object, not declared as JSON.
    let raw = |body: &'static [u8], content_type: Option<&'static str>| {
        app.send_raw(
            Method::POST,
            "/api/v1/plans",
            Some(&app.admin_token),
            content_type,
            body.to_vec(),
        )
    };
    problem(raw(b"{\"name\": ", Some("application/json")).await, 400).await;
    problem(raw(b"[1, 2]", Some("application/json")).await, 422).await;
    problem(raw(b"{}", Some("text/plain")).await, 415).await;
    let patch = app
        .send_raw(
            Method::PATCH,
            &format!("/api/v1/plans/{id}"),
            Some(&app.admin_token),
            Some("application/json"),
            b"{nope".to_vec(),
        )
        .await;
    problem(patch, 400).await;
    // Nothing of the refused bodies was written.
    let list = json_with(app.list_plans("", &token).await, 200).await;
    assert_eq!(list["total"], json!(1));
    app.stop().await;
}

#[tokio::test]
async fn only_admins_write_plans_and_anyone_reads_them() {
    let app = TestApp::spawn().await;
    let (id, token) = app.plan_with(plan("Gold", 999)).await;
    let user = app.user_token.clone();
    for (who, status) in [(None, 401), (Some(user.as_str()), 403)] {
        problem(app.create_plan_as(who, plan("X", 1)).await, status).await;
        problem(
            app.patch_plan_as(who, &id, json!({"name": "X"})).await,
            status,
        )
        .await;
        problem(app.retire_plan_as(who, &id).await, status).await;
    }
    let r = app.create_plan_as(Some("not-a-jwt"), plan("X", 1)).await;
    problem(r, 401).await;
    // Nothing changed, and reads need no token.
    let doc = json_with(app.get_plan(&id, &token).await, 200).await;
    assert_eq!((&doc["name"], &doc["version"]), (&json!("Gold"), &json!(1)));
    let list = json_with(app.get("/api/v1/plans").await, 200).await;
    assert_eq!(list["total"], json!(1));
    app.stop().await;
}

/// What the read cache said of an answer (`X-Cache`).
fn how(r: &Response) -> String {
    r.headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn cached_plan_answers_follow_a_change_and_a_retirement() {
    let app = TestApp::spawn().await;
    let (id, token) = app.plan_with(plan("Gold", 999)).await;
    let path = format!("/api/v1/plans/{id}");
    assert_eq!(app.get_plan(&id, &token).await.status(), 200);
    // Kept once the creation's announcement has been heard.
    for p in ["/api/v1/plans", path.as_str()] {
        eventually(Duration::from_secs(10), || async {
            (how(&app.get(p).await) == "hit").then_some(())
        })
        .await;
    }
    assert_eq!(
        app.patch_plan(&id, json!({"price_cents": 1}))
            .await
            .status(),
        200
    );
    eventually(Duration::from_secs(10), || async {
        let doc: Value = app.get(&path).await.json().await.ok()?;
        let list: Value = app.get("/api/v1/plans").await.json().await.ok()?;
        (doc["price_cents"] == json!(1) && list["items"][0]["price_cents"] == json!(1))
            .then_some(())
    })
    .await;
    assert_eq!(app.retire_plan(&id).await.status(), 204);
    eventually(Duration::from_secs(10), || async {
        let gone = app.get(&path).await.status() == 404;
        let list: Value = app.get("/api/v1/plans").await.json().await.ok()?;
        (gone && list["total"] == json!(0)).then_some(())
    })
    .await;
    // And stays gone: nothing kept from before is served again.
    for _ in 0..3 {
        assert_eq!(app.get(&path).await.status(), 404);
        let list: Value = app.get("/api/v1/plans").await.json().await.unwrap();
        assert_eq!(list["items"], json!([]));
    }
    app.stop().await;
}

/// Every answer the plans reads give, read past the cache (with `token`).
async fn answers(app: &TestApp, ids: &[String], token: &str) -> Vec<(String, u16, Value)> {
    let mut paths = vec!["/api/v1/plans?limit=100".to_string()];
    paths.extend(ids.iter().map(|id| format!("/api/v1/plans/{id}")));
    let mut out = Vec::new();
    for path in paths {
        let r = app.get_after(&path, token).await;
        let status = r.status().as_u16();
        out.push((path, status, r.json().await.unwrap()));
    }
    out
}

/// Plans created, changed and retired; their ids and the last write's token.
async fn history(app: &TestApp) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    for (name, price) in [("Gold", 999), ("Silver", 499), ("silver", 499), ("Free", 0)] {
        ids.push(app.plan_with(plan(name, price)).await.0);
    }
    let changed = app
        .patch_plan(&ids[0], json!({"price_cents": 10, "perks": ["offline"]}))
        .await;
    assert_eq!(changed.status(), 200);
    assert_eq!(app.retire_plan(&ids[1]).await.status(), 204);
    let r = app
        .patch_plan(&ids[3], json!({"name": "Starter", "currency": "GBP"}))
        .await;
    assert_eq!(r.status(), 200);
    (ids, consistency(&r))
}

/// Waits until the plans store has applied every plan event of the log.
async fn caught_up(store: &sqlx::PgPool, events: &sqlx::PgPool) {
    eventually(Duration::from_secs(20), || async {
        let projected: i64 = sqlx::query_scalar(
            "SELECT COALESCE(sum(sequence), 0)::int8 FROM plans.applied \
             WHERE aggregate_type = 'PremiumPlan'",
        )
        .fetch_one(store)
        .await
        .ok()?;
        let logged: i64 =
            sqlx::query_scalar("SELECT count(*) FROM events WHERE aggregate_type = 'PremiumPlan'")
                .fetch_one(events)
                .await
                .ok()?;
        (projected == logged).then_some(())
    })
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuilt_plans_projection_answers_as_the_live_one() {
    let app = TestApp::spawn().await;
    let (ids, last) = history(&app).await;
    let events = app.env.events_pool().await;
    let url = app.env.settings.projection_database_url("plans");
    let store = comics_common::db::connect(url, 4).await.unwrap();
    // Sequences 1..n per plan: their sum is the number of plan events.
    caught_up(&store, &events).await;
    let live = answers(&app, &ids, &last).await;
    let live_rows = rows(&store).await;
    assert_eq!(live_rows.len(), 3, "one plan retired");
    assert_eq!(live[0].2["total"], json!(3));
    assert_eq!(
        names(&live[0].2),
        ["Starter", "Gold", "silver"],
        "cheapest first after the changes"
    );

    let report = rebuild(&events, &store, &PlansProjector).await.unwrap();
    assert_eq!(report.events_applied, 7, "4 created, 2 changed, 1 retired");
    assert_eq!(rows(&store).await, live_rows, "the rows are the same");
    assert_eq!(answers(&app, &ids, &last).await, live, "the answers too");

    // The command line does the same, and lists the projection.
    let out = cli(&app, &["projections", "rebuild", "plans"]);
    assert!(out.contains("plans: rebuilt from 7 events"), "{out}");
    assert_eq!(rows(&store).await, live_rows);
    let out = cli(&app, &["projections", "list"]);
    assert!(
        out.lines()
            .any(|l| l.split_whitespace().next() == Some("plans")),
        "{out}"
    );

    // Live projection carries on after the swaps.
    let (id, token) = app.plan_with(plan("After", 1)).await;
    let doc = json_with(app.get_plan(&id, &token).await, 200).await;
    assert_eq!(doc["name"], json!("After"));
    let list = json_with(app.list_plans("", &token).await, 200).await;
    assert_eq!(names(&list), ["Starter", "After", "Gold", "silver"]);
    app.stop().await;
}

/// Every row of the plans store, as JSON, by id.
async fn rows(store: &sqlx::PgPool) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(p) FROM plans.plans p ORDER BY id")
        .fetch_all(store)
        .await
        .unwrap()
}

/// Runs the `comics` binary with the app's database and NATS prefix; its
/// standard output (the command must succeed).
fn cli(app: &TestApp, args: &[&str]) -> String {
    let s = &app.env.settings;
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_comics"))
        .args(args)
        .env("DATABASE_URL", &s.database_url)
        .env("NATS_URL", &s.nats_url)
        .env("COMICS_NATS_PREFIX", &s.nats_prefix)
        .env("RUST_LOG", "warn")
        .output()
        .expect("run comics");
    let stdout = String::from_utf8_lossy(&out.stdout).to_string();
    assert!(
        out.status.success(),
        "comics {args:?} failed: {stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    stdout
}
