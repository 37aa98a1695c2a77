//! `GET /comics/{id}/stats`: rating with its distribution, views per window
//! (measured against the app's clock), bookmarks.

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use serde_json::{json, Value};
use uuid::Uuid;

use crate::helpers::{json, TestApp};
use crate::seeds::ComicSeed;

/// A minute well after the catalog's seeds, as "now" for the windows.
fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 10, 12, 0, 0).unwrap()
}

async fn stats(app: &TestApp, id: Uuid) -> Value {
    json(app.get(&format!("/comics/{id}/stats"), None).await, 200).await
}

/// The `views` of `id`'s stats at `now`.
async fn views_at(app: &TestApp, id: Uuid, now: DateTime<Utc>) -> Value {
    app.set_now(now);
    stats(app, id).await["views"].clone()
}

#[tokio::test]
async fn stats_show_the_rating_with_its_distribution_views_and_bookmarks() {
    let app = TestApp::spawn().await;
    app.set_now(noon());
    let x = app.insert_comic(ComicSeed::titled("X")).await;
    let y = app.insert_comic(ComicSeed::titled("Y")).await;
    for (user, score) in [("u1", 10), ("u2", 8)] {
        app.rate(x, user, score, 1).await;
    }
    for (user, score) in [("u1", 6), ("u2", 4), ("u3", 5), ("u4", 5)] {
        app.rate(y, user, score, 1).await;
    }
    app.view(x, noon() - TimeDelta::hours(2), 5).await;
    app.view(x, noon() - TimeDelta::days(3), 7).await;
    app.view(x, noon() - TimeDelta::days(12), 11).await;
    app.view_long_ago(x, 100).await;
    app.view(y, noon() - TimeDelta::minutes(1), 1000).await;
    for user in ["alice", "bob", "carol"] {
        app.bookmark(x, user, 1).await;
    }
    app.bookmark(y, "alice", 1).await;

    let body = stats(&app, x).await;

    // As in the ratings tests: X has n = 2, a = 9, and A = 19/3, m = 3 over
    // all votes, so bayesian = 37/5.
    let bayesian = body["rating"]["bayesian"].as_f64().unwrap();
    assert!((bayesian - 37.0 / 5.0).abs() < 1e-12, "{bayesian}");
    let mut expected = json!({
        "rating": {
            "average": 9.0, "bayesian": bayesian, "count": 2,
            "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0,
                             "8": 1, "9": 0, "10": 1}
        },
        "views": {"total": 123, "24h": 5, "7d": 12, "30d": 23},
        "bookmarks": 3
    });
    assert_eq!(body, expected);
    // Every count is an exact integer.
    for n in ["total", "24h", "7d", "30d"] {
        assert!(body["views"][n].is_i64(), "{n}");
    }
    assert!(body["rating"]["distribution"]["10"].is_i64());
    assert!(body["bookmarks"].is_i64());

    // The rating agrees with the comic document's.
    let document = json(app.get_comic(x).await, 200).await;
    expected["rating"]
        .as_object_mut()
        .unwrap()
        .remove("distribution");
    assert_eq!(document["rating"], expected["rating"]);
    assert_eq!(
        document["popularity"],
        json!({"views": 123, "bookmarks": 3})
    );

    let y_stats = stats(&app, y).await;
    assert_eq!(
        y_stats["rating"]["distribution"],
        json!({"1": 0, "2": 0, "3": 0, "4": 1, "5": 2, "6": 1, "7": 0, "8": 0, "9": 0, "10": 0})
    );
    assert_eq!(
        (
            y_stats["views"]["24h"].clone(),
            y_stats["bookmarks"].clone()
        ),
        (json!(1000), json!(1))
    );
}

