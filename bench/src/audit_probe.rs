//! The audit read at scale (`bench/audit.sh`): pages of
//! `GET /api/v1/audit/events` one at a time, as an admin, and full walks.
//!
//! `pages`: for each `--query` (`name=query string`), walks its pages by
//! `after` (limit 100), starting over when the filter has no more, until
//! `--pages` answers; prints `<name>_p50_ms`, `<name>_p99_ms` and
//! `<name>_items` (items per page on average).
//! `walk`: the whole log by `after` with `--limit`, unfiltered; prints
//! `walk_events`, `walk_seconds` and `walk_per_sec`.

use std::time::{Duration, Instant};

use reqwest::header::AUTHORIZATION;

use crate::client::{self, Tokens};
use crate::stats::{emit, emit_f, emit_ms, percentile};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// `name=query string`, e.g. `actor=actor=bench-rater-1` (repeatable).
    #[arg(long = "query")]
    queries: Vec<String>,
    /// Pages timed per query.
    #[arg(long, default_value_t = 200)]
    pages: usize,
    /// Walk the whole log instead, with this page size.
    #[arg(long)]
    walk: Option<usize>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let http = client::http(1)?;
    let admin = format!(
        "Bearer {}",
        Tokens::new(&args.secret).admin("bench-auditor")?
    );
    let get = |query: String| {
        let (http, admin, base) = (&http, &admin, &args.base);
        async move {
            let url = client::url(base, &format!("/api/v1/audit/events?{query}"));
            let started = Instant::now();
            let r = http.get(&url).header(AUTHORIZATION, admin).send().await?;
            anyhow::ensure!(r.status().is_success(), "GET {url}: {}", r.status());
            let body: serde_json::Value = r.json().await?;
            anyhow::Ok((body, started.elapsed()))
        }
    };
    if let Some(limit) = args.walk {
        let started = Instant::now();
        let (mut events, mut after) = (0usize, None::<String>);
        loop {
            let mut query = format!("limit={limit}");
            if let Some(a) = &after {
                query.push_str(&format!("&after={a}"));
            }
            let (page, _) = get(query).await?;
            events += page["items"].as_array().map_or(0, Vec::len);
            match page["next"].as_str() {
                Some(next) => after = Some(next.to_string()),
                None => break,
            }
        }
        let took = started.elapsed().as_secs_f64();
        emit("walk_events", events);
        emit("walk_seconds", format!("{took:.2}"));
        emit_f("walk_per_sec", events as f64 / took);
        return Ok(());
    }
    for spec in &args.queries {
        let (name, query) = spec
            .split_once('=')
            .ok_or_else(|| anyhow::anyhow!("--query {spec:?}: expected name=query"))?;
        let mut took: Vec<Duration> = Vec::with_capacity(args.pages);
        let (mut items, mut after) = (0usize, None::<String>);
        while took.len() < args.pages {
            let mut q = format!("{query}&limit=100");
            if let Some(a) = &after {
                q.push_str(&format!("&after={a}"));
            }
            let (page, elapsed) = get(q).await?;
            took.push(elapsed);
            items += page["items"].as_array().map_or(0, Vec::len);
            after = page["next"].as_str().map(str::to_string);
        }
        took.sort();
        emit_ms(&format!("{name}_p50_ms"), percentile(&took, 50.0));
        emit_ms(&format!("{name}_p99_ms"), percentile(&took, 99.0));
        emit_f(&format!("{name}_items"), items as f64 / took.len() as f64);
    }
    Ok(())
}
