//! `GET /comics` orders: `sort` and `order`.

use crate::helpers::{at, ids, json, TestApp};
use crate::seeds::ComicSeed;

#[tokio::test]
async fn title_sorts_case_insensitively_ascending_by_default() {
    let app = TestApp::spawn().await;
    let banana = app
        .insert_comic(ComicSeed::titled("banana").created(1))
        .await
        .to_string();
    let apple = app
        .insert_comic(ComicSeed::titled("Apple").created(2))
        .await
        .to_string();
    let cherry = app
        .insert_comic(ComicSeed::titled("cherry").created(3))
        .await
        .to_string();

    let asc = json(app.get_comics("sort=title").await, 200).await;
    assert_eq!(ids(&asc), [apple.clone(), banana.clone(), cherry.clone()]);
    let desc = json(app.get_comics("sort=title&order=desc").await, 200).await;
    assert_eq!(ids(&desc), [cherry, banana, apple]);
}

#[tokio::test]
async fn updated_at_sorts_by_the_last_change() {
    let app = TestApp::spawn().await;
    let mut touched = ComicSeed::titled("Touched").created(1);
    touched.updated_at = at(9);
    let touched = app.insert_comic(touched).await.to_string();
    let newer = app
        .insert_comic(ComicSeed::titled("Newer").created(5))
        .await
        .to_string();

    assert_eq!(
        ids(&json(app.get_comics("sort=updated_at").await, 200).await),
        [touched.clone(), newer.clone()]
    );
    assert_eq!(
        ids(&json(app.get_comics("sort=updated_at&order=asc").await, 200).await),
        [newer, touched]
    );
}

#[tokio::test]
async fn unknown_sorts_and_orders_are_bad_requests() {
    let app = TestApp::spawn().await;
    let body = json(app.get_comics("sort=views").await, 400).await;
    assert_eq!(body["errors"][0]["field"], "sort");
    assert!(
        body["detail"].as_str().unwrap().contains("popularity"),
        "{body}"
    );
    json(app.get_comics("order=sideways").await, 400).await;
}
