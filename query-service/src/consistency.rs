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
use comics_common::consistency::{ConsistencyToken, Mark, HEADER, VIEWS};
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

    /// The same store, as seen by reads that show only what `aggregate_types`
    /// record: a token waits only for those (the chapters and genres of the
    /// catalog wait for no rating, bookmark or view).
    pub fn showing(&self, aggregate_types: &'static [&'static str]) -> Self {
        Self {
            info: ProjectionInfo {
                aggregate_types,
                ..self.info
            },
            pool: self.pool.clone(),
        }
    }
}

/// The aggregate type whose events record views.
const RECORDED_VIEWS: &str = comics_domain::aggregate_types::POPULARITY;

/// Where a view's mark is resolved: the event store, which holds the view
/// recorder's position in the views stream and the Popularity events.
#[derive(Debug, Clone)]
pub struct ViewsSource {
    pub events: PgPool,
    /// The views stream's name (the recorder's key in `view_recorder`).
    pub stream: String,
}

/// The projections a group of routes reads, and how long to wait for them.
#[derive(Debug, Clone)]
pub struct ConsistencyGate {
    stores: Arc<[ProjectionStore]>,
    /// Shared, so that cloning the gate for each request allocates nothing.
    views: Option<Arc<ViewsSource>>,
    timeout: Duration,
}

impl ConsistencyGate {
    pub fn new(stores: Vec<ProjectionStore>, timeout: Duration) -> Self {
        Self {
            stores: stores.into(),
            views: None,
            timeout,
        }
    }

    /// The same gate, resolving view marks with `views`.
    pub fn with_views(mut self, views: Option<ViewsSource>) -> Self {
        self.views = views.map(Arc::new);
        self
    }

    /// Waits until every store has applied `token` (see [`wait_until_applied`]).
    pub async fn wait_for(&self, token: &ConsistencyToken) -> Result<(), Problem> {
        // What a view records is a Popularity event: only routes reading a
        // projection that follows those wait for the recorder.
        let reads_views = self
            .stores
            .iter()
            .any(|s| s.info.aggregate_types.contains(&RECORDED_VIEWS));
        let all = async {
            let token = match &self.views {
                Some(views) if reads_views => resolve_views(token, views).await?,
                _ => token.clone(),
            };
            wait_for_stores(&token, &self.stores).await
        };
        within(self.timeout, all).await
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
    within(timeout, wait_for_stores(token, stores)).await
}

/// `wait`, or a 503 problem once `timeout` has passed.
async fn within(
    timeout: Duration,
    wait: impl std::future::Future<Output = Result<(), Problem>>,
) -> Result<(), Problem> {
    tokio::time::timeout(timeout, wait)
        .await
        .unwrap_or_else(|_| {
            tracing::info!(?timeout, "consistency token not applied in time");
            Err(Problem::unavailable(format!(
                "the read model has not caught up with this write within {} ms; retry shortly",
                timeout.as_millis()
            )))
        })
}

/// Replaces each view mark by the mark of what recorded it: waits until the
/// view recorder has passed the view's stream sequence, then names the
/// comic's Popularity version as of then (a version at least as late as the
/// one that counted the view, if it counted; already committed either way).
async fn resolve_views(
    token: &ConsistencyToken,
    views: &ViewsSource,
) -> Result<ConsistencyToken, Problem> {
    let Some(furthest) = token
        .marks
        .iter()
        .filter(|m| m.aggregate_type == VIEWS)
        .map(|m| m.sequence)
        .max()
    else {
        return Ok(token.clone());
    };
    let mut backoff = FIRST_BACKOFF;
    while recorded_through(views).await? < furthest {
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(MAX_BACKOFF);
    }
    let mut resolved = ConsistencyToken::default();
    for mark in &token.marks {
        if mark.aggregate_type != VIEWS {
            resolved.push(&mark.aggregate_type, &mark.aggregate_id, mark.sequence);
            continue;
        }
        let version: i64 = sqlx::query_scalar(
            "SELECT COALESCE(max(sequence), 0) FROM events \
             WHERE aggregate_type = $1 AND aggregate_id = $2",
        )
        .bind(RECORDED_VIEWS)
        .bind(&mark.aggregate_id)
        .fetch_one(&views.events)
        .await?;
        if version > 0 {
            resolved.push(RECORDED_VIEWS, &mark.aggregate_id, version);
        }
    }
    Ok(resolved)
}

/// The views-stream sequence through which every view is recorded.
async fn recorded_through(views: &ViewsSource) -> Result<i64, sqlx::Error> {
    let through: Option<i64> =
        sqlx::query_scalar("SELECT stream_sequence FROM view_recorder WHERE stream = $1")
            .bind(&views.stream)
            .fetch_optional(&views.events)
            .await?;
    Ok(through.unwrap_or(0))
}

/// Waits (without a deadline of its own) until each store has applied the
/// marks of `token` its projection follows.
async fn wait_for_stores(
    token: &ConsistencyToken,
    stores: &[ProjectionStore],
) -> Result<(), Problem> {
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
    Ok(())
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
