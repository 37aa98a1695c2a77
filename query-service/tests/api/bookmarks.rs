//! `GET /me/bookmarks`.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{json, TestApp};
use crate::seeds::CardSeed;

#[tokio::test]
async fn my_bookmarks_need_a_valid_token() {
    let app = TestApp::spawn().await;
    json(app.get("/me/bookmarks", None).await, 401).await;
    json(app.get_as("/me/bookmarks", Some("nope"), None).await, 401).await;
}

/// The cover URL the seeded cards carry.
fn cover(id: Uuid) -> String {
    format!("/api/v1/comics/{id}/cover")
}

#[tokio::test]
async fn my_bookmarks_list_newest_first_with_titles_and_page() {
    let app = TestApp::spawn().await;
    let cards: Vec<CardSeed> = ["Old", "New", "Mid"].map(CardSeed::titled).into();
    for card in &cards {
        app.insert_bookmark_card(card).await;
    }
    let [old, new, mid] = [cards[0].id, cards[1].id, cards[2].id];
    app.bookmark(old, "alice", 1).await;
    app.bookmark(new, "alice", 9).await;
    app.bookmark(mid, "alice", 4).await;
    app.bookmark(old, "bob", 30).await;
    // A bookmark of a comic without a card (deleted) is not shown.
    app.bookmark(Uuid::now_v7(), "alice", 40).await;
    let alice = app.token_for("alice");

    let body = json(app.get_as("/me/bookmarks", Some(&alice), None).await, 200).await;

    assert_eq!(
        body,
        json!({
            "items": [
                {"comic_id": new, "title": "New", "cover_url": cover(new), "bookmarked_at": "2024-01-01T00:09:00Z"},
                {"comic_id": mid, "title": "Mid", "cover_url": cover(mid), "bookmarked_at": "2024-01-01T00:04:00Z"},
                {"comic_id": old, "title": "Old", "cover_url": cover(old), "bookmarked_at": "2024-01-01T00:01:00Z"},
            ],
            "total": 3, "limit": 20, "offset": 0
        })
    );
    let page = json(
        app.get_as("/me/bookmarks?limit=2&offset=2", Some(&alice), None)
            .await,
        200,
    )
    .await;
    assert_eq!(
        page,
        json!({
            "items": [{"comic_id": old, "title": "Old", "cover_url": cover(old), "bookmarked_at": "2024-01-01T00:01:00Z"}],
            "total": 3, "limit": 2, "offset": 2
        })
    );
    json(
        app.get_as("/me/bookmarks?offset=-1", Some(&alice), None)
            .await,
        400,
    )
    .await;
}
