//! A paced background write load for the live benchmark: `--rate` writes a
//! second sent on schedule (open loop: a slow answer does not slow the
//! schedule, up to `--max-in-flight` requests), each a rating by one of
//! `--users` users or a view by a new reader, of a comic drawn from a Zipf
//! distribution over `--comics`. Every rating changes the user's score of
//! that comic, and every view is by a reader not seen before, so every write
//! is real work. Runs for `--seconds` or until SIGINT/SIGTERM, then reports.

use std::collections::HashMap;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::header::AUTHORIZATION;
use serde_json::json;
use tokio::sync::Semaphore;
use tokio::time::Instant;

use crate::client::{self, Tokens};
use crate::stats::{emit, emit_f, emit_ms, percentile};
use crate::zipf::{read_ids, Rng, Zipf};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// Writes per second, sent on schedule whatever the answers take.
    #[arg(long, default_value_t = 250.0)]
    rate: f64,
    /// Comic ids, one per line; line k has Zipf rank k.
    #[arg(long)]
    comics: PathBuf,
    /// How long to write (SIGINT or SIGTERM stops earlier, and still reports).
    #[arg(long, default_value_t = 60.0)]
    seconds: f64,
    /// How many users rate.
    #[arg(long, default_value_t = 5000)]
    users: usize,
    /// The share of views among the writes; the rest are ratings.
    #[arg(long, default_value_t = 0.5)]
    view_share: f64,
    /// The Zipf exponent of the comic choice.
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// The most requests in flight; past it the writer falls behind (reported as late).
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
}

/// One write to send.
struct Write {
    rating: bool,
    url: String,
    token: String,
    score: u8,
}

/// Chooses the writes: which comic, which user, which score.
struct Plan {
    base: String,
    ids: Vec<String>,
    zipf: Zipf,
    view_share: f64,
    tokens: Tokens,
    users: Vec<String>,
    scores: HashMap<(usize, usize), u8>,
    tag: String,
    viewers: u64,
    rng: Rng,
}

impl Plan {
    fn next(&mut self) -> anyhow::Result<Write> {
        let comic = self.zipf.sample(&mut self.rng);
        let id = &self.ids[comic];
        if self.rng.unit() < self.view_share {
            self.viewers += 1;
            let sub = format!("bench-live-viewer-{}-{}", self.tag, self.viewers);
            return Ok(Write {
                rating: false,
                url: client::url(&self.base, &format!("/api/v1/comics/{id}/views")),
                token: self.tokens.user(&sub)?,
                score: 0,
            });
        }
        let user = self.rng.below(self.users.len());
        // A score other than the user's last one for this comic: a change.
        let score = match self.scores.get(&(user, comic)) {
            Some(last) => last % 10 + 1,
            None => self.rng.below(10) as u8 + 1,
        };
        self.scores.insert((user, comic), score);
        Ok(Write {
            rating: true,
            url: client::url(&self.base, &format!("/api/v1/comics/{id}/rating")),
            token: self.users[user].clone(),
            score,
        })
    }
}

/// What came back, shared by the request tasks.
struct Tally {
    started: Instant,
    ratings_ok: AtomicU64,
    views_ok: AtomicU64,
    failed: AtomicU64,
    /// Successful writes per second since `started`, by completion.
    per_second: Mutex<Vec<u64>>,
    latencies: Mutex<Vec<Duration>>,
}

impl Tally {
    fn record(&self, rating: bool, ok: bool, took: Duration) {
        if !ok {
            self.failed.fetch_add(1, Ordering::Relaxed);
            return;
        }
        let counter = if rating {
            &self.ratings_ok
        } else {
            &self.views_ok
        };
        counter.fetch_add(1, Ordering::Relaxed);
        let second = self.started.elapsed().as_secs() as usize;
        let mut per = self.per_second.lock().unwrap_or_else(|e| e.into_inner());
        if per.len() <= second {
            per.resize(second + 1, 0);
        }
        per[second] += 1;
        drop(per);
        let mut lat = self.latencies.lock().unwrap_or_else(|e| e.into_inner());
        lat.push(took);
    }
}

