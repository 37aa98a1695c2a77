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
//! - `comics_image_cache_total{outcome}` (`hit`, `miss`),
//!   `comics_image_cache_bytes`

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

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

/// How often histogram samples are folded into their buckets.
const UPKEEP_EVERY: Duration = Duration::from_secs(2);

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
            // Histogram samples pile up until upkeep folds them into their
            // buckets: without a scrape they would grow with every request.
            let upkeep = handle.clone();
            std::thread::Builder::new()
                .name("metrics-upkeep".into())
                .spawn(move || loop {
                    std::thread::sleep(UPKEEP_EVERY);
                    upkeep.run_upkeep();
                })
                .ok()?;
            Some(handle)
        })
        .as_ref()
}

/// `GET /metrics`.
#[utoipa::path(get, path = "/metrics", tag = "operations",
    responses(
        (status = 200, description = "Prometheus text format", content_type = "text/plain", body = String),
        (status = 503, description = "Metrics are not recorded in this process"),
    ))]
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
    let method = method_label(req.method());
    let response = next.run(req).await;
    let route = response.extensions().get::<Route>().map(|r| r.0.clone());
    let key = (method, route, response.status().as_u16());
    let elapsed = start.elapsed().as_secs_f64();
    HTTP_SERIES.with(|series| {
        let mut series = series.borrow_mut();
        let (count, time) = series.entry(key).or_insert_with_key(http_series);
        count.increment(1);
        time.record(elapsed);
    });
    response
}

type HttpKey = (&'static str, Option<Arc<str>>, u16);

/// The method as a label: any method a client makes up is `other`, so
/// clients cannot add series (and memory) without bound.
fn method_label(method: &axum::http::Method) -> &'static str {
    use axum::http::Method;
    match *method {
        Method::GET => "GET",
        Method::HEAD => "HEAD",
        Method::POST => "POST",
        Method::PUT => "PUT",
        Method::PATCH => "PATCH",
        Method::DELETE => "DELETE",
        Method::OPTIONS => "OPTIONS",
        _ => "other",
    }
}

thread_local! {
    /// Each worker thread's handles of the request series it has served:
    /// building the labels and finding the series in the registry cost a
    /// fifth of a trivial request's time, and the set of series is small
    /// (methods × route templates × statuses).
    static HTTP_SERIES: RefCell<HashMap<HttpKey, (metrics::Counter, metrics::Histogram)>> =
        RefCell::new(HashMap::new());
}

fn http_series((method, route, status): &HttpKey) -> (metrics::Counter, metrics::Histogram) {
    let labels = [
        ("method", (*method).to_owned()),
        ("route", route.as_deref().unwrap_or("unmatched").to_owned()),
        ("status", status.to_string()),
    ];
    (
        metrics::counter!("http_requests_total", &labels),
        metrics::histogram!("http_request_duration_seconds", &labels),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn made_up_methods_share_one_label() {
        let made_up = axum::http::Method::from_bytes(b"BREW").unwrap();
        assert_eq!(method_label(&made_up), "other");
        assert_eq!(method_label(&axum::http::Method::PATCH), "PATCH");
    }
}
