//! `GET /api/v1/audit/events` (admin): the event log itself, oldest first
//! (commit order), filtered, paged by an opaque cursor
//! (`comics_eventlog::audit::query`).

use std::sync::Arc;

use axum::extract::{FromRef, State};
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use comics_common::auth::{Admin, Jwt};
use comics_common::http::QueryParams;
use comics_common::Problem;
use comics_eventlog::audit::filter::Filter;
use comics_eventlog::audit::query::{self, DEFAULT_LIMIT, MAX_FILTER_LEN, MAX_LIMIT};
use comics_eventlog::{CommitCursor, EventRecord};
use serde::{Deserialize, Serialize};
use sqlx::PgPool;

use crate::listing::{bad_param, given};

/// What the audit endpoint reads: the event store, and the token verifier.
#[derive(Clone)]
pub struct AuditState {
    pub events: PgPool,
    pub jwt: Arc<Jwt>,
}

impl FromRef<AuditState> for Arc<Jwt> {
    fn from_ref(state: &AuditState) -> Self {
        state.jwt.clone()
    }
}

pub fn router(state: AuditState) -> Router {
    Router::new()
        .route("/api/v1/audit/events", get(events))
        .with_state(state)
}

#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct AuditParams {
    /// e.g. `Comic`, `Chapter`, `Page`, `Rating`, `Library`, `Plan`.
    aggregate_type: Option<String>,
    aggregate_id: Option<String>,
    /// The `sub` that caused the event, or `anonymous`.
    actor: Option<String>,
    event_type: Option<String>,
    /// Recorded at or after this instant (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<Utc>>)]
    since: Option<String>,
    /// Recorded before this instant (RFC 3339).
    #[param(value_type = Option<chrono::DateTime<Utc>>)]
    until: Option<String>,
    /// Events per page (default 100).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 1000)]
    limit: Option<String>,
    /// The `next` (or `resume`) of an earlier page.
    after: Option<String>,
}

/// One page: the events, the limit, the cursor of the next page (null when
/// this page reached the end of what is committed), and `resume`, a cursor
/// that is never null: at the end, `after=<resume>` later returns only
/// events committed since (for a client that polls for new events).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct AuditPage {
    pub items: Vec<EventRecord>,
    pub limit: i64,
    pub next: Option<String>,
    pub resume: String,
}

/// The parsed request: filter, cursor and limit.
pub fn parse(p: &AuditParams) -> Result<(Filter, CommitCursor, i64), Problem> {
    let text = |name: &str, raw: &Option<String>| -> Result<Option<String>, Problem> {
        match given(raw) {
            Some(v) if v.len() > MAX_FILTER_LEN => Err(bad_param(
                name,
                format!("must be at most {MAX_FILTER_LEN} bytes"),
            )),
            // Postgres text cannot hold a NUL: no stored value has one.
            Some(v) if v.contains('\0') => Err(bad_param(name, "must not contain a NUL character")),
            v => Ok(v.map(str::to_string)),
        }
    };
    let time = |name: &str, raw: &Option<String>| -> Result<Option<DateTime<Utc>>, Problem> {
        given(raw)
            .map(|v| {
                DateTime::parse_from_rfc3339(v)
                    .map(|t| t.with_timezone(&Utc))
                    .map_err(|_| {
                        bad_param(name, "must be an RFC 3339 time, e.g. 2026-01-31T12:00:00Z")
                    })
            })
            .transpose()
    };
    let filter = Filter {
        aggregate_type: text("aggregate_type", &p.aggregate_type)?,
        aggregate_id: text("aggregate_id", &p.aggregate_id)?,
        actor: text("actor", &p.actor)?,
        event_type: text("event_type", &p.event_type)?,
        since: time("since", &p.since)?,
        until: time("until", &p.until)?,
    };
    let limit = match given(&p.limit) {
        None => DEFAULT_LIMIT,
        Some(raw) => raw
            .parse::<i64>()
            .ok()
            .filter(|l| (1..=MAX_LIMIT).contains(l))
            .ok_or_else(|| {
                bad_param("limit", format!("must be an integer from 1 to {MAX_LIMIT}"))
            })?,
    };
    let after = match given(&p.after) {
        None => CommitCursor::default(),
        Some(raw) => query::decode_cursor(raw)
            .ok_or_else(|| bad_param("after", "must be the `next` of an earlier page"))?,
    };
    Ok((filter, after, limit))
}

#[utoipa::path(get, path = "/api/v1/audit/events", tag = "audit",
    params(AuditParams),
    security(("bearer" = ["admin"])),
    responses((status = 200, description = "Events in commit order", body = AuditPage)))]
async fn events(
    _admin: Admin,
    State(state): State<AuditState>,
    QueryParams(params): QueryParams<AuditParams>,
) -> Result<Json<AuditPage>, Problem> {
    let (filter, after, limit) = parse(&params)?;
    let mut db = state.events.acquire().await?;
    let page = query::page(&mut db, &filter, after, limit).await?;
    Ok(Json(AuditPage {
        items: page.items.into_iter().map(|(_, e)| e).collect(),
        limit,
        next: page.next.map(query::encode_cursor),
        resume: query::encode_cursor(page.resume),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(pairs: &[(&str, &str)]) -> AuditParams {
        let query = pairs
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("&");
        let uri: axum::http::Uri = format!("/?{query}").parse().unwrap();
        axum::extract::Query::<AuditParams>::try_from_uri(&uri)
            .unwrap()
            .0
    }

    fn bad(pairs: &[(&str, &str)]) -> String {
        let p = parse(&params(pairs)).unwrap_err();
        assert_eq!(p.status, 400);
        p.errors[0].field.clone()
    }

    #[test]
    fn malformed_parameters_are_named() {
        assert_eq!(bad(&[("since", "yesterday")]), "since");
        assert_eq!(bad(&[("until", "2026-13-01T00:00:00Z")]), "until");
        assert_eq!(bad(&[("limit", "0")]), "limit");
        assert_eq!(bad(&[("limit", "1001")]), "limit");
        assert_eq!(bad(&[("limit", "ten")]), "limit");
        assert_eq!(bad(&[("after", "garbage")]), "after");
        let long = "a".repeat(MAX_FILTER_LEN + 1);
        assert_eq!(bad(&[("actor", long.as_str())]), "actor");
        assert_eq!(bad(&[("aggregate_type", "Comic%00")]), "aggregate_type");
    }

    #[test]
    fn defaults_and_times_parse() {
        let (filter, after, limit) = parse(&params(&[
            ("since", "2026-01-31T12:00:00%2B01:00"),
            ("actor", "alice"),
            ("limit", "1000"),
        ]))
        .unwrap();
        assert_eq!(limit, 1000);
        assert_eq!(after, CommitCursor::default());
        assert_eq!(filter.actor.as_deref(), Some("alice"));
        assert_eq!(
            filter.since.unwrap().to_rfc3339(),
            "2026-01-31T11:00:00+00:00"
        );
        assert_eq!(parse(&params(&[])).unwrap().2, DEFAULT_LIMIT);
    }
}
