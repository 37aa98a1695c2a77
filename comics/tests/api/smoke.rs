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
