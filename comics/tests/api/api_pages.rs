//! Pages and covers through the real path (HTTP → object storage and the
//! event store → NATS → catalog projection → HTTP): uploads of each kind,
//! every refusal, replacement, multipart all-or-nothing, ETag/304/Range,
//! `page_count` and `cover_url` following every change (also through a
//! rebuild), cascades on deletion, `storage gc`, the S3 path against a
//! real S3-compatible server (`s3`), cover thumbnails (`thumbnails`) and
//! uploads through a kill -9 (`killed`).

mod batched;
mod cached;
mod gc;
pub mod images;
mod killed;
mod s3;
mod thumbnails;

use std::time::Duration;

use reqwest::{Method, Response};
use serde_json::Value;

use crate::support::client::{consistency, json_with, problem, TestApp};
use images::{gif, jpeg, multipart, png, sha256_hex, webp};

/// `PUT /chapters/{id}/pages/{n}` as admin.
pub async fn put_page(app: &TestApp, chapter: &str, n: &str, ct: &str, body: Vec<u8>) -> Response {
    let path = format!("/api/v1/chapters/{chapter}/pages/{n}");
    app.send_raw(Method::PUT, &path, Some(&app.admin_token), Some(ct), body)
        .await
}

/// `POST /chapters/{id}/pages` with these `(name, content type, bytes)` parts.
pub async fn post_pages(app: &TestApp, chapter: &str, parts: &[(&str, &str, &[u8])]) -> Response {
    let (ct, body) = multipart(parts);
    let path = format!("/api/v1/chapters/{chapter}/pages");
    app.send_raw(Method::POST, &path, Some(&app.admin_token), Some(&ct), body)
        .await
}

pub async fn put_cover(app: &TestApp, comic: &str, ct: &str, body: Vec<u8>) -> Response {
    let path = format!("/api/v1/comics/{comic}/cover");
    app.send_raw(Method::PUT, &path, Some(&app.admin_token), Some(ct), body)
        .await
}

/// A GET with request headers.
pub async fn get_with(app: &TestApp, path: &str, headers: &[(&str, &str)]) -> Response {
    let mut req = app.http.get(format!("{}{path}", app.base));
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    req.send().await.expect("request")
}

/// The page list after the write behind `token`.
pub async fn pages(app: &TestApp, chapter: &str, token: &str) -> Vec<Value> {
    let r = app
        .get_after(&format!("/api/v1/chapters/{chapter}/pages"), token)
        .await;
    json_with(r, 200).await["items"].as_array().unwrap().clone()
}

async fn page_count(app: &TestApp, chapter: &str, token: &str) -> i64 {
    let doc = json_with(app.get_chapter(chapter, token).await, 200).await;
    doc["page_count"].as_i64().unwrap()
}

/// A comic with one chapter: (comic id, chapter id).
pub async fn comic_and_chapter(app: &TestApp) -> (String, String) {
    let (comic, _) = app.comic("Paged").await;
    let (chapter, _) = app.chapter(&comic, "1").await;
    (comic, chapter)
}

