//! The `X-Consistency-Token` on reads.

use std::time::{Duration, Instant};

use comics_common::consistency::ConsistencyToken;
use uuid::Uuid;

use crate::helpers::{at, json, set_applied, TestApp};
use crate::seeds::{rate, rate_in_catalog, view, view_in_catalog, CardSeed, ComicSeed};

/// The projections a comic document (and a comic's stats) show.
const COMIC_STORES: [&str; 4] = ["catalog", "ratings", "popularity", "bookmarks"];

fn token(marks: &[(&str, &str, i64)]) -> String {
    let mut token = ConsistencyToken::default();
    for (aggregate_type, id, sequence) in marks {
        token.push(aggregate_type, id, *sequence);
    }
    token.encode()
}

#[tokio::test]
async fn a_read_with_an_applied_token_answers_at_once() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Here")).await;
    // All four projections the comic document reads follow comics.
    for schema in COMIC_STORES {
        app.set_applied(schema, "Comic", &id.to_string(), 3).await;
    }

    let response = app
        .get(
            &format!("/comics/{id}"),
            Some(&token(&[("Comic", &id.to_string(), 2)])),
        )
        .await;

    assert_eq!(json(response, 200).await["title"], "Here");
}

#[tokio::test]
async fn a_read_waits_until_the_projection_applies_the_write() {
    let app = TestApp::spawn().await;
    let id = Uuid::now_v7();
    app.set_applied("catalog", "Comic", &id.to_string(), 1)
        .await;
    for schema in ["ratings", "popularity", "bookmarks"] {
        app.set_applied(schema, "Comic", &id.to_string(), 2).await;
    }
    let pool = app.pool.clone();
    let projector = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let mut tx = pool.begin().await.unwrap();
        sqlx::query(
            "INSERT INTO catalog.comics (id, title, status, type, search_text, created_at, updated_at, version) \
             VALUES ($1, 'Late', 'ongoing', 'manga', 'late', now(), now(), 2)",
        )
        .bind(id)
        .execute(&mut *tx)
        .await
        .unwrap();
        tx.commit().await.unwrap();
        set_applied(&pool, "catalog", "Comic", &id.to_string(), 2).await;
    });

    let started = Instant::now();
    let response = app
        .get(
            &format!("/comics/{id}"),
            Some(&token(&[("Comic", &id.to_string(), 2)])),
        )
        .await;

    assert_eq!(json(response, 200).await["version"], 2);
    assert!(started.elapsed() >= Duration::from_millis(300));
    projector.await.unwrap();
}

#[tokio::test]
async fn a_read_waits_for_an_aggregate_the_projection_has_not_seen_yet() {
    let app = TestApp::spawn().await;
    let chapter = Uuid::now_v7().to_string();
    let pool = app.pool.clone();
    let applied = chapter.clone();
    tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(100)).await;
        set_applied(&pool, "catalog", "Chapter", &applied, 1).await;
    });

    let response = app
        .get("/genres", Some(&token(&[("Chapter", &chapter, 1)])))
        .await;

    json(response, 200).await;
}

#[tokio::test]
async fn a_token_never_applied_gives_up_with_503_and_retry_after() {
    let app = TestApp::spawn_with_timeout(Duration::from_millis(300)).await;
    let id = app.insert_comic(ComicSeed::titled("Stale")).await;
    app.set_applied("catalog", "Comic", &id.to_string(), 4)
        .await;
    for schema in ["ratings", "popularity", "bookmarks"] {
        app.set_applied(schema, "Comic", &id.to_string(), 5).await;
    }

    let started = Instant::now();
    let response = app
        .get(
            &format!("/comics/{id}"),
            Some(&token(&[("Comic", &id.to_string(), 5)])),
        )
        .await;

    assert!(started.elapsed() >= Duration::from_millis(300));
    assert!(response.headers().contains_key("retry-after"));
    assert_eq!(json(response, 503).await["status"], 503);
}

