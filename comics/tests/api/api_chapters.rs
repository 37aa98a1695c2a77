//! Chapters through HTTP: create, renumber, change and delete, with the
//! `(comic, language, number)` uniqueness rule, read back via the query API.

use crate::support::client::{consistency, error_fields, json_with, problem};
use crate::support::TestApp;
use serde_json::{json, Value};

#[tokio::test]
async fn a_created_chapter_defaults_to_english_and_is_published_now() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let r = app.create_chapter(&comic, json!({"number": "1"})).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token = consistency(&r);
    let body = json_with(r, 201).await;
    let id = body["id"].as_str().unwrap();
    assert_eq!(body["version"], json!(1));
    assert!(
        location.ends_with(&format!("/api/v1/chapters/{id}")),
        "{location}"
    );
    let doc = json_with(app.get_chapter(id, &token).await, 200).await;
    assert_eq!(doc["comic_id"], json!(comic));
    assert_eq!(doc["number"], json!("1"));
    assert_eq!(doc["language"], json!("en"));
    assert_eq!(doc["title"], Value::Null);
    let published = doc["published_at"].as_str().expect("published_at is set");
    chrono::DateTime::parse_from_rfc3339(published).expect("RFC 3339");
    app.stop().await;
}

#[tokio::test]
async fn the_optional_chapter_fields_are_read_back() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let body = json!({"number": "12.5", "title": "Interlude", "volume": "2",
                      "language": "pt-BR", "published_at": "2024-01-02T03:04:05Z"});
    let (id, token) = app.chapter_with(&comic, body.clone()).await;
    let doc = json_with(app.get_chapter(&id, &token).await, 200).await;
    for field in ["number", "title", "volume", "language"] {
        assert_eq!(doc[field], body[field], "{field}");
    }
    let published = chrono::DateTime::parse_from_rfc3339(doc["published_at"].as_str().unwrap());
    assert_eq!(published.unwrap().timestamp(), 1_704_164_645);
    app.stop().await;
}

#[tokio::test]
async fn a_chapter_number_taken_in_the_same_language_is_a_conflict_however_written() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    app.chapter(&comic, "1").await;
    for same in ["1", "1.0", "01", "1.00"] {
        let r = app.create_chapter(&comic, json!({"number": same})).await;
        problem(r, 409).await;
    }
    app.stop().await;
}

#[tokio::test]
async fn the_same_number_in_another_language_or_comic_is_allowed() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let (other, _) = app.comic("Dungeon Meshi").await;
    app.chapter(&comic, "1").await;
    app.chapter_with(&comic, json!({"number": "1", "language": "ja"}))
        .await;
    app.chapter(&other, "1").await;
    app.stop().await;
}

#[tokio::test]
async fn creating_a_chapter_of_an_unknown_or_deleted_comic_is_not_found() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(
        app.create_chapter(&unknown, json!({"number": "1"})).await,
        404,
    )
    .await;
    let (comic, _) = app.comic("Gone").await;
    assert_eq!(app.delete_comic(&comic).await.status(), 204);
    problem(
        app.create_chapter(&comic, json!({"number": "1"})).await,
        404,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_chapter_number_that_is_not_a_short_decimal_is_rejected() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    for bad in ["1.234", "abc", "", "-1", "123456", "1.", ".5", "1e3"] {
        let r = app.create_chapter(&comic, json!({"number": bad})).await;
        let p = problem(r, 422).await;
        assert!(error_fields(&p).contains(&"number".into()), "{bad:?}: {p}");
    }
    app.stop().await;
}

#[tokio::test]
async fn an_unknown_field_in_a_chapter_body_is_rejected() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let r = app
        .create_chapter(&comic, json!({"number": "1", "nubmer": "2"}))
        .await;
    let p = problem(r, 422).await;
    assert!(error_fields(&p).contains(&"nubmer".into()), "{p}");
    app.stop().await;
}

