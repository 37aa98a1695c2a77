//! Request ids and W3C trace context along the pipeline: a command's
//! `X-Request-Id` and `traceparent` are recorded in its events' metadata and
//! carried on the events' NATS messages; with an OTLP endpoint configured,
//! one trace shows the request, the relay's publication and the projections
//! of its event.

use std::net::SocketAddr;
use std::process::Stdio;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;
use serde_json::json;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::Command;

use crate::support::pipeline::read_stream;
use crate::support::{eventually, TestApp, TestEnv};

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

type Collected = Arc<Mutex<Vec<Span>>>;

/// An OTLP/HTTP trace collector on a free loopback port: keeps every span
/// it is sent.
async fn collector() -> (SocketAddr, Collected) {
    let spans: Collected = Arc::default();
    let kept = spans.clone();
    let app = axum::Router::new().route(
        "/v1/traces",
        axum::routing::post(move |body: axum::body::Bytes| {
            let kept = kept.clone();
            async move {
                let request = ExportTraceServiceRequest::decode(body).expect("an OTLP request");
                let mut kept = kept.lock().unwrap();
                for resource in request.resource_spans {
                    for scope in resource.scope_spans {
                        kept.extend(scope.spans);
                    }
                }
                (
                    [("content-type", "application/x-protobuf")],
                    Vec::<u8>::new(),
                )
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    (addr, spans)
}

#[tokio::test]
async fn with_an_otlp_endpoint_one_trace_shows_the_request_the_relay_and_the_projectors() {
    let env = TestEnv::new().await;
    let (collector, spans) = collector().await;
    let secret = "otlp-test-secret";
    let mut child = Command::new(env!("CARGO_BIN_EXE_comics"))
        .arg("serve")
        .env("DATABASE_URL", &env.settings.database_url)
        .env("COMICS_NATS_PREFIX", &env.settings.nats_prefix)
        .env("COMICS_HTTP_ADDR", "127.0.0.1:0")
        .env("COMICS_JWT_SECRET", secret)
        .env("OTEL_EXPORTER_OTLP_ENDPOINT", format!("http://{collector}"))
        .env("OTEL_BSP_SCHEDULE_DELAY", "100")
        .env("RUST_LOG", "info")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .expect("comics serve");
    let mut lines = BufReader::new(child.stderr.take().unwrap()).lines();
    let listening = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            if line.contains("comics is listening") {
                return line;
            }
        }
        panic!("comics serve ended before it listened");
    })
    .await
    .expect("comics serve listens within a minute");
    let addr = listening
        .split("addr=")
        .nth(1)
        .and_then(|a| a.split_whitespace().next())
        .expect("the address it listens on");
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });

    let jwt = comics_common::auth::Jwt::new(&comics_common::config::JwtSettings::hs256(secret));
    let admin = jwt
        .mint("admin-1", &["admin"], chrono::Duration::hours(1))
        .unwrap();
    let caller_span = "00f067aa0ba902b7";
    let r = reqwest::Client::new()
        .post(format!("http://{addr}/api/v1/comics"))
        .bearer_auth(&admin)
        .header("traceparent", format!("00-{TRACE}-{caller_span}-01"))
        .json(&json!({"title": "Exported"}))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 201);

    let trace = hex::decode(TRACE).unwrap();
    let (request, relay, projected) = eventually(Duration::from_secs(30), || async {
        let spans = spans.lock().unwrap();
        let in_trace: Vec<&Span> = spans.iter().filter(|s| s.trace_id == trace).collect();
        let request = in_trace.iter().find(|s| s.name == "request")?;
        let relay = in_trace.iter().find(|s| s.name == "relay publish")?;
        let projected: Vec<String> = in_trace
            .iter()
            .filter(|s| s.parent_span_id == request.span_id && s.name != "relay publish")
            .map(|s| s.name.clone())
            .collect();
        (projected.len() >= 2).then(|| ((*request).clone(), (*relay).clone(), projected))
    })
    .await;
    // The request's span is a child of the caller's; the relay's and the
    // projectors' spans for its event are children of the request's.
    assert_eq!(hex::encode(&request.parent_span_id), caller_span);
    assert_eq!(relay.parent_span_id, request.span_id);
    for name in ["catalog", "ratings"] {
        assert!(projected.iter().any(|p| p == name), "{projected:?}");
    }
    // The event's metadata names the request's span as the parent.
    let pool = env.events_pool().await;
    let metadata: serde_json::Value = sqlx::query_scalar(
        "SELECT metadata FROM events WHERE aggregate_type = 'Comic' ORDER BY position DESC LIMIT 1",
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    assert_eq!(
        metadata["traceparent"],
        json!(format!("00-{TRACE}-{}-01", hex::encode(&request.span_id)))
    );
    child.kill().await.unwrap();
    env.cleanup().await;
}
