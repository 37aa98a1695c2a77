//! `TestApp`: fresh databases with the catalog, ratings, bookmarks and
//! popularity query stores, the router served on a free port with a clock the
//! test sets, one method per endpoint, and seeds for rows.
//!
//! Each projection gets a database of its own, as a deployment may give it,
//! so a read that joined two projections' tables in SQL would fail here.

use std::str::FromStr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::{DateTime, TimeZone, Utc};
use comics_common::auth::Jwt;
use comics_common::config::JwtSettings;
use comics_query::{router, QueryState};
use serde_json::Value;
use sqlx::postgres::{PgConnectOptions, PgPoolOptions};
use sqlx::{ConnectOptions, Connection, PgConnection, PgPool};
use uuid::Uuid;

const CATALOG_SCHEMA: &str = include_str!("../../../projections/src/catalog/schema.sql");
const RATINGS_SCHEMA: &str = include_str!("../../../projections/src/ratings/schema.sql");
const BOOKMARKS_SCHEMA: &str = include_str!("../../../projections/src/bookmarks/schema.sql");
const POPULARITY_SCHEMA: &str = include_str!("../../../projections/src/popularity/schema.sql");
/// What the projector runtime adds to every query store
/// (`projections/src/runtime/`, `BOOKKEEPING`).
const BOOKKEEPING: &str = include_str!("../../../projections/src/runtime/bookkeeping.sql");
const DEFAULT_SERVER: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const JWT_SECRET: &str = "query-service-test-secret";

pub struct TestApp {
    pub address: String,
    /// The catalog query store.
    pub pool: PgPool,
    /// The ratings query store (another database).
    pub ratings: PgPool,
    /// The bookmarks query store (yet another database).
    pub bookmarks: PgPool,
    /// The popularity query store (a fourth database).
    pub popularity: PgPool,
    /// What the app's clock says: [`at`]`(0)` until a test moves it.
    now: Arc<Mutex<DateTime<Utc>>>,
    jwt: Arc<Jwt>,
    client: reqwest::Client,
    server: PgConnectOptions,
    databases: Vec<String>,
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
        let prefix = format!("comics_qtest_{}", Uuid::now_v7().simple());
        let mut databases = Vec::new();
        let mut pools = Vec::new();
        for (schema, ddl) in [
            ("catalog", CATALOG_SCHEMA),
            ("ratings", RATINGS_SCHEMA),
            ("bookmarks", BOOKMARKS_SCHEMA),
            ("popularity", POPULARITY_SCHEMA),
        ] {
            let database = format!("{prefix}_{schema}");
            pools.push(create_store(&server, &database, schema, ddl).await);
            databases.push(database);
        }
        let [pool, ratings, bookmarks, popularity]: [PgPool; 4] = pools.try_into().unwrap();
        let jwt = Jwt::new(&JwtSettings::hs256(JWT_SECRET));
        let state = QueryState::new(
            pool.clone(),
            ratings.clone(),
            bookmarks.clone(),
            popularity.clone(),
            jwt.clone(),
        )
        .with_consistency_timeout(timeout);
        let now = Arc::new(Mutex::new(at(0)));
        let clock = now.clone();
        let state = state.with_clock(move || *clock.lock().unwrap());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, router(state)).await.unwrap() });
        Self {
            address,
            pool,
            ratings,
            bookmarks,
            popularity,
            now,
            jwt,
            client: reqwest::Client::new(),
            server,
            databases,
        }
    }

    /// Sets the app's clock (the "now" of view windows).
    pub fn set_now(&self, now: DateTime<Utc>) {
        *self.now.lock().unwrap() = now;
    }

    /// A bearer token for the user `sub`.
    pub fn token_for(&self, sub: &str) -> String {
        self.jwt
            .mint(sub, &[], chrono::Duration::hours(1))
            .expect("mint a token")
    }

    /// `GET /api/v1{path}`, optionally with a consistency token.
    pub async fn get(&self, path: &str, token: Option<&str>) -> reqwest::Response {
        self.get_as(path, None, token).await
    }

    /// `GET /api/v1{path}` with an optional bearer token and consistency token.
    pub async fn get_as(
        &self,
        path: &str,
        bearer: Option<&str>,
        token: Option<&str>,
    ) -> reqwest::Response {
        let mut request = self.client.get(format!("{}/api/v1{path}", self.address));
        if let Some(bearer) = bearer {
            request = request.bearer_auth(bearer);
        }
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

    /// The pool of a projection's query store, by schema name.
    pub fn store(&self, schema: &str) -> PgPool {
        match schema {
            "catalog" => self.pool.clone(),
            "ratings" => self.ratings.clone(),
            "bookmarks" => self.bookmarks.clone(),
            "popularity" => self.popularity.clone(),
            _ => panic!("no query store {schema}"),
        }
    }

    /// Records that the projection of `schema` applied `sequence` of an aggregate.
    pub async fn set_applied(
        &self,
        schema: &str,
        aggregate_type: &str,
        aggregate_id: &str,
        sequence: i64,
    ) {
        set_applied(
            &self.store(schema),
            schema,
            aggregate_type,
            aggregate_id,
            sequence,
        )
        .await;
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

/// A fresh database `database` holding the query store `schema` (with the
/// runtime's bookkeeping tables).
async fn create_store(
    server: &PgConnectOptions,
    database: &str,
    schema: &str,
    ddl: &str,
) -> PgPool {
    let mut admin = PgConnection::connect_with(server)
        .await
        .expect("Postgres is reachable");
    sqlx::query(&format!("CREATE DATABASE {database}"))
        .execute(&mut admin)
        .await
        .expect("create a test database");
    admin.close().await.ok();
    let pool = PgPoolOptions::new()
        .max_connections(4)
        .connect_with(server.clone().database(database))
        .await
        .expect("connect to a test database");
    sqlx::raw_sql(&format!("{BOOKKEEPING}\n{ddl}").replace("{schema}", schema))
        .execute(&pool)
        .await
        .unwrap_or_else(|e| panic!("apply the {schema} schema: {e}"));
    pool
}

/// Records in `schema`.applied that its projection applied `sequence` of an aggregate.
pub async fn set_applied(
    pool: &PgPool,
    schema: &str,
    aggregate_type: &str,
    aggregate_id: &str,
    sequence: i64,
) {
    sqlx::query(&format!(
        "INSERT INTO {schema}.applied (aggregate_type, aggregate_id, sequence) VALUES ($1, $2, $3) \
         ON CONFLICT (aggregate_type, aggregate_id) DO UPDATE SET sequence = EXCLUDED.sequence"
    ))
    .bind(aggregate_type)
    .bind(aggregate_id)
    .bind(sequence)
    .execute(pool)
    .await
    .unwrap();
}

impl Drop for TestApp {
    /// Drops the test databases, even when the test failed.
    fn drop(&mut self) {
        let (server, databases) = (self.server.clone(), self.databases.clone());
        let dropped = std::thread::spawn(move || {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            runtime.block_on(async {
                let mut admin = PgConnection::connect_with(&server).await?;
                for database in &databases {
                    sqlx::query(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"))
                        .execute(&mut admin)
                        .await?;
                }
                admin.close().await
            })?;
            Ok::<(), Box<dyn std::error::Error + Send + Sync>>(())
        })
        .join();
        if !matches!(dropped, Ok(Ok(()))) {
            eprintln!("could not drop the test databases {:?}", self.databases);
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
