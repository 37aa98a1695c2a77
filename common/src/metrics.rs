//! Prometheus metrics: one process-wide recorder, rendered at `GET /metrics`
//! in the text format, and the HTTP middleware that counts and times every
//! request by route template and status. Every part of the system records
//! through the `metrics` macros, so a process shows the metrics of what it
//! runs.
//!
//! The names (all prefixed `comics_`, the HTTP ones `http_`):
//! - `http_requests_total{method,route,status}`, `http_request_duration_seconds{…}`
//! - `comics_commands_total{aggregate,outcome}` (`ok`, `unchanged`, `refused`,
//!   `conflict`, `unavailable`, `error`)
//! - `comics_relay_position`, `comics_relay_published_total`,
//!   `comics_relay_events_behind`, `comics_relay_seconds_behind`
//! - `comics_worker_position{worker}`, `comics_worker_events_behind{worker}`,
//!   `comics_worker_events_total{worker}`, `comics_worker_batch_seconds{worker}`
//!   (each projector, and the view recorder)
//! - `comics_views_accepted_total`, `comics_view_batches_total`
//! - `comics_read_cache_total{outcome}` (`hit`, `miss`, `stale`, `recompute`),
//!   `comics_read_cache_entries`, `comics_read_cache_bytes`

use std::sync::{Arc, OnceLock};
use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{header, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Latency buckets in seconds, for every histogram.
const BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

static HANDLE: OnceLock<Option<PrometheusHandle>> = OnceLock::new();

/// Installs the recorder (once per process); `None` if another recorder was
/// installed first.
pub fn install() -> Option<&'static PrometheusHandle> {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), BUCKETS)
                .ok()?
                .build_recorder();
            let handle = recorder.handle();
            metrics::set_global_recorder(recorder).ok()?;
            Some(handle)
        })
        .as_ref()
}

/// `GET /metrics`.
pub async fn render() -> Response {
    let Some(handle) = install() else {
        return crate::Problem::unavailable("metrics are not recorded in this process")
            .into_response();
    };
    handle.run_upkeep();
    let mut response = handle.render().into_response();
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
    );
    response
}

/// The route template that answered a request (`/api/v1/comics/{id}`), as
/// a response extension: set inside routing ([`mark_route`], or by the read
/// cache for an answer it kept), read outside it ([`http`]).
#[derive(Debug, Clone)]
pub struct Route(pub Arc<str>);

/// Middleware inside routing: marks the response with its [`Route`].
pub async fn mark_route(req: Request, next: Next) -> Response {
    let route = req
        .extensions()
        .get::<MatchedPath>()
        .map(|p| Route(p.as_str().into()));
    let mut response = next.run(req).await;
    if let Some(route) = route {
        if response.extensions().get::<Route>().is_none() {
            response.extensions_mut().insert(route);
        }
    }
    response
}

/// Middleware outside everything: counts and times each request by method,
/// route template (never the raw path: ids would make a series each) and
/// status.
pub async fn http(req: Request, next: Next) -> Response {
    let start = Instant::now();
    let method = req.method().as_str().to_owned();
    let response = next.run(req).await;
    let route = response
        .extensions()
        .get::<Route>()
        .map_or_else(|| "unmatched".to_owned(), |r| r.0.to_string());
    let labels = [
        ("method", method),
        ("route", route),
        ("status", response.status().as_u16().to_string()),
    ];
    metrics::counter!("http_requests_total", &labels).increment(1);
    metrics::histogram!("http_request_duration_seconds", &labels)
        .record(start.elapsed().as_secs_f64());
    response
}
