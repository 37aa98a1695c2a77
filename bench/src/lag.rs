//! Command-to-visible lag: while `--writers` clients keep changing other
//! comics and rating them, `--probes` probes each change their own comic's
//! title and poll the comic (without a consistency token, as a plain reader
//! would) every `--poll-ms` until the new title shows.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde_json::json;

use crate::client::{self, Tokens};
use crate::seed::{create_comic, wait_visible};
use crate::stats::{emit, emit_f, emit_ms, percentile};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    #[arg(long, env = "COMICS_JWT_SECRET")]
    secret: String,
    /// Concurrent writers of the background load (PATCH and rating, in turn).
    #[arg(long, default_value_t = 8)]
    writers: usize,
    /// Concurrent probes, each on its own comic (one change in flight each).
    #[arg(long, default_value_t = 4)]
    probes: usize,
    /// How long to probe (longer if fewer than --min-samples were taken).
    #[arg(long, default_value_t = 15.0)]
    seconds: f64,
    #[arg(long, default_value_t = 200)]
    min_samples: usize,
    /// Stop probing then even if fewer than --min-samples were taken.
    #[arg(long, default_value_t = 60.0)]
    max_seconds: f64,
    /// The pause between two reads of a probe comic.
    #[arg(long, default_value_t = 1)]
    poll_ms: u64,
}

/// What the probes need, shared.
struct Probing {
    http: reqwest::Client,
    base: String,
    admin: String,
    tag: String,
    poll: Duration,
    started: Instant,
    seconds: f64,
    hard_stop: Instant,
    min_samples: usize,
    samples: AtomicUsize,
}

#[derive(Default)]
struct Samples {
    from_send: Vec<Duration>,
    from_ack: Vec<Duration>,
    commands: Vec<Duration>,
    timeouts: u64,
    errors: u64,
}

impl Probing {
    fn more(&self) -> bool {
        (self.started.elapsed().as_secs_f64() < self.seconds
            || self.samples.load(Ordering::Relaxed) < self.min_samples)
            && Instant::now() < self.hard_stop
    }

    /// Changes `comic`'s title and waits to see it, over and over.
    async fn probe(&self, p: usize, comic: &str) -> Samples {
        let Probing { http, base, .. } = self;
        let mut out = Samples::default();
        let mut i = 0u64;
        while self.more() {
            i += 1;
            let title = format!("Lag probe {} {p} {i}", self.tag);
            let sent = Instant::now();
            let r = http
                .patch(format!("{base}/api/v1/comics/{comic}"))
                .header(AUTHORIZATION, format!("Bearer {}", self.admin))
                .header(CONTENT_TYPE, "application/json")
                .body(json!({ "title": title }).to_string())
                .send()
                .await;
            let acked = Instant::now();
            if !r.is_ok_and(|r| r.status().is_success()) {
                out.errors += 1;
                tokio::time::sleep(Duration::from_millis(10)).await;
                continue;
            }
            out.commands.push(acked - sent);
            loop {
                let shown = match http
                    .get(format!("{base}/api/v1/comics/{comic}"))
                    .send()
                    .await
                {
                    Ok(r) => r
                        .json::<serde_json::Value>()
                        .await
                        .is_ok_and(|v| v["title"] == title.as_str()),
                    Err(_) => false,
                };
                let now = Instant::now();
                if shown {
                    out.from_send.push(now - sent);
                    out.from_ack.push(now - acked);
                    self.samples.fetch_add(1, Ordering::Relaxed);
                    break;
                }
                if now - sent > Duration::from_secs(10) {
                    out.timeouts += 1;
                    break;
                }
                tokio::time::sleep(self.poll).await;
            }
        }
        out
    }
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let tokens = Tokens::new(&args.secret);
    let admin = tokens.admin("bench-lag-admin")?;
    let tag = client::nonce();
    let probes = args.probes.max(1);
    let http = client::http(args.writers + probes + 1)?;
    let base = args.base.trim_end_matches('/').to_string();

    let comic = |name: String| json!({"title": name, "type": "webtoon", "authors": ["Lag Bench"], "genres": ["drama"]});
    let mut created = Vec::new();
    for n in 0..probes + args.writers {
        let (id, token) =
            create_comic(&http, &base, &admin, &comic(format!("Lag bench {tag} {n}"))).await?;
        wait_visible(&http, &base, &id, &token).await?;
        created.push(id);
    }
    let targets = created.split_off(probes);
    let probe_comics = created;

