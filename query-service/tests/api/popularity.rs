//! `GET /rankings/popular`, the `popularity` of comic documents and
//! `sort=popularity`.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{ids, json, TestApp};
use crate::seeds::{CardSeed, ComicSeed};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 10, 12, 0, 0).unwrap()
}

/// The comic ids of a ranking body, in order.
fn comic_ids(body: &Value) -> Vec<Uuid> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["comic"]["id"].as_str().unwrap().parse().unwrap())
        .collect()
}

/// `(rank, views)` of each item of a ranking body.
fn ranks_and_views(body: &Value) -> Vec<(i64, i64)> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| {
            (
                item["rank"].as_i64().unwrap(),
                item["views"].as_i64().unwrap(),
            )
        })
        .collect()
}

async fn popular(app: &TestApp, query: &str) -> Value {
    json(
        app.get(&format!("/rankings/popular?{query}"), None).await,
        200,
    )
    .await
}

#[tokio::test]
async fn the_popular_ranking_orders_by_views_in_the_window() {
    let app = TestApp::spawn().await;
    app.set_now(noon());
    let cards: Vec<CardSeed> = ["A", "B", "C", "Unviewed"].map(CardSeed::titled).into();
    for card in &cards {
        app.insert_popularity_card(card).await;
    }
    let [a, b, c] = [cards[0].id, cards[1].id, cards[2].id];
    let (hour, day) = (TimeDelta::hours(1), TimeDelta::days(1));
    app.view(a, noon() - TimeDelta::hours(2), 5).await;
    app.view(a, noon() - TimeDelta::days(10), 3).await;
    app.view_long_ago(a, 10).await;
    app.view(b, noon() - hour, 3).await;
    app.view(b, noon() - TimeDelta::days(3), 4).await;
    app.view(c, noon() - TimeDelta::minutes(30), 3).await;
    // Viewed the most, but its card is gone (deleted): never ranked.
    app.view(Uuid::now_v7(), noon() - TimeDelta::minutes(1), 100)
        .await;
    app.rate(b, "u1", 8, 1).await;
    // B and C tie in the last 24 hours: by id.
    let (first_tied, second_tied) = if b < c { (b, c) } else { (c, b) };

    let day_body = popular(&app, "window=24h").await;
    assert_eq!(day_body["window"], "24h");
    assert_eq!(comic_ids(&day_body), [a, first_tied, second_tied]);
    assert_eq!(ranks_and_views(&day_body), [(1, 5), (2, 3), (3, 3)]);
    assert_eq!(day_body["total"], 3);

    // 7d is the default.
    let week = popular(&app, "").await;
    assert_eq!(week["window"], "7d");
    assert_eq!(comic_ids(&week), [b, a, c]);
    assert_eq!(ranks_and_views(&week), [(1, 7), (2, 5), (3, 3)]);
    assert_eq!(
        week["items"][0],
        json!({
            "rank": 1, "views": 7,
            "comic": {
                "id": b, "title": "B", "cover_url": format!("/api/v1/comics/{b}/cover"),
                "status": "ongoing", "type": "manga",
                "rating": {"average": 8.0, "bayesian": 8.0, "count": 1}
            }
        })
    );
    assert_eq!(
        week["items"][1]["comic"]["rating"],
        json!({"average": null, "bayesian": null, "count": 0})
    );
    assert_eq!(
        (
            week["total"].clone(),
            week["limit"].clone(),
            week["offset"].clone()
        ),
        (json!(3), json!(20), json!(0))
    );

    let month = popular(&app, "window=30d").await;
    assert_eq!(comic_ids(&month), [a, b, c]);
    assert_eq!(ranks_and_views(&month), [(1, 8), (2, 7), (3, 3)]);

    let all = popular(&app, "window=all").await;
    assert_eq!(all["window"], "all");
    assert_eq!(comic_ids(&all), [a, b, c]);
    assert_eq!(ranks_and_views(&all), [(1, 18), (2, 7), (3, 3)]);

    // A day and a half later the last 24 hours have no views; the week still
    // has them all.
    app.set_now(noon() + day + TimeDelta::hours(12));
    let later = popular(&app, "window=24h").await;
    assert_eq!(
        (later["items"].clone(), later["total"].clone()),
        (json!([]), json!(0))
    );
    let later_week = popular(&app, "window=7d").await;
    assert_eq!(comic_ids(&later_week), [b, a, c]);
    // Four days after noon B's older minute has left the week.
    app.set_now(noon() + TimeDelta::days(4));
    let ageing = popular(&app, "window=7d").await;
    assert_eq!(comic_ids(&ageing), [a, first_tied, second_tied]);
    assert_eq!(ranks_and_views(&ageing), [(1, 5), (2, 3), (3, 3)]);
}

