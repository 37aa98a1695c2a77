//! Request ids and W3C trace context along the pipeline: a command's
//! `X-Request-Id` and `traceparent` are recorded in its events' metadata and
//! carried on the events' NATS messages.

use std::time::Duration;

use serde_json::json;

use crate::support::pipeline::read_stream;
use crate::support::{eventually, TestApp};

const TRACE: &str = "4bf92f3577b34da6a3ce929d0e0e4736";

#[tokio::test]
async fn a_commands_request_id_and_trace_reach_its_event_and_nats_message() {
    let app = TestApp::spawn().await;
    let r = app
        .http
        .post(format!("{}/api/v1/comics", app.base))
        .bearer_auth(&app.admin_token)
        .header("x-request-id", "req-trace-1")
        .header("traceparent", format!("00-{TRACE}-00f067aa0ba902b7-01"))
        .json(&json!({"title": "Traced"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);
    assert_eq!(r.headers()["x-request-id"], "req-trace-1");
    let id = r.json::<serde_json::Value>().await.unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();

    let pool = app.env.events_pool().await;
    let metadata: serde_json::Value =
        sqlx::query_scalar("SELECT metadata FROM events WHERE aggregate_id = $1")
            .bind(&id)
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!(metadata["request_id"], json!("req-trace-1"));
    assert_eq!(metadata["actor"], json!("admin-1"));
    let traceparent = metadata["traceparent"].as_str().expect("a traceparent");
    assert_eq!(traceparent, format!("00-{TRACE}-00f067aa0ba902b7-01"));

    let js = async_nats::jetstream::new(app.env.nats().await);
    let stream = js.get_stream(app.env.names().stream()).await.unwrap();
    let seq = eventually(Duration::from_secs(10), || async {
        read_stream(&app.env)
            .await
            .into_iter()
            .find(|m| m.record.aggregate_id == id)
            .map(|m| m.sequence)
    })
    .await;
    let message = stream.get_raw_message(seq).await.unwrap();
    assert_eq!(
        message.headers.get("traceparent").map(|v| v.as_str()),
        Some(traceparent)
    );

    // Without one, a fresh trace is started and recorded all the same.
    let (other, _) = app.comic("Untraced").await;
    let metadata: serde_json::Value =
        sqlx::query_scalar("SELECT metadata FROM events WHERE aggregate_id = $1")
            .bind(&other)
            .fetch_one(&pool)
            .await
            .unwrap();
    let fresh = metadata["traceparent"].as_str().unwrap();
    assert!(
        comics_common::http::parse_traceparent(fresh).is_some(),
        "{fresh}"
    );
    assert!(!fresh.contains(TRACE));
    app.stop().await;
}
