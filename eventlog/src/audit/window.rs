//! A time-window page of the audit: `until`, with or without `since`, and
//! no other filter. Such a window has no end in commit order: an event
//! recorded before `until` may commit at any time later. Walking the seals
//! in commit order finds a window's events at once while the page is inside
//! the window, but the page that reaches its end would walk on to the end of
//! the log. So such a page walks at most [`WALK`] seals, then reads the rest
//! of the window from the seals' `(recorded_at, tx_id, position)` index
//! ([`window_query`]): its cost is bounded by the window's size, not by
//! where the log ends.

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use super::filter::{fetch, page_query, Filter};
use crate::record::{CommitCursor, EventRecord, Row};

/// Seals a time-window page walks in commit order before it reads the rest
/// of the window from the index.
pub const WALK: i64 = 1000;

/// Up to `want` events of a time window after `range.0` (see the module
/// doc): the seals up to `range.1` (the sealed end), first by walking
/// [`WALK`] of them, then from the window's index, then the unsealed tail.
pub(crate) async fn page(
    db: &mut PgConnection,
    filter: &Filter,
    range: (CommitCursor, CommitCursor),
    bound: i64,
    want: i64,
) -> sqlx::Result<Vec<(CommitCursor, EventRecord)>> {
    let (after, sealed) = range;
    let walked: Vec<(i64, i64, Option<DateTime<Utc>>)> = walk_query("", range, bound)
        .build_query_as()
        .fetch_all(&mut *db)
        .await?;
    let mut positions: Vec<i64> = walked
        .iter()
        .filter(|(_, _, at)| at.is_some_and(|at| filter.in_window(at)))
        .map(|(_, position, _)| *position)
        .take(want as usize)
        .collect();
    if let (true, Some(&(tx_id, position, _))) = (walked.len() as i64 == WALK, walked.last()) {
        if (positions.len() as i64) < want {
            let from = CommitCursor { tx_id, position };
            let rest = want - positions.len() as i64;
            let more: Vec<i64> = window_query("", filter, (from, sealed), bound, rest)
                .build_query_scalar()
                .fetch_all(&mut *db)
                .await?;
            positions.extend(more);
        }
    }
    // Short only when every sealed event of the window is in hand (an
    // event deleted after sealing does not make the tail come early).
    let exhausted = (positions.len() as i64) < want;
    let mut rows: Vec<(CommitCursor, EventRecord)> = sqlx::query_as::<_, Row>(
        "SELECT tx_id::text::bigint AS tx_id, position, aggregate_type, aggregate_id, sequence, \
                event_type, event_version, payload, metadata, recorded_at \
         FROM events WHERE position = ANY($1) ORDER BY events.tx_id, events.position",
    )
    .bind(&positions)
    .fetch_all(&mut *db)
    .await?
    .into_iter()
    .map(Into::into)
    .collect();
    let rest = want - rows.len() as i64;
    if exhausted && rest > 0 {
        let tail = page_query("", filter, after.max(sealed), None, bound, rest);
        rows.extend(fetch(db, tail).await?);
    }
    Ok(rows)
}

/// The next [`WALK`] seals after `range.0` up to `range.1`, in commit order
/// (the commit-order index walked, no sort), with when each event was
/// recorded; after `prefix` (`"EXPLAIN "` shows its plan).
pub fn walk_query<'a>(
    prefix: &str,
    range: (CommitCursor, CommitCursor),
    bound: i64,
) -> QueryBuilder<'a, Postgres> {
    let (after, upto) = range;
    let mut q = QueryBuilder::new(prefix);
    // Qualified: a bare `tx_id` would name the bigint output column, which
    // no index orders (a sort of the rest of the log).
    q.push(
        "SELECT tx_id::text::bigint, position, recorded_at FROM audit_seals \
         WHERE (tx_id, position) > (",
    )
    .push_bind(after.tx_id.to_string())
    .push("::text::xid8, ")
    .push_bind(after.position)
    .push(") AND (tx_id, position) <= (")
    .push_bind(upto.tx_id.to_string())
    .push("::text::xid8, ")
    .push_bind(upto.position)
    .push(") AND tx_id < ")
    .push_bind(bound.to_string())
    .push("::text::xid8 ORDER BY audit_seals.tx_id, audit_seals.position LIMIT ")
    .push_bind(WALK);
    q
}

/// The positions of the sealed events of a time window after `range.0` up
/// to `range.1`, in commit order, at most `limit`, after `prefix`
/// (`"EXPLAIN "` shows its plan). The seals are gathered first (a
/// materialized set, not walked under the limit), so the planner reads the
/// smaller of the window's index range and the commit-order range.
pub fn window_query<'a>(
    prefix: &str,
    filter: &'a Filter,
    range: (CommitCursor, CommitCursor),
    bound: i64,
    limit: i64,
) -> QueryBuilder<'a, Postgres> {
    let (from, upto) = range;
    let mut q = QueryBuilder::new(prefix);
    q.push(
        "WITH w AS MATERIALIZED (SELECT tx_id, position FROM audit_seals \
         WHERE recorded_at >= coalesce(",
    )
    .push_bind(filter.since)
    .push(", '-infinity') AND recorded_at < ")
    .push_bind(filter.until)
    .push(" AND (tx_id, position) > (")
    .push_bind(from.tx_id.to_string())
    .push("::text::xid8, ")
    .push_bind(from.position)
    .push(") AND (tx_id, position) <= (")
    .push_bind(upto.tx_id.to_string())
    .push("::text::xid8, ")
    .push_bind(upto.position)
    .push(") AND tx_id < ")
    .push_bind(bound.to_string())
    .push("::text::xid8) SELECT position FROM w ORDER BY tx_id, position LIMIT ")
    .push_bind(limit);
    q
}
