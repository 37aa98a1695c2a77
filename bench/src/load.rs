//! Write throughput: rating commands and accepted views.

use std::sync::Arc;

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};

use crate::client::{self, Outcome, Run, Tokens};
use crate::stats::{emit, emit_f, emit_ms, percentile};

#[derive(clap::Args)]
pub struct RatingsArgs {
    /// The server, e.g. http://127.0.0.1:18900
    #[arg(long)]
    base: String,
    /// The comic to rate.
    #[arg(long)]
    comic: String,
    /// The server's COMICS_JWT_SECRET.
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// How many distinct users rate (round robin; at least --concurrency).
    #[arg(long, default_value_t = 20_000)]
    users: usize,
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
}

/// Request k is user `k mod users`; a user's score moves by one on each
/// round, so every request after the first round is a real change.
pub async fn ratings(args: RatingsArgs) -> anyhow::Result<()> {
    let users = args.users.max(args.concurrency).max(1);
    let tokens = Tokens::new(&args.secret);
    let tag = client::nonce();
    let pool = Arc::new(
        tokens
            .many(users, move |i| format!("bench-rater-{tag}-{i}"))
            .await?,
    );
    let http = client::http(args.concurrency)?;
    let url = client::url(&args.base, &format!("/api/v1/comics/{}/rating", args.comic));
    eprintln!(
        "ratings: {} users, {} concurrent, {} s against {url}",
        users, args.concurrency, args.seconds
    );
    let run = client::timed(args.concurrency, args.seconds, move |k| {
        let (http, url, pool) = (http.clone(), url.clone(), pool.clone());
        async move {
            let n = pool.len() as u64;
            let (user, round) = ((k % n) as usize, k / n);
            let score = (user as u64 + round) % 10 + 1;
            let sent = http
                .put(&url)
                .header(AUTHORIZATION, format!("Bearer {}", pool[user]))
                .header(CONTENT_TYPE, "application/json")
                .body(format!(r#"{{"score":{score}}}"#))
                .send()
                .await;
            Outcome::of(sent, &[200, 201, 204])
        }
    })
    .await;
    report("ratings", &run);
    emit_f("ratings_per_sec", run.per_sec());
    emit("ratings_errors", run.errors);
    Ok(())
}

#[derive(clap::Args)]
pub struct ViewsArgs {
    #[arg(long)]
    base: String,
    /// The comic(s) viewed, round robin: repeat the flag or separate by commas.
    #[arg(long = "comic", value_delimiter = ',', required = true)]
    comics: Vec<String>,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    #[arg(long, default_value_t = 10.0)]
    seconds: f64,
    /// Tokens minted before the clock starts; past them each request mints
    /// its own (which costs the load generator a little CPU).
    #[arg(long, default_value_t = 200_000)]
    tokens: usize,
}

/// Request k views comic `k mod m` as reader `k / m`: no (reader, comic) pair
/// repeats, so the server's 10-minute dedupe never drops one.
pub async fn views(args: ViewsArgs) -> anyhow::Result<()> {
    let tokens = Tokens::new(&args.secret);
    let tag = client::nonce();
    let sub = {
        let tag = tag.clone();
        move |i: usize| format!("bench-viewer-{tag}-{i}")
    };
    let pool = Arc::new(tokens.many(args.tokens, sub.clone()).await?);
    let http = client::http(args.concurrency)?;
    let urls: Arc<Vec<String>> = Arc::new(
        args.comics
            .iter()
            .map(|c| client::url(&args.base, &format!("/api/v1/comics/{c}/views")))
            .collect(),
    );
    eprintln!(
        "views: {} comic(s), {} concurrent, {} s, {} pre-minted readers",
        urls.len(),
        args.concurrency,
        args.seconds,
        pool.len()
    );
    let run = client::timed(args.concurrency, args.seconds, move |k| {
        let (http, urls, pool, tokens, sub) = (
            http.clone(),
            urls.clone(),
            pool.clone(),
            tokens.clone(),
            sub.clone(),
        );
        async move {
            let m = urls.len() as u64;
            let reader = (k / m) as usize;
            let token = match pool.get(reader) {
                Some(t) => t.clone(),
                None => match tokens.user(&sub(reader)) {
                    Ok(t) => t,
                    Err(_) => return Outcome::Failed,
                },
            };
            let sent = http
                .post(&urls[(k % m) as usize])
                .header(AUTHORIZATION, format!("Bearer {token}"))
                .send()
                .await;
            Outcome::of(sent, &[202])
        }
    })
    .await;
    report("views", &run);
    emit_f("views_accepted_per_sec", run.per_sec());
    emit("views_non_202", run.errors);
    Ok(())
}

/// The common lines: counts, duration, latency percentiles, odd statuses.
fn report(name: &str, run: &Run) {
    emit(&format!("{name}_ok"), run.ok);
    emit(
        &format!("{name}_seconds"),
        format!("{:.2}", run.elapsed.as_secs_f64()),
    );
    emit_ms(&format!("{name}_p50_ms"), percentile(&run.latencies, 50.0));
    emit_ms(&format!("{name}_p99_ms"), percentile(&run.latencies, 99.0));
    for (status, n) in &run.by_status {
        let what = if *status == 0 {
            "no answer".to_string()
        } else {
            format!("status {status}")
        };
        eprintln!("{name}: {n} × {what}");
    }
}
