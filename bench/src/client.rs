//! The HTTP client, token minting and the concurrent request loop shared by
//! the load generators.

use std::sync::Arc;
use std::time::Duration;

use comics_common::auth::Jwt;
use comics_common::config::JwtSettings;

/// Mints HS256 tokens with the server's secret.
#[derive(Clone)]
pub struct Tokens(Arc<Jwt>);

impl Tokens {
    pub fn new(secret: &str) -> Self {
        Self(Jwt::new(&JwtSettings::hs256(secret)))
    }

    pub fn user(&self, sub: &str) -> anyhow::Result<String> {
        self.0.mint(sub, &[], chrono::Duration::hours(2))
    }

    pub fn admin(&self, sub: &str) -> anyhow::Result<String> {
        self.0.mint(sub, &["admin"], chrono::Duration::hours(2))
    }

    /// Mints `count` user tokens named by `sub(i)`, on every core.
    pub async fn many(
        &self,
        count: usize,
        sub: impl Fn(usize) -> String + Send + Sync + Clone + 'static,
    ) -> anyhow::Result<Vec<String>> {
        let threads = std::thread::available_parallelism().map_or(2, |n| n.get());
        let chunk = count.div_ceil(threads).max(1);
        let mut handles = Vec::new();
        for start in (0..count).step_by(chunk) {
            let end = (start + chunk).min(count);
            let (tokens, sub) = (self.clone(), sub.clone());
            handles.push(tokio::task::spawn_blocking(move || {
                (start..end)
                    .map(|i| tokens.user(&sub(i)))
                    .collect::<anyhow::Result<Vec<_>>>()
            }));
        }
        let mut all = Vec::with_capacity(count);
        for h in handles {
            all.extend(h.await??);
        }
        Ok(all)
    }
}

/// A client whose pool keeps one connection per concurrent worker.
pub fn http(concurrency: usize) -> anyhow::Result<reqwest::Client> {
    Ok(reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency.max(1) * 2)
        .tcp_nodelay(true)
        .timeout(Duration::from_secs(15))
        .build()?)
}

/// A short random tag that keeps one run's subjects apart from another's.
pub fn nonce() -> String {
    uuid::Uuid::now_v7().simple().to_string()[20..].to_string()
}

/// Joins `base` and an absolute `path`.
pub fn url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}
