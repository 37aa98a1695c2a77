//! Bookmarks through HTTP: `PUT`/`DELETE /me/bookmarks/{comic_id}` (both
//! idempotent) and the caller's library at `GET /me/bookmarks`.

use crate::support::client::{consistency, json_with, problem};
use crate::support::writer::Writer;
use crate::support::TestApp;
use serde_json::{json, Value};

/// Bookmarks `comic_id` as `token`, asserts 204 and returns the consistency token.
async fn bookmarked(app: &TestApp, token: &str, comic_id: &str) -> String {
    let r = app.bookmark_comic(Some(token), comic_id).await;
    let status = r.status();
    let t = consistency(&r);
    let body = r.text().await.unwrap_or_default();
    assert_eq!(status, 204, "bookmark {comic_id}: {body}");
    assert!(body.is_empty(), "a 204 has no body: {body}");
    t
}

/// Removes the bookmark, asserts 204 and returns the consistency token.
async fn unbookmarked(app: &TestApp, token: &str, comic_id: &str) -> String {
    let r = app.unbookmark_comic(Some(token), comic_id).await;
    assert_eq!(r.status(), 204, "remove bookmark {comic_id}");
    consistency(&r)
}

/// `token`'s library, read after `consistency`.
async fn library(app: &TestApp, token: &str, query: &str, consistency: &str) -> Value {
    json_with(
        app.my_bookmarks(Some(token), query, Some(consistency))
            .await,
        200,
    )
    .await
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| i["comic_id"].as_str().expect("comic_id").to_string())
        .collect()
}

#[tokio::test]
async fn a_bookmarked_comic_is_listed_with_its_title_and_time() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Blade of the Immortal").await;
    let token = bookmarked(&app, &app.user_token, &id).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(list["total"], json!(1), "{list}");
    assert_eq!((&list["limit"], &list["offset"]), (&json!(20), &json!(0)));
    let item = &list["items"][0];
    assert_eq!(item["comic_id"], json!(id));
    assert_eq!(item["title"], json!("Blade of the Immortal"));
    let at = item["bookmarked_at"].as_str().expect("bookmarked_at");
    chrono::DateTime::parse_from_rfc3339(at).expect("bookmarked_at is RFC 3339");
    app.stop().await;
}

#[tokio::test]
async fn bookmarking_twice_is_204_both_times_and_keeps_one_bookmark_from_the_first_time() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Twice").await;
    let token = bookmarked(&app, &app.user_token, &id).await;
    let first = library(&app, &app.user_token, "", &token).await;
    let token = bookmarked(&app, &app.user_token, &id).await;
    let second = library(&app, &app.user_token, "", &token).await;
    assert_eq!(ids(&second), vec![id.clone()], "{second}");
    assert_eq!(second["total"], json!(1));
    assert_eq!(
        second["items"][0]["bookmarked_at"], first["items"][0]["bookmarked_at"],
        "a repeated bookmark is not a new one"
    );
    app.stop().await;
}

#[tokio::test]
async fn a_renamed_comic_shows_its_new_title_in_bookmarks() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Old name").await;
    bookmarked(&app, &app.user_token, &id).await;
    let r = app.patch_comic(&id, json!({"title": "New name"})).await;
    assert_eq!(r.status(), 200);
    let list = library(&app, &app.user_token, "", &consistency(&r)).await;
    assert_eq!(list["items"][0]["title"], json!("New name"), "{list}");
    app.stop().await;
}

#[tokio::test]
async fn removing_a_bookmark_is_204_and_removing_it_again_is_204_too() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Removed").await;
    bookmarked(&app, &app.user_token, &id).await;
    let token = unbookmarked(&app, &app.user_token, &id).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(list["items"], json!([]), "{list}");
    assert_eq!(list["total"], json!(0));
    let token = unbookmarked(&app, &app.user_token, &id).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(list["total"], json!(0));
    app.stop().await;
}

#[tokio::test]
async fn removing_a_bookmark_from_an_empty_library_is_204_and_its_token_works() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Never bookmarked").await;
    let token = unbookmarked(&app, &app.user_token, &id).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(list["total"], json!(0));
    app.stop().await;
}

#[tokio::test]
async fn bookmarking_an_unknown_comic_is_404() {
    let app = TestApp::spawn().await;
    let unknown = uuid::Uuid::now_v7().to_string();
    problem(
        app.bookmark_comic(Some(&app.user_token), &unknown).await,
        404,
    )
    .await;
    problem(
        app.bookmark_comic(Some(&app.user_token), "not-a-uuid")
            .await,
        404,
    )
    .await;
    let (id, _) = app.comic("Witness").await;
    let token = bookmarked(&app, &app.user_token, &id).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(ids(&list), vec![id], "only the real comic: {list}");
    app.stop().await;
}

#[tokio::test]
async fn bookmarking_a_deleted_comic_is_404() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Deleted first").await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    problem(app.bookmark_comic(Some(&app.user_token), &id).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn bookmarks_without_a_valid_token_are_401() {
    let app = TestApp::spawn().await;
    let (id, _) = app.comic("Members only").await;
    let expired = app
        .env
        .jwt()
        .mint("late", &[], chrono::Duration::hours(-2))
        .unwrap();
    problem(app.bookmark_comic(None, &id).await, 401).await;
    problem(app.bookmark_comic(Some("garbage"), &id).await, 401).await;
    problem(app.bookmark_comic(Some(&expired), &id).await, 401).await;
    problem(app.unbookmark_comic(None, &id).await, 401).await;
    problem(app.my_bookmarks(None, "", None).await, 401).await;
    problem(app.my_bookmarks(Some("garbage"), "", None).await, 401).await;
    problem(app.my_bookmarks(Some(&expired), "", None).await, 401).await;
    app.stop().await;
}

