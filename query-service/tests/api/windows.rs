//! The rolling window totals behind `GET /rankings/popular?window=24h|7d|30d`
//! and `GET /comics/{id}/stats`: wherever the projection's ager left the
//! windows' marks (never run, before, exactly at or after the clock), every
//! answer equals the one computed here from the per-minute histogram by the
//! definition (a view of minute `M` is in window `W` at `now` iff
//! `M > now - W`), and after ageing the totals hold exactly the minutes
//! from the mark on.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, TimeDelta, TimeZone, Utc};
use comics_projections::popularity::{ager, windows};
use serde_json::{json, Value};
use sqlx::PgPool;
use uuid::Uuid;

use crate::helpers::{json, TestApp};
use crate::seeds::{CardSeed, ComicSeed};

fn noon() -> DateTime<Utc> {
    Utc.with_ymd_and_hms(2024, 2, 10, 12, 0, 0).unwrap()
}

const WINDOWS: [(&str, i64); 3] = [("24h", 24 * 60), ("7d", 7 * 24 * 60), ("30d", 30 * 24 * 60)];

/// The histogram and the ranked comics (those with a card).
struct Reference {
    minutes: Vec<(Uuid, DateTime<Utc>, i64)>,
    cards: HashSet<Uuid>,
}

impl Reference {
    async fn read(pool: &PgPool) -> Self {
        let minutes = sqlx::query_as("SELECT comic_id, minute, views FROM popularity.minutes")
            .fetch_all(pool)
            .await
            .unwrap();
        let cards: Vec<Uuid> = sqlx::query_scalar("SELECT id FROM popularity.comics")
            .fetch_all(pool)
            .await
            .unwrap();
        Self {
            minutes,
            cards: cards.into_iter().collect(),
        }
    }

    /// Views of `comic` in the window `minutes` long at `now`, by definition.
    fn views(&self, comic: Uuid, now: DateTime<Utc>, minutes: i64) -> i64 {
        let start = now - TimeDelta::minutes(minutes);
        self.minutes
            .iter()
            .filter(|(id, minute, _)| *id == comic && *minute > start)
            .map(|(_, _, views)| views)
            .sum()
    }

    /// The whole ranking: `(comic, views)`, most viewed first, then by id.
    fn ranking(&self, now: DateTime<Utc>, minutes: i64) -> Vec<(Uuid, i64)> {
        let mut ranked: Vec<_> = self
            .cards
            .iter()
            .map(|id| (*id, self.views(*id, now, minutes)))
            .filter(|(_, views)| *views > 0)
            .collect();
        ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        ranked
    }
}

/// `(comic, views)` of each item of a ranking body.
fn items(body: &Value) -> Vec<(Uuid, i64)> {
    body["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|i| {
            let id = i["comic"]["id"].as_str().unwrap().parse().unwrap();
            (id, i["views"].as_i64().unwrap())
        })
        .collect()
}

/// Every window answer at `now` (whole rankings, a middle page, each comic's
/// stats), each checked against the reference; returned for comparing.
async fn answers(
    app: &TestApp,
    reference: &Reference,
    comics: &[Uuid],
    now: DateTime<Utc>,
) -> Vec<Value> {
    app.set_now(now);
    let mut out = Vec::new();
    for (win, minutes) in WINDOWS {
        let expected = reference.ranking(now, minutes);
        let whole = json(
            app.get(&format!("/rankings/popular?window={win}"), None)
                .await,
            200,
        )
        .await;
        assert_eq!(items(&whole), expected, "{win} at {now}");
        assert_eq!(whole["total"], json!(expected.len()), "{win} at {now}");
        let query = format!("/rankings/popular?window={win}&limit=2&offset=1");
        let page = json(app.get(&query, None).await, 200).await;
        let middle: Vec<_> = expected.iter().skip(1).take(2).copied().collect();
        assert_eq!(items(&page), middle, "{win} page at {now}");
        assert_eq!(page["total"], json!(expected.len()), "{win} page at {now}");
        out.extend([whole, page]);
    }
    for &id in comics {
        let stats = json(app.get(&format!("/comics/{id}/stats"), None).await, 200).await;
        for (win, minutes) in WINDOWS {
            let expected = reference.views(id, now, minutes);
            assert_eq!(stats["views"][win], json!(expected), "{id} {win} at {now}");
        }
        out.push(stats["views"].clone());
    }
    out
}

/// Each window's totals are the histogram's minutes from its mark on, per
/// comic, with no zero rows.
async fn assert_totals_follow_the_marks(pool: &PgPool) {
    let rows: Vec<(String, Uuid, i64)> =
        sqlx::query_as("SELECT win, comic_id, views FROM popularity.windows ORDER BY 1, 2")
            .fetch_all(pool)
            .await
            .unwrap();
    let expected: Vec<(String, Uuid, i64)> = sqlx::query_as(
        "SELECT k.win, m.comic_id, sum(m.views)::int8 FROM popularity.window_marks k \
         JOIN popularity.minutes m ON m.minute >= k.aged_from \
         GROUP BY 1, 2 HAVING sum(m.views) <> 0 ORDER BY 1, 2",
    )
    .fetch_all(pool)
    .await
    .unwrap();
    assert_eq!(rows, expected, "the window totals");
}

