//! What an audit read asks for ([`Filter`]) and the statement that reads a
//! filtered page in commit order ([`page_query`]), shared by the plain page
//! ([`super::query`]) and the time window ([`super::window`]).

use chrono::{DateTime, Utc};
use sqlx::{PgConnection, Postgres, QueryBuilder};

use crate::record::{CommitCursor, EventRecord, Row};

/// What an audit read asks for; `None` leaves that field unfiltered.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    pub aggregate_type: Option<String>,
    pub aggregate_id: Option<String>,
    pub actor: Option<String>,
    pub event_type: Option<String>,
    /// `recorded_at >= since`
    pub since: Option<DateTime<Utc>>,
    /// `recorded_at < until`
    pub until: Option<DateTime<Utc>>,
}

impl Filter {
    /// Whether a filter other than `since` is set: the page is read from
    /// the seals' indexes then (`since` alone starts at the right place in
    /// the log, see [`since_start`]).
    pub fn by_seals(&self) -> bool {
        self.aggregate_type.is_some()
            || self.aggregate_id.is_some()
            || self.actor.is_some()
            || self.event_type.is_some()
            || self.until.is_some()
    }

    /// Whether time is the only filter, with an end: such a page walks the
    /// seals a little, then reads the window from its index
    /// ([`super::window`]).
    pub fn time_window(&self) -> bool {
        self.until.is_some()
            && self.aggregate_type.is_none()
            && self.aggregate_id.is_none()
            && self.actor.is_none()
            && self.event_type.is_none()
    }

    /// Whether a time recorded passes `since` and `until`.
    pub(crate) fn in_window(&self, recorded_at: DateTime<Utc>) -> bool {
        self.since.is_none_or(|s| recorded_at >= s) && self.until.is_none_or(|u| recorded_at < u)
    }

    /// Whether `event` passes (used on events read from the stream).
    pub fn matches(&self, event: &EventRecord) -> bool {
        let is = |want: &Option<String>, have: &str| want.as_deref().is_none_or(|w| w == have);
        is(&self.aggregate_type, &event.aggregate_type)
            && is(&self.aggregate_id, &event.aggregate_id)
            && is(&self.event_type, &event.event_type)
            && self
                .actor
                .as_deref()
                .is_none_or(|a| event.metadata.get("actor").and_then(|v| v.as_str()) == Some(a))
            && self.in_window(event.recorded_at)
    }
}

/// Runs a page statement.
pub(crate) async fn fetch(
    db: &mut PgConnection,
    mut query: QueryBuilder<'_, Postgres>,
) -> sqlx::Result<Vec<(CommitCursor, EventRecord)>> {
    let rows = query.build_query_as::<Row>().fetch_all(db).await?;
    Ok(rows.into_iter().map(Into::into).collect())
}

/// The statement of a [`super::query::page`], after `prefix` (`"EXPLAIN "` shows its plan):
/// with `sealed` (the end of the sealed part, see [`super::query::sealed_end`]) the
/// filtered seals up to it and the filtered events after it, else the
/// filtered events.
pub fn page_query<'a>(
    prefix: &str,
    filter: &'a Filter,
    after: CommitCursor,
    sealed: Option<CommitCursor>,
    bound: i64,
    limit: i64,
) -> QueryBuilder<'a, Postgres> {
    const COLUMNS: &str = "tx_id::text::bigint AS tx_id, position, aggregate_type, aggregate_id, \
                           sequence, event_type, event_version, payload, metadata, recorded_at";
    let mut q = QueryBuilder::new(prefix);
    let Some(sealed) = sealed else {
        q.push(format_args!("SELECT {COLUMNS} FROM events"));
        in_commit_order(&mut q, "events", filter, (after, None), bound, limit);
        return q;
    };
    q.push(format_args!(
        "SELECT {COLUMNS} FROM ((SELECT e.* FROM audit_seals s JOIN events e ON e.position = s.position"
    ));
    // Seals written since `sealed` was read are left to the second part.
    in_commit_order(&mut q, "s", filter, (after, Some(sealed)), bound, limit);
    q.push(") UNION ALL (SELECT * FROM events");
    let tail = (after.max(sealed), None);
    in_commit_order(&mut q, "events", filter, tail, bound, limit);
    q.push(")) AS page ORDER BY page.tx_id, page.position LIMIT ")
        .push_bind(limit);
    q
}

/// The conditions of a page read from `table` (`events`, or `s` for the
/// seals), in commit order, from after `range.0` up to `range.1` if given.
fn in_commit_order<'a>(
    q: &mut QueryBuilder<'a, Postgres>,
    table: &str,
    filter: &'a Filter,
    range: (CommitCursor, Option<CommitCursor>),
    bound: i64,
    limit: i64,
) {
    let (after, upto) = range;
    q.push(format_args!(" WHERE ({table}.tx_id, {table}.position) > ("))
        .push_bind(after.tx_id.to_string())
        .push("::text::xid8, ")
        .push_bind(after.position)
        .push(format_args!(") AND {table}.tx_id < "))
        .push_bind(bound.to_string())
        .push("::text::xid8");
    if let Some(upto) = upto {
        q.push(format_args!(" AND ({table}.tx_id, {table}.position) <= ("))
            .push_bind(upto.tx_id.to_string())
            .push("::text::xid8, ")
            .push_bind(upto.position)
            .push(")");
    }
    let actor = match table {
        "events" => "(events.metadata ->> 'actor')".to_string(),
        _ => format!("{table}.actor"),
    };
    let texts = [
        ("aggregate_type", &filter.aggregate_type),
        ("aggregate_id", &filter.aggregate_id),
        ("event_type", &filter.event_type),
    ];
    for (column, value) in texts {
        if let Some(v) = value {
            q.push(format_args!(" AND {table}.{column} = "))
                .push_bind(v);
        }
    }
    if let Some(v) = &filter.actor {
        q.push(format_args!(" AND {actor} = ")).push_bind(v);
    }
    if let Some(v) = filter.since {
        q.push(format_args!(" AND {table}.recorded_at >= "))
            .push_bind(v);
    }
    if let Some(v) = filter.until {
        q.push(format_args!(" AND {table}.recorded_at < "))
            .push_bind(v);
    }
    // Qualified: a bare `tx_id` would name the bigint output column, which
    // no index orders.
    q.push(format_args!(
        " ORDER BY {table}.tx_id, {table}.position LIMIT "
    ))
    .push_bind(limit);
}
