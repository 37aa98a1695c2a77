//! Page bytes kept in memory by sha256 (`COMICS_IMAGE_CACHE_BYTES`) and page
//! rows kept until their comic changes: a second read needs neither the
//! store nor the catalog, ranges are cut from the kept bytes, and a replaced
//! or deleted page is not served from memory once the catalog says so.

use std::time::Duration;

use reqwest::Method;

use super::images::{key_of, png};
use super::{comic_and_chapter, get_with, pages, put_page};
use crate::metrics::{sample, scrape};
use crate::support::client::{consistency, json_with, problem, TestApp};
use crate::support::eventually;

/// `comics_image_cache_total{outcome}` now (process-wide: other tests move
/// it too, so only growth says something).
async fn image_cache(app: &TestApp, outcome: &str) -> f64 {
    let text = scrape(app).await;
    sample(&text, "comics_image_cache_total", &[("outcome", outcome)]).unwrap_or(0.0)
}

#[tokio::test]
async fn a_page_read_twice_is_served_from_memory_whole_and_in_ranges() {
    let app = TestApp::spawn().await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let image = png(800, 1200, 150_000, 21);
    let r = put_page(&app, &chapter, "1", "image/png", image.clone()).await;
    let token = consistency(&r);
    json_with(r, 201).await;
    pages(&app, &chapter, &token).await;
    let path = format!("/api/v1/chapters/{chapter}/pages/1");

    let misses = image_cache(&app, "miss").await;
    let first = app.get(&path).await;
    assert_eq!(first.status(), 200);
    let first = first.bytes().await.unwrap();
    assert_eq!(first.as_ref(), image.as_slice());
    assert!(
        image_cache(&app, "miss").await > misses,
        "the first read is a miss"
    );

    // The store no longer has the bytes: only memory can answer now.
    std::fs::remove_file(app.env.storage_dir.join(key_of(&image))).unwrap();
    let hits = image_cache(&app, "hit").await;
    let second = app.get(&path).await;
    assert_eq!(second.status(), 200);
    assert_eq!(second.headers()["content-length"], "150000");
    assert_eq!(second.bytes().await.unwrap(), first, "identical bytes");
    assert!(
        image_cache(&app, "hit").await > hits,
        "the second read is a hit"
    );

    let r = get_with(&app, &path, &[("range", "bytes=1000-1999")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.headers()["content-range"], "bytes 1000-1999/150000");
    assert_eq!(r.bytes().await.unwrap().as_ref(), &image[1000..2000]);
    let r = get_with(&app, &path, &[("range", "bytes=-5")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &image[149_995..]);
    let r = get_with(&app, &path, &[("range", "bytes=150000-")]).await;
    assert_eq!(r.status(), 416);
    // The content-addressed URL shares the kept bytes.
    let sha = super::images::sha256_hex(&image);
    let r = app.get(&format!("/api/v1/images/{sha}")).await;
    assert_eq!(r.status(), 200);
    assert_eq!(r.bytes().await.unwrap().as_ref(), image.as_slice());
    let r = get_with(&app, &path, &[("if-none-match", &format!("\"{sha}\""))]).await;
    assert_eq!(r.status(), 304);
    app.stop().await;
}

#[tokio::test]
async fn with_the_image_cache_off_every_read_goes_to_the_store() {
    let app = TestApp::spawn_with(|s| s.image_cache_bytes = 0).await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let image = png(100, 100, 20_000, 22);
    let r = put_page(&app, &chapter, "1", "image/png", image.clone()).await;
    let token = consistency(&r);
    json_with(r, 201).await;
    pages(&app, &chapter, &token).await;
    let path = format!("/api/v1/chapters/{chapter}/pages/1");
    for _ in 0..2 {
        let r = app.get(&path).await;
        assert_eq!(r.status(), 200);
        assert_eq!(r.bytes().await.unwrap().as_ref(), image.as_slice());
    }
    let r = get_with(&app, &path, &[("range", "bytes=10-19")]).await;
    assert_eq!(r.status(), 206);
    assert_eq!(r.bytes().await.unwrap().as_ref(), &image[10..20]);
    // Nothing kept: without the stored bytes the read fails.
    std::fs::remove_file(app.env.storage_dir.join(key_of(&image))).unwrap();
    problem(app.get(&path).await, 500).await;
    app.stop().await;
}

#[tokio::test]
async fn a_kept_page_follows_its_replacement_and_its_chapters_deletion() {
    let app = TestApp::spawn().await;
    let (_, chapter) = comic_and_chapter(&app).await;
    let (first, second) = (png(10, 10, 3000, 23), png(10, 10, 4000, 24));
    let r = put_page(&app, &chapter, "1", "image/png", first.clone()).await;
    let token = consistency(&r);
    json_with(r, 201).await;
    pages(&app, &chapter, &token).await;
    let path = format!("/api/v1/chapters/{chapter}/pages/1");
    for _ in 0..3 {
        let r = app.get(&path).await;
        assert_eq!(r.bytes().await.unwrap().as_ref(), first.as_slice());
    }

    let r = put_page(&app, &chapter, "1", "image/png", second.clone()).await;
    let token = consistency(&r);
    json_with(r, 200).await;
    // With the write's token: the catalog, at once.
    let r = app.get_after(&path, &token).await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), second.as_slice());
    // Without: once the catalog's change is heard, as any cached read.
    eventually(Duration::from_secs(5), || async {
        let r = app.get(&path).await;
        (r.bytes().await.ok()?.as_ref() == second.as_slice()).then_some(())
    })
    .await;

    let admin = Some(app.admin_token.as_str());
    let r = app
        .send(
            Method::DELETE,
            &format!("/api/v1/chapters/{chapter}"),
            admin,
            None,
        )
        .await;
    assert_eq!(r.status(), 204);
    let token = consistency(&r);
    problem(app.get_after(&path, &token).await, 404).await;
    eventually(Duration::from_secs(5), || async {
        (app.get(&path).await.status() == 404).then_some(())
    })
    .await;
    app.stop().await;
}