async fn send(http: &reqwest::Client, w: &Write) -> bool {
    let auth = format!("Bearer {}", w.token);
    let sent = if w.rating {
        http.put(&w.url)
            .header(AUTHORIZATION, auth)
            .json(&json!({ "score": w.score }))
            .send()
            .await
    } else {
        http.post(&w.url).header(AUTHORIZATION, auth).send().await
    };
    match sent {
        Ok(r) if w.rating => r.status().is_success(),
        Ok(r) => r.status() == reqwest::StatusCode::ACCEPTED,
        Err(_) => false,
    }
}

/// Resolves on SIGINT or SIGTERM.
async fn stopped() {
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term => {}
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    anyhow::ensure!(args.rate > 0.0, "--rate must be positive");
    let ids = read_ids(&args.comics)?;
    let tokens = Tokens::new(&args.secret);
    let tag = client::nonce();
    let users = tokens
        .many(args.users.max(1), {
            let tag = tag.clone();
            move |i| format!("bench-live-rater-{tag}-{i}")
        })
        .await?;
    let mut plan = Plan {
        base: args.base.clone(),
        zipf: Zipf::new(ids.len(), args.zipf),
        ids,
        view_share: args.view_share,
        tokens,
        users,
        scores: HashMap::new(),
        tag,
        viewers: 0,
        rng: Rng::from_clock(),
    };
    let http = client::http(64)?;
    let in_flight = Arc::new(Semaphore::new(args.max_in_flight.max(1)));
    let started = Instant::now();
    let tally = Arc::new(Tally {
        started,
        ratings_ok: AtomicU64::new(0),
        views_ok: AtomicU64::new(0),
        failed: AtomicU64::new(0),
        per_second: Mutex::new(Vec::new()),
        latencies: Mutex::new(Vec::new()),
    });
    eprintln!(
        "writes: started, {} writes/s over {} comics for up to {} s",
        args.rate,
        plan.ids.len(),
        args.seconds
    );
    let period = Duration::from_secs_f64(1.0 / args.rate);
    let deadline = started + Duration::from_secs_f64(args.seconds);
    let stop = stopped();
    tokio::pin!(stop);
    let (mut sent, mut late) = (0u64, 0u64);
    loop {
        let due = started + period.mul_f64(sent as f64);
        if due >= deadline {
            break;
        }
        tokio::select! {
            _ = &mut stop => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        let permit = in_flight.clone().acquire_owned().await?;
        if due.elapsed() > Duration::from_millis(100) {
            late += 1;
        }
        let write = plan.next()?;
        let (http, tally) = (http.clone(), tally.clone());
        tokio::spawn(async move {
            let t = Instant::now();
            let ok = send(&http, &write).await;
            tally.record(write.rating, ok, t.elapsed());
            drop(permit);
        });
        sent += 1;
    }
    let elapsed = started.elapsed();
    // Let the requests in flight finish (briefly: run.sh waits 5 s for the report).
    let all = u32::try_from(args.max_in_flight.max(1)).unwrap_or(u32::MAX);
    let _ = tokio::time::timeout(Duration::from_secs(3), in_flight.acquire_many(all)).await;
    report(&tally, args.rate, sent, late, elapsed);
    Ok(())
}

fn report(tally: &Tally, rate: f64, sent: u64, late: u64, elapsed: Duration) {
    let ratings = tally.ratings_ok.load(Ordering::Relaxed);
    let views = tally.views_ok.load(Ordering::Relaxed);
    let per = tally.per_second.lock().unwrap_or_else(|e| e.into_inner());
    // Whole seconds only: not the first (starting) nor the last (partial).
    let full = (elapsed.as_secs() as usize).min(per.len());
    let min = per
        .get(1..full.saturating_sub(1))
        .and_then(|s| s.iter().min());
    let mut lat = tally
        .latencies
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .clone();
    lat.sort_unstable();
    emit_f("writes_target_per_sec", rate);
    emit("writes_sent", sent);
    emit("writes_ok", ratings + views);
    emit("writes_ratings_ok", ratings);
    emit("writes_views_ok", views);
    emit("writes_failed", tally.failed.load(Ordering::Relaxed));
    emit("writes_late", late);
    emit("writes_seconds", format!("{:.2}", elapsed.as_secs_f64()));
    emit_f(
        "writes_per_sec",
        (ratings + views) as f64 / elapsed.as_secs_f64().max(1e-9),
    );
    emit("writes_min_per_sec", min.copied().unwrap_or(0));
    emit_ms("writes_p50_ms", percentile(&lat, 50.0));
    emit_ms("writes_p99_ms", percentile(&lat, 99.0));
}
