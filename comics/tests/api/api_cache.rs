//! The hot-read cache never keeps serving an answer once the projections it
//! came from have changed (reads without a consistency token), except a
//! collection, which under writes is served stale while it is recomputed,
//! at most once per half max age and never past max age.

use std::time::Duration;

use crate::support::client::consistency;
use crate::support::{eventually, TestApp};
use serde_json::{json, Value};

#[tokio::test]
async fn a_cached_comic_shows_a_change_and_then_its_deletion() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Before").await;
    let path = format!("/api/v1/comics/{id}");
    assert_eq!(app.get_after(&path, &token).await.status(), 200);
    // Fill the cache with the current answer.
    for _ in 0..3 {
        let doc: Value = app.get(&path).await.json().await.unwrap();
        assert_eq!(doc["title"], json!("Before"));
    }
    assert_eq!(
        app.patch_comic(&id, json!({"title": "After"}))
            .await
            .status(),
        200
    );
    eventually(Duration::from_secs(10), || async {
        let doc: Value = app.get(&path).await.json().await.ok()?;
        (doc["title"] == json!("After")).then_some(())
    })
    .await;
    assert_eq!(app.delete_comic(&id).await.status(), 204);
    eventually(Duration::from_secs(10), || async {
        (app.get(&path).await.status() == 404).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_cached_ranking_shows_new_ratings() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Ranked").await;
    assert_eq!(
        app.get_after(&format!("/api/v1/comics/{id}"), &token)
            .await
            .status(),
        200
    );
    let empty: Value = app
        .get("/api/v1/rankings/top-rated")
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(empty["items"], json!([]));
    let r = app
        .send(
            reqwest::Method::PUT,
            &format!("/api/v1/comics/{id}/rating"),
            Some(&app.user_token),
            Some(json!({"score": 9})),
        )
        .await;
    assert_eq!(r.status(), 200);
    eventually(Duration::from_secs(10), || async {
        let ranked: Value = app
            .get("/api/v1/rankings/top-rated")
            .await
            .json()
            .await
            .ok()?;
        (ranked["items"][0]["comic"]["id"] == json!(id)).then_some(())
    })
    .await;
    app.stop().await;
}

/// Waits until every projection a comic document reads reflects `tokens`.
async fn settle(app: &TestApp, comic: &str, tokens: &[String]) {
    for token in tokens {
        let r = app
            .get_after(&format!("/api/v1/comics/{comic}"), token)
            .await;
        assert!([200, 404].contains(&r.status().as_u16()), "{}", r.status());
    }
}

/// What the read cache said of an answer (`X-Cache`).
fn how(r: &reqwest::Response) -> String {
    r.headers()
        .get("x-cache")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default()
        .to_string()
}

#[tokio::test]
async fn a_write_to_one_comic_keeps_another_comics_cached_answers_and_refreshes_its_own() {
    let app = TestApp::spawn().await;
    let (x, x_token) = app.comic("X").await;
    let (y, y_token) = app.comic("Y").await;
    settle(&app, &x, &[x_token, y_token]).await;
    let paths = |id: &str| {
        [
            format!("/api/v1/comics/{id}"),
            format!("/api/v1/comics/{id}/stats"),
        ]
    };
    // Kept once computed; the creations' own announcements (each projection
    // that follows Comic events sends one) may still be on their way, so
    // a read they invalidate is computed again.
    for path in paths(&x).iter().chain(&paths(&y)) {
        eventually(Duration::from_secs(5), || async {
            app.get(path).await;
            (how(&app.get(path).await) == "hit").then_some(())
        })
        .await;
    }
    // Rate, view and rename X; each projection announces X alone.
    let rated = app.rated(&app.user_token, &x, 9).await;
    let renamed = consistency(&app.patch_comic(&x, json!({"title": "X2"})).await);
    settle(&app, &x, &[rated, renamed]).await;
    eventually(Duration::from_secs(10), || async {
        let doc = app.get(&paths(&x)[0]).await;
        let doc: Value = doc.json().await.ok()?;
        (doc["title"] == json!("X2") && doc["rating"]["count"] == json!(1)).then_some(())
    })
    .await;
    // Each projection announces its own commit; the stats follow the ratings'.
    eventually(Duration::from_secs(10), || async {
        let stats: Value = app.get(&paths(&x)[1]).await.json().await.ok()?;
        (stats["rating"]["count"] == json!(1)).then_some(())
    })
    .await;
    for path in paths(&y) {
        assert_eq!(
            how(&app.get(&path).await),
            "hit",
            "{path} stayed in the cache"
        );
    }
    app.stop().await;
}

#[tokio::test]
async fn a_cached_comic_shows_the_bayesian_average_as_ratings_elsewhere_move_it() {
    let app = TestApp::spawn().await;
    let (x, x_token) = app.comic("X").await;
    let (y, y_token) = app.comic("Y").await;
    let first = app.rated(&app.user_token, &x, 10).await;
    settle(&app, &x, &[x_token, y_token, first]).await;
    let path = format!("/api/v1/comics/{x}");
    app.get(&path).await;
    assert_eq!(how(&app.get(&path).await), "hit");
    // A low score on Y moves the global mean, so X's Bayesian average.
    let low = app.rated(&app.user("u2"), &y, 1).await;
    let exact: Value = app.get_after(&path, &low).await.json().await.unwrap();
    let cached = eventually(Duration::from_secs(5), || async {
        let r = app.get(&path).await;
        let hit = how(&r) == "hit";
        let doc: Value = r.json().await.ok()?;
        (doc["rating"] == exact["rating"]).then_some(hit)
    })
    .await;
    assert!(cached, "re-rated from the kept answer, not recomputed");
    assert_ne!(exact["rating"]["bayesian"], json!(10.0));
    // Y's deletion takes its low score out of the global mean: X's kept
    // answer follows (X alone rated: its Bayesian average is its own mean).
    let gone = consistency(&app.delete_comic(&y).await);
    let exact: Value = app.get_after(&path, &gone).await.json().await.unwrap();
    assert_eq!(exact["rating"]["bayesian"], json!(10.0));
    eventually(Duration::from_secs(5), || async {
        let doc: Value = app.get(&path).await.json().await.ok()?;
        (doc["rating"] == exact["rating"]).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_deleted_comic_leaves_cached_collections_at_once_whatever_their_max_age() {
    // Collections could be served a minute old: only the deletion's own
    // announcement can take the comic out.
    let app = TestApp::spawn_with(|s| s.read_cache.max_age = Duration::from_secs(60)).await;
    let (x, token) = app.comic("Doomed").await;
    let rated = app.rated(&app.user_token, &x, 7).await;
    settle(&app, &x, &[token, rated]).await;
    let lists = [
        "/api/v1/rankings/top-rated",
        "/api/v1/comics?sort=rating",
        "/api/v1/genres",
    ];
    for path in lists {
        app.get(path).await;
    }
    let ranked: Value = app.get(lists[0]).await.json().await.unwrap();
    assert_eq!(ranked["items"][0]["comic"]["id"], json!(x));
    let gone = consistency(&app.delete_comic(&x).await);
    settle(&app, &x, &[gone]).await;
    eventually(Duration::from_secs(5), || async {
        let ranked: Value = app.get(lists[0]).await.json().await.ok()?;
        let listed: Value = app.get(lists[1]).await.json().await.ok()?;
        (ranked["items"] == json!([]) && listed["total"] == json!(0)).then_some(())
    })
    .await;
    // The document follows the catalog's own announcement of the deletion.
    eventually(Duration::from_secs(5), || async {
        let r = app.get(&format!("/api/v1/comics/{x}")).await;
        (r.status() == 404).then_some(())
    })
    .await;
    app.stop().await;
}

#[tokio::test]
async fn a_cached_answer_echoes_the_request_id_like_any_other() {
    let app = TestApp::spawn().await;
    let (x, token) = app.comic("Echo").await;
    settle(&app, &x, &[token]).await;
    let path = format!("{}/api/v1/comics/{x}", app.base);
    for expected in ["miss", "hit"] {
        let r = app
            .http
            .get(&path)
            .header("x-request-id", "trace-42")
            .send()
            .await
            .unwrap();
        assert_eq!(how(&r), expected);
        assert_eq!(r.headers()["x-request-id"], "trace-42");
    }
    let r = app.get(&format!("/api/v1/comics/{x}")).await;
    assert_eq!(how(&r), "hit");
    assert!(
        r.headers().contains_key("x-request-id"),
        "a fresh id when none was sent"
    );
    app.stop().await;
}

/// One answer of the reader below: when it was asked, what `X-Cache` said,
/// and the ranked comic's vote count it showed.
struct Seen {
    asked: std::time::Instant,
    how: String,
    count: i64,
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_ranking_under_steady_writes_is_served_stale_and_recomputed_within_its_bound() {
    let max_age = Duration::from_millis(1000);
    let app = TestApp::spawn_with(|s| s.read_cache.max_age = max_age).await;
    let (id, created) = app.comic("Steady").await;
    let first = app.rated(&app.user("steady-0"), &id, 8).await;
    settle(&app, &id, &[created, first]).await;
    let path = "/api/v1/rankings/top-rated";
    let count = |ranking: &Value| ranking["items"][0]["rating"]["count"].as_i64();
    eventually(Duration::from_secs(10), || async {
        let r = app.get(path).await;
        let hit = how(&r) == "hit";
        (hit && count(&r.json().await.ok()?) == Some(1)).then_some(())
    })
    .await;

    // For 3 s a new reader rates the comic every 25 ms, while another
    // reads the ranking every 10 ms and, every 300 ms, reads it exactly
    // (with the last rating's consistency token).
    let writing = Duration::from_secs(3);
    let latest = std::sync::Mutex::new(None::<(String, i64)>);
    let writer = async {
        let started = std::time::Instant::now();
        let mut n = 1;
        while started.elapsed() < writing {
            let token = app.rated(&app.user(&format!("steady-{n}")), &id, 8).await;
            n += 1;
            *latest.lock().unwrap() = Some((token, n));
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    };
    let reader = async {
        let started = std::time::Instant::now();
        let (mut seen, mut exact) = (Vec::new(), Vec::new());
        let mut next_exact = started;
        while started.elapsed() < writing + max_age {
            let asked = std::time::Instant::now();
            let r = app.get(path).await;
            let how = how(&r);
            let body: Value = r.json().await.unwrap();
            seen.push(Seen {
                asked,
                how,
                count: count(&body).unwrap(),
            });
            let last = latest.lock().unwrap().clone();
            if let Some((token, votes)) = last.filter(|_| asked >= next_exact) {
                let r = app.get_after(path, &token).await;
                let body: Value = r.json().await.unwrap();
                assert!(count(&body).unwrap() >= votes, "an exact read is exact");
                exact.push((std::time::Instant::now(), votes));
                next_exact = asked + Duration::from_millis(300);
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        (seen, exact)
    };
    let ((), (seen, exact)) = tokio::join!(writer, reader);

    // Served from the cache while it changed, and recomputed at most once
    // per half max age (plus the request-path computations past it).
    let kept = seen.iter().filter(|s| s.how != "miss").count();
    assert!(
        seen.iter().any(|s| s.how == "stale"),
        "no stale answer served"
    );
    let mut counts: Vec<i64> = seen.iter().map(|s| s.count).collect();
    counts.dedup();
    let bound = (writing + max_age).as_millis() / (max_age / 2).as_millis() + 3;
    assert!(
        counts.len() >= 3 && counts.len() as u128 <= bound,
        "{} distinct answers over {} reads ({kept} from the cache), bound {bound}",
        counts.len(),
        seen.len()
    );
    // Never older than max age: once a count was seen exactly, every answer
    // asked for twice max age later (the change listener's delay allowed)
    // shows at least it.
    for (confirmed, votes) in &exact {
        for s in seen.iter().filter(|s| s.asked >= *confirmed + 2 * max_age) {
            assert!(
                s.count >= *votes,
                "an answer ({}) showed {} votes, {votes} were visible {:?} before",
                s.how,
                s.count,
                s.asked - *confirmed
            );
        }
    }
    app.stop().await;
}

#[tokio::test]
async fn stats_read_without_a_token_follow_ratings_views_bookmarks_and_deletions() {
    let app = TestApp::spawn().await;
    let (x, x_token) = app.comic("Seen").await;
    let (y, y_token) = app.comic("Other").await;
    settle(&app, &x, &[x_token, y_token]).await;
    let stats = |id: &str| format!("/api/v1/comics/{id}/stats");
    // Both comics' stats (and their parts) kept.
    for id in [&x, &y] {
        eventually(Duration::from_secs(5), || async {
            app.get(&stats(id)).await;
            (how(&app.get(&stats(id)).await) == "hit").then_some(())
        })
        .await;
    }
    // Each change reads its own part again; the kept ones stay right.
    let shows = |id: String, votes: i64, views: i64, bookmarks: i64| {
        let app = &app;
        async move {
            eventually(Duration::from_secs(10), || async {
                let s: Value = app.get(&stats(&id)).await.json().await.ok()?;
                let now = (
                    s["rating"]["count"].as_i64()?,
                    s["views"]["total"].as_i64()?,
                    s["bookmarks"].as_i64()?,
                );
                (now == (votes, views, bookmarks)).then_some(())
            })
            .await
        }
    };
    app.rated(&app.user_token, &x, 7).await;
    shows(x.clone(), 1, 0, 0).await;
    app.viewed(Some(&app.user("stats-viewer")), &x).await;
    shows(x.clone(), 1, 1, 0).await;
    let r = app.bookmark_comic(Some(&app.user_token), &x).await;
    assert!(r.status().is_success(), "{}", r.status());
    shows(x.clone(), 1, 1, 1).await;
    app.rated(&app.user("stats-rater"), &x, 9).await;
    shows(x.clone(), 2, 1, 1).await;
    shows(y.clone(), 0, 0, 0).await;
    // A deletion: the deleted comic's stats are gone, the other's stay.
    assert_eq!(app.delete_comic(&y).await.status(), 204);
    eventually(Duration::from_secs(10), || async {
        (app.get(&stats(&y)).await.status() == 404).then_some(())
    })
    .await;
    shows(x.clone(), 2, 1, 1).await;
    app.stop().await;
}
