//! `GET /comics` against references computed here from what the test wrote:
//! every filter and sort, exact totals, cursor walks while comics are added,
//! and the one-read document against the one composed from the separate
//! projections, after every kind of event and after a rebuild.

use std::collections::{BTreeSet, HashMap};
use std::time::Duration;

use comics_projections::catalog::CatalogProjector;
use comics_projections::rebuild::rebuild;
use comics_projections::runtime::read_checkpoint;
use serde_json::{json, Value};
use sqlx::PgPool;

use crate::support::client::{consistency, json_with};
use crate::support::{eventually, TestApp};

const GENRES: [&str; 3] = ["action", "drama", "comedy"];
const STATUSES: [&str; 3] = ["ongoing", "completed", "hiatus"];
const TYPES: [&str; 3] = ["manga", "manhwa", "webtoon"];

/// What the test knows of one comic.
#[derive(Debug, Clone)]
struct Known {
    id: String,
    title: String,
    genres: Vec<&'static str>,
    status: &'static str,
    kind: &'static str,
    created_at: String,
    votes: i64,
    score_sum: i64,
    views: i64,
}

/// Comic `i` of the catalog test: genres, status and type vary with `i`,
/// so every filter selects a different set.
fn body(i: usize) -> (Value, Vec<&'static str>) {
    let genres: Vec<&str> = GENRES
        .iter()
        .enumerate()
        .filter(|(g, _)| (i >> g) & 1 == 1)
        .map(|(_, g)| *g)
        .collect();
    let title = if i.is_multiple_of(2) {
        format!("title {i:02}")
    } else {
        format!("Title {i:02}")
    };
    let body = json!({
        "title": title, "genres": genres,
        "status": STATUSES[i % 3], "type": TYPES[(i / 3) % 3],
    });
    (body, genres)
}

/// Creates `n` comics, rates and views some, and waits until every
/// projection shows it all; returns what it wrote.
async fn seed(app: &TestApp, n: usize) -> Vec<Known> {
    let mut known = Vec::new();
    let mut tokens = Vec::new();
    for i in 0..n {
        let (body, genres) = body(i);
        let (id, token) = app.comic_with(body.clone()).await;
        tokens.push(token);
        known.push(Known {
            id,
            title: body["title"].as_str().unwrap().to_string(),
            genres,
            status: STATUSES[i % 3],
            kind: TYPES[(i / 3) % 3],
            created_at: String::new(),
            votes: 0,
            score_sum: 0,
            views: 0,
        });
    }
    for (i, comic) in known.iter_mut().enumerate() {
        for u in 0..(i % 4) {
            let score = ((i * 3 + u * 5) % 10 + 1) as i64;
            tokens.push(
                app.rated(&app.user(&format!("u{u}")), &comic.id, score)
                    .await,
            );
            comic.votes += 1;
            comic.score_sum += score;
        }
        for u in 0..(i % 3) {
            let r = app
                .view_comic(Some(&app.user(&format!("v{u}"))), &comic.id, None)
                .await;
            assert_eq!(r.status(), 202);
            tokens.push(consistency(&r));
            comic.views += 1;
        }
    }
    for comic in known.iter_mut() {
        let path = format!("/api/v1/comics/{}", comic.id);
        let mut doc = Value::Null;
        for token in &tokens {
            doc = json_with(app.get_after(&path, token).await, 200).await;
        }
        comic.created_at = doc["created_at"].as_str().unwrap().to_string();
    }
    known
}

/// The Bayesian average of each rated comic, as API.md defines it.
fn bayesian(known: &[Known]) -> HashMap<String, f64> {
    let votes: i64 = known.iter().map(|c| c.votes).sum();
    let sum: i64 = known.iter().map(|c| c.score_sum).sum();
    let rated = known.iter().filter(|c| c.votes > 0).count() as f64;
    let (m, a) = (votes as f64 / rated, sum as f64 / votes as f64);
    known
        .iter()
        .filter(|c| c.votes > 0)
        .map(|c| {
            let n = c.votes as f64;
            let avg = c.score_sum as f64 / n;
            (c.id.clone(), (n * avg + m * a) / (n + m))
        })
        .collect()
}

