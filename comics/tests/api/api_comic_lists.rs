//! `GET /api/v1/comics` (paging, filters, sorting) and `GET /api/v1/genres`.

use crate::support;

use crate::support::client::{json_with, problem};
use crate::support::TestApp;
use serde_json::{json, Value};

/// Creates one comic per body, in order, and waits until all are projected;
/// returns their ids and the last write's token.
async fn comics(app: &TestApp, bodies: &[Value]) -> (Vec<String>, String) {
    let mut ids = Vec::new();
    let mut tokens = Vec::new();
    for body in bodies {
        let (id, token) = app.comic_with(body.clone()).await;
        ids.push(id);
        tokens.push(token);
    }
    app.wait_for_all(&tokens).await;
    (ids, tokens.pop().unwrap_or_default())
}

/// The titles of a list's items, in order.
fn titles(list: &Value) -> Vec<&str> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["title"].as_str().expect("title"))
        .collect()
}

/// The titles listed for `query` after the write behind `token`.
async fn listed(app: &TestApp, query: &str, token: &str) -> Vec<String> {
    let list = json_with(app.list_comics(query, token).await, 200).await;
    titles(&list).into_iter().map(str::to_string).collect()
}

#[tokio::test]
async fn the_comic_list_pages_with_limit_offset_and_total() {
    let app = TestApp::spawn().await;
    let bodies: Vec<Value> = (1..=5).map(|i| json!({"title": format!("C{i}")})).collect();
    let (_, token) = comics(&app, &bodies).await;
    let page = json_with(app.list_comics("limit=2&offset=1", &token).await, 200).await;
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(5), &json!(2), &json!(1))
    );
    assert_eq!(titles(&page), ["C4", "C3"], "newest first by default");
    let page = json_with(app.list_comics("", &token).await, 200).await;
    assert_eq!((&page["limit"], &page["offset"]), (&json!(20), &json!(0)));
    assert_eq!(titles(&page), ["C5", "C4", "C3", "C2", "C1"]);
    let page = json_with(app.list_comics("offset=10", &token).await, 200).await;
    assert_eq!((&page["items"], &page["total"]), (&json!([]), &json!(5)));
    app.stop().await;
}

#[tokio::test]
async fn a_limit_outside_1_to_100_or_a_negative_offset_is_a_bad_request() {
    let app = TestApp::spawn().await;
    for query in ["limit=0", "limit=101", "limit=x", "offset=-1"] {
        problem(app.get(&format!("/api/v1/comics?{query}")).await, 400).await;
    }
    let (comic, token) = app.comic("Paged").await;
    let r = app.list_chapters(&comic, "limit=0", &token).await;
    problem(r, 400).await;
    assert_eq!(app.get("/api/v1/comics?limit=100").await.status(), 200);
    app.stop().await;
}

#[tokio::test]
async fn q_matches_titles_and_alt_titles_ignoring_case() {
    let app = TestApp::spawn().await;
    let (_, token) = comics(
        &app,
        &[
            json!({"title": "Solo Leveling", "alt_titles": ["Na Honjaman Lebel-eob"]}),
            json!({"title": "Tower of God", "alt_titles": ["Sin-ui Tap"]}),
            json!({"title": "One Piece"}),
        ],
    )
    .await;
    assert_eq!(listed(&app, "q=LEVEL", &token).await, ["Solo Leveling"]);
    assert_eq!(listed(&app, "q=honjaman", &token).await, ["Solo Leveling"]);
    assert_eq!(listed(&app, "q=sin-UI", &token).await, ["Tower of God"]);
    assert!(listed(&app, "q=naruto", &token).await.is_empty());
    assert!(
        listed(&app, "q=%25", &token).await.is_empty(),
        "% is not a wildcard"
    );
    app.stop().await;
}

