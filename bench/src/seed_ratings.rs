//! Synthetic rating history for the event-log benchmarks: `RatingGiven`
//! events of the Rating aggregate appended to the event store in bulk, the
//! way the rating command appends them (the aggregate id of the comic and
//! user, sequence 1, the payload the domain type serialises to, the actor in
//! the metadata, the events their transaction's first write), so the relay,
//! the projectors, rebuilds and the audit take them as real ones.
//!
//! Event `i` rates comic `i mod C` (line order of `--comics`) by user
//! `i div C`, so every user rates every comic once and an `actor` filter
//! selects `C` events. With `--spread-hours`, `recorded_at` rises evenly
//! over that many past hours in commit order (a history, for the audit's
//! time filters); without, it is the time of the append.

use std::path::PathBuf;
use std::time::Instant;

use chrono::{Duration, Utc};
use comics_domain::values::Score;
use comics_domain::{aggregate_types, rating_id, RatingEvent};
use cqrs_es::DomainEvent;
use sqlx::postgres::PgPoolOptions;
use uuid::Uuid;

use crate::client;
use crate::stats::emit;
use crate::zipf::read_ids;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Comic ids, one per line.
    #[arg(long)]
    comics: PathBuf,
    /// How many events to append.
    #[arg(long, default_value_t = 69_000)]
    events: u64,
    /// Events per transaction.
    #[arg(long, default_value_t = 5_000)]
    chunk: u64,
    /// Spread `recorded_at` over this many hours before now (0: now).
    #[arg(long, default_value_t = 0)]
    spread_hours: u32,
    /// Appends in parallel (each transaction its own).
    #[arg(long, default_value_t = 2)]
    connections: u32,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let comics: Vec<Uuid> = read_ids(&args.comics)?
        .iter()
        .map(|id| id.parse())
        .collect::<Result<_, _>>()?;
    anyhow::ensure!(!comics.is_empty(), "no comic ids in {:?}", args.comics);
    let pool = PgPoolOptions::new()
        .max_connections(args.connections.max(1))
        .connect(&args.database_url)
        .await?;
    let tag = client::nonce();
    let now = Utc::now();
    let spread = Duration::hours(i64::from(args.spread_hours));
    let chunk = args.chunk.max(1);
    let plan = Plan {
        comics: &comics,
        tag: &tag,
        total: args.events,
        oldest: (args.spread_hours > 0).then_some(now - spread),
        spread,
    };
    let starts: Vec<u64> = (0..args.events).step_by(chunk as usize).collect();
    // In order of the chunks (so recorded_at rises in commit order), a few
    // in flight.
    use futures::stream::{self, StreamExt, TryStreamExt};
    let in_flight = if plan.oldest.is_some() {
        1
    } else {
        args.connections.max(1) as usize
    };
    stream::iter(starts)
        .map(|start| plan.append(&pool, start, (start + chunk).min(args.events)))
        .buffer_unordered(in_flight)
        .try_collect::<Vec<()>>()
        .await?;
    emit("seed_ratings_events", args.events);
    emit(
        "seed_ratings_seconds",
        format!("{:.2}", started.elapsed().as_secs_f64()),
    );
    emit("seed_ratings_actor", plan.user(0));
    emit("seed_ratings_aggregate_id", plan.aggregate_id(0));
    Ok(())
}

struct Plan<'a> {
    comics: &'a [Uuid],
    tag: &'a str,
    total: u64,
    oldest: Option<chrono::DateTime<Utc>>,
    spread: Duration,
}

impl Plan<'_> {
    fn user(&self, i: u64) -> String {
        format!("bench-rater-{}-{}", self.tag, i / self.comics.len() as u64)
    }

    fn comic(&self, i: u64) -> Uuid {
        self.comics[(i % self.comics.len() as u64) as usize]
    }

    fn aggregate_id(&self, i: u64) -> String {
        rating_id(self.comic(i), &self.user(i)).to_string()
    }

    /// Appends events `start..end` in one statement.
    async fn append(&self, pool: &sqlx::PgPool, start: u64, end: u64) -> anyhow::Result<()> {
        let n = (end - start) as usize;
        let (mut ids, mut types, mut versions) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let (mut payloads, mut metadata, mut times) = (
            Vec::with_capacity(n),
            Vec::with_capacity(n),
            Vec::with_capacity(n),
        );
        let request_id = format!("bench-seed-ratings:{}:{start}", self.tag);
        for i in start..end {
            let user = self.user(i);
            let event = RatingEvent::RatingGiven {
                comic_id: self.comic(i),
                user: user.clone(),
                score: Score::try_from(1 + (i * 7 % 10) as i64)?,
            };
            ids.push(self.aggregate_id(i));
            types.push(event.event_type());
            versions.push(event.event_version());
            payloads.push(serde_json::to_value(&event)?);
            metadata.push(serde_json::json!({"actor": user, "request_id": request_id}));
            times.push(match self.oldest {
                Some(oldest) => {
                    oldest
                        + Duration::milliseconds(
                            (self.spread.num_milliseconds() as f64 * i as f64
                                / self.total.max(1) as f64) as i64,
                        )
                }
                None => Utc::now(),
            });
        }
        // One statement: the events are its transaction's first (and only)
        // write, as the relay's release bound requires.
        sqlx::query(
            "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata, recorded_at) \
             SELECT $1, id, 1, t, v, p, m, r \
             FROM unnest($2::text[], $3::text[], $4::text[], $5::json[], $6::json[], $7::timestamptz[]) AS x(id, t, v, p, m, r)",
        )
        .bind(aggregate_types::RATING)
        .bind(&ids)
        .bind(&types)
        .bind(&versions)
        .bind(&payloads)
        .bind(&metadata)
        .bind(&times)
        .execute(pool)
        .await?;
        Ok(())
    }
}
