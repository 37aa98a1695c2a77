//! The catalog benchmark's seed: `--comics` comics created through the API
//! by `--concurrency` clients (every `--rated-every`-th also rated and
//! viewed a few times), then one more comic and a view of it, written after
//! all the others were answered, read back with their consistency tokens:
//! the relay and the projectors apply events in commit order, so once those
//! show, every comic is in the catalog. Writes the ids (index order, one per
//! line) and random search terms (one per line, see `catalog_data::term`).

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::json;

use crate::catalog_data::{term, Comic};
use crate::client::{self, Tokens};
use crate::seed::{create_comic, CONSISTENCY};
use crate::stats::{emit, emit_f};
use crate::zipf::Rng;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// How many comics to create.
    #[arg(long, default_value_t = 100_000)]
    comics: usize,
    /// Requests in flight.
    #[arg(long, default_value_t = 64)]
    concurrency: usize,
    /// Every N-th comic also gets 1–3 ratings and 1–4 views (0: none).
    #[arg(long, default_value_t = 10)]
    rated_every: usize,
    /// Where to write the comic ids, one per line.
    #[arg(long)]
    ids: PathBuf,
    /// Where to write the search terms, one per line.
    #[arg(long)]
    terms: PathBuf,
    /// How many search terms.
    #[arg(long, default_value_t = 20_000)]
    term_count: usize,
    /// How long to wait for the projections after the last write.
    #[arg(long, default_value_t = 600)]
    wait_seconds: u64,
    /// The catalog's seed (titles, genres, terms); from the clock if absent.
    #[arg(long)]
    seed: Option<u64>,
}

/// Prints `catalog_comics`, `catalog_ratings`, `catalog_views`,
/// `catalog_api_seconds` (all answered), `catalog_seconds` (all visible),
/// `catalog_per_sec` (comics per second until visible) and `catalog_token`
/// (the last comic's creation token, already applied when printed).
pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let seed = args.seed.unwrap_or_else(|| Rng::from_clock().next_u64());
    let seeder = Seeder::new(&args, seed).await?;
    let n = args.comics.max(2);
    let (mut ids, writes) = seeder.create_all(n - 1, args.concurrency.max(1)).await?;
    let api = started.elapsed();
    eprintln!(
        "seed-catalog: {} comics answered in {:.1}s; the last one and a view of it",
        n - 1,
        api.as_secs_f64()
    );
    let (id, token) = seeder
        .sentinel(n - 1, Duration::from_secs(args.wait_seconds))
        .await?;
    ids.push(id);
    let all = started.elapsed();
    write_lines(&args.ids, &ids)?;
    let mut rng = Rng::new(seed.rotate_left(17));
    let terms: Vec<String> = (0..args.term_count)
        .map(|_| term(seed, n, &mut rng))
        .collect();
    write_lines(&args.terms, &terms)?;
    emit("catalog_comics", n);
    emit("catalog_ratings", writes.ratings);
    emit("catalog_views", writes.views + 1);
    emit_f("catalog_api_seconds", api.as_secs_f64());
    emit_f("catalog_seconds", all.as_secs_f64());
    emit_f("catalog_per_sec", n as f64 / all.as_secs_f64());
    emit("catalog_token", token);
    Ok(())
}

/// The ratings and views a seeding sent besides the comics.
#[derive(Default, Clone, Copy)]
struct Writes {
    ratings: usize,
    views: usize,
}

struct Seeder {
    base: String,
    http: reqwest::Client,
    admin: String,
    raters: Vec<String>,
    viewers: Vec<String>,
    rated_every: usize,
    seed: u64,
}

impl Seeder {
    async fn new(args: &Args, seed: u64) -> anyhow::Result<Self> {
        let tokens = Tokens::new(&args.secret);
        let tag = client::nonce();
        let raters = tokens
            .many(3, {
                let tag = tag.clone();
                move |j| format!("bench-catalog-rater-{tag}-{j}")
            })
            .await?;
        let viewers = tokens
            .many(5, move |j| format!("bench-catalog-viewer-{tag}-{j}"))
            .await?;
        Ok(Self {
            base: args.base.clone(),
            http: client::http(args.concurrency)?,
            admin: tokens.admin("bench-catalog-admin")?,
            raters,
            viewers,
            rated_every: args.rated_every,
            seed,
        })
    }