/// The ids `GET /comics` must list for a filter and sort, computed here.
fn reference(
    known: &[Known],
    genres: &[&str],
    (status, kind): (Option<&str>, Option<&str>),
    sort: &str,
    asc: bool,
) -> Vec<String> {
    let bay = bayesian(known);
    let mut hits: Vec<&Known> = known
        .iter()
        .filter(|c| genres.iter().all(|g| c.genres.contains(g)))
        .filter(|c| status.is_none_or(|s| c.status == s))
        .filter(|c| kind.is_none_or(|k| c.kind == k))
        .collect();
    let by_id = |a: &&Known, b: &&Known| a.id.cmp(&b.id);
    hits.sort_by(|a, b| match sort {
        "title" => a
            .title
            .to_lowercase()
            .cmp(&b.title.to_lowercase())
            .then(by_id(a, b)),
        "created_at" => a.created_at.cmp(&b.created_at).then(by_id(a, b)),
        "popularity" => (b.views > 0).cmp(&(a.views > 0)).then_with(|| {
            let ranked = a.views.cmp(&b.views).then(b.id.cmp(&a.id));
            if a.views == 0 {
                by_id(a, b)
            } else if asc {
                ranked
            } else {
                ranked.reverse()
            }
        }),
        _ => (b.votes > 0).cmp(&(a.votes > 0)).then_with(|| {
            let (x, y) = (
                bay.get(&a.id).copied().unwrap_or(0.0),
                bay.get(&b.id).copied().unwrap_or(0.0),
            );
            let ranked = x
                .total_cmp(&y)
                .then(a.votes.cmp(&b.votes))
                .then(b.id.cmp(&a.id));
            if a.votes == 0 {
                by_id(a, b)
            } else if asc {
                ranked
            } else {
                ranked.reverse()
            }
        }),
    });
    if !asc && (sort == "title" || sort == "created_at") {
        hits.reverse();
    }
    hits.into_iter().map(|c| c.id.clone()).collect()
}

fn ids(list: &Value) -> Vec<String> {
    list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["id"].as_str().unwrap().to_string())
        .collect()
}

/// The query string of one list request.
fn list_query(
    genres: &[&str],
    (status, kind): (Option<&str>, Option<&str>),
    sort: &str,
    asc: bool,
) -> String {
    let mut query = format!(
        "limit=100&sort={sort}&order={}",
        if asc { "asc" } else { "desc" }
    );
    if !genres.is_empty() {
        query.push_str(&format!("&genre={}", genres.join(",")));
    }
    if let Some(status) = status {
        query.push_str(&format!("&status={status}"));
    }
    if let Some(kind) = kind {
        query.push_str(&format!("&type={kind}"));
    }
    query
}

#[tokio::test]
async fn every_filter_and_sort_agrees_with_a_reference_and_totals_are_exact() {
    let app = TestApp::spawn().await;
    let known = seed(&app, 24).await;
    let genre_sets: [&[&str]; 5] = [
        &[],
        &["action"],
        &["action", "drama"],
        &["comedy"],
        &["drama", "comedy", "action"],
    ];
    for genres in genre_sets {
        let kinds = [
            (None, None),
            (Some("completed"), None),
            (None, Some("manhwa")),
            (Some("ongoing"), Some("manga")),
        ];
        for kinds in kinds {
            for sort in ["title", "created_at", "rating", "popularity"] {
                for asc in [false, true] {
                    let expected = reference(&known, genres, kinds, sort, asc);
                    let query = list_query(genres, kinds, sort, asc);
                    let list =
                        json_with(app.get(&format!("/api/v1/comics?{query}")).await, 200).await;
                    assert_eq!(ids(&list), expected, "{query}");
                    assert_eq!(list["total"], json!(expected.len()), "{query}");
                    // Page by page: each page is its slice of the whole.
                    for offset in (0..expected.len()).step_by(5).skip(1) {
                        let path = format!("/api/v1/comics?{query}&limit=5&offset={offset}")
                            .replace("limit=100&", "");
                        let page = json_with(app.get(&path).await, 200).await;
                        let end = expected.len().min(offset + 5);
                        assert_eq!(ids(&page), expected[offset..end], "{path}");
                        assert_eq!(page["total"], json!(expected.len()), "{path}");
                    }
                }
            }
        }
    }
    // A change of status moves the kept counts behind the totals.
    let moved = &known[0];
    let patched = app
        .patch_comic(&moved.id, json!({"status": "hiatus"}))
        .await;
    let token = consistency(&patched);
    for (status, change) in [(moved.status, -1i64), ("hiatus", 1)] {
        let before = known.iter().filter(|c| c.status == status).count() as i64;
        let path = format!("/api/v1/comics/{}", moved.id);
        json_with(app.get_after(&path, &token).await, 200).await;
        let list = json_with(
            app.get(&format!("/api/v1/comics?status={status}")).await,
            200,
        )
        .await;
        let expected = before + change;
        assert_eq!(list["total"], json!(expected), "status={status}");
    }
    // A change of genres moves the kept counts of every pair of them.
    let before = |genres: &[&str]| {
        known
            .iter()
            .filter(|c| genres.iter().all(|g| c.genres.contains(g)))
            .count() as i64
    };
    let regenred = known
        .iter()
        .find(|c| c.genres == ["action", "drama"])
        .expect("a comic of action and drama");
    let patched = app
        .patch_comic(&regenred.id, json!({"genres": ["comedy", "drama"]}))
        .await;
    let token = consistency(&patched);
    json_with(
        app.get_after(&format!("/api/v1/comics/{}", regenred.id), &token)
            .await,
        200,
    )
    .await;
    for (genres, change) in [
        (&["action", "drama"][..], -1i64),
        (&["drama", "comedy"][..], 1),
        (&["drama"][..], 0),
        (&["action"][..], -1),
    ] {
        let query = format!("/api/v1/comics?genre={}", genres.join(","));
        let list = json_with(app.get(&query).await, 200).await;
        assert_eq!(list["total"], json!(before(genres) + change), "{query}");
    }
    let bay = bayesian(&known);
    for comic in known.iter().filter(|c| c.votes > 0) {
        let doc = json_with(app.get(&format!("/api/v1/comics/{}", comic.id)).await, 200).await;
        let shown = doc["rating"]["bayesian"].as_f64().unwrap();
        assert!(
            (shown - bay[&comic.id]).abs() < 1e-9,
            "{shown} vs {}",
            bay[&comic.id]
        );
        assert_eq!(doc["popularity"]["views"], json!(comic.views));
    }
    app.stop().await;
}

