//! Pages: creates a comic with a chapter, uploads a page of `--read-bytes`
//! for the read benchmark (its URL is printed), then measures the upload
//! throughput of `--uploads` pages of `--page-bytes` each (distinct bytes,
//! so every one is stored) and the server's RSS growth while
//! `--big-concurrent` pages of `--big-bytes` upload at once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::{json, Value};

use crate::client::{self, Tokens};
use crate::stats::{emit, emit_f, emit_ms, percentile};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// The size of the page the read benchmark reads.
    #[arg(long, default_value_t = 150_000)]
    read_bytes: usize,
    /// The size of each page of the throughput run.
    #[arg(long, default_value_t = 1024 * 1024)]
    page_bytes: usize,
    /// Pages uploaded in the throughput run.
    #[arg(long, default_value_t = 64)]
    uploads: usize,
    /// Uploads in flight at once in the throughput run.
    #[arg(long, default_value_t = 4)]
    concurrency: usize,
    /// The size of each page of the memory run.
    #[arg(long, default_value_t = 20 * 1024 * 1024)]
    big_bytes: usize,
    /// Pages uploaded at once in the memory run.
    #[arg(long, default_value_t = 8)]
    big_concurrent: usize,
    /// The server's process id, whose RSS is sampled during the memory run.
    #[arg(long)]
    pid: u32,
}

/// A PNG header claiming 1000×1500 px, then filler made from `seed` (the
/// server checks headers, not pixels): distinct seeds, distinct bytes.
pub fn page(len: usize, seed: u64) -> Vec<u8> {
    let mut b = b"\x89PNG\r\n\x1a\n\0\0\0\x0dIHDR".to_vec();
    b.extend(1000u32.to_be_bytes());
    b.extend(1500u32.to_be_bytes());
    b.extend([8, 6, 0, 0, 0]);
    let mut x = 0x9e37_79b9_7f4a_7c15_u64 ^ seed.wrapping_mul(0x2545_f491_4f6c_dd1d);
    while b.len() < len {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        b.extend_from_slice(&x.to_le_bytes());
    }
    b.truncate(len.max(29));
    b
}

struct Ctx<'a> {
    base: &'a str,
    http: reqwest::Client,
    admin: String,
}

impl Ctx<'_> {
    async fn create(&self, path: &str, body: Value) -> anyhow::Result<String> {
        let r = self
            .http
            .post(client::url(self.base, path))
            .header(AUTHORIZATION, format!("Bearer {}", self.admin))
            .json(&body)
            .send()
            .await?;
        anyhow::ensure!(r.status() == 201, "POST {path} answered {}", r.status());
        let doc: Value = r.json().await?;
        Ok(doc["id"].as_str().unwrap_or_default().to_string())
    }

    async fn chapter(&self, comic: &str, number: u32) -> anyhow::Result<String> {
        let body = json!({"number": number.to_string(), "title": format!("Chapter {number}")});
        self.create(&format!("/api/v1/comics/{comic}/chapters"), body)
            .await
    }

    /// PUTs page `n` of `chapter`; answers how long it took.
    async fn put(&self, chapter: &str, n: usize, bytes: Vec<u8>) -> anyhow::Result<Duration> {
        let started = Instant::now();
        let path = format!("/api/v1/chapters/{chapter}/pages/{n}");
        let r = self
            .http
            .put(client::url(self.base, &path))
            .header(AUTHORIZATION, format!("Bearer {}", self.admin))
            .header(CONTENT_TYPE, "image/png")
            .body(bytes)
            .send()
            .await?;
        let status = r.status();
        let _ = r.bytes().await?;
        anyhow::ensure!(status.is_success(), "PUT {path} answered {status}");
        Ok(started.elapsed())
    }
}

