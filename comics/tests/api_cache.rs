//! The hot-read cache never keeps serving an answer once the projections it
//! came from have changed (reads without a consistency token).

mod support;

use std::time::Duration;

use serde_json::{json, Value};
use support::{eventually, TestApp};

#[tokio::test]
async fn a_cached_comic_shows_a_change_and_then_its_deletion() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Before").await;
    let path = format!("/api/v1/comics/{id}");
    assert_eq!(app.get_after(&path, &token).await.status(), 200);
    // Fill the cache with the current answer.
    for _ in 0..3 {
        let doc: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(doc["title"], json!("Before"));
    }
    assert_eq!(
        app.patch_comic(&id, json!({"title": "After"}))
            .await
            .status(),
        200
    );
    eventually(Duration::from_secs(10), || async {
        let doc: Value = app.get(&path).await.json().await.ok()?;
        (doc["title"] == json!("After")).then_some(())
    })
    .await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    eventually(Duration::from_secs(10), || async {
        (app.get(&path).await.status() == 404).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_cached_ranking_shows_new_ratings() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Ranked").await;
    assert_eq!(
        app.get_after(&format!("/api/v1/comics/{id}"), &token)
            .await
            .status(),
        200
    );
    let empty: Value = app
        .get("/api/v1/rankings/top-rated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["items"], json!([]));
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/comics/{id}/rating"),
            Some(&app.user_token),
            Some(json!({"score": 9})),
        )
        .await;
    assert_eq!(r.status(), 200);
    eventually(Duration::from_secs(10), || async {
        let ranked: Value = app
            .get("/api/v1/rankings/top-rated")
            .await
            .json()
            .await
            .ok()?;
        (ranked["items"][0]["comic"]["id"] == json!(id)).then_some(())
    })
    .await;
    app.stop().await;
}
