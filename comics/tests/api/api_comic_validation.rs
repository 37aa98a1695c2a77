//! Comic bodies that break a rule (422 naming the field), and bodies that are
//! not acceptable JSON at all (400, 413, 415).

use crate::support;

use crate::support::client::{error_fields, problem};
use crate::support::TestApp;
use reqwest::Method;
use serde_json::{json, Value};

/// Asserts that creating a comic from `body` is a 422 naming `field` (or an
/// entry of it, such as `genres[0]`).
async fn rejected(app: &TestApp, body: Value, field: &str) {
    let p = problem(app.create_comic(body.clone()).await, 422).await;
    let fields = error_fields(&p);
    assert!(
        fields
            .iter()
            .any(|f| f == field || f.starts_with(&format!("{field}["))),
        "expected errors[].field {field:?} for {body}, got {p}"
    );
}

#[tokio::test]
async fn an_empty_or_blank_title_is_rejected_as_a_title_error() {
    let app = TestApp::spawn().await;
    rejected(&app, json!({"title": ""}), "title").await;
    rejected(&app, json!({"title": "    "}), "title").await;
    app.stop().await;
}

#[tokio::test]
async fn a_missing_title_is_rejected_as_a_title_error() {
    let app = TestApp::spawn().await;
    rejected(&app, json!({"description": "no title"}), "title").await;
    app.stop().await;
}

#[tokio::test]
async fn a_title_of_201_characters_is_rejected_but_200_are_accepted() {
    let app = TestApp::spawn().await;
    rejected(&app, json!({"title": "é".repeat(201)}), "title").await;
    let r = app.create_comic(json!({"title": "é".repeat(200)})).await;
    assert_eq!(r.status(), 201, "200 characters (400 bytes) are allowed");
    app.stop().await;
}

#[tokio::test]
async fn a_genre_that_is_not_a_slug_is_rejected_as_a_genres_error() {
    let app = TestApp::spawn().await;
    for bad in ["Action", "sci fi", "", "émotion", &"a".repeat(41)] {
        rejected(&app, json!({"title": "T", "genres": [bad]}), "genres").await;
    }
    app.stop().await;
}

#[tokio::test]
async fn more_than_twenty_genres_are_rejected() {
    let app = TestApp::spawn().await;
    let genres: Vec<String> = (0..21).map(|i| format!("genre-{i}")).collect();
    rejected(&app, json!({"title": "T", "genres": genres}), "genres").await;
    let twenty = &genres[..20];
    let r = app
        .create_comic(json!({"title": "T", "genres": twenty}))
        .await;
    assert_eq!(r.status(), 201, "twenty genres are allowed");
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_status_or_type_is_rejected_naming_the_field() {
    let app = TestApp::spawn().await;
    rejected(&app, json!({"title": "T", "status": "finished"}), "status").await;
    rejected(&app, json!({"title": "T", "type": "novel"}), "type").await;
    app.stop().await;
}

#[tokio::test]
async fn a_description_longer_than_5000_characters_is_rejected() {
    let app = TestApp::spawn().await;
    let long = "d".repeat(5001);
    rejected(
        &app,
        json!({"title": "T", "description": long}),
        "description",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn too_many_or_empty_authors_are_rejected() {
    let app = TestApp::spawn().await;
    let many: Vec<String> = (0..21).map(|i| format!("Author {i}")).collect();
    rejected(&app, json!({"title": "T", "authors": many}), "authors").await;
    rejected(&app, json!({"title": "T", "artists": [""]}), "artists").await;
    rejected(
        &app,
        json!({"title": "T", "alt_titles": ["x".repeat(201)]}),
        "alt_titles",
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_field_in_a_comic_body_is_rejected_naming_it() {
    let app = TestApp::spawn().await;
    rejected(&app, json!({"title": "T", "titel": "typo"}), "titel").await;
    let (id, _) = app.comic("Patched").await;
    let r = app.patch_comic(&id, json!({"staus": "completed"})).await;
    let p = problem(r, 422).await;
    assert!(error_fields(&p).contains(&"staus".to_string()), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn fields_the_server_computes_cannot_be_written() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Computed").await;
    for field in ["cover_url", "chapter_count", "version", "id"] {
        let r = app.patch_comic(&id, json!({field: null})).await;
        let p = problem(r, 422).await;
        assert!(error_fields(&p).contains(&field.to_string()), "{p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_invalid_patch_is_rejected_and_leaves_the_version_alone() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Stable").await;
    let p = problem(app.patch_comic(&id, json!({"title": ""})).await, 422).await;
    assert!(error_fields(&p).contains(&"title".to_string()), "{p}");
    let r = app.patch_comic(&id, json!({"status": "completed"})).await;
    let body = support::client::json_with(r, 200).await;
    assert_eq!(
        body["version"],
        json!(2),
        "the rejected patch wrote nothing"
    );
    app.stop().await;
}

#[tokio::test]
async fn malformed_json_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let r = app
        .send_raw(
            Method::POST,
            "/api/v1/comics",
            Some(&app.admin_token),
            Some("application/json"),
            br#"{"title": "unterminated"#.to_vec(),
        )
        .await;
    problem(r, 400).await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_sent_as_text_plain_is_an_unsupported_media_type() {
    let app = TestApp::spawn().await;
    let r = app
        .send_raw(
            Method::POST,
            "/api/v1/comics",
            Some(&app.admin_token),
            Some("text/plain"),
            br#"{"title": "Plain"}"#.to_vec(),
        )
        .await;
    problem(r, 415).await;
    app.stop().await;
}

#[tokio::test]
async fn a_body_over_one_mebibyte_is_too_large() {
    let app = TestApp::spawn().await;
    let description = "x".repeat(1024 * 1024 + 1);
    let body = serde_json::to_vec(&json!({"title": "Big", "description": description})).unwrap();
    let r = app
        .send_raw(
            Method::POST,
            "/api/v1/comics",
            Some(&app.admin_token),
            Some("application/json"),
            body,
        )
        .await;
    problem(r, 413).await;
    app.stop().await;
}

#[tokio::test]
async fn a_null_title_is_refused_and_a_null_list_clears_it() {
    let app = TestApp::spawn().await;
    let r = app
        .create_comic(serde_json::json!({"title": "Nulls", "genres": ["action"]}))
        .await;
    let (id, _) = support::client::created(r).await;
    let r = app
        .patch_comic(&id, serde_json::json!({"title": null}))
        .await;
    assert_eq!(r.status(), 422);
    let r = app
        .patch_comic(&id, serde_json::json!({"genres": null}))
        .await;
    assert_eq!(r.status(), 200);
    let token = support::client::consistency(&r);
    let doc: serde_json::Value = app
        .get_after(&format!("/api/v1/comics/{id}"), &token)
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(doc["genres"], serde_json::json!([]));
    assert_eq!(doc["title"], serde_json::json!("Nulls"));
    app.stop().await;
}
