//! What lies outside the endpoints: unknown routes, wrong methods, and the
//! health probes.

use crate::support::client::{json_with, problem};
use crate::support::TestApp;
use reqwest::Method;
use serde_json::json;

#[tokio::test]
async fn an_unknown_route_is_a_not_found_problem() {
    let app = TestApp::spawn().await;
    for path in [
        "/api/v1/nope",
        "/nope",
        "/api/v2/comics",
        "/api/v1/comics/x/y/z",
    ] {
        problem(app.get(path).await, 404).await;
    }
    let r = app
        .send(
            Method::POST,
            "/api/v1/nope",
            Some(&app.admin_token),
            Some(json!({})),
        )
        .await;
    problem(r, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_wrong_method_is_a_method_not_allowed_problem_naming_the_allowed_ones() {
    let app = TestApp::spawn().await;
    let r = app
        .send(
            Method::PUT,
            "/api/v1/comics",
            Some(&app.admin_token),
            Some(json!({"title": "T"})),
        )
        .await;
    let allow = r
        .headers()
        .get("allow")
        .map(|v| v.to_str().unwrap().to_string());
    problem(r, 405).await;
    let allow = allow.expect("an Allow header");
    assert!(allow.contains("GET") && allow.contains("POST"), "{allow}");
    let id = uuid::Uuid::now_v7();
    let r = app
        .send(Method::POST, &format!("/api/v1/chapters/{id}"), None, None)
        .await;
    problem(r, 405).await;
    app.stop().await;
}

#[tokio::test]
async fn a_get_of_an_unknown_or_malformed_comic_id_is_not_found() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7();
    problem(app.get(&format!("/api/v1/comics/{unknown}")).await, 404).await;
    problem(app.get("/api/v1/comics/not-a-uuid").await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn every_response_carries_a_request_id() {
    let app = TestApp::spawn().await;
    let r = app.get("/api/v1/comics").await;
    assert!(r.headers().contains_key("x-request-id"));
    let r = app.get("/api/v1/nope").await;
    assert!(r.headers().contains_key("x-request-id"));
    app.stop().await;
}

#[tokio::test]
async fn the_liveness_and_readiness_probes_answer_ok() {
    let app = TestApp::spawn().await;
    json_with(app.get("/health/live").await, 200).await;
    json_with(app.get("/health/ready").await, 200).await;
    app.stop().await;
}
