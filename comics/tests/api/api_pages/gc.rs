//! `comics storage gc`: removes the bytes no event names once past the
//! grace period, and keeps everything an event names (replaced pages and
//! covers included).

use crate::support::client::{consistency, json_with, TestApp};

use super::images::{gif, key_of, png};
use super::{comic_and_chapter, post_pages, put_cover, put_page};

#[tokio::test]
async fn gc_removes_orphans_past_the_grace_period_and_keeps_named_bytes() {
    let app = TestApp::spawn().await;
    let (comic, chapter) = comic_and_chapter(&app).await;
    let page = png(10, 10, 300, 1);
    let replaced_page = png(10, 10, 300, 2);
    let (cover, replaced_cover) = (gif(4, 4, 100, 3), gif(4, 4, 100, 4));
    let orphan = png(10, 10, 300, 5);
    json_with(
        put_page(&app, &chapter, "1", "image/png", replaced_page.clone()).await,
        201,
    )
    .await;
    json_with(
        put_page(&app, &chapter, "1", "image/png", page.clone()).await,
        200,
    )
    .await;
    json_with(
        put_cover(&app, &comic, "image/gif", replaced_cover.clone()).await,
        200,
    )
    .await;
    let r = put_cover(&app, &comic, "image/gif", cover.clone()).await;
    let token = consistency(&r);
    json_with(r, 200).await;
    // A multipart refused for its second part leaves the first one stored,
    // named by no event.
    let bad = b"GIF89a".to_vec();
    let r = post_pages(
        &app,
        &chapter,
        &[("file", "image/png", &orphan), ("file", "image/gif", &bad)],
    )
    .await;
    assert_eq!(r.status(), 415);
    let stored = |bytes: &[u8]| app.env.storage_dir.join(key_of(bytes)).exists();
    assert!(
        stored(&orphan),
        "the refused upload's first part was stored"
    );
    // Wait until the catalog shows the last write (gc also reads it).
    json_with(app.get_comic(&comic, &token).await, 200).await;

    let settings = &app.env.settings;
    let report = comics::storage_gc::collect(settings, chrono::Duration::hours(24))
        .await
        .unwrap();
    assert_eq!(
        (report.examined, report.named, report.young, report.removed),
        (5, 4, 1, 0)
    );
    assert!(stored(&orphan), "young orphans are kept");

    let report = comics::storage_gc::collect(settings, chrono::Duration::zero())
        .await
        .unwrap();
    assert_eq!((report.examined, report.named, report.removed), (5, 4, 1));
    assert!(!stored(&orphan), "the orphan is removed");
    for named in [&page, &replaced_page, &cover, &replaced_cover] {
        assert!(stored(named), "bytes an event names are kept");
    }
    let r = app
        .get(&format!("/api/v1/chapters/{chapter}/pages/1"))
        .await;
    assert_eq!(r.bytes().await.unwrap().as_ref(), page.as_slice());
    app.stop().await;
}
