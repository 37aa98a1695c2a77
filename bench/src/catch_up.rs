//! Catching up after a NATS outage, timed from outside: started when NATS
//! is down with a backlog in the event log, it waits until the NATS port
//! accepts connections (time zero), then watches the events stream and the
//! projections' checkpoints until they reach `--target`:
//!
//! - `catch_up_reconnect_ms`: until the stream moved past `--from` (the
//!   relay reconnected and published its first batch);
//! - `catch_up_drain_per_sec`: the backlog over the time from that first
//!   move to the stream holding `--target` messages;
//! - `catch_up_projected_ms` / `catch_up_projected_per_sec`: until every
//!   `--schema`'s checkpoint reached `--target`, and the backlog over the
//!   time from the first move to then.

use std::time::{Duration, Instant};

use sqlx::postgres::PgPoolOptions;

use crate::stats::{emit, emit_f, emit_ms};

#[derive(clap::Args)]
pub struct Args {
    /// nats://host:port of the server that is down.
    #[arg(long)]
    nats: String,
    #[arg(long)]
    stream: String,
    #[arg(long, env = "DATABASE_URL")]
    database_url: String,
    /// The stream's last sequence before the outage.
    #[arg(long)]
    from: u64,
    /// The stream's last sequence once the backlog is published.
    #[arg(long)]
    target: u64,
    /// Projection schemas whose checkpoints must reach `--target`.
    #[arg(long = "schema")]
    schemas: Vec<String>,
    /// Give up after this long.
    #[arg(long, default_value_t = 300)]
    max_seconds: u64,
}

const POLL: Duration = Duration::from_millis(5);

pub async fn run(args: Args) -> anyhow::Result<()> {
    let addr = args.nats.trim_start_matches("nats://").to_string();
    let deadline = Instant::now() + Duration::from_secs(args.max_seconds);
    let db = PgPoolOptions::new()
        .max_connections(1)
        .connect(&args.database_url)
        .await?;
    // Time zero: the port accepts connections.
    while tokio::net::TcpStream::connect(&addr).await.is_err() {
        anyhow::ensure!(Instant::now() < deadline, "NATS at {addr} never came back");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let zero = Instant::now();
    eprintln!("catch-up: NATS at {addr} is reachable");
    let client = loop {
        match async_nats::ConnectOptions::new()
            .name("comics-bench")
            .connect(&args.nats)
            .await
        {
            Ok(c) => break c,
            Err(_) if Instant::now() < deadline => tokio::time::sleep(POLL).await,
            Err(e) => return Err(e.into()),
        }
    };
    let js = async_nats::jetstream::new(client);
    let mut first_move = None;
    let mut published = None;
    let mut projected = None;
    while published.is_none() || projected.is_none() {
        anyhow::ensure!(
            Instant::now() < deadline,
            "not caught up within {} s (published: {published:?}, projected: {projected:?})",
            args.max_seconds
        );
        if published.is_none() {
            // Not there yet while the server recovers the stream.
            if let Ok(mut stream) = js.get_stream(&args.stream).await {
                if let Ok(info) = stream.info().await {
                    let last = info.state.last_sequence;
                    if last > args.from && first_move.is_none() {
                        first_move = Some(zero.elapsed());
                    }
                    if last >= args.target {
                        published = Some(zero.elapsed());
                    }
                }
            }
        }
        if projected.is_none() {
            let mut lowest = u64::MAX;
            for schema in &args.schemas {
                let at: i64 = sqlx::query_scalar(&format!(
                    "SELECT stream_sequence FROM {schema}.checkpoint WHERE id = 1"
                ))
                .fetch_one(&db)
                .await?;
                lowest = lowest.min(at as u64);
            }
            if lowest >= args.target {
                projected = Some(zero.elapsed());
            }
        }
        tokio::time::sleep(POLL).await;
    }
    let (first, published, projected) = (
        first_move.unwrap_or_default(),
        published.unwrap_or_default(),
        projected.unwrap_or_default(),
    );
    let backlog = args.target - args.from;
    let rate =
        |done: Duration| backlog as f64 / (done.saturating_sub(first)).as_secs_f64().max(1e-3);
    emit("catch_up_backlog", backlog);
    emit_ms("catch_up_reconnect_ms", first);
    emit_ms("catch_up_published_ms", published);
    emit_f("catch_up_drain_per_sec", rate(published));
    emit_ms("catch_up_projected_ms", projected);
    emit_f("catch_up_projected_per_sec", rate(projected));
    Ok(())
}