/// Walks `query` page by page with `after=next`, adding a comic after each
/// page; returns the ids seen, in order.
async fn walk(app: &TestApp, query: &str, added: &mut usize) -> Vec<String> {
    let mut seen = Vec::new();
    let mut after: Option<String> = None;
    loop {
        let path = match &after {
            Some(a) => format!("/api/v1/comics?{query}&limit=7&after={a}"),
            None => format!("/api/v1/comics?{query}&limit=7"),
        };
        let page = json_with(app.get(&path).await, 200).await;
        seen.extend(ids(&page));
        app.comic_with(json!({"title": format!("added {added:02}")}))
            .await;
        *added += 1;
        match page["next"].as_str() {
            Some(next) => after = Some(next.to_string()),
            None => return seen,
        }
    }
}

#[tokio::test]
async fn walking_by_cursor_visits_every_comic_once_while_comics_are_added() {
    let app = TestApp::spawn().await;
    let known = seed(&app, 30).await;
    let mut added = 0;
    for query in [
        "sort=created_at",
        "sort=title",
        "sort=title&order=desc",
        "sort=popularity",
        "sort=rating",
    ] {
        let seen = walk(&app, query, &mut added).await;
        let unique: BTreeSet<&String> = seen.iter().collect();
        assert_eq!(
            unique.len(),
            seen.len(),
            "{query}: a comic was listed twice"
        );
        for comic in &known {
            assert!(
                unique.contains(&comic.id),
                "{query}: {} was skipped",
                comic.title
            );
        }
    }
    let bad = app.get("/api/v1/comics?sort=title&after=bm9wZQ").await;
    assert_eq!(bad.status(), 400);
    app.stop().await;
}

/// Each comic's document composed from the separate projections (catalog
/// fields, ratings statistics and totals, popularity totals, bookmark counts).
async fn composed(pool: &PgPool) -> Vec<Value> {
    sqlx::query_scalar(
        "SELECT json_build_object('id', c.id, 'title', c.title, 'chapter_count', c.chapter_count, \
            'latest_chapter', c.latest_chapter, 'version', c.version, \
            'rating', json_build_object('count', coalesce(s.votes, 0), \
                'average', s.score_sum::float8 / s.votes, \
                'bayesian', (s.votes * (s.score_sum::float8 / s.votes) + g.m * g.a) / (s.votes + g.m)), \
            'popularity', json_build_object('views', coalesce(p.views, 0), 'bookmarks', coalesce(b.bookmarks, 0))) \
         FROM catalog.comics c \
         LEFT JOIN ratings.stats s ON s.comic_id = c.id \
         LEFT JOIN popularity.totals p ON p.comic_id = c.id \
         LEFT JOIN bookmarks.counts b ON b.comic_id = c.id \
         CROSS JOIN (SELECT coalesce(max(votes::float8 / NULLIF(rated_comics, 0)), 0) AS m, \
                            coalesce(max(score_sum::float8 / NULLIF(votes, 0)), 0) AS a FROM ratings.totals) g \
         ORDER BY c.id",
    )
    .fetch_all(pool)
    .await
    .expect("composed documents")
}

