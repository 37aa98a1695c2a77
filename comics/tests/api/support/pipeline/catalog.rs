//! The catalog side of the pipeline tests: an admin's HTTP client and a
//! workload that produces every catalog event, waiting for the projection
//! to catch up, and comparing its tables row by row.

use std::collections::BTreeMap;
use std::time::Duration;

use serde_json::{json, Value};
use sqlx::PgPool;

use super::{event_count, wait_stream_len, Rng};
use crate::support::{eventually, TestApp, TestEnv};

/// Waits until every event is in the stream and the catalog has applied the
/// whole stream; returns the stream's last sequence.
pub async fn wait_caught_up(env: &TestEnv, events: &PgPool, catalog: &PgPool) -> u64 {
    let n = event_count(events).await;
    wait_stream_len(env, n, Duration::from_secs(30)).await;
    eventually(Duration::from_secs(30), || async {
        let checkpoint = comics_projections::runtime::read_checkpoint(catalog, "catalog")
            .await
            .ok()?;
        (checkpoint == n).then_some(n)
    })
    .await
}

pub async fn catalog_pool(env: &TestEnv) -> PgPool {
    comics_common::db::connect(env.settings.projection_database_url("catalog"), 8)
        .await
        .expect("catalog pool")
}

/// Every row of the catalog, table by table (without `checkpoint.updated_at`).
pub async fn catalog_snapshot(pool: &PgPool) -> BTreeMap<&'static str, Vec<Value>> {
    let tables = [
        (
            "comics",
            "SELECT to_jsonb(t) FROM catalog.comics t ORDER BY id",
        ),
        (
            "chapters",
            "SELECT to_jsonb(t) FROM catalog.chapters t ORDER BY id",
        ),
        (
            "pages",
            "SELECT to_jsonb(t) FROM catalog.pages t ORDER BY chapter_id, number",
        ),
        (
            "genres",
            "SELECT to_jsonb(t) FROM catalog.genres t ORDER BY genre",
        ),
        (
            "applied",
            "SELECT to_jsonb(t) FROM catalog.applied t ORDER BY aggregate_type, aggregate_id",
        ),
        (
            "checkpoint",
            "SELECT to_jsonb(t) - 'updated_at' FROM catalog.checkpoint t ORDER BY id",
        ),
    ];
    let mut out = BTreeMap::new();
    for (name, sql) in tables {
        let rows: Vec<Value> = sqlx::query_scalar(sql).fetch_all(pool).await.expect(name);
        out.insert(name, rows);
    }
    out
}

/// Compares two snapshots (the reference first: live, or before a repeat)
/// table by table, naming the first differing row.
pub fn assert_same_catalog(
    reference: &BTreeMap<&'static str, Vec<Value>>,
    other: &BTreeMap<&'static str, Vec<Value>>,
) {
    for (table, rows) in reference {
        let other = &other[table];
        for (a, b) in rows.iter().zip(other) {
            assert_eq!(
                a, b,
                "catalog.{table} differs (left: reference, right: other)"
            );
        }
        assert_eq!(rows.len(), other.len(), "catalog.{table} row counts differ");
    }
}

/// An admin's HTTP client for the command and query APIs.
pub struct Admin {
    base: String,
    http: reqwest::Client,
    token: String,
}

impl Admin {
    pub fn new(base: String, token: String) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap();
        Self { base, http, token }
    }

    pub fn for_app(app: &TestApp) -> Self {
        Self::new(app.base.clone(), app.admin_token.clone())
    }

    pub fn for_env(env: &TestEnv, port: u16) -> Self {
        let token = env
            .jwt()
            .mint("admin-1", &["admin"], chrono::Duration::hours(1));
        Self::new(format!("http://127.0.0.1:{port}"), token.unwrap())
    }

    /// Sends a request (with the admin token) and returns status and JSON body.
    pub async fn call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Value) {
        self.try_call(method, path, body).await.expect("request")
    }

    pub async fn try_call(
        &self,
        method: reqwest::Method,
        path: &str,
        body: Option<Value>,
    ) -> reqwest::Result<(u16, Value)> {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        req = req.bearer_auth(&self.token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        let r = req.send().await?;
        let status = r.status().as_u16();
        Ok((status, r.json().await.unwrap_or(Value::Null)))
    }

    async fn ok(&self, method: reqwest::Method, path: &str, body: Option<Value>) -> Value {
        let (status, doc) = self.call(method.clone(), path, body).await;
        assert!(
            (200..300).contains(&status),
            "{method} {path}: {status} {doc}"
        );
        doc
    }
}

fn genres(rng: &mut Rng) -> Vec<&'static str> {
    const ALL: [&str; 5] = ["action", "comedy", "drama", "fantasy", "romance"];
    ALL.into_iter().filter(|_| rng.below(2) == 0).collect()
}

/// Drives comics through every catalog event: created with genres, retitled
/// and re-genred, chapters added, renumbered and deleted, some comics
/// deleted. Returns the comics and chapters left.
pub async fn workload(
    admin: &Admin,
    rng: &mut Rng,
    tag: &str,
    comics: usize,
) -> (Vec<String>, Vec<String>) {
    use reqwest::Method;
    let (mut kept, mut kept_chapters) = (Vec::new(), Vec::new());
    for i in 0..comics {
        let body = json!({"title": format!("{tag} {i}"), "genres": genres(rng), "alt_titles": [format!("{tag}-{i}")]});
        let doc = admin.ok(Method::POST, "/api/v1/comics", Some(body)).await;
        let id = doc["id"].as_str().expect("comic id").to_string();
        let mut chapters = Vec::new();
        for n in 1..=1 + rng.below(3) {
            let body = json!({"number": n.to_string(), "title": format!("Part {n}"),
                              "published_at": format!("2024-01-0{}T00:00:00Z", 1 + rng.below(3))});
            let path = format!("/api/v1/comics/{id}/chapters");
            let doc = admin.ok(Method::POST, &path, Some(body)).await;
            chapters.push(doc["id"].as_str().expect("chapter id").to_string());
        }
        let comic = format!("/api/v1/comics/{id}");
        let retitle = json!({"title": format!("{tag} {i} revised")});
        admin.ok(Method::PATCH, &comic, Some(retitle)).await;
        admin
            .ok(Method::PATCH, &comic, Some(json!({"genres": genres(rng)})))
            .await;
        let renumber = json!({"number": "0.5", "title": null});
        admin
            .ok(
                Method::PATCH,
                &format!("/api/v1/chapters/{}", chapters[0]),
                Some(renumber),
            )
            .await;
        if chapters.len() > 1 && rng.below(2) == 0 {
            let gone = chapters.pop().unwrap();
            admin
                .ok(Method::DELETE, &format!("/api/v1/chapters/{gone}"), None)
                .await;
        }
        if rng.below(4) == 0 {
            admin.ok(Method::DELETE, &comic, None).await;
        } else {
            kept.push(id);
            kept_chapters.extend(chapters);
        }
    }
    (kept, kept_chapters)
}

/// How many deadlocks Postgres has detected in this test's database (the
/// statistics arrive within about a second).
pub async fn deadlocks(pool: &PgPool) -> i64 {
    sqlx::query_scalar("SELECT deadlocks FROM pg_stat_database WHERE datname = current_database()")
        .fetch_one(pool)
        .await
        .expect("pg_stat_database")
}
