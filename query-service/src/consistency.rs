//! Write-then-read consistency: a `GET` sent with `X-Consistency-Token`
//! answers only once every projection it reads has applied the aggregate
//! versions the token names (API.md, "Write-then-read consistency").
//!
//! Each projection records the last applied sequence per aggregate in its
//! `<schema>.applied` table; waiting means polling that table with a short
//! backoff until every mark of the token for an aggregate type the projection
//! follows is reached, or the timeout passes (503 with `Retry-After`).
//! [`ConsistencyGate`] and [`wait_until_applied`] take any list of projections,
//! so read modules over other projections reuse them.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Request, State};
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use comics_common::consistency::{ConsistencyToken, Mark, HEADER};
use comics_common::projections::ProjectionInfo;
use comics_common::Problem;
use sqlx::PgPool;

/// API.md's limit on how long a read waits for its token.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(5);
const FIRST_BACKOFF: Duration = Duration::from_millis(2);
const MAX_BACKOFF: Duration = Duration::from_millis(20);

/// A projection and the pool of the database that holds its query store.
#[derive(Debug, Clone)]
pub struct ProjectionStore {
    pub info: ProjectionInfo,
    pub pool: PgPool,
}

impl ProjectionStore {
    pub fn new(info: ProjectionInfo, pool: PgPool) -> Self {
        Self { info, pool }
    }
}

/// The projections a group of routes reads, and how long to wait for them.
#[derive(Debug, Clone)]
pub struct ConsistencyGate {
    stores: Arc<[ProjectionStore]>,
    timeout: Duration,
}

impl ConsistencyGate {
    pub fn new(stores: Vec<ProjectionStore>, timeout: Duration) -> Self {
        Self {
            stores: stores.into(),
            timeout,
        }
    }

    /// Waits until every store has applied `token` (see [`wait_until_applied`]).
    pub async fn wait_for(&self, token: &ConsistencyToken) -> Result<(), Problem> {
        wait_until_applied(token, &self.stores, self.timeout).await
    }
}

/// The token sent with a request: `None` without the header, 400 when the
/// header is not a token this platform made.
pub fn token_from(headers: &HeaderMap) -> Result<Option<ConsistencyToken>, Problem> {
    let Some(value) = headers.get(HEADER) else {
        return Ok(None);
    };
    value
        .to_str()
        .ok()
        .and_then(ConsistencyToken::decode)
        .map(Some)
        .ok_or_else(|| Problem::bad_request("the X-Consistency-Token header is not a valid token"))
}

/// Middleware (`from_fn_with_state` with a [`ConsistencyGate`]): holds the
/// request until the gate's projections reflect the token, if one was sent.
pub async fn require(State(gate): State<ConsistencyGate>, req: Request, next: Next) -> Response {
    let waited = match token_from(req.headers()) {
        Ok(Some(token)) => gate.wait_for(&token).await,
        Ok(None) => Ok(()),
        Err(problem) => Err(problem),
    };
    match waited {
        Ok(()) => next.run(req).await,
        Err(problem) => problem.into_response(),
    }
}

/// Waits until each store has applied every mark of `token` whose aggregate
/// type its projection follows; marks for other aggregate types are ignored.
/// Gives up after `timeout` with a 503 problem.
#[tracing::instrument(skip_all, fields(marks = token.marks.len()))]
pub async fn wait_until_applied(
    token: &ConsistencyToken,
    stores: &[ProjectionStore],
    timeout: Duration,
) -> Result<(), Problem> {
    let all = async {
        for store in stores {
            let marks: Vec<&Mark> = token
                .marks
                .iter()
                .filter(|m| {
                    store
                        .info
                        .aggregate_types
                        .contains(&m.aggregate_type.as_str())
                })
                .collect();
            if !marks.is_empty() {
                wait_for_store(store, &marks).await?;
            }
        }
        Ok::<(), Problem>(())
    };
    tokio::time::timeout(timeout, all)
        .await
        .unwrap_or_else(|_| {
            tracing::info!(?timeout, "consistency token not applied in time");
            Err(Problem::unavailable(format!(
                "the read model has not caught up with this write within {} ms; retry shortly",
                timeout.as_millis()
            )))
        })
}

/// Polls one store until all `marks` are applied (no deadline of its own).
async fn wait_for_store(store: &ProjectionStore, marks: &[&Mark]) -> Result<(), Problem> {
    let mut backoff = FIRST_BACKOFF;
    while pending(store, marks).await? > 0 {
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    Ok(())
}

/// How many of `marks` the store has not applied yet.
async fn pending(store: &ProjectionStore, marks: &[&Mark]) -> Result<i64, sqlx::Error> {
    let sql = format!(
        // A correlated lookup per mark (a subplan), never an anti-join that
        // a generic plan may turn into a scan of the whole table.
        "SELECT count(*) FROM unnest($1::text[], $2::text[], $3::int8[]) AS m(t, i, s) \
         WHERE COALESCE((SELECT a.sequence FROM {}.applied a \
           WHERE a.aggregate_type = m.t AND a.aggregate_id = m.i LIMIT 1), -1) < m.s",
        store.info.schema
    );
    sqlx::query_scalar(&sql)
        .bind(
            marks
                .iter()
                .map(|m| m.aggregate_type.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(
            marks
                .iter()
                .map(|m| m.aggregate_id.as_str())
                .collect::<Vec<_>>(),
        )
        .bind(marks.iter().map(|m| m.sequence).collect::<Vec<_>>())
        .fetch_one(&store.pool)
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::HeaderValue;

    #[test]
    fn no_header_means_no_token() {
        assert!(token_from(&HeaderMap::new()).unwrap().is_none());
    }

    #[test]
    fn a_token_made_by_the_platform_is_read() {
        let mut token = ConsistencyToken::default();
        token.push("Comic", "c1", 3);
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_str(&token.encode()).unwrap());
        assert_eq!(token_from(&headers).unwrap(), Some(token));
    }

    #[test]
    fn a_garbled_token_is_a_bad_request() {
        let mut headers = HeaderMap::new();
        headers.insert(HEADER, HeaderValue::from_static("garbage!"));
        assert_eq!(token_from(&headers).unwrap_err().status, 400);
        headers.insert(HEADER, HeaderValue::from_bytes(b"\xff\xfe").unwrap());
        assert_eq!(token_from(&headers).unwrap_err().status, 400);
    }
}