#[tokio::test]
async fn the_popular_ranking_pages_with_ranks_over_the_whole_ranking() {
    let app = TestApp::spawn().await;
    app.set_now(noon());
    let mut viewed = Vec::new();
    for n in 1..=5 {
        let card = CardSeed::titled(&format!("Comic {n}"));
        app.insert_popularity_card(&card).await;
        app.view(card.id, noon() - TimeDelta::hours(n), 10 * n)
            .await;
        viewed.push(card.id);
    }
    viewed.reverse(); // most viewed first

    let page = popular(&app, "window=24h&limit=2&offset=1").await;
    assert_eq!(comic_ids(&page), viewed[1..3]);
    assert_eq!(ranks_and_views(&page), [(2, 40), (3, 30)]);
    assert_eq!(
        (
            page["window"].clone(),
            page["total"].clone(),
            page["limit"].clone(),
            page["offset"].clone()
        ),
        (json!("24h"), json!(5), json!(2), json!(1))
    );
    let last = popular(&app, "window=24h&limit=2&offset=4").await;
    assert_eq!(ranks_and_views(&last), [(5, 10)]);
    let past = popular(&app, "window=24h&offset=9").await;
    assert_eq!(
        (past["items"].clone(), past["total"].clone()),
        (json!([]), json!(5))
    );
}

#[tokio::test]
async fn an_unknown_window_or_bad_paging_is_a_bad_request() {
    let app = TestApp::spawn().await;
    for bad in ["1d", "7D", "week", "0"] {
        let body = json(
            app.get(&format!("/rankings/popular?window={bad}"), None)
                .await,
            400,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "window", "{bad}");
    }
    json(app.get("/rankings/popular?limit=0", None).await, 400).await;
    json(app.get("/rankings/popular?offset=-1", None).await, 400).await;
    let empty = json(app.get("/rankings/popular?window=all", None).await, 200).await;
    assert_eq!(
        empty,
        json!({"window": "all", "items": [], "total": 0, "limit": 20, "offset": 0})
    );
    // An empty window counts as not given.
    assert_eq!(popular(&app, "window=").await["window"], "7d");
}

#[tokio::test]
async fn comic_documents_carry_their_views_and_bookmarks() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Seen")).await;
    let quiet = app.insert_comic(ComicSeed::titled("Quiet")).await;
    app.view(id, crate::helpers::at(-3), 4).await;
    app.view_long_ago(id, 40).await;
    for user in ["alice", "bob"] {
        app.bookmark(id, user, 1).await;
    }

    let text = app.get_comic(id).await.text().await.unwrap();
    // `popularity` follows `rating` in the document.
    let position = |key: &str| text.find(&format!("\"{key}\":")).unwrap();
    assert!(position("rating") < position("popularity"), "{text}");
    assert!(position("popularity") < position("created_at"), "{text}");
    let detail: Value = serde_json::from_str(&text).unwrap();
    assert_eq!(detail["popularity"], json!({"views": 44, "bookmarks": 2}));
    let list = json(app.get_comics("").await, 200).await;
    for item in list["items"].as_array().unwrap() {
        let expected = if item["id"] == id.to_string() {
            json!({"views": 44, "bookmarks": 2})
        } else {
            assert_eq!(item["id"], quiet.to_string());
            json!({"views": 0, "bookmarks": 0})
        };
        assert_eq!(item["popularity"], expected);
    }
}

#[tokio::test]
async fn popularity_sorts_by_all_time_views_with_unviewed_comics_last() {
    let app = TestApp::spawn().await;
    let unviewed_old = app
        .insert_comic(ComicSeed::titled("Unviewed old").created(1))
        .await;
    let most = app
        .insert_comic(ComicSeed::titled("Most").created(2).genres(&["action"]))
        .await;
    let tie_one = app
        .insert_comic(ComicSeed::titled("Tie one").created(3).genres(&["drama"]))
        .await;
    let tie_two = app
        .insert_comic(ComicSeed::titled("Tie two").created(4))
        .await;
    let unviewed_new = app
        .insert_comic(
            ComicSeed::titled("Unviewed new")
                .created(5)
                .genres(&["drama"]),
        )
        .await;
    app.view_long_ago(most, 50).await;
    app.view(tie_one, crate::helpers::at(-1), 7).await;
    app.view_long_ago(tie_two, 7).await;
    // Views of a comic the catalog no longer has are not listed.
    app.view_long_ago(Uuid::now_v7(), 1000).await;
    let (low_tie, high_tie) = if tie_one < tie_two {
        (tie_one, tie_two)
    } else {
        (tie_two, tie_one)
    };
    let (unviewed_low, unviewed_high) = if unviewed_old < unviewed_new {
        (unviewed_old, unviewed_new)
    } else {
        (unviewed_new, unviewed_old)
    };
    let s = |ids: &[Uuid]| ids.iter().map(Uuid::to_string).collect::<Vec<_>>();

    let body = json(app.get_comics("sort=popularity").await, 200).await;
    assert_eq!(
        ids(&body),
        s(&[most, low_tie, high_tie, unviewed_low, unviewed_high])
    );
    assert_eq!(body["total"], 5);
    assert_eq!(body["items"][0]["popularity"]["views"], 50);
    assert_eq!(body["items"][3]["popularity"]["views"], 0);

    // `asc` reverses the viewed comics; the unviewed still come last.
    let asc = json(app.get_comics("sort=popularity&order=asc").await, 200).await;
    assert_eq!(
        ids(&asc),
        s(&[high_tie, low_tie, most, unviewed_low, unviewed_high])
    );

    let page = json(
        app.get_comics("sort=popularity&limit=2&offset=2").await,
        200,
    )
    .await;
    assert_eq!(ids(&page), s(&[high_tie, unviewed_low]));
    assert_eq!(page["total"], 5);

    let drama = json(app.get_comics("sort=popularity&genre=drama").await, 200).await;
    assert_eq!(ids(&drama), s(&[tie_one, unviewed_new]));
    assert_eq!(drama["total"], 2);
}
