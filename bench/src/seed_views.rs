//! Synthetic view history: `ViewsRecorded` events of the Popularity
//! aggregate appended to the event store as the view recorder appends them
//! (next sequence of each comic's aggregate, the events its first write, the
//! payload the domain type serialises to), so the relay and the projectors
//! take them as real ones. Each event holds one comic's views of one day as
//! a per-minute histogram; the views of a day are spread over the comics by
//! a Zipf distribution (line k of `--comics` has rank k) and over the day's
//! minutes uniformly at random.
//!
//! `last_view_seq` carries the aggregate's own forward unchanged: the views
//! came through no stream, and a higher one would make the aggregate ignore
//! later real views (their stream sequences would look recorded already).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Instant;

use chrono::{DateTime, Duration, Utc};
use comics_domain::{aggregate_types, MinuteCount, PopularityEvent};
use cqrs_es::DomainEvent;
use sqlx::postgres::PgPoolOptions;
use sqlx::PgPool;
use uuid::Uuid;

use crate::client;
use crate::stats::emit;
use crate::zipf::{read_ids, Rng, Zipf};

const MINUTES_PER_DAY: usize = 1440;
const ATTEMPTS: usize = 5;

#[derive(clap::Args)]
pub struct Args {
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// Comic ids, one per line; line k has Zipf rank k.
    #[arg(long)]
    comics: PathBuf,
    /// How deep the history reaches: the views of the last `--days` days...
    #[arg(long, default_value_t = 1)]
    days: u32,
    /// ...but for the newest `--skip-days` days (seeded before).
    #[arg(long, default_value_t = 0)]
    skip_days: u32,
    /// Views per day over all comics.
    #[arg(long, default_value_t = 100_000)]
    views_per_day: u64,
    #[arg(long, default_value_t = 1.0)]
    zipf: f64,
    /// Comics per transaction.
    #[arg(long, default_value_t = 8)]
    chunk: usize,
}

/// What one chunk appended.
#[derive(Default)]
struct Seeded {
    events: u64,
    views: u64,
    minutes: u64,
    /// The mark of the last event appended (aggregate id, sequence).
    last: Option<(String, i64)>,
}

pub async fn run(args: Args) -> anyhow::Result<()> {
    let started = Instant::now();
    let ids = read_ids(&args.comics)?;
    let pool = PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await?;
    let zipf = Zipf::new(ids.len(), args.zipf);
    let mut rng = Rng::from_clock();
    // Whole minutes before the current one: never a minute still running.
    let newest = minute_floor(Utc::now()) - Duration::minutes(1);
    let days: Vec<u32> = (args.skip_days..args.days).rev().collect();
    let metadata = serde_json::json!({
        "actor": "system:bench-seed-views",
        "request_id": format!("bench-seed-views:{}", client::nonce()),
    });
    let mut total = Seeded::default();
    for (c, chunk) in ids.chunks(args.chunk.max(1)).enumerate() {
        let first = c * args.chunk.max(1);
        // Each comic's days, drawn once (a retry appends the same views).
        let histories: Vec<(Uuid, Vec<Vec<MinuteCount>>)> = chunk
            .iter()
            .enumerate()
            .map(|(k, id)| {
                let per_day = args.views_per_day as f64 * zipf.share(first + k);
                let days = days
                    .iter()
                    .map(|&d| day_of(&mut rng, per_day, newest, d))
                    .collect();
                Ok((id.parse()?, days))
            })
            .collect::<anyhow::Result<_>>()?;
        let seeded = append_retrying(&pool, &histories, &metadata).await?;
        total.events += seeded.events;
        total.views += seeded.views;
        total.minutes += seeded.minutes;
        total.last = seeded.last.or(total.last);
    }
    report(&total, started);
    Ok(())
}

fn report(total: &Seeded, started: Instant) {
    emit("seed_views_events", total.events);
    emit("seed_views_views", total.views);
    emit("seed_views_minutes", total.minutes);
    emit(
        "seed_views_seconds",
        format!("{:.2}", started.elapsed().as_secs_f64()),
    );
    if let Some((id, sequence)) = &total.last {
        let mut token = comics_common::consistency::ConsistencyToken::default();
        token.push(aggregate_types::POPULARITY, id, *sequence);
        emit("seed_views_token", token.encode());
    }
}

/// The start of the minute `at` falls in.
pub fn minute_floor(at: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp(at.timestamp().div_euclid(60) * 60, 0).unwrap_or(at)
}

/// `per_day` views (rounded at random, so fractions add up over comics)
/// spread at random over the minutes of day `d` back from `newest` (day 0
/// ends with `newest`), oldest minute first.
fn day_of(rng: &mut Rng, per_day: f64, newest: DateTime<Utc>, d: u32) -> Vec<MinuteCount> {
    let n = per_day.floor() as u64 + u64::from(rng.unit() < per_day.fract());
    let mut counts = vec![0u64; MINUTES_PER_DAY];
    for _ in 0..n {
        counts[rng.below(MINUTES_PER_DAY)] += 1;
    }
    let day_end = newest - Duration::days(i64::from(d));
    counts
        .iter()
        .enumerate()
        .rev()
        .filter(|(_, &count)| count > 0)
        .map(|(back, &count)| MinuteCount {
            minute: day_end - Duration::minutes(back as i64),
            count,
        })
        .collect()
}

