//! Seeding: comics with a few ratings and views, created through the API
//! like any client would, then read back so that they are projected before
//! the read benchmarks start.

use std::time::{Duration, Instant};

use futures::stream::{self, StreamExt, TryStreamExt};
use reqwest::header::AUTHORIZATION;
use reqwest::StatusCode;
use serde_json::json;

use crate::client::{self, Tokens};
use crate::stats::emit;

pub const CONSISTENCY: &str = "X-Consistency-Token";

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// How many comics to create.
    #[arg(long, default_value_t = 200)]
    comics: usize,
    /// Ratings per comic, each by another user.
    #[arg(long, default_value_t = 3)]
    ratings: usize,
    /// Views per comic, each by another reader.
    #[arg(long, default_value_t = 5)]
    views: usize,
    #[arg(long, default_value_t = 8)]
    concurrency: usize,
}

/// Prints `comic_id <id>` for each comic created, then `seed_seconds`.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let tokens = Tokens::new(&args.secret);
    let admin = tokens.admin("bench-admin")?;
    let tag = client::nonce();
    let raters = tokens
        .many(args.ratings, {
            let tag = tag.clone();
            move |j| format!("bench-seed-rater-{tag}-{j}")
        })
        .await?;
    let viewers = tokens
        .many(args.views, move |j| format!("bench-seed-viewer-{tag}-{j}"))
        .await?;
    let http = client::http(args.concurrency)?;
    let ctx = Seed {
        base: &args.base,
        http: &http,
        admin: &admin,
        raters: &raters,
        viewers: &viewers,
    };
    let ids: Vec<String> = stream::iter(0..args.comics)
        .map(|i| ctx.one(i))
        .buffered(args.concurrency.max(1))
        .try_collect()
        .await?;
    for id in &ids {
        emit("comic_id", id);
    }
    emit(
        "seed_seconds",
        format!("{:.2}", started.elapsed().as_secs_f64()),
    );
    Ok(())
}

struct Seed<'a> {
    base: &'a str,
    http: &'a reqwest::Client,
    admin: &'a str,
    raters: &'a [String],
    viewers: &'a [String],
}

impl Seed<'_> {
    async fn one(&self, i: usize) -> anyhow::Result<String> {
        let kind = ["manga", "manhwa", "webtoon"][i % 3];
        let genres = [
            ["action", "fantasy"],
            ["romance", "drama"],
            ["comedy", "slice-of-life"],
        ][i % 3];
        let (id, mut token) = create_comic(
            self.http,
            self.base,
            self.admin,
            &json!({
                "title": format!("Bench comic {i:04}"),
                "alt_titles": [format!("ベンチ {i}")],
                "description": "A comic created by the benchmark seed, with a description \
                                of a typical length for a catalog entry.",
                "type": kind,
                "authors": ["Bench Author"],
                "artists": ["Bench Artist"],
                "genres": genres,
            }),
        )
        .await?;
        for (j, rater) in self.raters.iter().enumerate() {
            let r = self
                .http
                .put(client::url(
                    self.base,
                    &format!("/api/v1/comics/{id}/rating"),
                ))
                .header(AUTHORIZATION, format!("Bearer {rater}"))
                .json(&json!({"score": (i + j) % 10 + 1}))
                .send()
                .await?;
            anyhow::ensure!(r.status().is_success(), "rating: {}", r.status());
            if let Some(t) = r.headers().get(CONSISTENCY) {
                token = t.to_str()?.to_string();
            }
        }
        for viewer in self.viewers {
            let r = self
                .http
                .post(client::url(
                    self.base,
                    &format!("/api/v1/comics/{id}/views"),
                ))
                .header(AUTHORIZATION, format!("Bearer {viewer}"))
                .send()
                .await?;
            anyhow::ensure!(r.status() == StatusCode::ACCEPTED, "view: {}", r.status());
        }
        wait_visible(self.http, self.base, &id, &token).await?;
        Ok(id)
    }
}

/// Creates a comic; answers its id and the write's consistency token.
pub async fn create_comic(
    http: &reqwest::Client,
    base: &str,
    admin: &str,
    body: &serde_json::Value,
) -> anyhow::Result<(String, String)> {
    let r = http
        .post(client::url(base, "/api/v1/comics"))
        .header(AUTHORIZATION, format!("Bearer {admin}"))
        .json(body)
        .send()
        .await?;
    anyhow::ensure!(
        r.status() == StatusCode::CREATED,
        "creating a comic: {} {}",
        r.status(),
        r.text().await.unwrap_or_default()
    );
    let token = r
        .headers()
        .get(CONSISTENCY)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string();
    let v: serde_json::Value = r.json().await?;
    let id = v["id"]
        .as_str()
        .ok_or_else(|| anyhow::anyhow!("no id in {v}"))?
        .to_string();
    Ok((id, token))
}

/// Reads the comic back with `token` until it answers 200 (the read waits for
/// the projections on the server side; retried on 503 and 404).
pub async fn wait_visible(
    http: &reqwest::Client,
    base: &str,
    id: &str,
    token: &str,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let mut req = http.get(client::url(base, &format!("/api/v1/comics/{id}")));
        if !token.is_empty() {
            req = req.header(CONSISTENCY, token);
        }
        let status = req.send().await?.status();
        if status.is_success() {
            return Ok(());
        }
        anyhow::ensure!(
            Instant::now() < deadline,
            "comic {id} not visible after 30 s (last status {status})"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