    /// Creates comics `0..count` concurrently; their ids in index order.
    async fn create_all(
        &self,
        count: usize,
        concurrency: usize,
    ) -> anyhow::Result<(Vec<String>, Writes)> {
        let mut ids = vec![String::new(); count];
        let mut total = Writes::default();
        let mut answers = stream::iter(0..count)
            .map(|i| self.one(i))
            .buffer_unordered(concurrency);
        let mut done = 0;
        while let Some(answer) = answers.next().await {
            let (i, id, writes) = answer?;
            ids[i] = id;
            total.ratings += writes.ratings;
            total.views += writes.views;
            done += 1;
            if done % (count / 10).max(1) == 0 {
                eprintln!("seed-catalog: {done}/{count} comics");
            }
        }
        Ok((ids, total))
    }

    /// Creates comic `i`, and rates and views it if it is one of those.
    async fn one(&self, i: usize) -> anyhow::Result<(usize, String, Writes)> {
        let comic = Comic::of(self.seed, i);
        let (id, _) = create_comic(&self.http, &self.base, &self.admin, &comic.body()).await?;
        let mut writes = Writes::default();
        if self.rated_every > 0 && i % self.rated_every == 1 {
            writes.ratings = 1 + i / self.rated_every % self.raters.len();
            writes.views = 1 + i / self.rated_every % (self.viewers.len() - 1);
            for (j, rater) in self.raters[..writes.ratings].iter().enumerate() {
                self.rate(&id, rater, (i * 7 + j * 3) % 10 + 1).await?;
            }
            for viewer in &self.viewers[..writes.views] {
                self.view(&id, viewer).await?;
            }
        }
        Ok((i, id, writes))
    }

    /// The last comic and a view of it, each read back with its token;
    /// answers its id and creation token.
    async fn sentinel(&self, i: usize, limit: Duration) -> anyhow::Result<(String, String)> {
        let comic = Comic::of(self.seed, i);
        let (id, created) =
            create_comic(&self.http, &self.base, &self.admin, &comic.body()).await?;
        let viewer = self.viewers.last().expect("viewers");
        let viewed = self.view(&id, viewer).await?;
        for token in [&created, &viewed] {
            self.read_with(&id, token, limit).await?;
        }
        Ok((id, created))
    }

    async fn rate(&self, id: &str, rater: &str, score: usize) -> anyhow::Result<()> {
        let r = self
            .http
            .put(client::url(
                &self.base,
                &format!("/api/v1/comics/{id}/rating"),
            ))
            .header(AUTHORIZATION, format!("Bearer {rater}"))
            .json(&json!({ "score": score }))
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "rating: {}", r.status());
        Ok(())
    }

    /// Views the comic; answers the view's consistency token.
    async fn view(&self, id: &str, viewer: &str) -> anyhow::Result<String> {
        let r = self
            .http
            .post(client::url(
                &self.base,
                &format!("/api/v1/comics/{id}/views"),
            ))
            .header(AUTHORIZATION, format!("Bearer {viewer}"))
            .send()
            .await?;
        anyhow::ensure!(r.status() == StatusCode::ACCEPTED, "view: {}", r.status());
        Ok(r.headers()
            .get(CONSISTENCY)
            .and_then(|v| v.to_str().ok())
            .unwrap_or_default()
            .to_string())
    }

    /// Reads the comic with `token` until it answers 200 (each read waits up
    /// to 5 s on the server; 503 and 404 are retried) or `limit` passes.
    async fn read_with(&self, id: &str, token: &str, limit: Duration) -> anyhow::Result<()> {
        let deadline = Instant::now() + limit;
        let url = client::url(&self.base, &format!("/api/v1/comics/{id}"));
        loop {
            let status = self
                .http
                .get(&url)
                .header(CONSISTENCY, token)
                .send()
                .await?
                .status();
            if status.is_success() {
                return Ok(());
            }
            anyhow::ensure!(
                Instant::now() < deadline,
                "comic {id} not visible after {}s (last status {status})",
                limit.as_secs()
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

fn write_lines(path: &Path, lines: &[String]) -> anyhow::Result<()> {
    let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
    for line in lines {
        writeln!(out, "{line}")?;
    }
    out.flush()?;
    Ok(())
}