#[tokio::test]
async fn a_page_is_created_then_replaced_and_its_bytes_read_back() {
    let app = TestApp::spawn().await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let first = png(800, 1200, 5000, 1);
    let r = put_page(&app, &chapter, "1", "image/png", first.clone()).await;
    assert_eq!(
        r.headers()["location"],
        format!("/api/v1/chapters/{chapter}/pages/1").as_str()
    );
    let token = consistency(&r);
    let created = json_with(r, 201).await;
    assert_eq!(created["sha256"], sha256_hex(&first).as_str());
    let items = pages(&app, &chapter, &token).await;
    assert_eq!(items.len(), 1);
    let page = &items[0];
    assert_eq!(page["number"], 1);
    assert_eq!(page["content_type"], "image/png");
    assert_eq!(
        (page["width"].as_i64(), page["height"].as_i64()),
        (Some(800), Some(1200))
    );
    assert_eq!(page["size"], 5000);
    assert_eq!(page["sha256"], sha256_hex(&first).as_str());
    assert_eq!(
        page["url"],
        format!("/api/v1/images/{}", sha256_hex(&first)).as_str()
    );
    assert_eq!(page_count(&app, &chapter, &token).await, 1);
    let bytes = app
        .get(&format!("/api/v1/chapters/{chapter}/pages/1"))
        .await;
    assert_eq!(bytes.status(), 200);
    assert_eq!(bytes.headers()["content-type"], "image/png");
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), first.as_slice());

    // Replacing: 200, the list names the new bytes, the old ones stay stored.
    let second = jpeg(640, 480, 7000, 2);
    let r = put_page(&app, &chapter, "1", "image/jpeg", second.clone()).await;
    let token = consistency(&r);
    json_with(r, 200).await;
    let items = pages(&app, &chapter, &token).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["sha256"], sha256_hex(&second).as_str());
    assert_eq!(items[0]["content_type"], "image/jpeg");
    assert_eq!(page_count(&app, &chapter, &token).await, 1);
    let bytes = app
        .get(&format!("/api/v1/chapters/{chapter}/pages/1"))
        .await;
    assert_eq!(bytes.bytes().await.unwrap().as_ref(), second.as_slice());
    let old = app.env.storage_dir.join(images::key_of(&first));
    assert_eq!(
        std::fs::read(old).unwrap(),
        first,
        "replaced bytes are kept"
    );

    // Every kind is accepted; identical bytes on two pages are stored once.
    let kinds = [
        ("image/gif", gif(10, 20, 300, 3)),
        ("image/webp", webp(300, 200, 900, 4)),
        ("image/png", first.clone()),
    ];
    let mut token = token;
    for (n, (ct, body)) in kinds.into_iter().enumerate() {
        let r = put_page(&app, &chapter, &(n + 2).to_string(), ct, body).await;
        token = consistency(&r);
        json_with(r, 201).await;
    }
    assert_eq!(page_count(&app, &chapter, &token).await, 4);
    let stored = walk(&app.env.storage_dir.join("images"));
    assert_eq!(stored, 4, "png (twice), jpeg, gif, webp: four objects");
    app.stop().await;
}

/// How many files are under `dir`.
pub fn walk(dir: &std::path::Path) -> usize {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .flatten()
                .map(|e| match e.path().is_dir() {
                    true => walk(&e.path()),
                    false => 1,
                })
                .sum()
        })
        .unwrap_or(0)
}

#[tokio::test]
async fn refused_uploads_name_their_reason_and_store_no_page() {
    let app = TestApp::spawn().await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let cases: Vec<(&str, Vec<u8>, &str)> = vec![
        ("image/png", jpeg(10, 10, 500, 1), "magic bytes"),
        (
            "image/png",
            png(10, 10, 24, 1)[..18].to_vec(),
            "does not decode",
        ),
        ("image/png", png(30_000, 30_000, 2000, 1), "20000"),
        ("image/gif", gif(0, 10, 100, 1), "between 1 and 20000"),
        ("image/svg+xml", b"<svg/>".to_vec(), "is not accepted"),
        ("image/png", Vec::new(), "empty"),
    ];
    for (ct, body, reason) in cases {
        let p = problem(put_page(&app, &chapter, "1", ct, body).await, 415).await;
        let detail = p["detail"].as_str().unwrap();
        assert!(detail.contains(reason), "{reason:?} in {detail:?}");
    }
    // Past 20 MiB: refused from Content-Length, before the body is read.
    let huge = png(100, 100, 21 * 1024 * 1024, 1);
    problem(put_page(&app, &chapter, "1", "image/png", huge).await, 413).await;
    // A page number must be at least 1; an unknown chapter is not found.
    let small = png(10, 10, 100, 1);
    problem(
        put_page(&app, &chapter, "0", "image/png", small.clone()).await,
        422,
    )
    .await;
    let missing = uuid::Uuid::now_v7().to_string();
    problem(
        put_page(&app, &missing, "1", "image/png", small.clone()).await,
        404,
    )
    .await;
    // A multipart part past 20 MiB is refused while it streams in.
    let huge_part = png(100, 100, 21 * 1024 * 1024, 2);
    let r = post_pages(&app, &chapter, &[("file", "image/png", &huge_part)]).await;
    problem(r, 413).await;
    // Admins only.
    let path = format!("/api/v1/chapters/{chapter}/pages/1");
    let r = app
        .send_raw(Method::PUT, &path, None, Some("image/png"), small.clone())
        .await;
    problem(r, 401).await;
    let user = app.user_token.clone();
    let r = app
        .send_raw(
            Method::PUT,
            &path,
            Some(&user),
            Some("image/png"),
            small.clone(),
        )
        .await;
    problem(r, 403).await;
    let cover = format!("/api/v1/chapters/{chapter}/pages");
    let r = app
        .send_raw(Method::DELETE, &cover, Some(&user), None, vec![])
        .await;
    problem(r, 403).await;

    // Nothing above made a page: the next upload is the chapter's first.
    let r = put_page(&app, &chapter, "1", "image/png", small).await;
    let token = consistency(&r);
    json_with(r, 201).await;
    assert_eq!(page_count(&app, &chapter, &token).await, 1);
    app.stop().await;
}