fn rss_kb(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse().ok())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for process {pid}"))
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let tokens = Tokens::new(&args.secret);
    let ctx = Ctx {
        base: &args.base,
        http: reqwest::Client::builder()
            .pool_max_idle_per_host(args.big_concurrent.max(args.concurrency) * 2)
            .timeout(Duration::from_secs(120))
            .build()?,
        admin: tokens.admin("bench-pages")?,
    };
    let tag = client::nonce();
    let comic = ctx
        .create(
            "/api/v1/comics",
            json!({"title": format!("Paged {tag}"), "type": "manga"}),
        )
        .await?;
    let reads = ctx.chapter(&comic, 1).await?;
    ctx.put(&reads, 1, page(args.read_bytes, 0)).await?;
    let read_url = client::url(&args.base, &format!("/api/v1/chapters/{reads}/pages/1"));
    // Readable once the catalog shows it.
    let deadline = Instant::now() + Duration::from_secs(30);
    while ctx.http.get(&read_url).send().await?.status() != 200 {
        anyhow::ensure!(
            Instant::now() < deadline,
            "{read_url} not readable after 30 s"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    emit("read_url", read_url);
    emit("read_bytes", args.read_bytes);

    // Memory: the RSS sampled every 5 ms while the big pages upload at once.
    let big = ctx.chapter(&comic, 3).await?;
    let bodies: Vec<Vec<u8>> = (0..args.big_concurrent)
        .map(|i| page(args.big_bytes, 1_000_000 + i as u64))
        .collect();
    let before = rss_kb(args.pid)?;
    let peak = Arc::new(AtomicU64::new(before));
    let done = Arc::new(AtomicBool::new(false));
    let sampler = {
        let (peak, done, pid) = (peak.clone(), done.clone(), args.pid);
        tokio::spawn(async move {
            while !done.load(Ordering::Relaxed) {
                if let Ok(kb) = rss_kb(pid) {
                    peak.fetch_max(kb, Ordering::Relaxed);
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
    };
    let started = Instant::now();
    let put: Vec<Duration> = futures::future::try_join_all(
        bodies
            .into_iter()
            .enumerate()
            .map(|(i, body)| ctx.put(&big, i + 1, body)),
    )
    .await?;
    let elapsed = started.elapsed();
    done.store(true, Ordering::Relaxed);
    sampler.await?;
    let peak = peak.load(Ordering::Relaxed);
    emit("big_uploads", put.len());
    emit_f(
        "big_mb_per_sec",
        (args.big_concurrent * args.big_bytes) as f64 / 1e6 / elapsed.as_secs_f64(),
    );
    emit("rss_before_kb", before);
    emit("rss_peak_kb", peak);
    emit_f("rss_growth_mb", peak.saturating_sub(before) as f64 / 1024.0);
    // Throughput: distinct 1 MiB pages, made before the clock starts.
    let uploads = ctx.chapter(&comic, 2).await?;
    let bodies: Vec<Vec<u8>> = (0..args.uploads)
        .map(|i| page(args.page_bytes, 1 + i as u64))
        .collect();
    let started = Instant::now();
    let mut took: Vec<Duration> = stream::iter(bodies.into_iter().enumerate())
        .map(|(i, body)| ctx.put(&uploads, i + 1, body))
        .buffer_unordered(args.concurrency)
        .try_collect()
        .await?;
    let elapsed = started.elapsed();
    took.sort();
    let total = (args.uploads * args.page_bytes) as f64;
    emit("upload_pages", args.uploads);
    emit("upload_bytes", total as u64);
    emit_f("upload_seconds_x1000", elapsed.as_secs_f64() * 1000.0);
    emit_f("upload_mb_per_sec", total / 1e6 / elapsed.as_secs_f64());
    emit_ms("upload_p50_ms", percentile(&took, 50.0));
    emit_ms("upload_p99_ms", percentile(&took, 99.0));

    Ok(())
}

#[cfg(test)]
mod tests {
    use super::page;

    #[test]
    fn pages_have_their_size_and_differ_by_seed() {
        let (a, b) = (page(1000, 1), page(1000, 2));
        assert_eq!((a.len(), b.len()), (1000, 1000));
        assert_ne!(a, b);
        assert_eq!(page(1000, 1), a);
        assert!(a.starts_with(b"\x89PNG\r\n\x1a\n"));
    }
}
