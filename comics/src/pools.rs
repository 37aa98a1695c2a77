//! One connection pool per distinct database URL, so the event store and
//! every query store share a pool when they live in the same database.

use comics_common::{db, Settings};
use sqlx::PgPool;

const MAX_CONNECTIONS: u32 = 24;

#[derive(Default)]
pub struct Pools {
    pools: Vec<(String, PgPool)>,
}

impl Pools {
    pub async fn get(&mut self, url: &str) -> anyhow::Result<PgPool> {
        if let Some((_, pool)) = self.pools.iter().find(|(u, _)| u == url) {
            return Ok(pool.clone());
        }
        let pool = db::connect(url, MAX_CONNECTIONS).await?;
        self.pools.push((url.to_string(), pool.clone()));
        Ok(pool)
    }

    /// The query store of the projection `name`.
    pub async fn projection(&mut self, settings: &Settings, name: &str) -> anyhow::Result<PgPool> {
        self.get(settings.projection_database_url(name)).await
    }

    pub fn all(&self) -> Vec<PgPool> {
        self.pools.iter().map(|(_, p)| p.clone()).collect()
    }
}
