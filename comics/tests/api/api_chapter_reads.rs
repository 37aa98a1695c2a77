//! Reading chapters: the list in numeric reading order, the language filter,
//! `order=desc`, a chapter's neighbours, and what the comic document says
//! about its chapters.

use crate::support::client::{consistency, json_with, problem};
use crate::support::TestApp;
use serde_json::{json, Value};

/// Creates chapters of `comic` in the order given (`(number, language)`) and
/// waits until all of them are projected; returns their ids and last token.
async fn chapters(app: &TestApp, comic: &str, list: &[(&str, &str)]) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for (number, language) in list {
        let body = json!({"number": number, "language": language});
        let (id, token) = app.chapter_with(comic, body).await;
        ids.push(id);
        tokens.push(token);
    }
    app.wait_for_all(&tokens).await;
    (ids, tokens.pop().unwrap_or_default())
}

/// The `number`s of a chapter list's items, in order.
fn numbers(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["number"].as_str().expect("number"))
        .collect()
}

#[tokio::test]
async fn chapters_are_listed_in_numeric_reading_order() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Order").await;
    let given = [
        ("10", "en"),
        ("2", "en"),
        ("10.5", "en"),
        ("1", "en"),
        ("9.5", "en"),
    ];
    let (_, token) = chapters(&app, &comic, &given).await;
    let list = json_with(app.list_chapters(&comic, "", &token).await, 200).await;
    assert_eq!(numbers(&list), ["1", "2", "9.5", "10", "10.5"]);
    assert_eq!(list["total"], json!(5));
    let list = json_with(app.list_chapters(&comic, "order=desc", &token).await, 200).await;
    assert_eq!(numbers(&list), ["10.5", "10", "9.5", "2", "1"]);
    app.stop().await;
}

#[tokio::test]
async fn the_language_filter_lists_only_that_language() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Languages").await;
    let given = [
        ("1", "en"),
        ("2", "ja"),
        ("1", "ja"),
        ("3", "en"),
        ("2", "en"),
    ];
    let (_, token) = chapters(&app, &comic, &given).await;
    let list = json_with(app.list_chapters(&comic, "language=ja", &token).await, 200).await;
    assert_eq!(numbers(&list), ["1", "2"]);
    assert!(list["items"]
        .as_array()
        .unwrap()
        .iter()
        .all(|c| c["language"] == json!("ja")));
    let list = json_with(app.list_chapters(&comic, "language=en", &token).await, 200).await;
    assert_eq!(numbers(&list), ["1", "2", "3"]);
    let all = json_with(app.list_chapters(&comic, "", &token).await, 200).await;
    assert_eq!(all["total"], json!(5));
    app.stop().await;
}

#[tokio::test]
async fn the_chapters_of_an_unknown_comic_are_not_found() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7();
    problem(
        app.get(&format!("/api/v1/comics/{unknown}/chapters")).await,
        404,
    )
    .await;
    problem(app.get(&format!("/api/v1/chapters/{unknown}")).await, 404).await;
    problem(app.get("/api/v1/chapters/not-a-uuid").await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_chapter_names_its_neighbours_in_the_same_language() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Neighbours").await;
    let given = [("2", "en"), ("10", "en"), ("1", "en"), ("2", "ja")];
    let (ids, token) = chapters(&app, &comic, &given).await;
    let (two, ten, one, ja) = (&ids[0], &ids[1], &ids[2], &ids[3]);
    let doc = json_with(app.get_chapter(two, &token).await, 200).await;
    assert_eq!(doc["prev"], json!({"id": one, "number": "1"}));
    assert_eq!(doc["next"], json!({"id": ten, "number": "10"}));
    let doc = json_with(app.get_chapter(one, &token).await, 200).await;
    assert_eq!(
        (&doc["prev"], &doc["next"]["id"]),
        (&Value::Null, &json!(two))
    );
    let doc = json_with(app.get_chapter(ten, &token).await, 200).await;
    assert_eq!(
        (&doc["prev"]["id"], &doc["next"]),
        (&json!(two), &Value::Null)
    );
    let doc = json_with(app.get_chapter(ja, &token).await, 200).await;
    assert_eq!((&doc["prev"], &doc["next"]), (&Value::Null, &Value::Null));
    app.stop().await;
}

#[tokio::test]
async fn neighbours_follow_a_renumbering_and_a_deletion() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Moving").await;
    let (ids, _) = chapters(&app, &comic, &[("1", "en"), ("2", "en"), ("3", "en")]).await;
    let r = app.patch_chapter(&ids[0], json!({"number": "4"})).await;
    let token = consistency(&r);
    assert_eq!(r.status(), 200);
    let doc = json_with(app.get_chapter(&ids[2], &token).await, 200).await;
    assert_eq!(doc["next"], json!({"id": ids[0], "number": "4"}));
    let r = app.delete_chapter(&ids[2]).await;
    assert_eq!(r.status(), 204);
    let doc = json_with(app.get_chapter(&ids[1], &consistency(&r)).await, 200).await;
    assert_eq!(doc["next"]["id"], json!(ids[0]));
    assert_eq!(doc["prev"], Value::Null);
    app.stop().await;
}

#[tokio::test]
async fn the_comic_document_counts_its_chapters_and_names_the_latest() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Counted").await;
    let (ids, token) = chapters(&app, &comic, &[("1", "en"), ("2", "en")]).await;
    let doc = json_with(app.get_comic(&comic, &token).await, 200).await;
    assert_eq!(doc["chapter_count"], json!(2));
    let latest = &doc["latest_chapter"];
    assert_eq!(
        (&latest["id"], &latest["number"]),
        (&json!(ids[1]), &json!("2"))
    );
    assert!(latest["published_at"].is_string(), "{latest}");
    let r = app.delete_chapter(&ids[1]).await;
    let doc = json_with(app.get_comic(&comic, &consistency(&r)).await, 200).await;
    assert_eq!(doc["chapter_count"], json!(1));
    assert_eq!(doc["latest_chapter"]["id"], json!(ids[0]));
    app.stop().await;
}

#[tokio::test]
async fn a_backfilled_older_chapter_does_not_become_the_latest() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Backfilled").await;
    let (newest, first) = app
        .chapter_with(
            &comic,
            json!({"number": "2", "published_at": "2024-02-01T00:00:00Z"}),
        )
        .await;
    let (_, token) = app
        .chapter_with(
            &comic,
            json!({"number": "1", "published_at": "2024-01-01T00:00:00Z"}),
        )
        .await;
    app.wait_for_all(&[first, token.clone()]).await;
    let doc = json_with(app.get_comic(&comic, &token).await, 200).await;
    assert_eq!(doc["latest_chapter"]["id"], json!(newest), "{doc}");
    assert_eq!(doc["chapter_count"], json!(2));
    app.stop().await;
}

#[tokio::test]
async fn a_renamed_latest_chapter_shows_its_new_title_on_the_comic() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Renamed").await;
    let (id, _) = app.chapter(&comic, "1").await;
    let r = app
        .patch_chapter(&id, json!({"title": "The Beginning"}))
        .await;
    let doc = json_with(app.get_comic(&comic, &consistency(&r)).await, 200).await;
    assert_eq!(doc["latest_chapter"]["title"], json!("The Beginning"));
    app.stop().await;
}
