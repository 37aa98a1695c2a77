//! Test support: every test gets its own database and NATS prefix, so tests
//! run in parallel and never see each other; leftovers of crashed runs older
//! than an hour are swept at the next start.
#![allow(dead_code)]

pub mod client;
pub mod pipeline;
pub mod writer;

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use comics::{Application, Roles};
use comics_common::{auth::Jwt, db, Settings};
use comics_nats::Names;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

pub use client::TestApp;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const DB_PREFIX: &str = "comics_test_";
const NATS_PREFIX: &str = "ct-";

/// A database and NATS prefix of one's own, migrated, with its settings.
pub struct TestEnv {
    pub settings: Settings,
    pub database: String,
    /// The folder that holds this test's images (`COMICS_STORAGE_URL`).
    pub storage_dir: std::path::PathBuf,
}

fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl TestEnv {
    pub async fn new() -> Self {
        comics_common::telemetry::init_for_tests();
        sweep().await;
        let unique = uuid::Uuid::now_v7().simple().to_string();
        let unique = &unique[20..];
        let database = format!("{DB_PREFIX}{}_{}", now_secs(), unique);
        let prefix = format!("{NATS_PREFIX}{}-{}", now_secs(), &unique[4..]);
        let storage_dir = std::env::temp_dir().join(format!("comics-test-storage-{unique}"));
        let vars = [
            (
                "COMICS_STORAGE_URL".to_string(),
                format!("file://{}", storage_dir.display()),
            ),
            (
                "DATABASE_URL".to_string(),
                format!("postgres://postgres@127.0.0.1:5432/{database}"),
            ),
            ("COMICS_NATS_PREFIX".to_string(), prefix),
            ("COMICS_HTTP_ADDR".to_string(), "127.0.0.1:0".to_string()),
            ("COMICS_JWT_SECRET".to_string(), "test-secret".to_string()),
            // Tests write fast on purpose; `limits` turns the limits on.
            (
                "COMICS_RATE_LIMIT_USER_PER_MINUTE".to_string(),
                "0".to_string(),
            ),
            (
                "COMICS_RATE_LIMIT_ANONYMOUS_PER_MINUTE".to_string(),
                "0".to_string(),
            ),
        ];
        let settings =
            Settings::from_lookup(|k| vars.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone()))
                .expect("test settings");
        comics::migrate::run(&settings).await.expect("migrations");
        Self {
            settings,
            database,
            storage_dir,
        }
    }

    pub async fn events_pool(&self) -> PgPool {
        db::connect(&self.settings.database_url, 8)
            .await
            .expect("pool")
    }

    pub async fn nats(&self) -> async_nats::Client {
        comics_nats::connect(&self.settings.nats_url, "comics-test")
            .await
            .expect("nats")
    }

    pub fn names(&self) -> Names {
        Names::new(&self.settings.nats_prefix)
    }

    pub fn jwt(&self) -> std::sync::Arc<Jwt> {
        Jwt::new(&self.settings.jwt)
    }

    /// Starts the application with `roles`; it runs until the token is cancelled.
    pub async fn start(
        &self,
        roles: Roles,
    ) -> (u16, CancellationToken, tokio::task::JoinHandle<()>) {
        let app = Application::build(&self.settings, roles)
            .await
            .expect("application");
        let port = app.port();
        let token = app.shutdown_token();
        let handle = tokio::spawn(async move {
            app.run_until_stopped().await.expect("application run");
        });
        (port, token, handle)
    }

    /// Drops the database and the stream.
    pub async fn cleanup(self) {
        let js = async_nats::jetstream::new(self.nats().await);
        let _ = js.delete_stream(self.names().stream()).await;
        let _ = js.delete_stream(self.names().views_stream()).await;
        let _ = js.delete_stream(self.names().audit_heads_stream()).await;
        drop_database(&self.database).await;
        let _ = std::fs::remove_dir_all(&self.storage_dir);
    }
}

async fn drop_database(name: &str) {
    if let Ok(admin) = db::connect(ADMIN_URL, 1).await {
        let _ = sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
            .execute(&admin)
            .await;
        admin.close().await;
    }
}

/// Removes test databases and streams left by runs that died over an hour ago.
async fn sweep() {
    let cutoff = now_secs().saturating_sub(3600);
    let old = |name: &str, prefix: &str, sep: char| {
        name.strip_prefix(prefix)
            .and_then(|rest| rest.split(sep).next())
            .and_then(|ts| ts.parse::<u64>().ok())
            .is_some_and(|ts| ts < cutoff)
    };
    if let Ok(admin) = db::connect(ADMIN_URL, 1).await {
        let names: Vec<String> = sqlx::query_scalar(
            "SELECT datname FROM pg_database WHERE datname LIKE 'comics_test_%'",
        )
        .fetch_all(&admin)
        .await
        .unwrap_or_default();
        for name in names.iter().filter(|n| old(n, DB_PREFIX, '_')) {
            drop_database(name).await;
        }
    }
    if let Ok(client) =
        comics_nats::connect(comics_common::config::DEFAULT_NATS_URL, "comics-test-sweep").await
    {
        use futures::StreamExt;
        let js = async_nats::jetstream::new(client);
        let streams: Vec<String> = js
            .stream_names()
            .filter_map(|n| async { n.ok() })
            .collect()
            .await;
        for stream in streams.iter().filter(|s| old(s, "CT_", '_')) {
            let _ = js.delete_stream(stream).await;
        }
    }
}

/// Polls `check` until it returns `Some`, for at most `limit`.
pub async fn eventually<T, F, Fut>(limit: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + limit;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "condition not met within {limit:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
