//! `GET /genres`.

use serde_json::json;

use crate::helpers::{json, TestApp};

#[tokio::test]
async fn genres_are_listed_by_name_with_their_comic_counts() {
    let app = TestApp::spawn().await;
    app.insert_genre("science", 2).await;
    app.insert_genre("action", 12).await;
    app.insert_genre("sci-fi", 1).await;

    let body = json(app.get_genres().await, 200).await;

    assert_eq!(
        body,
        json!({"items": [
            {"genre": "action", "comics": 12},
            {"genre": "sci-fi", "comics": 1},
            {"genre": "science", "comics": 2},
        ]})
    );
}

#[tokio::test]
async fn a_genre_no_comic_carries_is_not_listed() {
    let app = TestApp::spawn().await;
    app.insert_genre("drama", 0).await;
    assert_eq!(
        json(app.get_genres().await, 200).await,
        json!({"items": []})
    );
}