#[tokio::test]
async fn another_users_bookmarks_are_not_visible() {
    let app = TestApp::spawn().await;
    let (mine, _) = app.comic("Mine").await;
    let (theirs, _) = app.comic("Theirs").await;
    let other = app.user("other");
    bookmarked(&app, &app.user_token, &mine).await;
    let token = bookmarked(&app, &other, &theirs).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(ids(&list), vec![mine.clone()], "{list}");
    let list = library(&app, &other, "", &token).await;
    assert_eq!(ids(&list), vec![theirs.clone()], "{list}");
    let list = library(&app, &app.user("stranger"), "", &token).await;
    assert_eq!(list["total"], json!(0), "{list}");
    // Removing one's own bookmark leaves the other user's alone.
    let token = unbookmarked(&app, &app.user_token, &theirs).await;
    let list = library(&app, &other, "", &token).await;
    assert_eq!(ids(&list), vec![theirs.clone()], "{list}");
    app.stop().await;
}

#[tokio::test]
async fn deleting_a_comic_removes_it_from_every_library() {
    let app = TestApp::spawn().await;
    let (doomed, _) = app.comic("Doomed").await;
    let (kept, _) = app.comic("Kept").await;
    let users: Vec<String> = (0..3).map(|i| app.user(&format!("reader{i}"))).collect();
    for user in &users {
        bookmarked(&app, user, &doomed).await;
        bookmarked(&app, user, &kept).await;
    }
    let r = app.delete_comic(&doomed).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    for user in &users {
        let list = library(&app, user, "", &token).await;
        assert_eq!(ids(&list), vec![kept.clone()], "{list}");
        assert_eq!(list["total"], json!(1));
    }
    // It cannot be bookmarked again; removing the stale bookmark is harmless.
    problem(app.bookmark_comic(Some(&users[0]), &doomed).await, 404).await;
    let token = unbookmarked(&app, &users[1], &doomed).await;
    let list = library(&app, &users[1], "", &token).await;
    assert_eq!(ids(&list), vec![kept.clone()], "{list}");
    app.stop().await;
}

#[tokio::test]
async fn my_bookmarks_are_newest_first_and_paged() {
    let app = TestApp::spawn().await;
    let mut comics = Vec::new();
    for title in ["One", "Two", "Three"] {
        comics.push(app.comic(title).await.0);
    }
    let mut token = String::new();
    for id in &comics {
        token = bookmarked(&app, &app.user_token, id).await;
    }
    let list = library(&app, &app.user_token, "", &token).await;
    let newest_first: Vec<String> = comics.iter().rev().cloned().collect();
    assert_eq!(ids(&list), newest_first, "{list}");
    let titles: Vec<&Value> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| &i["title"])
        .collect();
    assert_eq!(titles, [&json!("Three"), &json!("Two"), &json!("One")]);

    let page = library(&app, &app.user_token, "limit=1&offset=1", &token).await;
    assert_eq!(ids(&page), vec![comics[1].clone()], "{page}");
    assert_eq!(
        (&page["total"], &page["limit"], &page["offset"]),
        (&json!(3), &json!(1), &json!(1))
    );

    // Removed and bookmarked again: now the newest.
    unbookmarked(&app, &app.user_token, &comics[0]).await;
    let token = bookmarked(&app, &app.user_token, &comics[0]).await;
    let list = library(&app, &app.user_token, "", &token).await;
    assert_eq!(
        ids(&list),
        vec![comics[0].clone(), comics[2].clone(), comics[1].clone()],
        "{list}"
    );
    app.stop().await;
}

// A group-commit round of bookmarks asks whether its comics are live with
// one statement for all of them, as of the store: a comic deleted through
// another instance since this one read it is seen.

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_round_of_bookmarks_refuses_404_a_comic_deleted_through_another_instance() {
    let app = TestApp::spawn().await;
    let (doomed, _) = app.comic("Deleted elsewhere").await;
    let (kept, _) = app.comic("Kept").await;
    let writer = Writer::beside(&app).await;
    let users: Vec<String> = (0..20).map(|i| app.user(&format!("b{i}"))).collect();
    let bookmark = |comic: &str, user: &str| {
        let path = format!("/api/v1/me/bookmarks/{comic}");
        let (writer, app, user) = (&writer, &app, user.to_string());
        async move { writer.put(app, &path, &user, None).await }
    };
    // The writer now holds both comics in memory, live.
    assert_eq!(bookmark(&doomed, &users[0]).await, 204);
    assert_eq!(bookmark(&kept, &users[0]).await, 204);
    assert_eq!(app.delete_comic(&doomed).await.status(), 204);

    let (reads, rounds) = (writer.comic_reads(), writer.bookmark_rounds());
    let answers = futures::future::join_all(
        users
            .iter()
            .flat_map(|user| [bookmark(&doomed, user), bookmark(&kept, user)]),
    )
    .await;
    for (user, pair) in answers.chunks(2).enumerate() {
        assert_eq!(
            pair,
            [404, 204],
            "user {user}: the deleted comic, the kept one"
        );
    }
    let reads = writer.comic_reads() - reads;
    let rounds = writer.bookmark_rounds() - rounds;
    assert!(
        (1..=rounds).contains(&reads),
        "{reads} comic reads in {rounds} rounds (at most one a round)"
    );
    app.stop().await;
}
