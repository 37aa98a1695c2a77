//! `GET /comics` and `GET /comics/{id}`.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{ids, json, TestApp};
use crate::seeds::ComicSeed;

#[tokio::test]
async fn a_comic_is_served_as_its_document() {
    let app = TestApp::spawn().await;
    let latest = json!({"id": Uuid::now_v7(), "number": "2", "title": "Two", "published_at": "2024-01-01T00:10:00Z"});
    let mut seed = ComicSeed::titled("Solo Leveling").genres(&["action", "fantasy"]);
    seed.alt_titles = vec!["나 혼자만 레벨업".into()];
    seed.status = "completed";
    seed.kind = "manhwa";
    seed.latest_chapter = Some(latest.clone());
    let id = app.insert_comic(seed).await;

    let body = json(app.get_comic(id).await, 200).await;

    assert_eq!(
        body,
        json!({
            "id": id, "title": "Solo Leveling", "alt_titles": ["나 혼자만 레벨업"],
            "description": "About it", "authors": ["Chugong"], "artists": ["DUBU"],
            "status": "completed", "type": "manhwa", "genres": ["action", "fantasy"],
            "cover_url": null, "chapter_count": 2, "latest_chapter": latest,
            "rating": {"average": null, "bayesian": null, "count": 0},
            "popularity": {"views": 0, "bookmarks": 0},
            "created_at": "2024-01-01T00:00:00Z", "updated_at": "2024-01-01T00:00:00Z",
            "version": 3
        })
    );
}

#[tokio::test]
async fn a_comic_without_chapters_has_no_latest_chapter() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Fresh")).await;
    let body = json(app.get_comic(id).await, 200).await;
    assert_eq!(body["latest_chapter"], json!(null));
}

#[tokio::test]
async fn an_unknown_or_malformed_comic_id_is_not_found() {
    let app = TestApp::spawn().await;
    let body = json(app.get_comic(Uuid::now_v7()).await, 404).await;
    assert_eq!(body["status"], 404);
    json(app.get_comic("not-a-uuid").await, 404).await;
}

#[tokio::test]
async fn comics_list_newest_first_by_default() {
    let app = TestApp::spawn().await;
    let old = app.insert_comic(ComicSeed::titled("Old").created(1)).await;
    let new = app.insert_comic(ComicSeed::titled("New").created(3)).await;
    let mid = app.insert_comic(ComicSeed::titled("Mid").created(2)).await;

    let body = json(app.get_comics("").await, 200).await;

    assert_eq!(ids(&body), [new, mid, old].map(|i| i.to_string()));
    assert_eq!(
        (
            body["total"].clone(),
            body["limit"].clone(),
            body["offset"].clone()
        ),
        (json!(3), json!(20), json!(0))
    );
    assert_eq!(body["items"][0]["title"], "New");
    let asc = json(app.get_comics("order=asc").await, 200).await;
    assert_eq!(ids(&asc), [old, mid, new].map(|i| i.to_string()));
    let explicit = json(app.get_comics("sort=created_at&order=asc").await, 200).await;
    assert_eq!(ids(&explicit), ids(&asc));
}

#[tokio::test]
async fn paging_walks_a_list_of_equal_keys_without_repeats_or_gaps() {
    let app = TestApp::spawn().await;
    let mut all = Vec::new();
    for n in 0..5 {
        all.push(
            app.insert_comic(ComicSeed::titled(&format!("Same {n}")))
                .await
                .to_string(),
        );
    }
    all.sort();
    all.reverse();

    let mut walked = Vec::new();
    for offset in [0, 2, 4] {
        let body = json(
            app.get_comics(&format!("limit=2&offset={offset}")).await,
            200,
        )
        .await;
        assert_eq!(
            (
                body["total"].clone(),
                body["limit"].clone(),
                body["offset"].clone()
            ),
            (json!(5), json!(2), json!(offset))
        );
        walked.extend(ids(&body));
    }
    assert_eq!(walked, all);
    let past_the_end = json(app.get_comics("offset=10").await, 200).await;
    assert_eq!(
        (ids(&past_the_end).len(), past_the_end["total"].clone()),
        (0, json!(5))
    );
}

#[tokio::test]
async fn bad_paging_is_a_bad_request() {
    let app = TestApp::spawn().await;
    for query in [
        "limit=0",
        "limit=101",
        "limit=-1",
        "limit=ten",
        "offset=-1",
        "offset=x",
    ] {
        let body = json(app.get_comics(query).await, 400).await;
        assert_eq!(body["status"], 400, "{query}");
    }
    assert_eq!(
        json(app.get_comics("limit=100").await, 200).await["limit"],
        100
    );
}

#[tokio::test]
async fn unknown_and_empty_parameters_are_ignored() {
    let app = TestApp::spawn().await;
    app.insert_comic(ComicSeed::titled("Any")).await;
    let body = json(app.get_comics("foo=bar&q=&status=&limit=").await, 200).await;
    assert_eq!(
        (body["total"].clone(), body["limit"].clone()),
        (json!(1), json!(20))
    );
}