#[tokio::test]
async fn marks_for_aggregates_other_projections_follow_are_not_waited_for() {
    let app = TestApp::spawn_with_timeout(Duration::from_secs(30)).await;
    let started = Instant::now();
    // Genres read the catalog only, which follows no libraries.
    let response = app
        .get("/genres", Some(&token(&[("Library", "u1", 9)])))
        .await;
    json(response, 200).await;
    // The top-rated ranking reads the ratings only: no views, no libraries.
    let response = app
        .get(
            "/rankings/top-rated",
            Some(&token(&[("Popularity", "c1", 9), ("Library", "u1", 9)])),
        )
        .await;
    json(response, 200).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn a_garbled_token_is_a_bad_request() {
    let app = TestApp::spawn().await;
    json(app.get("/comics", Some("not a token")).await, 400).await;
    json(app.get("/genres", Some("djE7Q29taWM6YTp4")).await, 400).await;
}

#[tokio::test]
async fn a_comic_read_waits_until_the_ratings_projection_applies_a_rating() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Rated late")).await;
    let rating = Uuid::now_v7().to_string();
    let (pool, catalog) = (app.ratings.clone(), app.pool.clone());
    let applied = rating.clone();
    let projector = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        rate(&pool, id, "alice", 9, 1).await;
        set_applied(&pool, "ratings", "Rating", &applied, 1).await;
        // The catalog keeps the document's figures too.
        rate_in_catalog(&catalog, id, 9).await;
        set_applied(&catalog, "catalog", "Rating", &applied, 1).await;
    });

    let started = Instant::now();
    let response = app
        .get(
            &format!("/comics/{id}"),
            Some(&token(&[("Rating", &rating, 1)])),
        )
        .await;

    assert_eq!(json(response, 200).await["rating"]["count"], 1);
    assert!(started.elapsed() >= Duration::from_millis(300));
    projector.await.unwrap();
}

#[tokio::test]
async fn my_ratings_wait_for_the_ratings_projection() {
    let app = TestApp::spawn().await;
    let card = CardSeed::titled("Mine");
    app.insert_rating_card(&card).await;
    let rating = Uuid::now_v7().to_string();
    let pool = app.ratings.clone();
    let (comic, applied) = (card.id, rating.clone());
    let projector = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(200)).await;
        rate(&pool, comic, "alice", 4, 1).await;
        set_applied(&pool, "ratings", "Rating", &applied, 1).await;
    });

    let started = Instant::now();
    let alice = app.token_for("alice");
    let response = app
        .get_as(
            "/me/ratings",
            Some(&alice),
            Some(&token(&[("Rating", &rating, 1), ("Chapter", "ch1", 7)])),
        )
        .await;

    // The chapter mark is the catalog's business: not waited for here.
    assert_eq!(json(response, 200).await["total"], 1);
    assert!(started.elapsed() >= Duration::from_millis(200));
    projector.await.unwrap();
}

#[tokio::test]
async fn my_bookmarks_wait_for_the_bookmarks_projection_only() {
    let app = TestApp::spawn_with_timeout(Duration::from_millis(400)).await;
    let alice = app.token_for("alice");
    let library = token(&[("Library", "alice", 3)]);
    app.set_applied("bookmarks", "Library", "alice", 2).await;

    let stale = app
        .get_as("/me/bookmarks", Some(&alice), Some(&library))
        .await;
    assert_eq!(json(stale, 503).await["status"], 503);

    // Comic documents show bookmark counts: a comic read waits too.
    json(app.get("/comics", Some(&library)).await, 503).await;

    app.set_applied("bookmarks", "Library", "alice", 3).await;
    // The catalog keeps each document's bookmark count too.
    app.set_applied("catalog", "Library", "alice", 3).await;
    let fresh = app
        .get_as("/me/bookmarks", Some(&alice), Some(&library))
        .await;
    json(fresh, 200).await;
    json(app.get("/comics", Some(&library)).await, 200).await;
    // Nor do the rankings, which show no bookmarks.
    json(app.get("/rankings/popular", Some(&library)).await, 200).await;
    json(app.get("/rankings/top-rated", Some(&library)).await, 200).await;
}

#[tokio::test]
async fn top_rated_waits_on_ratings_applied_and_gives_up_with_503() {
    let app = TestApp::spawn_with_timeout(Duration::from_millis(300)).await;
    let mark = token(&[("Rating", "r1", 2)]);
    app.set_applied("catalog", "Rating", "r1", 2).await; // the wrong store

    let response = app.get("/rankings/top-rated", Some(&mark)).await;
    assert!(response.headers().contains_key("retry-after"));
    json(response, 503).await;

    app.set_applied("ratings", "Rating", "r1", 2).await;
    json(app.get("/rankings/top-rated", Some(&mark)).await, 200).await;
}

