//! Cover thumbnails: `GET /comics/{id}/cover?size=256|512` serves the
//! original until the thumbnails projector has made the thumbnail, then the
//! thumbnail (that width, the aspect kept); a rebuild makes the same rows;
//! `storage gc` keeps what the projection names and removes thumbnails of
//! a replaced cover.

use std::io::Cursor;
use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream;
use comics::Roles;
use comics_projections::catalog::CatalogProjector;
use comics_projections::thumbnails::ThumbnailsProjector;
use comics_projections::{Projector, ProjectorRunner};
use comics_storage::Storage;
use serde_json::Value;
use sqlx::PgPool;
use tokio_util::sync::CancellationToken;

use crate::support::client::{consistency, json_with, problem, TestApp};
use crate::support::pipeline::catalog::catalog_pool;
use crate::support::{eventually, TestEnv};

use super::images::{gif, sha256_hex};
use super::put_cover;

/// A real, decodable opaque PNG of `w`×`h` px.
fn real_png(w: u32, h: u32) -> Vec<u8> {
    let image = image::RgbImage::from_fn(w, h, |x, y| {
        image::Rgb([(x * 255 / w) as u8, (y * 255 / h) as u8, 90])
    });
    let mut bytes = Vec::new();
    image
        .write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png)
        .unwrap();
    bytes
}

fn storage(env: &TestEnv) -> Storage {
    Storage::from_url(env.settings.storage_url.as_deref(), &[]).unwrap()
}

/// Runs `projector` against the stream until the token is cancelled.
async fn run(env: &TestEnv, projector: Arc<dyn Projector>, pool: PgPool) -> CancellationToken {
    let runner = ProjectorRunner {
        projectors: vec![projector],
        pool,
        js: jetstream::new(env.nats().await),
        names: env.names(),
    };
    let token = CancellationToken::new();
    let run = runner.run(token.clone());
    tokio::spawn(async move { run.await.expect("projector") });
    token
}

async fn thumbnails_pool(env: &TestEnv) -> PgPool {
    comics_common::db::connect(env.settings.projection_database_url("thumbnails"), 4)
        .await
        .unwrap()
}

async fn rows(pool: &PgPool) -> Vec<Value> {
    sqlx::query_scalar("SELECT to_jsonb(t) FROM thumbnails.thumbnails t ORDER BY comic_id, width")
        .fetch_all(pool)
        .await
        .unwrap()
}

