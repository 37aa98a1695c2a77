//! `GET /api/v1/comics?q=` through the whole pipeline: comics created and
//! changed through the command API, projected by the catalog projector (its
//! search text and grams), found by the query API in any script, case- and
//! accent-insensitively.

use crate::support::client::{consistency, json_with};
use crate::support::TestApp;
use serde_json::{json, Value};

/// The titles listed for `q` (percent-encoded here) after `token`'s write.
async fn found(app: &TestApp, q: &str, token: &str) -> Vec<String> {
    let q: String = q.bytes().map(|b| format!("%{b:02X}")).collect();
    let list = json_with(app.list_comics(&format!("q={q}"), token).await, 200).await;
    list["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|c| c["title"].as_str().expect("title").to_string())
        .collect()
}

#[tokio::test]
async fn comics_are_found_by_hangul_alt_titles_and_accented_titles() {
    let app = TestApp::spawn().await;
    let (solo, _) = app
        .comic_with(json!({"title": "Solo Leveling", "alt_titles": ["나 혼자만 레벨업"]}))
        .await;
    let (_, token) = app
        .comic_with(json!({"title": "Pokémon Adventures", "alt_titles": ["ポケモン"]}))
        .await;
    app.wait_for_all(std::slice::from_ref(&token)).await;

    assert_eq!(found(&app, "혼자", &token).await, ["Solo Leveling"]);
    assert_eq!(found(&app, "레벨업", &token).await, ["Solo Leveling"]);
    assert_eq!(found(&app, "pokemon", &token).await, ["Pokémon Adventures"]);
    assert_eq!(found(&app, "POKÉMON", &token).await, ["Pokémon Adventures"]);
    assert_eq!(found(&app, "ケ", &token).await, ["Pokémon Adventures"]);
    assert!(found(&app, "혼자만 레벨업 solo", &token).await.is_empty());

    // A changed alternative title is found, the old one no longer.
    let r = app
        .patch_comic(&solo, json!({"alt_titles": ["俺だけレベルアップな件"]}))
        .await;
    assert_eq!(r.status(), 200, "patch");
    let token = consistency(&r);
    assert!(found(&app, "혼자", &token).await.is_empty());
    assert_eq!(found(&app, "レベル", &token).await, ["Solo Leveling"]);
    assert_eq!(found(&app, "solo", &token).await, ["Solo Leveling"]);
    let _: Value = json_with(app.list_comics("q=", &token).await, 200).await;
    app.stop().await;
}