/// Cards and catalog comics A..E, and a viewed comic without a card; views
/// on both sides of each window's edge at noon, one in a future minute.
async fn seed(app: &TestApp) -> Vec<Uuid> {
    let mut comics = Vec::new();
    for title in ["A", "B", "C", "D", "E"] {
        let id = app.insert_comic(ComicSeed::titled(title)).await;
        app.insert_popularity_card(&CardSeed {
            id,
            title: title.into(),
        })
        .await;
        comics.push(id);
    }
    let [a, b, c, d, e] = [0, 1, 2, 3, 4].map(|i| comics[i]);
    let (minute, day) = (TimeDelta::minutes(1), TimeDelta::days(1));
    for (id, at, views) in [
        (a, noon() - day, 3),
        (a, noon() - day + minute, 2),
        (a, noon() + minute * 2, 1),
        (b, noon() - day * 7, 6),
        (b, noon() - day * 7 + minute, 4),
        (c, noon() - day * 30, 1),
        (c, noon() - day * 30 + minute, 5),
        (d, noon() - minute, 7),
        (e, noon() - TimeDelta::hours(2), 3),
        (e, noon() - day * 3, 4),
        (Uuid::now_v7(), noon() - minute * 5, 100),
    ] {
        app.view(id, at, views).await;
    }
    comics
}

fn clocks() -> Vec<DateTime<Utc>> {
    let n = noon();
    let (minute, day) = (TimeDelta::minutes(1), TimeDelta::days(1));
    vec![
        n - day * 2,
        n - minute,
        n - TimeDelta::nanoseconds(1),
        n,
        n + TimeDelta::seconds(30),
        n + minute,
        n + minute * 3,
        n + day * 3,
        n + day * 7 + minute,
        n + day * 31,
    ]
}

#[tokio::test]
async fn answers_are_exact_wherever_the_ager_left_the_marks() {
    let app = TestApp::spawn().await;
    let comics = seed(&app).await;
    let reference = Reference::read(&app.popularity).await;
    let pool = app.popularity.clone();

    // Never aged: every mark at -infinity, every answer corrected.
    let mut first = Vec::new();
    for now in clocks() {
        first.push(answers(&app, &reference, &comics, now).await);
    }
    let hour = TimeDelta::hours(1);
    for mark in [
        noon() - hour,
        noon(),
        noon() + hour,
        noon() + TimeDelta::days(40),
    ] {
        assert_eq!(
            ager::age(&pool, "popularity", mark).await.unwrap(),
            3,
            "{mark}"
        );
        assert_totals_follow_the_marks(&pool).await;
        for (now, before) in clocks().into_iter().zip(&first) {
            let now_answers = answers(&app, &reference, &comics, now).await;
            assert_eq!(&now_answers, before, "marks at {mark}, clock at {now}");
        }
    }
}

#[tokio::test]
async fn the_ager_moves_marks_forward_only_and_late_minutes_are_corrected() {
    let app = TestApp::spawn().await;
    let comics = seed(&app).await;
    let pool = app.popularity.clone();
    assert_eq!(ager::age(&pool, "popularity", noon()).await.unwrap(), 3);
    let marks: BTreeMap<String, DateTime<Utc>> =
        sqlx::query_as("SELECT win, aged_from FROM popularity.window_marks")
            .fetch_all(&pool)
            .await
            .unwrap()
            .into_iter()
            .collect();
    for (win, minutes) in WINDOWS {
        let first = windows::first_minute(TimeDelta::minutes(minutes), noon());
        assert_eq!(marks[win], first, "{win}");
    }
    // Not again, and never back.
    assert_eq!(ager::age(&pool, "popularity", noon()).await.unwrap(), 0);
    let back = noon() - TimeDelta::days(2);
    assert_eq!(ager::age(&pool, "popularity", back).await.unwrap(), 0);
    // What left each window left its totals (B's and C's 24h rows fell to
    // zero and are gone).
    assert_totals_follow_the_marks(&pool).await;

    // A late view of a minute before every mark: in the histogram only,
    // and still counted by a read whose window reaches back to it.
    let late = noon() - TimeDelta::days(35);
    app.view(comics[3], late, 9).await;
    assert_totals_follow_the_marks(&pool).await;
    let reference = Reference::read(&pool).await;
    for now in [
        late + TimeDelta::hours(1),
        noon(),
        noon() + TimeDelta::minutes(1),
    ] {
        answers(&app, &reference, &comics, now).await;
    }

    // A view 31 days after noon - 10 days drops the comic's minutes before
    // that (the history kept), taking out of the totals what they still
    // counted.
    let newest = noon() + TimeDelta::days(21);
    for &id in &comics {
        app.view(id, newest, 1).await;
    }
    let oldest: Option<DateTime<Utc>> =
        sqlx::query_scalar("SELECT min(minute) FROM popularity.minutes")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert!(
        oldest.unwrap() >= noon() - TimeDelta::days(10),
        "{oldest:?}"
    );
    assert_totals_follow_the_marks(&pool).await;
    let reference = Reference::read(&pool).await;
    for now in clocks() {
        answers(&app, &reference, &comics, now).await;
    }
}
