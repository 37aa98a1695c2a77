//! The `rating` of comic documents, `sort=rating`, and `GET /me/ratings`.

use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{ids, json, TestApp};
use crate::seeds::{CardSeed, ComicSeed};

/// Asserts `value` is the number `expected`, to the last bits of an f64.
fn assert_close(value: &Value, expected: f64) {
    let got = value
        .as_f64()
        .unwrap_or_else(|| panic!("{value} is a number"));
    assert!(
        (got - expected).abs() < 1e-12,
        "{got} is not {expected} (difference {})",
        got - expected
    );
}

#[tokio::test]
async fn a_comic_without_votes_has_an_empty_rating() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Unrated")).await;
    // Votes on another comic do not rub off.
    let other = app.insert_comic(ComicSeed::titled("Rated")).await;
    app.rate(other, "u1", 7, 1).await;

    let empty = json!({"average": null, "bayesian": null, "count": 0});
    assert_eq!(json(app.get_comic(id).await, 200).await["rating"], empty);
    let list = json(app.get_comics("").await, 200).await;
    let unrated = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id.to_string())
        .unwrap();
    assert_eq!(unrated["rating"], empty);
}

#[tokio::test]
async fn the_rating_is_the_mean_and_the_bayesian_average_over_all_votes() {
    let app = TestApp::spawn().await;
    let x = app.insert_comic(ComicSeed::titled("X").created(1)).await;
    let y = app.insert_comic(ComicSeed::titled("Y").created(2)).await;
    for (user, score) in [("u1", 10), ("u2", 8)] {
        app.rate(x, user, score, 1).await;
    }
    for (user, score) in [("u1", 6), ("u2", 4), ("u3", 5), ("u4", 5)] {
        app.rate(y, user, score, 1).await;
    }
    // X: n = 2, a = 9; Y: n = 4, a = 5. All votes: 6 of sum 38, so
    // A = 38/6 = 19/3 and m = 6 votes / 2 rated comics = 3.
    // X: (2·9 + 3·19/3) / (2 + 3) = 37/5; Y: (4·5 + 19) / (4 + 3) = 39/7.
    let detail = json(app.get_comic(x).await, 200).await;
    assert_eq!(detail["rating"]["count"], 2);
    assert_eq!(detail["rating"]["average"], json!(9.0));
    assert_close(&detail["rating"]["bayesian"], 37.0 / 5.0);

    let detail = json(app.get_comic(y).await, 200).await;
    assert_eq!(detail["rating"]["count"], 4);
    assert_eq!(detail["rating"]["average"], json!(5.0));
    assert_close(&detail["rating"]["bayesian"], 39.0 / 7.0);

    // List items carry the same numbers.
    let list = json(app.get_comics("").await, 200).await;
    assert_eq!(ids(&list), [y.to_string(), x.to_string()]);
    assert_eq!(list["items"][0]["rating"], detail["rating"]);
    assert_close(&list["items"][1]["rating"]["bayesian"], 37.0 / 5.0);
}

#[tokio::test]
async fn a_fractional_average_is_not_rounded() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Thirds")).await;
    for (user, score) in [("u1", 10), ("u2", 9), ("u3", 9)] {
        app.rate(id, user, score, 1).await;
    }
    let rating = json(app.get_comic(id).await, 200).await["rating"].clone();
    // One comic: A = a, so the bayesian average is the mean itself.
    assert_close(&rating["average"], 28.0 / 3.0);
    assert_close(&rating["bayesian"], 28.0 / 3.0);
}