    // The background write load.
    let stop = Arc::new(AtomicBool::new(false));
    let writes = Arc::new(AtomicU64::new(0));
    let write_errors = Arc::new(AtomicU64::new(0));
    let mut load = Vec::new();
    for (w, target) in targets.into_iter().enumerate() {
        let (http, base, admin, tokens, tag) = (
            http.clone(),
            base.clone(),
            admin.clone(),
            tokens.clone(),
            tag.clone(),
        );
        let (stop, writes, write_errors) = (stop.clone(), writes.clone(), write_errors.clone());
        load.push(tokio::spawn(async move {
            let mut n: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                n += 1;
                let sent = if n.is_multiple_of(2) {
                    http.patch(format!("{base}/api/v1/comics/{target}"))
                        .header(AUTHORIZATION, format!("Bearer {admin}"))
                        .json(&json!({"description": format!("background write {n}")}))
                        .send()
                        .await
                } else {
                    let Ok(user) = tokens.user(&format!("bench-lag-rater-{tag}-{w}-{n}")) else {
                        write_errors.fetch_add(1, Ordering::Relaxed);
                        continue;
                    };
                    http.put(format!("{base}/api/v1/comics/{target}/rating"))
                        .header(AUTHORIZATION, format!("Bearer {user}"))
                        .json(&json!({"score": n % 10 + 1}))
                        .send()
                        .await
                };
                match sent {
                    Ok(r) if r.status().is_success() => writes.fetch_add(1, Ordering::Relaxed),
                    _ => write_errors.fetch_add(1, Ordering::Relaxed),
                };
            }
        }));
    }
    eprintln!(
        "lag: {} background writers, {probes} probes, for {} s (≥ {} samples, ≤ {} s)",
        args.writers, args.seconds, args.min_samples, args.max_seconds
    );

    let started = Instant::now();
    let probing = Arc::new(Probing {
        http,
        base,
        admin,
        tag,
        poll: Duration::from_millis(args.poll_ms),
        started,
        seconds: args.seconds,
        hard_stop: started + Duration::from_secs_f64(args.max_seconds.max(args.seconds)),
        min_samples: args.min_samples,
        samples: AtomicUsize::new(0),
    });
    let tasks: Vec<_> = probe_comics
        .into_iter()
        .enumerate()
        .map(|(p, comic)| {
            let probing = probing.clone();
            tokio::spawn(async move { probing.probe(p, &comic).await })
        })
        .collect();
    let mut all = Samples::default();
    for task in tasks {
        let s = task.await?;
        all.from_send.extend(s.from_send);
        all.from_ack.extend(s.from_ack);
        all.commands.extend(s.commands);
        all.timeouts += s.timeouts;
        all.errors += s.errors;
    }
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for task in load {
        let _ = task.await;
    }
    all.from_send.sort_unstable();
    all.from_ack.sort_unstable();
    all.commands.sort_unstable();

    emit("lag_samples", all.from_send.len());
    emit_ms("lag_p50_ms", percentile(&all.from_send, 50.0));
    emit_ms("lag_p99_ms", percentile(&all.from_send, 99.0));
    emit_ms("lag_max_ms", percentile(&all.from_send, 100.0));
    emit_ms("lag_after_ack_p50_ms", percentile(&all.from_ack, 50.0));
    emit_ms("lag_after_ack_p99_ms", percentile(&all.from_ack, 99.0));
    emit_ms("lag_command_p50_ms", percentile(&all.commands, 50.0));
    emit_ms("lag_command_p99_ms", percentile(&all.commands, 99.0));
    emit("lag_timeouts", all.timeouts);
    emit("lag_probe_errors", all.errors);
    emit("lag_seconds", format!("{:.2}", elapsed.as_secs_f64()));
    emit_f(
        "lag_background_writes_per_sec",
        writes.load(Ordering::Relaxed) as f64 / elapsed.as_secs_f64(),
    );
    emit(
        "lag_background_write_errors",
        write_errors.load(Ordering::Relaxed),
    );
    Ok(())
}