#[tokio::test]
async fn a_comic_without_votes_views_or_bookmarks_has_zero_stats() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Quiet")).await;
    // Another comic's numbers do not rub off.
    let other = app.insert_comic(ComicSeed::titled("Busy")).await;
    app.rate(other, "u1", 7, 1).await;
    app.view(other, crate::helpers::at(-5), 3).await;
    app.bookmark(other, "u1", 1).await;

    assert_eq!(
        stats(&app, id).await,
        json!({
            "rating": {
                "average": null, "bayesian": null, "count": 0,
                "distribution": {"1": 0, "2": 0, "3": 0, "4": 0, "5": 0, "6": 0, "7": 0,
                                 "8": 0, "9": 0, "10": 0}
            },
            "views": {"total": 0, "24h": 0, "7d": 0, "30d": 0},
            "bookmarks": 0
        })
    );
}

#[tokio::test]
async fn stats_of_a_comic_not_in_the_catalog_are_not_found() {
    let app = TestApp::spawn().await;
    // Numbers left in the other stores for a comic the catalog does not
    // have (deleted) do not make it exist.
    let gone = Uuid::now_v7();
    app.rate(gone, "u1", 9, 1).await;
    app.view(gone, crate::helpers::at(-1), 4).await;
    app.bookmark(gone, "u1", 1).await;

    let body = json(app.get(&format!("/comics/{gone}/stats"), None).await, 404).await;
    assert_eq!(body["status"], 404);
    json(app.get("/comics/not-a-uuid/stats", None).await, 404).await;
}

#[tokio::test]
async fn views_leave_a_window_exactly_one_window_after_their_minute() {
    let app = TestApp::spawn().await;
    let id = app.insert_comic(ComicSeed::titled("Ageing")).await;
    let (hour, day) = (TimeDelta::hours(1), TimeDelta::days(1));
    let tick = TimeDelta::nanoseconds(1);
    // Minutes at known distances before noon.
    app.view(id, noon() - TimeDelta::minutes(1), 1).await;
    app.view(id, noon() - TimeDelta::hours(23), 2).await;
    app.view(id, noon() - TimeDelta::days(3), 4).await;
    app.view(id, noon() - TimeDelta::days(20), 8).await;
    app.view_long_ago(id, 16).await;
    let counts = |total: i64, d1: i64, d7: i64, d30: i64| json!({"total": total, "24h": d1, "7d": d7, "30d": d30});

    assert_eq!(views_at(&app, id, noon()).await, counts(31, 3, 7, 15));

    // The minute 23 h before noon leaves the 24h window at 13:00, not before.
    let left_day = noon() + hour;
    assert_eq!(
        views_at(&app, id, left_day - tick).await,
        counts(31, 3, 7, 15)
    );
    assert_eq!(views_at(&app, id, left_day).await, counts(31, 1, 7, 15));
    // The 11:59 minute leaves it at 11:59 the next day.
    let last_left = noon() + day - TimeDelta::minutes(1);
    assert_eq!(
        views_at(&app, id, last_left - TimeDelta::seconds(1)).await,
        counts(31, 1, 7, 15)
    );
    assert_eq!(views_at(&app, id, last_left).await, counts(31, 0, 7, 15));

    // The minute 3 days before noon leaves the 7d window 4 days after noon.
    let left_week = noon() + TimeDelta::days(4);
    assert_eq!(
        views_at(&app, id, left_week - tick).await,
        counts(31, 0, 7, 15)
    );
    assert_eq!(views_at(&app, id, left_week).await, counts(31, 0, 3, 15));

    // And the minute 20 days before noon leaves the 30d window 10 days after.
    let left_month = noon() + TimeDelta::days(10);
    // (By then the newer minutes have left the 7d window too.)
    assert_eq!(
        views_at(&app, id, left_month - tick).await,
        counts(31, 0, 0, 15)
    );
    assert_eq!(views_at(&app, id, left_month).await, counts(31, 0, 0, 7));

    // Long after, only the all-time total remains.
    assert_eq!(
        views_at(&app, id, noon() + TimeDelta::days(60)).await,
        counts(31, 0, 0, 0)
    );
}
