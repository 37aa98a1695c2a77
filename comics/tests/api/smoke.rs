//! The shortest path through the whole system: write, then read it back.

use crate::support::TestApp;
use serde_json::json;

#[tokio::test]
async fn a_created_comic_can_be_read_back_with_its_consistency_token() {
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Solo Leveling").await;
    let r = app.get_after(&format!("/api/v1/comics/{id}"), &token).await;
    assert_eq!(r.status(), 200);
    let doc: serde_json::Value = r.json().await.unwrap();
    assert_eq!(doc["title"], json!("Solo Leveling"));
    assert_eq!(doc["version"], json!(1));
    app.stop().await;
}

/// The projectors whose stores share a database follow the events stream on
/// one consumer (one wake-up and one transaction per batch for all of
/// them), beside the sealer's.
#[tokio::test]
async fn the_projectors_of_one_database_share_one_consumer_of_the_events_stream() {
    use futures::TryStreamExt;
    let app = TestApp::spawn().await;
    let (id, token) = app.comic("Shared").await;
    let r = app.get_after(&format!("/api/v1/comics/{id}"), &token).await;
    assert_eq!(r.status(), 200);
    let js = async_nats::jetstream::new(app.env.nats().await);
    let stream = js.get_stream(app.env.names().stream()).await.unwrap();
    let mut names: Vec<String> = stream.consumer_names().try_collect().await.unwrap();
    names.sort();
    let projectors: Vec<&String> = names
        .iter()
        .filter(|n| n.as_str() != "audit-sealer")
        .collect();
    assert_eq!(
        projectors,
        ["projectors-catalog-ratings-bookmarks-popularity-plans-thumbnails"],
        "all consumers: {names:?}"
    );
    app.stop().await;
}