#[tokio::test]
async fn the_genre_filter_requires_every_listed_genre() {
    let app = TestApp::spawn().await;
    let (_, token) = comics(
        &app,
        &[
            json!({"title": "A", "genres": ["action"]}),
            json!({"title": "AF", "genres": ["action", "fantasy"]}),
            json!({"title": "F", "genres": ["fantasy", "romance"]}),
        ],
    )
    .await;
    let sorted = "&sort=title";
    assert_eq!(
        listed(&app, &format!("genre=action{sorted}"), &token).await,
        ["A", "AF"]
    );
    assert_eq!(
        listed(&app, &format!("genre=action,fantasy{sorted}"), &token).await,
        ["AF"]
    );
    assert!(listed(&app, "genre=action,romance", &token)
        .await
        .is_empty());
    app.stop().await;
}

#[tokio::test]
async fn status_and_type_filter_the_list() {
    let app = TestApp::spawn().await;
    let (_, token) = comics(
        &app,
        &[
            json!({"title": "Done", "status": "completed", "type": "manhwa"}),
            json!({"title": "Running"}),
            json!({"title": "Paused", "status": "hiatus", "type": "manhwa"}),
        ],
    )
    .await;
    assert_eq!(listed(&app, "status=completed", &token).await, ["Done"]);
    assert_eq!(listed(&app, "status=ongoing", &token).await, ["Running"]);
    assert_eq!(
        listed(&app, "type=manhwa&sort=title", &token).await,
        ["Done", "Paused"]
    );
    assert_eq!(
        listed(&app, "type=manhwa&status=hiatus", &token).await,
        ["Paused"]
    );
    problem(app.get("/api/v1/comics?status=finished").await, 400).await;
    app.stop().await;
}

#[tokio::test]
async fn sorting_by_title_is_case_insensitive_and_ascending_by_default() {
    let app = TestApp::spawn().await;
    let bodies = [
        json!({"title": "banana"}),
        json!({"title": "Cherry"}),
        json!({"title": "apple"}),
    ];
    let (_, token) = comics(&app, &bodies).await;
    assert_eq!(
        listed(&app, "sort=title", &token).await,
        ["apple", "banana", "Cherry"]
    );
    let desc = listed(&app, "sort=title&order=desc", &token).await;
    assert_eq!(desc, ["Cherry", "banana", "apple"]);
    app.stop().await;
}

#[tokio::test]
async fn sorting_by_creation_is_newest_first_by_default_and_can_be_reversed() {
    let app = TestApp::spawn().await;
    let bodies = [
        json!({"title": "first"}),
        json!({"title": "second"}),
        json!({"title": "third"}),
    ];
    let (_, token) = comics(&app, &bodies).await;
    assert_eq!(
        listed(&app, "sort=created_at", &token).await,
        ["third", "second", "first"]
    );
    let asc = listed(&app, "sort=created_at&order=asc", &token).await;
    assert_eq!(asc, ["first", "second", "third"]);
    problem(app.get("/api/v1/comics?sort=nonsense").await, 400).await;
    app.stop().await;
}

#[tokio::test]
async fn sorting_by_update_puts_the_last_changed_comic_first() {
    let app = TestApp::spawn().await;
    let bodies = [json!({"title": "first"}), json!({"title": "second"})];
    let (ids, _) = comics(&app, &bodies).await;
    let r = app
        .patch_comic(&ids[0], json!({"description": "touched"}))
        .await;
    let token = support::client::consistency(&r);
    assert_eq!(
        listed(&app, "sort=updated_at", &token).await,
        ["first", "second"]
    );
    app.stop().await;
}

#[tokio::test]
async fn genres_are_listed_by_name_with_their_comic_counts() {
    let app = TestApp::spawn().await;
    let (ids, _) = comics(
        &app,
        &[
            json!({"title": "A", "genres": ["romance", "action"]}),
            json!({"title": "B", "genres": ["action"]}),
        ],
    )
    .await;
    let r = app
        .patch_comic(&ids[1], json!({"genres": ["comedy", "action"]}))
        .await;
    let genres = json_with(app.genres(&support::client::consistency(&r)).await, 200).await;
    let expected = json!([
        {"genre": "action", "comics": 2},
        {"genre": "comedy", "comics": 1},
        {"genre": "romance", "comics": 1}
    ]);
    assert_eq!(genres["items"], expected);
    app.stop().await;
}

mod reference;