#[tokio::test]
async fn a_multipart_upload_appends_in_part_order_or_not_at_all() {
    let app = TestApp::spawn().await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let (a, b, c) = (png(10, 10, 200, 1), jpeg(20, 20, 300, 2), gif(5, 5, 50, 3));
    let r = post_pages(
        &app,
        &chapter,
        &[("file", "image/png", &a), ("file", "image/jpeg", &b)],
    )
    .await;
    let token = consistency(&r);
    let body = json_with(r, 201).await;
    let numbers: Vec<i64> = body["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2]);
    let items = pages(&app, &chapter, &token).await;
    let shas: Vec<&str> = items
        .iter()
        .map(|p| p["sha256"].as_str().unwrap())
        .collect();
    assert_eq!(shas, vec![sha256_hex(&a), sha256_hex(&b)]);

    // One bad part (the second: a PNG that is not one) → nothing appended.
    let bad = b"not an image at all".to_vec();
    let r = post_pages(
        &app,
        &chapter,
        &[("file", "image/gif", &c), ("file", "image/png", &bad)],
    )
    .await;
    let p = problem(r, 415).await;
    assert!(p["detail"].as_str().unwrap().starts_with("part 2:"), "{p}");
    // No parts, or a part not named `file`: refused too.
    problem(post_pages(&app, &chapter, &[]).await, 422).await;
    problem(
        post_pages(&app, &chapter, &[("other", "image/gif", &c)]).await,
        400,
    )
    .await;

    // Appending goes after the last page, not into gaps.
    let r = put_page(&app, &chapter, "5", "image/gif", c.clone()).await;
    json_with(r, 201).await;
    let r = post_pages(&app, &chapter, &[("file", "image/gif", &c)]).await;
    let token = consistency(&r);
    assert_eq!(json_with(r, 201).await["items"][0]["number"], 6);
    let numbers: Vec<i64> = pages(&app, &chapter, &token)
        .await
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(numbers, vec![1, 2, 5, 6]);
    assert_eq!(page_count(&app, &chapter, &token).await, 4);
    app.stop().await;
}

#[tokio::test]
async fn page_bytes_answer_etags_ranges_and_cache_headers() {
    let app = TestApp::spawn().await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let image = png(100, 100, 1000, 7);
    let sha = sha256_hex(&image);
    let r = put_page(&app, &chapter, "1", "image/png", image.clone()).await;
    let token = consistency(&r);
    pages(&app, &chapter, &token).await;
    let path = format!("/api/v1/chapters/{chapter}/pages/1");

    let r = app.get(&path).await;
    assert_eq!(r.headers()["etag"], format!("\"{sha}\"").as_str());
    assert_eq!(r.headers()["cache-control"], "public, no-cache");
    assert_eq!(r.headers()["accept-ranges"], "bytes");
    let r = get_with(&app, &path, &[("if-none-match", &format!("\"{sha}\""))]).await;
    assert_eq!(r.status(), 304);
    assert!(r.bytes().await.unwrap().is_empty());
    let r = get_with(&app, &path, &[("if-none-match", "\"other\"")]).await;
    assert_eq!(r.status(), 200);

    let r = get_with(&app, &path, &[("range", "bytes=10-19")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 10-19/1000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &image[10..20]);
    let r = get_with(&app, &path, &[("range", "bytes=-4")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &image[996..]);
    let r = get_with(&app, &path, &[("range", "bytes=5000-")]).await;
    assert_eq!(r.status(), 416);
    assert_eq!(r.headers()["content-range"], "bytes */1000");

    // The list's url: content-addressed, immutable for a year.
    let r = app.get(&format!("/api/v1/images/{sha}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(
        r.headers()["cache-control"],
        "public, max-age=31536000, immutable"
    );
    assert_eq!(r.headers()["content-type"], "image/png");
    assert_eq!(r.bytes().await.unwrap().as_ref(), image.as_slice());
    let unknown = "0".repeat(64);
    problem(app.get(&format!("/api/v1/images/{unknown}")).await, 404).await;
    problem(
        app.get(&format!("/api/v1/chapters/{chapter}/pages/2"))
            .await,
        404,
    )
    .await;
    app.stop().await;
}

#[tokio::test]
async fn deleting_pages_chapters_and_comics_takes_their_images_at_once() {
    let app = TestApp::spawn().await;
    let (comic, chapter) = comic_and_chapter(&app).await;
    let (a, b) = (png(10, 10, 100, 1), png(10, 10, 100, 2));
    let r = post_pages(
        &app,
        &chapter,
        &[("file", "image/png", &a), ("file", "image/png", &b)],
    )
    .await;
    json_with(r, 201).await;
    let path = |n: &str| format!("/api/v1/chapters/{chapter}/pages/{n}");
    let admin = Some(app.admin_token.as_str());

    let r = app.send(Method::DELETE, &path("1"), admin, None).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    let items = pages(&app, &chapter, &token).await;
    assert_eq!(items.len(), 1);
    assert_eq!(items[0]["number"], 2, "later pages keep their numbers");
    assert_eq!(page_count(&app, &chapter, &token).await, 1);
    problem(app.get(&path("1")).await, 404).await;
    problem(app.send(Method::DELETE, &path("1"), admin, None).await, 404).await;

    let all = format!("/api/v1/chapters/{chapter}/pages");
    let r = app.send(Method::DELETE, &all, admin, None).await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    assert!(pages(&app, &chapter, &token).await.is_empty());
    assert_eq!(page_count(&app, &chapter, &token).await, 0);

    // A deleted chapter's pages are gone from every read at once.
    let r = put_page(&app, &chapter, "1", "image/png", a.clone()).await;
    json_with(r, 201).await;
    let r = put_cover(&app, &comic, "image/png", b.clone()).await;
    json_with(r, 200).await;
    let r = app.delete_chapter(&chapter).await;
    let token = consistency(&r);
    let r = app.get_after(&all, &token).await;
    problem(r, 404).await;
    problem(app.get(&path("1")).await, 404).await;
    problem(
        app.get(&format!("/api/v1/images/{}", sha256_hex(&a))).await,
        404,
    )
    .await;
    problem(
        put_page(&app, &chapter, "1", "image/png", a.clone()).await,
        404,
    )
    .await;

    // And a deleted comic's cover.
    let cover = format!("/api/v1/comics/{comic}/cover");
    assert_eq!(app.get(&cover).await.status(), 200);
    let r = app.delete_comic(&comic).await;
    let token = consistency(&r);
    problem(app.get_after(&cover, &token).await, 404).await;
    problem(
        app.get(&format!("/api/v1/images/{}", sha256_hex(&b))).await,
        404,
    )
    .await;
    problem(put_cover(&app, &comic, "image/png", b).await, 404).await;
    app.stop().await;
}

#[tokio::test]
async fn cover_url_follows_the_cover_on_documents_lists_rankings_and_bookmarks() {
    let app = TestApp::spawn().await;
    let (comic, _) = app.comic("Covered").await;
    let user = app.user_token.clone();
    let rated = app.rated(&user, &comic, 9).await;
    let r = app.bookmark_comic(Some(&user), &comic).await;
    assert_eq!(r.status(), 204);
    let bookmarked = consistency(&r);
    let r = app.view_comic(None, &comic, None).await;
    assert_eq!(r.status(), 202);
    let viewed = consistency(&r);
    app.wait_for_ratings(&[rated]).await;
    app.wait_for_bookmarks(&[bookmarked]).await;
    json_with(app.popular("window=all", Some(&viewed)).await, 200).await;
    let url = format!("/api/v1/comics/{comic}/cover");
    problem(app.get(&url).await, 404).await;

    let image = jpeg(512, 768, 4000, 9);
    let r = put_cover(&app, &comic, "image/jpeg", image.clone()).await;
    let token = consistency(&r);
    let body = json_with(r, 200).await;
    assert_eq!(body["cover_url"], url.as_str());
    assert_eq!(
        covers(&app, &comic, &token).await,
        vec![Value::from(url.clone()); 5]
    );
    let r = app.get(&url).await;
    assert_eq!(r.headers()["content-type"], "image/jpeg");
    assert_eq!(
        r.headers()["etag"],
        format!("\"{}\"", sha256_hex(&image)).as_str()
    );
    assert_eq!(r.bytes().await.unwrap().as_ref(), image.as_slice());

    // Over 10 MiB, or not an image: refused, the cover stays.
    let big = jpeg(10, 10, 11 * 1024 * 1024, 1);
    problem(put_cover(&app, &comic, "image/jpeg", big).await, 413).await;
    problem(
        put_cover(&app, &comic, "image/webp", image.clone()).await,
        415,
    )
    .await;
    let r = app
        .send_raw(
            Method::PUT,
            &url,
            Some(&user),
            Some("image/jpeg"),
            image.clone(),
        )
        .await;
    problem(r, 403).await;

    let r = app
        .send(Method::DELETE, &url, Some(&app.admin_token), None)
        .await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    assert_eq!(covers(&app, &comic, &token).await, vec![Value::Null; 5]);
    problem(app.get(&url).await, 404).await;
    let r = app
        .send(Method::DELETE, &url, Some(&app.admin_token), None)
        .await;
    problem(r, 404).await;
    app.stop().await;
}

/// The `cover_url` of the comic's document, its list card, its top-rated
/// and popular cards and its bookmark, after the write behind `token`.
async fn covers(app: &TestApp, comic: &str, token: &str) -> Vec<Value> {
    let doc = json_with(app.get_comic(comic, token).await, 200).await;
    let list = json_with(app.list_comics("", token).await, 200).await;
    let top = json_with(app.top_rated("", Some(token)).await, 200).await;
    let popular = json_with(app.popular("window=all", Some(token)).await, 200).await;
    let r = app
        .get_as("/api/v1/me/bookmarks", Some(&app.user_token), Some(token))
        .await;
    let bookmarks = json_with(r, 200).await;
    let card = |items: &Value, at: &[&str]| -> Value {
        let item = items["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|i| {
                let id = at.iter().fold(*i, |v, k| &v[*k]);
                id == comic
            })
            .cloned()
            .unwrap_or_else(|| panic!("{comic} in {items}"));
        match at.len() {
            2 => item[at[0]]["cover_url"].clone(),
            _ => item["cover_url"].clone(),
        }
    };
    vec![
        doc["cover_url"].clone(),
        card(&list, &["id"]),
        card(&top, &["comic", "id"]),
        card(&popular, &["comic", "id"]),
        card(&bookmarks, &["comic_id"]),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_rebuilt_catalog_has_the_same_pages_page_counts_and_covers() {
    use crate::support::pipeline::catalog::{
        assert_same_catalog, catalog_pool, catalog_snapshot, wait_caught_up,
    };
    let app = TestApp::spawn().await;
    let (comic, chapter) = comic_and_chapter(&app).await;
    let (other, _) = app.chapter(&comic, "2").await;
    let (a, b, c) = (png(10, 10, 100, 1), gif(3, 3, 50, 2), jpeg(8, 8, 90, 3));
    let parts: [(&str, &str, &[u8]); 3] = [
        ("file", "image/png", &a),
        ("file", "image/gif", &b),
        ("file", "image/jpeg", &c),
    ];
    json_with(post_pages(&app, &chapter, &parts).await, 201).await;
    json_with(
        put_page(&app, &chapter, "2", "image/png", a.clone()).await,
        200,
    )
    .await;
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/chapters/{chapter}/pages/1"),
            Some(&app.admin_token),
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    json_with(post_pages(&app, &other, &parts[..1]).await, 201).await;
    json_with(put_cover(&app, &comic, "image/gif", b.clone()).await, 200).await;
    let (deleted, _) = app.chapter(&comic, "3").await;
    json_with(
        put_page(&app, &deleted, "1", "image/jpeg", c.clone()).await,
        201,
    )
    .await;
    let r = app.delete_chapter(&deleted).await;
    let token = consistency(&r);
    assert_eq!(page_count(&app, &chapter, &token).await, 2);

    let (events, catalog) = (app.env.events_pool().await, catalog_pool(&app.env).await);
    wait_caught_up(&app.env, &events, &catalog).await;
    let live = catalog_snapshot(&catalog).await;
    assert_eq!(
        live["pages"].len(),
        3,
        "two pages of chapter 1, one of chapter 2"
    );
    comics_projections::rebuild::rebuild(
        &events,
        &catalog,
        &comics_projections::catalog::CatalogProjector,
    )
    .await
    .unwrap();
    assert_same_catalog(&live, &catalog_snapshot(&catalog).await);
    app.stop().await;
}

#[tokio::test]
async fn cached_reads_follow_page_and_cover_changes() {
    use crate::support::eventually;
    let app = TestApp::spawn().await;
    let (comic, chapter) = comic_and_chapter(&app).await;
    let chapter_path = format!("/api/v1/chapters/{chapter}");
    let comic_path = format!("/api/v1/comics/{comic}");
    let read = |path: String| {
        let app = &app;
        async move {
            let r = app.get(&path).await;
            match r.status().as_u16() {
                200 => r.json::<Value>().await.ok(),
                _ => None,
            }
        }
    };
    // Read once without a token (kept by the read cache), then change.
    let seen = eventually(Duration::from_secs(10), || read(chapter_path.clone())).await;
    assert_eq!(seen["page_count"], 0);
    let seen = eventually(Duration::from_secs(10), || read(comic_path.clone())).await;
    assert_eq!(seen["cover_url"], Value::Null);
    json_with(
        put_page(&app, &chapter, "1", "image/png", png(4, 4, 64, 1)).await,
        201,
    )
    .await;
    json_with(
        put_cover(&app, &comic, "image/png", png(4, 4, 64, 2)).await,
        200,
    )
    .await;
    eventually(Duration::from_secs(10), || async {
        let doc = read(chapter_path.clone()).await?;
        (doc["page_count"] == 1).then_some(())
    })
    .await;
    eventually(Duration::from_secs(10), || async {
        let doc = read(comic_path.clone()).await?;
        (doc["cover_url"] == format!("/api/v1/comics/{comic}/cover").as_str()).then_some(())
    })
    .await;
    app.stop().await;
}