/// The cover bytes at `?size=` (none: the original).
async fn cover(app: &TestApp, comic: &str, size: Option<&str>) -> (String, Vec<u8>) {
    let query = size.map(|s| format!("?size={s}")).unwrap_or_default();
    let r = app
        .get(&format!("/api/v1/comics/{comic}/cover{query}"))
        .await;
    assert_eq!(r.status(), 200);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    (ct, r.bytes().await.unwrap().to_vec())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_cover_thumbnail_appears_after_the_worker_ran_and_survives_rebuild_and_gc() {
    // The catalog projector runs; the thumbnails projector not yet.
    let roles = Roles {
        projectors: false,
        ..Roles::ALL
    };
    let app = TestApp::spawn_as(roles, |_| {}).await;
    let env = &app.env;
    let catalog = run(env, Arc::new(CatalogProjector), catalog_pool(env).await).await;
    let (comic, _) = app.comic("Thumbnailed").await;
    let original = real_png(600, 900);
    let r = put_cover(&app, &comic, "image/png", original.clone()).await;
    let token = consistency(&r);
    json_with(r, 200).await;
    json_with(app.get_comic(&comic, &token).await, 200).await;

    // Bad sizes are refused whatever the state of the thumbnails.
    for bad in ["300", "abc", "-256", "256.0", "256&size=512"] {
        let r = app
            .get(&format!("/api/v1/comics/{comic}/cover?size={bad}"))
            .await;
        let p = problem(r, 400).await;
        assert!(p["detail"].as_str().unwrap().contains("size"), "{p}");
    }
    // No thumbnail yet: the original is served for each size.
    for size in [None, Some("256"), Some("512")] {
        assert_eq!(
            cover(&app, &comic, size).await,
            ("image/png".into(), original.clone())
        );
    }

    let pool = thumbnails_pool(env).await;
    let storage = storage(env);
    let projector = Arc::new(ThumbnailsProjector::new(storage.clone()));
    let worker = run(env, projector.clone(), pool.clone()).await;
    for (size, height) in [("256", 384), ("512", 768)] {
        let thumbnail = eventually(Duration::from_secs(30), || async {
            let (ct, bytes) = cover(&app, &comic, Some(size)).await;
            (bytes != original).then_some((ct, bytes))
        })
        .await;
        assert_eq!(thumbnail.0, "image/jpeg");
        let decoded = image::load_from_memory(&thumbnail.1).unwrap();
        assert_eq!(
            (decoded.width().to_string(), decoded.height()),
            (size.to_string(), height),
            "the width asked for, the aspect kept"
        );
        let r = app
            .get(&format!("/api/v1/comics/{comic}/cover?size={size}"))
            .await;
        let etag = format!("\"{}\"", sha256_hex(&thumbnail.1));
        assert_eq!(r.headers()["etag"].to_str().unwrap(), etag);
    }
    assert_eq!(cover(&app, &comic, None).await.1, original);

    // A rebuild makes the same rows, naming the same stored bytes.
    let live = rows(&pool).await;
    assert_eq!(live.len(), 2);
    let report =
        comics_projections::rebuild::rebuild(&env.events_pool().await, &pool, projector.as_ref())
            .await
            .unwrap();
    assert!(report.events_applied >= 2);
    assert_eq!(rows(&pool).await, live);
    let keys: Vec<String> = live
        .iter()
        .map(|r| r["key"].as_str().unwrap().to_string())
        .collect();

    // gc keeps the thumbnails the projection names.
    let report = comics::storage_gc::collect(&env.settings, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!((report.named, report.removed), (3, 0), "{report:?}");
    for key in &keys {
        assert!(storage.exists(key).await.unwrap(), "{key} is kept");
    }

    // A cover narrower than every size: its rows go, the original is
    // served, and the old thumbnails are collected.
    let small = gif(40, 60, 200, 9);
    let r = put_cover(&app, &comic, "image/gif", small.clone()).await;
    let token = consistency(&r);
    json_with(r, 200).await;
    json_with(app.get_comic(&comic, &token).await, 200).await;
    assert_eq!(
        cover(&app, &comic, Some("256")).await,
        ("image/gif".into(), small.clone())
    );
    eventually(Duration::from_secs(30), || async {
        rows(&pool).await.is_empty().then_some(())
    })
    .await;
    let report = comics::storage_gc::collect(&env.settings, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!((report.named, report.removed), (2, 2), "{report:?}");
    for key in &keys {
        assert!(!storage.exists(key).await.unwrap(), "{key} is collected");
    }
    worker.cancel();
    catalog.cancel();
    app.stop().await;
}

/// Fed by the stream, the projector renders and stores a cover's
/// thumbnails in `prepare`, before the batch's transaction opens, and
/// applying records what was prepared without rendering again: with the
/// cover's bytes gone after preparing, the rows still appear (rendering
/// then would find nothing to render, and make none).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn thumbnails_are_rendered_before_the_transaction_and_applied_from_there() {
    let roles = Roles {
        projectors: false,
        ..Roles::ALL
    };
    let app = TestApp::spawn_as(roles, |_| {}).await;
    let env = &app.env;
    let catalog = run(env, Arc::new(CatalogProjector), catalog_pool(env).await).await;
    let (comic, _) = app.comic("Prepared").await;
    let r = put_cover(&app, &comic, "image/png", real_png(600, 900)).await;
    json_with(r, 200).await;

    let events = env.events_pool().await;
    let mut db = events.acquire().await.unwrap();
    let log = comics_eventlog::record::read_committed_after(
        &mut db,
        comics_eventlog::CommitCursor::default(),
        &["Comic"],
        100,
    )
    .await
    .unwrap();
    let (_, set) = log
        .into_iter()
        .find(|(_, e)| e.event_type == "CoverSet")
        .expect("the CoverSet event");
    let key = set.payload["image"]["key"].as_str().unwrap().to_string();

    let pool = thumbnails_pool(env).await;
    let projector = ThumbnailsProjector::new(storage(env));
    comics_projections::runtime::ensure_schema(&pool, &projector, "thumbnails")
        .await
        .unwrap();
    projector.prepare(&[&set]).await.unwrap();
    // The original's bytes gone: only what was prepared can be recorded.
    let dir = env.settings.storage_url.as_deref().unwrap();
    let path = std::path::Path::new(dir.trim_start_matches("file://")).join(&key);
    std::fs::remove_file(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    comics_projections::runtime::apply_batch(
        &pool,
        &projector,
        "thumbnails",
        &[(None, set.clone())],
    )
    .await
    .unwrap();
    let made = rows(&pool).await;
    assert_eq!(made.len(), 2, "{made:?}");
    let storage = storage(env);
    for row in &made {
        let key = row["key"].as_str().unwrap();
        assert!(storage.exists(key).await.unwrap(), "{key}");
    }
    // Not prepared (as a rebuild applies): rendered while applying, and
    // with the cover's bytes gone, none made.
    sqlx::query("DELETE FROM thumbnails.thumbnails")
        .execute(&pool)
        .await
        .unwrap();
    sqlx::query("DELETE FROM thumbnails.applied")
        .execute(&pool)
        .await
        .unwrap();
    comics_projections::runtime::apply_batch(&pool, &projector, "thumbnails", &[(None, set)])
        .await
        .unwrap();
    assert!(rows(&pool).await.is_empty());
    catalog.cancel();
    app.stop().await;
}
