//! Comics through HTTP: create, change and delete, each read back through the
//! query API with the write's consistency token.

use crate::support::client::{consistency, json_with, problem};
use crate::support::TestApp;
use serde_json::{json, Value};

#[tokio::test]
async fn creating_a_comic_answers_201_with_location_id_version_and_token() {
    let app = TestApp::spawn().await;
    let r = app.create_comic(json!({"title": "Solo Leveling"})).await;
    assert_eq!(r.status(), 201);
    let location = r.headers()["location"].to_str().unwrap().to_string();
    let token = consistency(&r);
    assert!(!token.is_empty());
    let body = json_with(r, 201).await;
    let id = body["id"].as_str().expect("id");
    uuid::Uuid::parse_str(id).expect("the id is a UUID");
    assert_eq!(body["version"], json!(1));
    assert!(
        location.ends_with(&format!("/api/v1/comics/{id}")),
        "{location}"
    );
    let r = app.get_after(&location, &token).await;
    assert_eq!(json_with(r, 200).await["id"], json!(id));
    app.stop().await;
}

#[tokio::test]
async fn a_new_comic_has_the_documented_defaults() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Berserk").await;
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    assert_eq!(doc["status"], json!("ongoing"));
    assert_eq!(doc["type"], json!("manga"));
    assert_eq!(doc["cover_url"], Value::Null);
    assert_eq!(doc["chapter_count"], json!(0));
    assert_eq!(doc["latest_chapter"], Value::Null);
    assert_eq!(doc["genres"], json!([]));
    assert_eq!(doc["version"], json!(1));
    assert!(doc["created_at"].is_string() && doc["updated_at"].is_string());
    app.stop().await;
}

#[tokio::test]
async fn a_comic_title_is_stored_trimmed() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("   Vagabond \t ").await;
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    assert_eq!(doc["title"], json!("Vagabond"));
    app.stop().await;
}

#[tokio::test]
async fn every_writable_field_given_at_creation_is_read_back() {
    let app = TestApp::spawn().await;
    let body = json!({
        "title": "Solo Leveling", "alt_titles": ["나 혼자만 레벨업"],
        "description": "A hunter levels up.", "authors": ["Chugong"], "artists": ["DUBU"],
        "status": "completed", "type": "manhwa", "genres": ["action", "fantasy"]
    });
    let (id, token) = app.comic_with(body.clone()).await;
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    for field in ["title", "alt_titles", "description", "authors", "artists"] {
        assert_eq!(doc[field], body[field], "{field}");
    }
    for field in ["status", "type", "genres"] {
        assert_eq!(doc[field], body[field], "{field}");
    }
    app.stop().await;
}

#[tokio::test]
async fn patching_a_comic_changes_its_fields_and_increments_its_version() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Old title").await;
    let patch = json!({"title": "New title", "status": "hiatus", "type": "webtoon",
                       "genres": ["drama"], "description": "Now described."});
    let r = app.patch_comic(&id, patch.clone()).await;
    let token = consistency(&r);
    let body = json_with(r, 200).await;
    assert_eq!(body, json!({"id": id, "version": 2}));
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    for field in ["title", "status", "type", "genres", "description"] {
        assert_eq!(doc[field], patch[field], "{field}");
    }
    assert_eq!(doc["version"], json!(2));
    app.stop().await;
}

#[tokio::test]
async fn a_patch_with_the_current_version_in_if_match_succeeds() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Monster").await;
    let r = app
        .patch_comic_if_match(&id, 1, json!({"title": "Monster (2004)"}))
        .await;
    let token = consistency(&r);
    assert_eq!(json_with(r, 200).await["version"], json!(2));
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    assert_eq!(doc["title"], json!("Monster (2004)"));
    app.stop().await;
}

#[tokio::test]
async fn a_patch_with_a_stale_if_match_is_412_and_changes_nothing() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Pluto").await;
    let r = app.patch_comic(&id, json!({"title": "Pluto!"})).await;
    let token = consistency(&r);
    assert_eq!(r.status(), 200);
    let r = app
        .patch_comic_if_match(&id, 1, json!({"title": "Lost update"}))
        .await;
    problem(r, 412).await;
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    assert_eq!(doc["title"], json!("Pluto!"));
    assert_eq!(doc["version"], json!(2));
    app.stop().await;
}

#[tokio::test]
async fn the_version_read_from_the_document_is_the_one_if_match_expects() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Versioned").await;
    let (_, token) = app.chapter(&id, "1").await;
    let doc = json_with(app.get_comic(&id, &token).await, 200).await;
    let version = doc["version"].as_i64().expect("version");
    let r = app
        .patch_comic_if_match(&id, version, json!({"status": "completed"}))
        .await;
    assert_eq!(json_with(r, 200).await["version"], json!(version + 1));
    app.stop().await;
}

#[tokio::test]
async fn patching_an_unknown_comic_is_not_found() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(app.patch_comic(&unknown, json!({"title": "x"})).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn patching_a_comic_whose_id_is_not_a_uuid_is_not_found() {
    let app = TestApp::spawn().await;
    problem(
        app.patch_comic("not-a-uuid", json!({"title": "x"})).await,
        404,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_comic_and_its_chapters_disappear_from_every_read() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Doomed").await;
    let (chapter, _) = app.chapter(&id, "1").await;
    let r = app.delete_comic(&id).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    problem(app.get_comic(&id, &token).await, 404).await;
    problem(app.list_chapters(&id, "", &token).await, 404).await;
    problem(app.get_chapter(&chapter, &token).await, 404).await;
    let list = json_with(app.list_comics("", &token).await, 200).await;
    assert_eq!(list["total"], json!(0));
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_comic_drops_it_from_the_genre_counts() {
    let app = TestApp::spawn().await;
    app.comic_with(json!({"title": "Kept", "genres": ["action"]}))
        .await;
    let (id, _) = app
        .comic_with(json!({"title": "Gone", "genres": ["action", "horror"]}))
        .await;
    let r = app.delete_comic(&id).await;
    assert_eq!(r.status(), 204);
    let genres = json_with(app.genres(&consistency(&r)).await, 200).await;
    assert_eq!(genre_count(&genres, "action"), 1, "{genres}");
    assert_eq!(genre_count(&genres, "horror"), 0, "{genres}");
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_comic_twice_is_not_found_the_second_time() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Once").await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    problem(app.delete_comic(&id).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_comic_can_no_longer_be_patched() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Once").await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    problem(app.patch_comic(&id, json!({"title": "Back"})).await, 404).await;
    app.stop().await;
}

/// The `comics` count of `genre` in a genres answer (0 when not listed).
fn genre_count(genres: &Value, genre: &str) -> i64 {
    genres["items"]
        .as_array()
        .expect("items")
        .iter()
        .find(|g| g["genre"] == json!(genre))
        .map_or(0, |g| g["comics"].as_i64().expect("count"))
}
