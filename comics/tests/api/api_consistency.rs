//! Write-then-read consistency (`X-Consistency-Token`) and concurrent writers
//! on one aggregate.

use crate::support::client::{consistency, json_with, problem};
use crate::support::TestApp;
use comics_common::consistency::ConsistencyToken;
use futures::future::join_all;
use serde_json::json;

#[tokio::test]
async fn a_read_with_a_writes_token_always_sees_that_write() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("v1").await;
    for i in 2..=15 {
        let r = app
            .patch_comic(&id, json!({"title": format!("v{i}")}))
            .await;
        let token = consistency(&r);
        assert_eq!(r.status(), 200);
        let doc = json_with(app.get_comic(&id, &token).await, 200).await;
        assert_eq!(
            (&doc["title"], &doc["version"]),
            (&json!(format!("v{i}")), &json!(i))
        );
        let list = json_with(app.list_comics("", &token).await, 200).await;
        assert_eq!(list["items"][0]["title"], json!(format!("v{i}")));
    }
    app.stop().await;
}

#[tokio::test]
async fn a_read_with_a_chapter_writes_token_sees_the_chapter_everywhere() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Series").await;
    for n in 1..=5 {
        let (id, token) = app.chapter(&comic, &n.to_string()).await;
        let list = json_with(app.list_chapters(&comic, "order=desc", &token).await, 200).await;
        assert_eq!(list["items"][0]["id"], json!(id));
        let doc = json_with(app.get_comic(&comic, &token).await, 200).await;
        assert_eq!(doc["chapter_count"], json!(n));
    }
    app.stop().await;
}

#[tokio::test]
async fn an_undecodable_consistency_token_is_a_bad_request() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Any").await;
    for garbage in ["garbage!", "dGhpcyBpcyBub3QgYSB0b2tlbg"] {
        problem(app.get_comic(&id, garbage).await, 400).await;
        problem(app.list_comics("", garbage).await, 400).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn a_token_for_a_write_that_never_lands_gives_up_with_503_and_retry_after() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Waiting").await;
    let mut future = ConsistencyToken::decode(&token).expect("a token the platform made");
    let mark = future.marks.first().cloned().expect("a mark");
    future.push(
        &mark.aggregate_type,
        &mark.aggregate_id,
        mark.sequence + 100,
    );
    let started = std::time::Instant::now();
    let r = app.get_comic(&id, &future.encode()).await;
    let waited = started.elapsed();
    assert!(r.headers().contains_key("retry-after"), "{:?}", r.headers());
    problem(r, 503).await;
    assert!(
        waited >= std::time::Duration::from_secs(4),
        "gave up after {waited:?}"
    );
    assert!(
        waited < std::time::Duration::from_secs(10),
        "waited {waited:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn twenty_concurrent_patches_without_if_match_all_succeed() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Contended").await;
    let patches = (0..20).map(|i| app.patch_comic(&id, json!({"description": format!("d{i}")})));
    let mut versions = Vec::new();
    let mut last = String::new();
    for r in join_all(patches).await {
        let token = r
            .headers()
            .get("x-consistency-token")
            .map(|v| v.to_str().unwrap().to_string());
        let body = json_with(r, 200).await;
        let token = token.expect("X-Consistency-Token");
        let version = body["version"].as_i64().expect("version");
        if version == 21 {
            last = token;
        }
        versions.push(version);
    }
    versions.sort_unstable();
    assert_eq!(
        versions,
        (2..=21).collect::<Vec<_>>(),
        "each patch got its own version"
    );
    let doc = json_with(app.get_comic(&id, &last).await, 200).await;
    assert_eq!(doc["version"], json!(21));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_patches_with_the_same_if_match_let_exactly_one_through() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Raced").await;
    let patches =
        (0..10).map(|i| app.patch_comic_if_match(&id, 1, json!({"title": format!("t{i}")})));
    let statuses: Vec<u16> = join_all(patches)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 412).count(),
        9,
        "{statuses:?}"
    );
    app.stop().await;
}

#[tokio::test]
async fn ten_concurrent_creates_of_one_chapter_number_make_exactly_one_chapter() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Race").await;
    let creates = (0..10).map(|_| app.create_chapter(&comic, json!({"number": "7"})));
    let responses = join_all(creates).await;
    let statuses: Vec<u16> = responses.iter().map(|r| r.status().as_u16()).collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        9,
        "{statuses:?}"
    );
    let winner = responses.into_iter().find(|r| r.status() == 201).unwrap();
    let token = consistency(&winner);
    let list = json_with(app.list_chapters(&comic, "", &token).await, 200).await;
    assert_eq!(list["total"], json!(1));
    app.stop().await;
}

#[tokio::test]
async fn concurrent_creates_of_different_chapter_numbers_all_succeed() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Batch").await;
    let creates = (1..=20).map(|n| app.create_chapter(&comic, json!({"number": n.to_string()})));
    let mut tokens = Vec::new();
    for r in join_all(creates).await {
        let token = r.headers().get("x-consistency-token").cloned();
        json_with(r, 201).await;
        tokens.push(token.expect("X-Consistency-Token").to_str().unwrap().into());
    }
    app.wait_for_all(&tokens).await;
    let doc = json_with(app.get_comic(&comic, &tokens[0]).await, 200).await;
    assert_eq!(doc["chapter_count"], json!(20));
    assert_eq!(
        doc["version"],
        json!(21),
        "each chapter moved the comic's version"
    );
    app.stop().await;
}
