//! `GET /metrics`: the Prometheus text of what the process runs, moving as
//! commands, views and reads go through it. The recorder is process-wide and
//! tests run in parallel, so each check is "this series exists and grew
//! across our own requests", never an exact count.

use std::time::Duration;

use serde_json::json;

use crate::support::client::{consistency, TestApp};
use crate::support::eventually;

/// The value of the series `name` whose labels include every `labels` pair
/// (`None` when there is none).
pub(crate) fn sample(text: &str, name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .filter_map(|l| l.rsplit_once(' '))
        .find(|(series, _)| {
            let (metric, rest) = series.split_once('{').unwrap_or((series, ""));
            metric == name
                && labels
                    .iter()
                    .all(|(k, v)| rest.contains(&format!("{k}=\"{v}\"")))
        })
        .and_then(|(_, value)| value.parse().ok())
}

pub(crate) async fn scrape(app: &TestApp) -> String {
    let r = app.get("/metrics").await;
    assert_eq!(r.status(), 200);
    let content_type = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    r.text().await.unwrap()
}

#[tokio::test]
async fn metrics_are_present_and_move_after_commands_views_and_reads() {
    let app = TestApp::spawn().await;
    let (comic, token) = app.comic("Measured").await;
    let path = format!("/api/v1/comics/{comic}");
    assert_eq!(app.get_after(&path, &token).await.status(), 200);
    let before = scrape(&app).await;
    let created = [
        ("method", "POST"),
        ("route", "/api/v1/comics"),
        ("status", "201"),
    ];
    let read = [
        ("method", "GET"),
        ("route", "/api/v1/comics/{id}"),
        ("status", "200"),
    ];
    let ok = [("aggregate", "Comic"), ("outcome", "ok")];
    let hits = [("outcome", "hit")];
    let count =
        |text: &str, name: &str, labels: &[(&str, &str)]| sample(text, name, labels).unwrap_or(0.0);

    let (doomed, _) = app.comic("Measured and deleted").await;
    assert_eq!(app.delete_comic(&doomed).await.status(), 204);
    let refused = app.patch_comic(&doomed, json!({"title": "Back"})).await;
    assert_eq!(
        refused.status(),
        404,
        "the aggregate refuses a deleted comic"
    );
    let rated = consistency(
        &app.send(
            reqwest::Method::PUT,
            &format!("/api/v1/comics/{comic}/rating"),
            Some(&app.user_token),
            Some(json!({"score": 8})),
        )
        .await,
    );
    app.viewed(Some(&app.user("metered reader")), &comic).await;
    // A miss, then a hit served before routing: both carry the route.
    app.get(&path).await;
    app.get(&path).await;
    assert_eq!(
        app.get_after(&format!("{path}/stats"), &rated)
            .await
            .status(),
        200
    );

    let after = eventually(Duration::from_secs(10), || async {
        let text = scrape(&app).await;
        let moved = count(&text, "comics_views_accepted_total", &[])
            > count(&before, "comics_views_accepted_total", &[]);
        moved.then_some(text)
    })
    .await;
    for (name, labels) in [
        ("http_requests_total", &created[..]),
        ("http_requests_total", &read[..]),
        ("comics_commands_total", &ok[..]),
        (
            "comics_commands_total",
            &[("aggregate", "Comic"), ("outcome", "refused")][..],
        ),
        (
            "comics_commands_total",
            &[("aggregate", "Rating"), ("outcome", "ok")][..],
        ),
        ("comics_read_cache_total", &hits[..]),
        ("comics_relay_published_total", &[][..]),
        (
            "comics_worker_events_total",
            &[("worker", "projector catalog")][..],
        ),
        ("comics_view_batches_total", &[][..]),
    ] {
        assert!(
            count(&after, name, labels) > count(&before, name, labels),
            "{name}{labels:?} did not grow:\n{after}"
        );
    }
    for (name, labels) in [
        ("http_request_duration_seconds_bucket", &read[..]),
        ("comics_relay_position", &[][..]),
        (
            "comics_worker_position",
            &[("worker", "projector ratings")][..],
        ),
        (
            "comics_worker_events_behind",
            &[("worker", "view recorder")][..],
        ),
        (
            "comics_worker_batch_seconds_count",
            &[("worker", "projector catalog")][..],
        ),
        ("comics_read_cache_entries", &[][..]),
    ] {
        assert!(
            sample(&after, name, labels).is_some(),
            "no {name}{labels:?}:\n{after}"
        );
    }
    assert!(
        !after.contains(&comic),
        "a raw path made a series of its own"
    );
    app.stop().await;
}
