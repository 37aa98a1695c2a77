//! `TestApp`: a fresh database with the catalog query store, the router
//! served on a free port, one method per endpoint, and seeds for rows.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use comics_query::{router, QueryState};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

const SCHEMA: &str = include_str!("../../../projections/src/catalog/schema.sql");
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";

pub struct TestApp {
    pub address: String,
    pub pool: PgPool,
    client: reqwest::Client,
    server: PgConnectOptions,
    database: String,
}

/// A fixed instant plus `minutes`, so orderings are deterministic.
pub fn at(minutes: i64) -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 1, 1, 0, 0, 0).unwrap() + chrono::Duration::minutes(minutes)
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with_timeout(Duration::from_secs(5)).await
    }

    /// An app whose reads wait at most `timeout` for a consistency token.
    pub async fn spawn_with_timeout(timeout: Duration) -> Self {
        comics_common::telemetry::init_for_tests();
        let url = std::env::var("DATABASE_URL").unwrap_or_else(|_| DEFAULT_SERVER.into());
        let server = PgConnectOptions::from_str(&url)
            .expect("DATABASE_URL")
            .database("postgres")
            .disable_statement_logging();
        let database = format!("comics_qtest_{}", Uuid::now_v7().simple());
        let mut admin = PgConnection::connect_with(&server)
            .await
            .expect("Postgres is reachable");
        sqlx::query(&format!("CREATE DATABASE {database}"))
            .execute(&mut admin)
            .await
            .expect("create the test database");
        admin.close().await.ok();
        let pool = PgPoolOptions::new()
            .max_connections(5)
            .connect_with(server.clone().database(&database))
            .await
            .expect("connect to the test database");
        sqlx::raw_sql(&SCHEMA.replace("{schema}", "catalog"))
            .execute(&pool)
            .await
            .expect("apply the catalog schema");
        let state = QueryState::new(pool.clone()).with_consistency_timeout(timeout);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
        Self {
            address,
            pool,
            client: reqwest::Client::new(),
            server,
            database,
        }
    }

    /// `GET /api/v1{path}`, optionally with a consistency token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/api/v1{path}", self.address));
        if let Some(token) = token {
            request = request.header("X-Consistency-Token", token);
        }
        request.send().await.expect("the request is sent")
    }

    pub async fn get_comics(&self, query: &str) -> reqwest::Response {
        self.get(&format!("/comics?{query}"), None).await
    }

    pub async fn get_comic(&self, id: impl std::fmt::Display) -> reqwest::Response {
        self.get(&format!("/comics/{id}"), None).await
    }

    pub async fn get_chapters(
        &self,
        comic: impl std::fmt::Display,
        query: &str,
    ) -> reqwest::Response {
        self.get(&format!("/comics/{comic}/chapters?{query}"), None)
            .await
    }

    pub async fn get_chapter(&self, id: impl std::fmt::Display) -> reqwest::Response {
        self.get(&format!("/chapters/{id}"), None).await
    }

    pub async fn get_genres(&self) -> reqwest::Response {
        self.get("/genres", None).await
    }

    /// Records that the projection applied `sequence` of an aggregate.
    pub async fn set_applied(&self, aggregate_type: &str, aggregate_id: &str, sequence: i64) {
        set_applied(&self.pool, aggregate_type, aggregate_id, sequence).await;
    }

    pub async fn insert_genre(&self, genre: &str, comics: i32) {
        sqlx::query("INSERT INTO catalog.genres (genre, comics) VALUES ($1, $2)")
            .bind(genre)
            .bind(comics)
            .execute(&self.pool)
            .await
            .unwrap();
    }
}

pub async fn set_applied(pool: &PgPool, aggregate_type: &str, aggregate_id: &str, sequence: i64) {
    sqlx::query(
        "INSERT INTO catalog.applied (aggregate_type, aggregate_id, sequence) VALUES ($1, $2, $3) \
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET sequence = EXCLUDED.sequence",
    )
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .execute(pool)
    .await
    .unwrap();
}

impl Drop for TestApp {
    /// Drops the test database, even when the test failed.
    fn drop(&mut self) {
        let (server, database) = (self.server.clone(), self.database.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect_with(&server).await?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                    .execute(&mut admin)
                    .await?;
                admin.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test database {}", self.database);
        }
    }
}

/// Reads a JSON body after checking the status and media type.
pub async fn json(response: reqwest::Response, status: u16) -> Value {
    assert_eq!(response.status().as_u16(), status, "unexpected status");
    let media_type = if status < 400 {
        "application/json"
    } else {
        "application/problem+json"
    };
    assert_eq!(response.headers()["content-type"], media_type);
    response.json().await.expect("a JSON body")
}

/// The `id` of every item of a list body.
pub fn ids(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["id"].as_str().unwrap().to_string())
        .collect()
}
