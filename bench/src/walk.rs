//! Walks a comic list by cursor: the first page, then `after=<next>` page
//! after page until `--depth` rows are behind, for the catalog benchmark's
//! deep cursor pages (`bench/catalog.sh`).

use std::time::{Duration, Instant};

use crate::client;
use crate::stats::{emit, emit_ms, percentile};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    /// The list with its filters and sort, e.g. `/api/v1/comics?genre=action&sort=title`.
    #[arg(long)]
    path: String,
    /// How many rows to walk past.
    #[arg(long, default_value_t = 5000)]
    depth: usize,
    /// Rows per page (the API allows up to 100).
    #[arg(long, default_value_t = 100)]
    page: usize,
}

/// Prints `walk_total` (the list's `total`), `walk_cursor` (the `next`
/// after `walk_rows` rows; empty if the first page had none), `walk_rows`,
/// `walk_pages` and the pages' latency (`walk_p50_ms`, `walk_max_ms`).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = client::http(1)?;
    let (mut cursor, mut rows, mut total) = (String::new(), 0usize, None);
    let mut took: Vec<Duration> = Vec::new();
    while rows < args.depth {
        let (page, elapsed) = page(&http, &args, &cursor).await?;
        took.push(elapsed);
        total = total.or(page["total"].as_u64());
        let Some(next) = page["next"].as_str() else {
            break;
        };
        rows += page["items"].as_array().map_or(0, Vec::len);
        cursor = next.to_string();
    }
    took.sort();
    emit("walk_total", total.unwrap_or_default());
    emit("walk_cursor", &cursor);
    emit("walk_rows", rows);
    emit("walk_pages", took.len());
    emit_ms("walk_p50_ms", percentile(&took, 50.0));
    emit_ms("walk_max_ms", took.last().copied().unwrap_or_default());
    Ok(())
}

/// One page after `cursor`, and how long it took.
async fn page(
    http: &reqwest::Client,
    args: &Args,
    cursor: &str,
) -> anyhow::Result<(serde_json::Value, Duration)> {
    let sep = if args.path.contains('?') { '&' } else { '?' };
    let mut url = client::url(
        &args.base,
        &format!("{}{sep}limit={}", args.path, args.page),
    );
    if !cursor.is_empty() {
        url = format!("{url}&after={cursor}");
    }
    let started = Instant::now();
    let r = http.get(&url).send().await?;
    anyhow::ensure!(r.status().is_success(), "GET {url}: {}", r.status());
    let body: serde_json::Value = r.json().await?;
    Ok((body, started.elapsed()))
}