/// The documents as served, with the fields `composed` has.
async fn served(app: &TestApp, token: &str, ids: &[String]) -> Vec<Value> {
    let mut docs = Vec::new();
    for id in ids {
        let r = app.get_after(&format!("/api/v1/comics/{id}"), token).await;
        if r.status() == 404 {
            continue;
        }
        let d = json_with(r, 200).await;
        docs.push(json!({
            "id": d["id"], "title": d["title"], "chapter_count": d["chapter_count"],
            "latest_chapter": d["latest_chapter"], "version": d["version"],
            "rating": d["rating"], "popularity": d["popularity"],
        }));
    }
    docs.sort_by(|a, b| a["id"].as_str().cmp(&b["id"].as_str()));
    docs
}

/// Every number as a float: Postgres writes 9.0 as 9.
fn numbers_as_floats(docs: Vec<Value>) -> Vec<Value> {
    fn float(v: Value) -> Value {
        match v {
            Value::Number(n) => json!(n.as_f64()),
            Value::Object(o) => Value::Object(o.into_iter().map(|(k, v)| (k, float(v))).collect()),
            Value::Array(a) => Value::Array(a.into_iter().map(float).collect()),
            v => v,
        }
    }
    docs.into_iter().map(float).collect()
}

/// Waits until the projections `composed` reads besides the catalog have
/// applied as much of the stream as the catalog: a read with the token waits
/// for the catalog alone (the document is one read of it), so they may lag.
async fn caught_up_with_the_catalog(pool: &PgPool) {
    let catalog = read_checkpoint(pool, "catalog").await.expect("checkpoint");
    eventually(Duration::from_secs(30), || async {
        for schema in ["ratings", "popularity", "bookmarks"] {
            if read_checkpoint(pool, schema).await.ok()? < catalog {
                return None;
            }
        }
        Some(())
    })
    .await;
}

async fn same_documents(app: &TestApp, pool: &PgPool, token: &str, ids: &[String], after: &str) {
    // Served first: reading with the token waits until every projection
    // has the write.
    let served = served(app, token, ids).await;
    caught_up_with_the_catalog(pool).await;
    let composed = composed(pool).await;
    assert_eq!(
        numbers_as_floats(served),
        numbers_as_floats(composed),
        "after {after}"
    );
}

#[tokio::test]
async fn the_one_read_document_equals_the_composed_one_after_every_kind_of_event_and_a_rebuild() {
    let app = TestApp::spawn().await;
    let pool = comics_common::db::connect(&app.env.settings.database_url, 4)
        .await
        .unwrap();
    let (x, _) = app.comic("X").await;
    let (y, _) = app.comic("Y").await;
    let ids = [x.clone(), y.clone()];
    let (u1, u2) = (app.user("u1"), app.user("u2"));
    let mut last = String::new();
    for step in 0..11 {
        let (after, token) = match step {
            0 => (
                "patch",
                consistency(&app.patch_comic(&x, json!({"title": "X2"})).await),
            ),
            1 => ("chapter", app.chapter(&x, "1").await.1),
            2 => ("rating", app.rated(&u1, &x, 9).await),
            3 => ("second rating", app.rated(&u2, &y, 3).await),
            4 => ("changed rating", app.rated(&u1, &x, 4).await),
            5 => (
                "removed rating",
                consistency(&app.unrate_comic(Some(&u2), &y).await),
            ),
            6 => (
                "bookmark",
                consistency(&app.bookmark_comic(Some(&u1), &x).await),
            ),
            7 => (
                "unbookmark",
                consistency(&app.unbookmark_comic(Some(&u1), &x).await),
            ),
            8 => (
                "bookmark again",
                consistency(&app.bookmark_comic(Some(&u2), &x).await),
            ),
            9 => (
                "view",
                consistency(&app.view_comic(Some(&u1), &y, None).await),
            ),
            _ => ("deletion", consistency(&app.delete_comic(&y).await)),
        };
        same_documents(&app, &pool, &token, &ids, after).await;
        last = token;
    }
    rebuild(&pool, &pool, &CatalogProjector)
        .await
        .expect("rebuild");
    same_documents(&app, &pool, &last, &ids, "the rebuild").await;
    app.stop().await;
}