/// Appends, and on a sequence conflict (a real view recorded in between)
/// reads the sequences again and retries.
async fn append_retrying(
    pool: &PgPool,
    histories: &[(Uuid, Vec<Vec<MinuteCount>>)],
    metadata: &serde_json::Value,
) -> anyhow::Result<Seeded> {
    let mut attempt = 1;
    loop {
        match append(pool, histories, metadata).await {
            Err(sqlx::Error::Database(e))
                if e.code().as_deref() == Some("23505") && attempt < ATTEMPTS =>
            {
                attempt += 1;
            }
            other => return Ok(other?),
        }
    }
}

/// Each comic's sequence and `last_view_seq` so far (zeros for none).
async fn heads(pool: &PgPool, ids: &[String]) -> sqlx::Result<HashMap<String, (i64, i64)>> {
    let rows: Vec<(String, i64, i64)> = sqlx::query_as(
        "SELECT aggregate_id, max(sequence), \
                coalesce(max((payload->'ViewsRecorded'->>'last_view_seq')::bigint), 0) \
         FROM events WHERE aggregate_type = $1 AND aggregate_id = ANY($2) \
         GROUP BY aggregate_id",
    )
    .bind(aggregate_types::POPULARITY)
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().map(|(id, s, l)| (id, (s, l))).collect())
}

#[derive(Default)]
struct Columns {
    ids: Vec<String>,
    sequences: Vec<i64>,
    types: Vec<String>,
    versions: Vec<String>,
    payloads: Vec<serde_json::Value>,
    metadata: Vec<serde_json::Value>,
}

async fn append(
    pool: &PgPool,
    histories: &[(Uuid, Vec<Vec<MinuteCount>>)],
    metadata: &serde_json::Value,
) -> sqlx::Result<Seeded> {
    let ids: Vec<String> = histories.iter().map(|(id, _)| id.to_string()).collect();
    let heads = heads(pool, &ids).await?;
    let mut cols = Columns::default();
    let mut seeded = Seeded::default();
    for (id, (comic_id, days)) in ids.iter().zip(histories) {
        let (mut sequence, last_view_seq) = heads.get(id).copied().unwrap_or((0, 0));
        for minutes in days.iter().filter(|m| !m.is_empty()) {
            let count: u64 = minutes.iter().map(|m| m.count).sum();
            let event = PopularityEvent::ViewsRecorded {
                comic_id: *comic_id,
                count,
                last_view_seq: last_view_seq as u64,
                minutes: minutes.clone(),
            };
            sequence += 1;
            cols.ids.push(id.clone());
            cols.sequences.push(sequence);
            cols.types.push(event.event_type());
            cols.versions.push(event.event_version());
            cols.payloads
                .push(serde_json::to_value(&event).map_err(|e| sqlx::Error::Encode(e.into()))?);
            cols.metadata.push(metadata.clone());
            seeded.events += 1;
            seeded.views += count;
            seeded.minutes += minutes.len() as u64;
            seeded.last = Some((id.clone(), sequence));
        }
    }
    if cols.ids.is_empty() {
        return Ok(seeded);
    }
    // One statement: the events are its transaction's first (and only) write.
    sqlx::query(
        "INSERT INTO events (aggregate_type, aggregate_id, sequence, event_type, event_version, payload, metadata) \
         SELECT $1, * FROM unnest($2::text[], $3::bigint[], $4::text[], $5::text[], $6::json[], $7::json[])",
    )
    .bind(aggregate_types::POPULARITY)
    .bind(&cols.ids)
    .bind(&cols.sequences)
    .bind(&cols.types)
    .bind(&cols.versions)
    .bind(&cols.payloads)
    .bind(&cols.metadata)
    .execute(pool)
    .await?;
    Ok(seeded)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_day_is_oldest_first_within_its_24_hours_and_adds_up() {
        let newest = minute_floor(Utc::now());
        let mut rng = Rng::new(3);
        let day = day_of(&mut rng, 5000.0, newest, 2);
        assert_eq!(day.iter().map(|m| m.count).sum::<u64>(), 5000);
        assert!(day.windows(2).all(|w| w[0].minute < w[1].minute));
        let end = newest - Duration::days(2);
        assert!(day
            .iter()
            .all(|m| m.minute <= end && m.minute > end - Duration::days(1)));
        assert!(day.iter().all(|m| minute_floor(m.minute) == m.minute));
        assert!(day_of(&mut rng, 0.0, newest, 0).is_empty());
    }

    #[test]
    fn the_event_is_the_recorders_shape() {
        let event = PopularityEvent::ViewsRecorded {
            comic_id: Uuid::nil(),
            count: 2,
            last_view_seq: 9,
            minutes: vec![MinuteCount {
                minute: DateTime::from_timestamp(120, 0).unwrap(),
                count: 2,
            }],
        };
        let v = serde_json::to_value(&event).unwrap();
        assert_eq!(v["ViewsRecorded"]["last_view_seq"], 9);
        assert_eq!(v["ViewsRecorded"]["minutes"][0]["count"], 2);
        assert_eq!(event.event_type(), "ViewsRecorded");
    }
}