#[tokio::test]
async fn rating_sorts_by_bayesian_average_with_unrated_comics_last() {
    let app = TestApp::spawn().await;
    let unrated_old = app
        .insert_comic(ComicSeed::titled("Unrated old").created(1))
        .await;
    let best = app
        .insert_comic(ComicSeed::titled("Best").created(2).genres(&["action"]))
        .await;
    let worst = app
        .insert_comic(ComicSeed::titled("Worst").created(3).genres(&["drama"]))
        .await;
    let unrated_new = app
        .insert_comic(
            ComicSeed::titled("Unrated new")
                .created(4)
                .genres(&["drama"]),
        )
        .await;
    // With the deleted comic's vote below: 5 votes of sum 31 on 3 comics, so
    // A = 6.2 and m = 5/3; Best (9) has 7.25, Worst (4, 4, 4) about 4.79.
    app.rate(best, "u1", 9, 1).await;
    for user in ["u1", "u2", "u3"] {
        app.rate(worst, user, 4, 1).await;
    }
    // Votes on a comic the catalog no longer has count in the totals only.
    app.rate(Uuid::now_v7(), "u1", 10, 1).await;
    let [unrated_old, best, worst, unrated_new] =
        [unrated_old, best, worst, unrated_new].map(|i| i.to_string());

    let body = json(app.get_comics("sort=rating").await, 200).await;
    assert_eq!(
        ids(&body),
        [&best, &worst, &unrated_old, &unrated_new].map(String::clone)
    );
    assert_eq!(body["total"], 4);
    assert_eq!(body["items"][0]["rating"]["count"], 1);

    // `asc` reverses the rated comics; the unrated still come last.
    let asc = json(app.get_comics("sort=rating&order=asc").await, 200).await;
    assert_eq!(
        ids(&asc),
        [&worst, &best, &unrated_old, &unrated_new].map(String::clone)
    );

    let page = json(app.get_comics("sort=rating&limit=2&offset=1").await, 200).await;
    assert_eq!(ids(&page), [&worst, &unrated_old].map(String::clone));
    assert_eq!(page["total"], 4);

    let drama = json(app.get_comics("sort=rating&genre=drama").await, 200).await;
    assert_eq!(ids(&drama), [&worst, &unrated_new].map(String::clone));
    assert_eq!(drama["total"], 2);
}

#[tokio::test]
async fn equal_bayesian_averages_sort_by_votes() {
    let app = TestApp::spawn().await;
    let one = app.insert_comic(ComicSeed::titled("One").created(1)).await;
    let two = app.insert_comic(ComicSeed::titled("Two").created(2)).await;
    // Every vote is 8, so every bayesian average is 8.
    app.rate(one, "u1", 8, 1).await;
    app.rate(two, "u1", 8, 1).await;
    app.rate(two, "u2", 8, 1).await;

    let body = json(app.get_comics("sort=rating").await, 200).await;
    assert_eq!(ids(&body), [two.to_string(), one.to_string()]);
}

#[tokio::test]
async fn my_ratings_need_a_valid_token() {
    let app = TestApp::spawn().await;
    let body = json(app.get("/me/ratings", None).await, 401).await;
    assert_eq!(body["status"], 401);
    json(
        app.get_as("/me/ratings", Some("not.a.jwt"), None).await,
        401,
    )
    .await;
}

#[tokio::test]
async fn my_ratings_list_newest_first_and_page() {
    let app = TestApp::spawn().await;
    let cards: Vec<CardSeed> = ["A", "B", "C"].map(CardSeed::titled).into();
    for card in &cards {
        app.insert_rating_card(card).await;
    }
    let [a, b, c] = [cards[0].id, cards[1].id, cards[2].id];
    app.rate(a, "alice", 7, 2).await;
    app.rate(b, "alice", 10, 5).await;
    app.rate(c, "alice", 3, 1).await;
    app.rate(a, "bob", 1, 9).await;
    // A rating of a comic without a card (deleted) is not shown.
    app.rate(Uuid::now_v7(), "alice", 5, 20).await;
    let alice = app.token_for("alice");

    let body = json(app.get_as("/me/ratings", Some(&alice), None).await, 200).await;

    assert_eq!(
        body,
        json!({
            "items": [
                {"comic_id": b, "score": 10, "rated_at": "2024-01-01T00:05:00Z"},
                {"comic_id": a, "score": 7, "rated_at": "2024-01-01T00:02:00Z"},
                {"comic_id": c, "score": 3, "rated_at": "2024-01-01T00:01:00Z"},
            ],
            "total": 3, "limit": 20, "offset": 0
        })
    );
    let page = json(
        app.get_as("/me/ratings?limit=1&offset=1", Some(&alice), None)
            .await,
        200,
    )
    .await;
    assert_eq!(page["items"][0]["comic_id"], a.to_string());
    assert_eq!(
        (page["total"].clone(), page["limit"].clone()),
        (json!(3), json!(1))
    );
    json(
        app.get_as("/me/ratings?limit=0", Some(&alice), None).await,
        400,
    )
    .await;

    let carol = app.token_for("carol");
    let none = json(app.get_as("/me/ratings", Some(&carol), None).await, 200).await;
    assert_eq!(
        (none["items"].clone(), none["total"].clone()),
        (json!([]), json!(0))
    );
}
