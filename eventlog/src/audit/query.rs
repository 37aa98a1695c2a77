//! Reading the log for the audit: filters, the opaque cursor, and one page
//! in commit order.
//!
//! A page holds only events of transactions below the release bound (as the
//! relay reads, [`crate::record::release_bound`]), so no event can commit
//! behind a cursor once it has been handed out: a client walking the log
//! page by page while writes go on sees every event once.
//!
//! The filters (aggregate type and id, event type, actor, `until`) are
//! answered from the seals: the sealer writes one seal per event in commit order,
//! carrying those fields, and each has an index whose columns are the
//! filter's, then `(tx_id, position)` (migrations/…_audit_filters_on_seals.sql),
//! so the sealed part of a page is one index range read, joined to the
//! events by position. Events past the last seal (the sealer's lag, normally
//! a few milliseconds of writes) are read from the log in commit order and
//! filtered there. No index on `events` serves the audit: its appends are on
//! the path every command waits for. Without a filter, or with `since`
//! alone, a page reads the log in commit order. A page with `since` first
//! skips, in commit order, the sealed events recorded before it
//! ([`since_start`]), so a recent `since` does not walk past the whole older
//! log.
//!
//! A time window (`until` and no other filter) is read as
//! [`super::window`] says; the filter and the page statement are in
//! [`super::filter`].

use base64::Engine;
use chrono::{DateTime, Utc};
use sqlx::PgConnection;

use super::filter::{fetch, page_query, Filter};
use crate::record::{release_bound, CommitCursor, EventRecord};

pub const DEFAULT_LIMIT: i64 = 100;
pub const MAX_LIMIT: i64 = 1000;
/// The longest text filter accepted.
pub const MAX_FILTER_LEN: usize = 256;

/// The opaque `after`/`next` cursor: a place in commit order.
pub fn encode_cursor(cursor: CommitCursor) -> String {
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .encode(format!("{}.{}", cursor.tx_id, cursor.position))
}

pub fn decode_cursor(text: &str) -> Option<CommitCursor> {
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(text)
        .ok()?;
    let text = String::from_utf8(bytes).ok()?;
    let (tx, position) = text.split_once('.')?;
    let cursor = CommitCursor {
        tx_id: tx.parse().ok()?,
        position: position.parse().ok()?,
    };
    (cursor.tx_id >= 0 && cursor.position >= 0).then_some(cursor)
}

/// One page of the log.
#[derive(Debug, Clone)]
pub struct Page {
    pub items: Vec<(CommitCursor, EventRecord)>,
    /// Where the next page starts, when this one was full and more events
    /// are visible; `None` at the end.
    pub next: Option<CommitCursor>,
    /// Where to look for events committed later: every event before it has
    /// been considered (at the end, the release bound the page was read
    /// under, so events the filter left out are not read again).
    pub resume: CommitCursor,
}

/// Up to `limit` events after `after` that pass `filter`, oldest first.
pub async fn page(
    db: &mut PgConnection,
    filter: &Filter,
    after: CommitCursor,
    limit: i64,
) -> sqlx::Result<Page> {
    // The bound first: it must come from a snapshot older than the read's.
    let bound = release_bound(&mut *db).await?;
    let after = match filter.since {
        Some(since) => after.max(since_start(&mut *db, since).await?),
        None => after,
    };
    let sealed = match filter.by_seals() {
        true => Some(sealed_end(&mut *db).await?),
        false => None,
    };
    let mut rows = match sealed {
        Some(sealed) if filter.time_window() => {
            super::window::page(&mut *db, filter, (after, sealed), bound, limit + 1).await?
        }
        _ => {
            fetch(
                &mut *db,
                page_query("", filter, after, sealed, bound, limit + 1),
            )
            .await?
        }
    };
    let next = if rows.len() as i64 > limit {
        rows.truncate(limit as usize);
        rows.last().map(|(c, _)| *c)
    } else {
        None
    };
    // Positions start at 1, so (bound, 0) precedes every event of the
    // transaction `bound` and follows every event below it.
    let end = CommitCursor {
        tx_id: bound,
        position: 0,
    };
    let resume = next.unwrap_or(end.max(after));
    Ok(Page {
        items: rows,
        next,
        resume,
    })
}

/// The last sealed event: every event up to it in commit order is sealed
/// (the sealer follows the stream, which is the log in commit order), none
/// after it. The start of the log when nothing is sealed.
pub async fn sealed_end(db: &mut PgConnection) -> sqlx::Result<CommitCursor> {
    let last: Option<(i64, i64)> = sqlx::query_as(
        "SELECT tx_id::text::bigint, position FROM audit_seals ORDER BY chain_index DESC LIMIT 1",
    )
    .fetch_optional(db)
    .await?;
    Ok(last
        .map(|(tx_id, position)| CommitCursor { tx_id, position })
        .unwrap_or_default())
}

/// A place in commit order before which every event was recorded before
/// `since`: the seal before the first whose `recorded_max` (the chain's
/// highest `recorded_at` so far, never falling along the chain) is at or
/// past `since` — or the last seal, when none is. Events not sealed yet all
/// follow it. The start of the log when a seal before that one has no
/// `recorded_max` (see migrations/…_audit_since.sql).
pub async fn since_start(
    db: &mut PgConnection,
    since: DateTime<Utc>,
) -> sqlx::Result<CommitCursor> {
    let start: Option<(i64, i64)> = sqlx::query_as(
        "WITH first AS ( \
             SELECT coalesce( \
                 (SELECT chain_index FROM audit_seals WHERE recorded_max >= $1 \
                  ORDER BY recorded_max, chain_index LIMIT 1), \
                 (SELECT max(chain_index) + 1 FROM audit_seals)) AS chain_index) \
         SELECT s.tx_id::text::bigint, s.position FROM audit_seals s, first \
         WHERE s.chain_index = first.chain_index - 1 \
           AND NOT EXISTS (SELECT 1 FROM audit_seals u \
                           WHERE u.recorded_max IS NULL AND u.chain_index < first.chain_index)",
    )
    .bind(since)
    .fetch_optional(db)
    .await?;
    Ok(start
        .map(|(tx_id, position)| CommitCursor { tx_id, position })
        .unwrap_or_default())
}