#[tokio::test]
async fn a_me_read_without_a_bearer_token_is_refused_before_any_wait() {
    let app = TestApp::spawn_with_timeout(Duration::from_secs(30)).await;
    let never = token(&[("Rating", "r1", 99), ("Library", "u1", 99)]);
    let started = Instant::now();
    json(app.get("/me/ratings", Some(&never)).await, 401).await;
    json(app.get("/me/bookmarks", Some(&never)).await, 401).await;
    assert!(started.elapsed() < Duration::from_secs(5));
}

#[tokio::test]
async fn comic_reads_wait_until_the_popularity_projection_applies_views() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Viewed late")).await;
    app.ensure_popularity_card(id).await;
    let mark = token(&[("Popularity", &id.to_string(), 4)]);
    let (pool, catalog) = (app.popularity.clone(), app.pool.clone());
    let projector = tokio::spawn(async move {
        tokio::time::sleep(Duration::from_millis(300)).await;
        view(&pool, id, at(-1), 6).await;
        set_applied(&pool, "popularity", "Popularity", &id.to_string(), 4).await;
        view_in_catalog(&catalog, id, 6).await;
        set_applied(&catalog, "catalog", "Popularity", &id.to_string(), 4).await;
    });

    let started = Instant::now();
    let response = app.get(&format!("/comics/{id}"), Some(&mark)).await;

    assert_eq!(json(response, 200).await["popularity"]["views"], 6);
    assert!(started.elapsed() >= Duration::from_millis(300));
    projector.await.unwrap();
    // Applied now: the list, the stats and the ranking answer at once.
    let list = json(app.get("/comics", Some(&mark)).await, 200).await;
    assert_eq!(list["items"][0]["popularity"]["views"], 6);
    let stats = json(
        app.get(&format!("/comics/{id}/stats"), Some(&mark)).await,
        200,
    )
    .await;
    assert_eq!(stats["views"]["24h"], 6);
}

#[tokio::test]
async fn stats_wait_on_each_projection_they_show() {
    let app = TestApp::spawn_with_timeout(Duration::from_millis(300)).await;
    let id = app.insert_comic(ComicSeed::titled("Watched")).await;
    let path = format!("/comics/{id}/stats");
    let marks = [
        ("Comic", "catalog", "ratings"),
        ("Rating", "ratings", "catalog"),
        ("Popularity", "popularity", "catalog"),
        ("Library", "bookmarks", "catalog"),
    ];
    for (aggregate_type, store, wrong_store) in marks {
        let mark = token(&[(aggregate_type, "a1", 2)]);
        app.set_applied(wrong_store, aggregate_type, "a1", 2).await;
        json(app.get(&path, Some(&mark)).await, 503).await;
        app.set_applied(store, aggregate_type, "a1", 2).await;
        if aggregate_type == "Comic" {
            // Comic marks are followed by every store the stats read.
            for other in COMIC_STORES {
                app.set_applied(other, "Comic", "a1", 2).await;
            }
        }
        json(app.get(&path, Some(&mark)).await, 200).await;
    }
}

#[tokio::test]
async fn the_popular_ranking_waits_on_popularity_and_ratings_only() {
    let app = TestApp::spawn_with_timeout(Duration::from_millis(300)).await;
    let views = token(&[("Popularity", "c1", 3)]);
    app.set_applied("catalog", "Popularity", "c1", 3).await; // the wrong store
    let response = app.get("/rankings/popular", Some(&views)).await;
    assert!(response.headers().contains_key("retry-after"));
    json(response, 503).await;
    app.set_applied("popularity", "Popularity", "c1", 3).await;
    json(app.get("/rankings/popular", Some(&views)).await, 200).await;

    // Its items show ratings.
    let rating = token(&[("Rating", "r1", 1)]);
    json(
        app.get("/rankings/popular?window=all", Some(&rating)).await,
        503,
    )
    .await;
    app.set_applied("ratings", "Rating", "r1", 1).await;
    json(
        app.get("/rankings/popular?window=all", Some(&rating)).await,
        200,
    )
    .await;

    // Chapters are the catalog's business: not waited for.
    let chapter = token(&[("Chapter", "ch1", 9)]);
    json(app.get("/rankings/popular", Some(&chapter)).await, 200).await;
}
