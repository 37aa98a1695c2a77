//! `GET /comics/{id}/chapters` and `GET /chapters/{id}`.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{json, TestApp};
use crate::seeds::{ChapterSeed, ComicSeed};

fn numbers(body: &Value) -> Vec<String> {
    body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["number"].as_str().unwrap().to_string())
        .collect()
}

/// A comic with English chapters 10, 2, 10.5 and 1 (inserted in that order).
async fn comic_with_chapters(app: &TestApp) -> Uuid {
    let comic = app.insert_comic(ComicSeed::titled("Numbers")).await;
    for number in ["10", "2", "10.5", "1"] {
        app.insert_chapter(ChapterSeed::new(comic, number, "en"))
            .await;
    }
    comic
}

#[tokio::test]
async fn chapters_list_in_numeric_reading_order() {
    let app = TestApp::spawn().await;
    let comic = comic_with_chapters(&app).await;

    let asc = json(app.get_chapters(comic, "").await, 200).await;
    assert_eq!(numbers(&asc), ["1", "2", "10", "10.5"]);
    assert_eq!(
        (
            asc["total"].clone(),
            asc["limit"].clone(),
            asc["offset"].clone()
        ),
        (json!(4), json!(20), json!(0))
    );
    assert!(asc["items"][0].get("prev").is_none() && asc["items"][0].get("next").is_none());
    let desc = json(app.get_chapters(comic, "order=desc").await, 200).await;
    assert_eq!(numbers(&desc), ["10.5", "10", "2", "1"]);
}

#[tokio::test]
async fn chapter_lists_page() {
    let app = TestApp::spawn().await;
    let comic = comic_with_chapters(&app).await;

    let page = json(app.get_chapters(comic, "limit=2&offset=1").await, 200).await;
    assert_eq!(numbers(&page), ["2", "10"]);
    assert_eq!(
        (
            page["total"].clone(),
            page["limit"].clone(),
            page["offset"].clone()
        ),
        (json!(4), json!(2), json!(1))
    );
    for query in ["limit=0", "limit=101", "offset=-1", "order=up"] {
        json(app.get_chapters(comic, query).await, 400).await;
    }
}

#[tokio::test]
async fn chapter_lists_filter_by_language() {
    let app = TestApp::spawn().await;
    let comic = comic_with_chapters(&app).await;
    app.insert_chapter(ChapterSeed::new(comic, "3", "pt-BR"))
        .await;

    let pt = json(app.get_chapters(comic, "language=pt-br").await, 200).await;
    assert_eq!(
        (numbers(&pt), pt["total"].clone()),
        (vec!["3".to_string()], json!(1))
    );
    assert_eq!(pt["items"][0]["language"], "pt-BR");
    assert_eq!(
        json(app.get_chapters(comic, "language=en").await, 200).await["total"],
        4
    );
    assert_eq!(
        json(app.get_chapters(comic, "language=ja").await, 200).await["total"],
        0
    );
    json(app.get_chapters(comic, "language=english!").await, 400).await;
}

#[tokio::test]
async fn chapters_of_an_unknown_comic_are_not_found() {
    let app = TestApp::spawn().await;
    json(app.get_chapters(Uuid::now_v7(), "").await, 404).await;
    json(app.get_chapters("nope", "").await, 404).await;
    let empty = app.insert_comic(ComicSeed::titled("Empty")).await;
    assert_eq!(
        json(app.get_chapters(empty, "").await, 200).await["items"],
        json!([])
    );
}

#[tokio::test]
async fn a_chapter_is_served_as_its_document() {
    let app = TestApp::spawn().await;
    let comic = app.insert_comic(ComicSeed::titled("Solo")).await;
    let id = app
        .insert_chapter(ChapterSeed::new(comic, "12.5", "en"))
        .await;

    let body = json(app.get_chapter(id).await, 200).await;

    assert_eq!(
        body,
        json!({
            "id": id, "comic_id": comic, "number": "12.5", "title": "Chapter 12.5",
            "volume": null, "language": "en", "page_count": 24,
            "published_at": "2024-01-01T00:10:00Z", "created_at": "2024-01-01T00:10:00Z",
            "updated_at": "2024-01-01T00:20:00Z", "version": 1, "prev": null, "next": null
        })
    );
}

#[tokio::test]
async fn a_chapter_links_its_neighbours_of_the_same_comic_and_language() {
    let app = TestApp::spawn().await;
    let comic = app.insert_comic(ComicSeed::titled("Solo")).await;
    let ten = app
        .insert_chapter(ChapterSeed::new(comic, "10", "en"))
        .await;
    let two = app.insert_chapter(ChapterSeed::new(comic, "2", "en")).await;
    let one = app.insert_chapter(ChapterSeed::new(comic, "1", "en")).await;
    let japanese = app.insert_chapter(ChapterSeed::new(comic, "5", "ja")).await;
    let other = app.insert_comic(ComicSeed::titled("Other")).await;
    app.insert_chapter(ChapterSeed::new(other, "3", "en")).await;
    let link = |id: Uuid, number: &str| json!({"id": id, "number": number});

    let first = json(app.get_chapter(one).await, 200).await;
    assert_eq!(
        (first["prev"].clone(), first["next"].clone()),
        (json!(null), link(two, "2"))
    );
    let middle = json(app.get_chapter(two).await, 200).await;
    assert_eq!(
        (middle["prev"].clone(), middle["next"].clone()),
        (link(one, "1"), link(ten, "10"))
    );
    let last = json(app.get_chapter(ten).await, 200).await;
    assert_eq!(
        (last["prev"].clone(), last["next"].clone()),
        (link(two, "2"), json!(null))
    );
    let alone = json(app.get_chapter(japanese).await, 200).await;
    assert_eq!(
        (alone["prev"].clone(), alone["next"].clone()),
        (json!(null), json!(null))
    );
}

#[tokio::test]
async fn a_chapter_of_a_deleted_comic_is_not_found() {
    let app = TestApp::spawn().await;
    let orphan = app
        .insert_chapter(ChapterSeed::new(Uuid::now_v7(), "1", "en"))
        .await;
    json(app.get_chapter(orphan).await, 404).await;
}

#[tokio::test]
async fn an_unknown_or_malformed_chapter_id_is_not_found() {
    let app = TestApp::spawn().await;
    json(app.get_chapter(Uuid::now_v7()).await, 404).await;
    json(app.get_chapter("12").await, 404).await;
}
