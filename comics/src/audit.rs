//! `comics audit`: the audit query on the terminal (a table, or one JSON
//! object per line), `--follow` (new events as the relay publishes them),
//! and `comics audit verify`.

use std::io::Write;
use std::time::{Duration, Instant};

use anyhow::Context;
use async_nats::jetstream::{self, consumer::pull::OrderedConfig, consumer::DeliverPolicy};
use comics_eventlog::audit::chain;
use comics_eventlog::audit::filter::Filter;
use comics_eventlog::audit::query::{self, MAX_LIMIT};
use comics_eventlog::{CommitCursor, EventRecord};
use comics_nats::audit::verify;
use comics_nats::relay::{stream_end, POSITION_HEADER, TX_ID_HEADER};
use comics_nats::Names;
use futures::StreamExt;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

/// How events are printed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    JsonLines,
}

/// Prints events one by one, with the table's header before the first.
pub struct Printer<W: Write> {
    out: W,
    format: Format,
    header_done: bool,
    pub printed: u64,
}

impl<W: Write> Printer<W> {
    pub fn new(out: W, format: Format) -> Self {
        Self {
            out,
            format,
            header_done: false,
            printed: 0,
        }
    }

    pub fn print(&mut self, e: &EventRecord) -> anyhow::Result<()> {
        match self.format {
            Format::JsonLines => {
                serde_json::to_writer(&mut self.out, e)?;
                writeln!(self.out)?;
            }
            Format::Table => {
                if !self.header_done {
                    writeln!(
                        self.out,
                        "{:>10}  {:<27}  {:<48}  {:>5}  {:<24}  {:<20}  PAYLOAD",
                        "POSITION", "RECORDED_AT", "AGGREGATE", "SEQ", "EVENT", "ACTOR"
                    )?;
                    self.header_done = true;
                }
                let actor = e
                    .metadata
                    .get("actor")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                let mut payload = Vec::new();
                chain::canonical_json(&e.payload, &mut payload);
                let payload = String::from_utf8_lossy(&payload);
                writeln!(
                    self.out,
                    "{:>10}  {:<27}  {:<48}  {:>5}  {:<24}  {:<20}  {}",
                    e.position,
                    e.recorded_at
                        .to_rfc3339_opts(chrono::SecondsFormat::Micros, true),
                    format!("{} {}", e.aggregate_type, e.aggregate_id),
                    e.sequence,
                    e.event_type,
                    actor,
                    clip(&payload, 80)
                )?;
            }
        }
        self.out.flush()?;
        self.printed += 1;
        Ok(())
    }
}

fn clip(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((i, _)) => format!("{}…", &text[..i]),
        None => text.to_string(),
    }
}

/// How long a listing waits for transactions that were in progress when it
/// started before it prints what it has.
const CATCH_UP: Duration = Duration::from_secs(5);

