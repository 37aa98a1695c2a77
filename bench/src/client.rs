//! The HTTP client, token minting and the concurrent request loop shared by
//! the load generators.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use comics_common::auth::Jwt;
use comics_common::config::JwtSettings;

/// Mints HS256 tokens with the server's secret.
#[derive(Clone)]
pub struct Tokens(Arc<Jwt>);

impl Tokens {
    pub fn new(secret: &str) -> Self {
        Self(Jwt::new(&JwtSettings {
            secret: secret.to_string(),
            is_development_secret: false,
            issuer: None,
            audience: None,
        }))
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

/// How one request ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    /// The expected status.
    Ok,
    /// Another status.
    Status(u16),
    /// No answer (connection error, timeout).
    Failed,
}

impl Outcome {
    pub fn of(result: reqwest::Result<reqwest::Response>, expected: &[u16]) -> Self {
        match result {
            Ok(r) if expected.contains(&r.status().as_u16()) => Outcome::Ok,
            Ok(r) => Outcome::Status(r.status().as_u16()),
            Err(_) => Outcome::Failed,
        }
    }
}

/// What a timed run produced.
pub struct Run {
    pub ok: u64,
    pub errors: u64,
    /// Count of each unexpected status, and of failures (status 0).
    pub by_status: Vec<(u16, u64)>,
    pub elapsed: Duration,
    /// Latencies of the successful requests, sorted.
    pub latencies: Vec<Duration>,
}

impl Run {
    pub fn per_sec(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }
}

/// Runs `request(k)` for k = 0, 1, 2, … from `concurrency` workers until
/// `seconds` have passed; requests in flight at the deadline finish and count.
pub async fn timed<F, Fut>(concurrency: usize, seconds: f64, request: F) -> Run
where
    F: Fn(u64) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Outcome> + Send,
{
    let request = Arc::new(request);
    let next = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let deadline = start + Duration::from_secs_f64(seconds);
    let mut workers = Vec::new();
    for _ in 0..concurrency.max(1) {
        let (request, next) = (request.clone(), next.clone());
        workers.push(tokio::spawn(async move {
            let mut latencies = Vec::new();
            let mut bad: Vec<u16> = Vec::new();
            while Instant::now() < deadline {
                let k = next.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                match request(k).await {
                    Outcome::Ok => latencies.push(sent.elapsed()),
                    Outcome::Status(s) => bad.push(s),
                    Outcome::Failed => {
                        bad.push(0);
                        // Do not spin on a refused connection.
                        tokio::time::sleep(Duration::from_millis(10)).await;
                    }
                }
            }
            (latencies, bad)
        }));
    }
    let mut latencies = Vec::new();
    let mut bad = Vec::new();
    for w in workers {
        if let Ok((l, b)) = w.await {
            latencies.extend(l);
            bad.extend(b);
        }
    }
    let elapsed = start.elapsed();
    latencies.sort_unstable();
    bad.sort_unstable();
    let mut by_status: Vec<(u16, u64)> = Vec::new();
    for s in &bad {
        match by_status.last_mut() {
            Some((last, n)) if last == s => *n += 1,
            _ => by_status.push((*s, 1)),
        }
    }
    Run {
        ok: latencies.len() as u64,
        errors: bad.len() as u64,
        by_status,
        elapsed,
        latencies,
    }
}

/// Joins `base` and an absolute `path`.
pub fn url(base: &str, path: &str) -> String {
    format!("{}{}", base.trim_end_matches('/'), path)
}
