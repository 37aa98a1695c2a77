//! `GET /rankings/top-rated`.

use serde_json::json;
use uuid::Uuid;

use crate::helpers::{json, TestApp};
use crate::seeds::CardSeed;

/// The comic ids of a ranking body, in order.
fn comic_ids(body: &serde_json::Value) -> Vec<String> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|item| item["comic"]["id"].as_str().unwrap().to_string())
        .collect()
}

#[tokio::test]
async fn top_rated_ranks_by_bayesian_average_then_votes_then_id() {
    let app = TestApp::spawn().await;
    let cards: Vec<CardSeed> = [
        "Great",
        "Low",
        "Eight by four",
        "Eight once",
        "Eight again",
        "Unrated",
    ]
    .map(CardSeed::titled)
    .into();
    for card in &cards {
        app.insert_rating_card(card).await;
    }
    let [great, low, by_four, once, again] = [0, 1, 2, 3, 4].map(|i| cards[i].id);
    let votes: [(_, &[i16]); 5] = [
        (great, &[10, 10]),
        (low, &[6, 6]),
        (by_four, &[8, 8, 8, 8]),
        (once, &[8]),
        (again, &[8]),
    ];
    for (comic, scores) in votes {
        for (n, score) in scores.iter().enumerate() {
            app.rate(comic, &format!("u{n}"), *score, 1).await;
        }
    }
    // 10 votes of sum 80 on 5 comics: A = 8, m = 2, so bayesian =
    // (sum + 16) / (n + 2): great 36/4 = 9, low 28/4 = 7, and every comic
    // whose votes are all 8 has exactly 8: by_four first (more votes), then
    // once and again by id.
    let body = json(app.get("/rankings/top-rated", None).await, 200).await;

    assert_eq!(
        comic_ids(&body),
        [great, by_four, once, again, low].map(|id| id.to_string())
    );
    assert_eq!(body["min_votes"], 1);
    assert_eq!(body["total"], 5);
    let rating = json!({"average": 10.0, "bayesian": 9.0, "count": 2});
    assert_eq!(
        body["items"][0],
        json!({
            "rank": 1,
            "rating": rating,
            "comic": {
                "id": great, "title": "Great", "cover_url": format!("/api/v1/comics/{great}/cover"),
                "status": "ongoing", "type": "manga", "rating": rating
            }
        })
    );
    assert_eq!(
        body["items"][1]["rating"],
        json!({"average": 8.0, "bayesian": 8.0, "count": 4})
    );
    assert_eq!(body["items"][4]["rank"], 5);
    assert_eq!(body["items"][4]["rating"]["bayesian"], json!(7.0));

    let page = json(
        app.get("/rankings/top-rated?limit=2&offset=1", None).await,
        200,
    )
    .await;
    assert_eq!(comic_ids(&page), [by_four, once].map(|id| id.to_string()));
    assert_eq!(
        [&page["items"][0]["rank"], &page["items"][1]["rank"]],
        [&json!(2), &json!(3)]
    );
    assert_eq!(
        (
            page["total"].clone(),
            page["limit"].clone(),
            page["offset"].clone()
        ),
        (json!(5), json!(2), json!(1))
    );
}

#[tokio::test]
async fn min_votes_leaves_out_comics_with_fewer_votes() {
    let app = TestApp::spawn().await;
    let cards: Vec<CardSeed> = ["Loved by one", "Liked by three"]
        .map(CardSeed::titled)
        .into();
    for card in &cards {
        app.insert_rating_card(card).await;
    }
    let [loved, liked] = [cards[0].id, cards[1].id];
    app.rate(loved, "u1", 10, 1).await;
    for user in ["u1", "u2", "u3"] {
        app.rate(liked, user, 8, 1).await;
    }
    // Rated, but the comic's card is gone (deleted): never ranked.
    for user in ["u1", "u2", "u3"] {
        app.rate(Uuid::now_v7(), user, 10, 1).await;
    }

    let all = json(app.get("/rankings/top-rated", None).await, 200).await;
    assert_eq!(all["total"], 2);
    let body = json(app.get("/rankings/top-rated?min_votes=3", None).await, 200).await;
    assert_eq!(comic_ids(&body), [liked.to_string()]);
    assert_eq!(
        (body["min_votes"].clone(), body["total"].clone()),
        (json!(3), json!(1))
    );
    let none = json(app.get("/rankings/top-rated?min_votes=4", None).await, 200).await;
    assert_eq!(
        (none["items"].clone(), none["total"].clone()),
        (json!([]), json!(0))
    );
}

#[tokio::test]
async fn min_votes_below_one_or_not_a_number_is_a_bad_request() {
    let app = TestApp::spawn().await;
    for bad in ["0", "-1", "lots"] {
        let body = json(
            app.get(&format!("/rankings/top-rated?min_votes={bad}"), None)
                .await,
            400,
        )
        .await;
        assert_eq!(body["errors"][0]["field"], "min_votes", "{bad}");
    }
    json(app.get("/rankings/top-rated?limit=101", None).await, 400).await;
    let empty = json(app.get("/rankings/top-rated", None).await, 200).await;
    assert_eq!(
        empty,
        json!({"min_votes": 1, "items": [], "total": 0, "limit": 20, "offset": 0})
    );
}