/// Prints the events passing `filter`, oldest first, at most `limit` of
/// them; returns where the walk ended: the last event printed when the
/// limit cut it short, else the end of what was committed.
///
/// Every event committed before the listing started is printed. A page
/// stops at the release bound, which a transaction in progress can hold
/// below events already committed (or one that ended while the bound was
/// read, until the next read); so at the end the listing reads again until
/// the bound has passed every transaction id assigned before it started,
/// for at most [`CATCH_UP`].
pub async fn list<W: Write>(
    pool: &PgPool,
    filter: &Filter,
    limit: Option<u64>,
    printer: &mut Printer<W>,
) -> anyhow::Result<CommitCursor> {
    let mut after = CommitCursor::default();
    let mut left = limit.unwrap_or(u64::MAX);
    let mut db = pool.acquire().await?;
    let started: i64 =
        sqlx::query_scalar("SELECT pg_snapshot_xmax(pg_current_snapshot())::text::bigint")
            .fetch_one(&mut *db)
            .await?;
    let deadline = Instant::now() + CATCH_UP;
    while left > 0 {
        let size = left.min(MAX_LIMIT as u64) as i64;
        let page = query::page(&mut db, filter, after, size).await?;
        for (cursor, event) in &page.items {
            printer.print(event)?;
            after = *cursor;
        }
        left -= page.items.len() as u64;
        if left == 0 {
            break;
        }
        // Everything before it was considered.
        after = page.resume;
        if page.next.is_none() {
            if after.tx_id >= started {
                break;
            }
            if Instant::now() >= deadline {
                tracing::warn!(
                    bound = after.tx_id,
                    started,
                    "a transaction in progress since before the listing holds back its end; \
                     events it commits are not listed"
                );
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    Ok(after)
}

/// Prints the events passing `filter` committed after `after`, as the relay
/// publishes them to the events stream, until `shutdown`.
pub async fn follow<W: Write>(
    js: &jetstream::Context,
    names: &Names,
    filter: &Filter,
    mut after: CommitCursor,
    printer: &mut Printer<W>,
    shutdown: &CancellationToken,
) -> anyhow::Result<()> {
    let stream = comics_nats::stream::ensure_stream(js, names).await?;
    let start = first_after(&stream, after).await?;
    let filter_subject = match (&filter.aggregate_type, &filter.aggregate_id) {
        (Some(t), Some(id)) => names.subject(t, id),
        (Some(t), None) => format!("{}.events.{t}.>", names.prefix),
        _ => format!("{}.events.>", names.prefix),
    };
    let consumer = stream
        .create_consumer(OrderedConfig {
            filter_subject,
            deliver_policy: DeliverPolicy::ByStartSequence {
                start_sequence: start,
            },
            ..Default::default()
        })
        .await
        .context("cannot follow the events stream")?;
    let mut messages = consumer.messages().await?;
    loop {
        let message = tokio::select! {
            _ = shutdown.cancelled() => return Ok(()),
            m = messages.next() => m.context("the events stream ended")??,
        };
        let cursor = message_cursor(&message.headers)?;
        // The stream is in commit order: anything not after the last event
        // seen (a replay after the consumer is recreated) was printed.
        if cursor <= after {
            continue;
        }
        after = cursor;
        let event: EventRecord =
            serde_json::from_slice(&message.payload).context("a message is not an event")?;
        if filter.matches(&event) {
            printer.print(&event)?;
        }
    }
}

fn message_cursor(headers: &Option<async_nats::HeaderMap>) -> anyhow::Result<CommitCursor> {
    let header = |name: &str| -> anyhow::Result<i64> {
        headers
            .as_ref()
            .and_then(|h| h.get(name))
            .with_context(|| format!("an events message has no {name}"))?
            .as_str()
            .parse()
            .with_context(|| format!("an events message has a bad {name}"))
    };
    Ok(CommitCursor {
        tx_id: header(TX_ID_HEADER)?,
        position: header(POSITION_HEADER)?,
    })
}

/// The first stream sequence whose event comes after `after` in commit
/// order (the stream is in commit order, so a binary search).
async fn first_after(
    stream: &jetstream::stream::Stream,
    after: CommitCursor,
) -> anyhow::Result<u64> {
    let end = stream_end(stream).await?;
    if end.cursor <= after {
        return Ok(end.last_sequence + 1);
    }
    let first = stream.get_info().await?.state.first_sequence.max(1);
    let (mut lo, mut hi) = (first, end.last_sequence);
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        let message = stream
            .get_raw_message(mid)
            .await
            .with_context(|| format!("cannot read events message {mid}"))?;
        if message_cursor(&Some(message.headers))? <= after {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    Ok(lo)
}

/// `comics audit verify`: the one-line summary, or an error naming the
/// first bad event.
pub async fn verify(
    pool: &PgPool,
    js: &jetstream::Context,
    names: &Names,
) -> anyhow::Result<String> {
    let started = Instant::now();
    let v = verify::verify(pool, js, names).await?;
    let secs = started.elapsed().as_secs_f64();
    if let Some(f) = v.failure {
        anyhow::bail!("audit chain broken at {f}");
    }
    let unsealed = v.events - v.sealed;
    let unguarded = if v.heads_checked == 0 && v.sealed > 0 {
        "; no published head matched an event, so a rewrite of events together with their seals would go unnoticed"
    } else {
        ""
    };
    Ok(format!(
        "audit chain intact: {} events checked ({} sealed{}), {} published heads matched, head {} ({:.2} s, {:.0} events/s){unguarded}",
        v.events,
        v.sealed,
        if unsealed > 0 { format!(", {unsealed} not yet sealed") } else { String::new() },
        v.heads_checked,
        chain::hex(&v.head),
        secs,
        v.events as f64 / secs.max(1e-9)
    ))
}
