//! Who may write: admin endpoints answer 401 without a valid token and 403
//! to a valid token without the admin role; reads need no token.

use crate::support::client::{json_with, problem};
use crate::support::TestApp;
use chrono::Duration;
use comics_common::auth::Jwt;
use comics_common::config::JwtSettings;
use reqwest::{Method, Response};
use serde_json::json;

/// One admin request of each kind, on an existing comic and chapter.
async fn admin_requests(app: &TestApp) -> Vec<(Method, String, Option<serde_json::Value>)> {
    let (comic, _) = app.comic("Guarded").await;
    let (chapter, _) = app.chapter(&comic, "1").await;
    vec![
        (
            Method::POST,
            "/api/v1/comics".into(),
            Some(json!({"title": "T"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/comics/{comic}"),
            Some(json!({"title": "T"})),
        ),
        (Method::DELETE, format!("/api/v1/comics/{comic}"), None),
        (
            Method::POST,
            format!("/api/v1/comics/{comic}/chapters"),
            Some(json!({"number": "2"})),
        ),
        (
            Method::PATCH,
            format!("/api/v1/chapters/{chapter}"),
            Some(json!({"title": "T"})),
        ),
        (Method::DELETE, format!("/api/v1/chapters/{chapter}"), None),
    ]
}

/// Sends every admin request with `token` and checks each answers `status`.
async fn every_admin_request_answers(app: &TestApp, token: Option<&str>, status: u16) {
    for (method, path, body) in admin_requests(app).await {
        let r = app.send(method.clone(), &path, token, body).await;
        let challenge = r.headers().get("www-authenticate").cloned();
        problem(r, status).await;
        if status == 401 {
            let challenge =
                challenge.unwrap_or_else(|| panic!("WWW-Authenticate on {method} {path}"));
            assert!(
                challenge.to_str().unwrap().starts_with("Bearer"),
                "{challenge:?}"
            );
        }
    }
}

#[tokio::test]
async fn admin_endpoints_without_a_token_are_unauthorized_with_a_challenge() {
    let app = TestApp::spawn().await;
    every_admin_request_answers(&app, None, 401).await;
    app.stop().await;
}

#[tokio::test]
async fn a_garbage_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    every_admin_request_answers(&app, Some("not.a.jwt"), 401).await;
    app.stop().await;
}

#[tokio::test]
async fn an_expired_admin_token_is_unauthorized() {
    let app = TestApp::spawn().await;
    let expired = app
        .env
        .jwt()
        .mint("admin-1", &["admin"], Duration::hours(-1))
        .unwrap();
    every_admin_request_answers(&app, Some(&expired), 401).await;
    app.stop().await;
}

#[tokio::test]
async fn an_admin_token_signed_with_another_secret_is_unauthorized() {
    let app = TestApp::spawn().await;
    let settings = JwtSettings {
        secret: "some-other-secret".into(),
        ..app.env.settings.jwt.clone()
    };
    let forged = Jwt::new(&settings)
        .mint("admin-1", &["admin"], Duration::hours(1))
        .unwrap();
    every_admin_request_answers(&app, Some(&forged), 401).await;
    app.stop().await;
}

#[tokio::test]
async fn a_valid_token_without_the_admin_role_is_forbidden() {
    let app = TestApp::spawn().await;
    let user = app.user_token.clone();
    every_admin_request_answers(&app, Some(&user), 403).await;
    app.stop().await;
}

#[tokio::test]
async fn a_forbidden_or_unauthorized_write_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Untouched").await;
    let patch = Some(json!({"title": "Defaced"}));
    let path = format!("/api/v1/comics/{id}");
    let user = app.user_token.clone();
    let r = app
        .send(Method::PATCH, &path, Some(&user), patch.clone())
        .await;
    assert_eq!(r.status(), 403);
    let r = app.send(Method::PATCH, &path, None, patch).await;
    assert_eq!(r.status(), 401);
    let r = app.patch_comic(&id, json!({"status": "completed"})).await;
    assert_eq!(json_with(r, 200).await["version"], json!(2));
    app.stop().await;
}

#[tokio::test]
async fn reads_need_no_token() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Public").await;
    let (chapter, token) = app.chapter(&comic, "1").await;
    for path in [
        "/api/v1/comics".to_string(),
        format!("/api/v1/comics/{comic}"),
        format!("/api/v1/comics/{comic}/chapters"),
        format!("/api/v1/chapters/{chapter}"),
        "/api/v1/genres".to_string(),
    ] {
        let r: Response = app.get_after(&path, &token).await;
        assert_eq!(r.status(), 200, "GET {path}");
    }
    app.stop().await;
}