#[tokio::test]
async fn renumbering_a_chapter_frees_its_old_number() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let (id, _) = app.chapter(&comic, "1").await;
    let r = app.patch_chapter(&id, json!({"number": "2"})).await;
    let token = consistency(&r);
    assert_eq!(json_with(r, 200).await, json!({"id": id, "version": 2}));
    let doc = json_with(app.get_chapter(&id, &token).await, 200).await;
    assert_eq!(doc["number"], json!("2"));
    assert_eq!(doc["version"], json!(2));
    app.chapter(&comic, "1").await;
    problem(
        app.create_chapter(&comic, json!({"number": "2"})).await,
        409,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn renumbering_a_chapter_onto_a_taken_number_is_a_conflict() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    app.chapter(&comic, "1").await;
    let (id, _) = app.chapter(&comic, "2").await;
    problem(app.patch_chapter(&id, json!({"number": "1.0"})).await, 409).await;
    let r = app.patch_chapter(&id, json!({"title": "Still two"})).await;
    let doc = json_with(app.get_chapter(&id, &consistency(&r)).await, 200).await;
    assert_eq!(doc["number"], json!("2"));
    app.stop().await;
}

#[tokio::test]
async fn patching_a_chapter_title_to_null_clears_it() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let (id, _) = app
        .chapter_with(
            &comic,
            json!({"number": "1", "title": "Named", "volume": "1"}),
        )
        .await;
    let r = app.patch_chapter(&id, json!({"title": null})).await;
    let token = consistency(&r);
    assert_eq!(r.status(), 200);
    let doc = json_with(app.get_chapter(&id, &token).await, 200).await;
    assert_eq!(doc["title"], Value::Null);
    assert_eq!(
        doc["volume"],
        json!("1"),
        "fields left out stay as they were"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_chapter_patch_with_a_stale_if_match_is_412() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let (id, _) = app.chapter(&comic, "1").await;
    let r = app
        .patch_chapter_if_match(&id, 1, json!({"title": "A"}))
        .await;
    assert_eq!(json_with(r, 200).await["version"], json!(2));
    let r = app
        .patch_chapter_if_match(&id, 1, json!({"title": "B"}))
        .await;
    problem(r, 412).await;
    app.stop().await;
}

#[tokio::test]
async fn patching_or_deleting_an_unknown_chapter_is_not_found() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(
        app.patch_chapter(&unknown, json!({"title": "x"})).await,
        404,
    )
    .await;
    problem(app.delete_chapter(&unknown).await, 404).await;
    problem(app.delete_chapter("nope").await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_chapter_is_gone_and_its_number_is_free_again() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let (id, _) = app.chapter(&comic, "1").await;
    let r = app.delete_chapter(&id).await;
    assert_eq!(r.status(), 204);
    problem(app.get_chapter(&id, &consistency(&r)).await, 404).await;
    let (_, token) = app.chapter(&comic, "1").await;
    let list = json_with(app.list_chapters(&comic, "", &token).await, 200).await;
    assert_eq!(list["items"].as_array().unwrap().len(), 1);
    problem(app.delete_chapter(&id).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_chapter_number_reads_back_canonical_and_languages_ignore_case() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Frieren").await;
    let (id, token) = app.chapter(&comic, "01.50").await;
    let doc = json_with(app.get_chapter(&id, &token).await, 200).await;
    assert_eq!(doc["number"], json!("1.5"));
    let r = app
        .create_chapter(&comic, json!({"number": "1.5", "language": "EN"}))
        .await;
    problem(r, 409).await;
    app.stop().await;
}

#[tokio::test]
async fn the_chapters_of_a_deleted_comic_can_no_longer_be_changed() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Gone").await;
    let (id, _) = app.chapter(&comic, "1").await;
    assert_eq!(app.delete_comic(&comic).await.status(), 204);
    problem(app.patch_chapter(&id, json!({"title": "x"})).await, 404).await;
    problem(app.delete_chapter(&id).await, 404).await;
    app.stop().await;
}
