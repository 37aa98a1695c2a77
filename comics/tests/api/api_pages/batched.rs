//! Uploads waiting for their chapter's next commit are committed together:
//! one transaction, each event with its own request's metadata, each answer
//! decided on the state the uploads before it left.

use std::collections::BTreeSet;
use std::time::Duration;

use serde_json::Value;

use super::images::png;
use super::{comic_and_chapter, pages};
use crate::support::client::{consistency, TestApp};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn uploads_waiting_for_a_chapter_commit_together_each_with_its_own_request() {
    let app = TestApp::spawn().await;
    let (comic, chapter) = comic_and_chapter(&app).await;
    let events = app.env.events_pool().await;
    // Another process holds the comic's lock while the uploads arrive.
    let mut other = events.begin().await.unwrap();
    sqlx::query("SELECT pg_advisory_xact_lock(hashtextextended('comic:' || $1::text, 0))")
        .bind(uuid::Uuid::parse_str(&comic).unwrap())
        .execute(&mut *other)
        .await
        .unwrap();
    // Pages 1 to 6, and page 1 twice more.
    let numbers = [1, 2, 3, 4, 5, 6, 1, 1];
    let uploads: Vec<_> = numbers
        .iter()
        .enumerate()
        .map(|(i, n)| {
            let (http, base, token) = (app.http.clone(), app.base.clone(), app.admin_token.clone());
            let url = format!("{base}/api/v1/chapters/{chapter}/pages/{n}");
            let body = png(100, 100, 2000, 100 + i as u8);
            tokio::spawn(async move {
                let r = http
                    .put(url)
                    .bearer_auth(token)
                    .header("content-type", "image/png")
                    .header("x-request-id", format!("batched-{i}"))
                    .body(body)
                    .send()
                    .await
                    .unwrap();
                let status = r.status().as_u16();
                let token = consistency(&r);
                let body: Value = r.json().await.unwrap();
                (status, body["version"].as_i64().unwrap(), token)
            })
        })
        .collect();
    // Every upload is stored and waiting by now.
    tokio::time::sleep(Duration::from_millis(1500)).await;
    other.commit().await.unwrap();
    let mut answers = Vec::new();
    for upload in uploads {
        answers.push(upload.await.unwrap());
    }

    // Each upload has its own version; page 1 was new for one of its three.
    let versions: BTreeSet<i64> = answers.iter().map(|(_, v, _)| *v).collect();
    assert_eq!(versions, (1..=8).collect());
    let created = answers.iter().filter(|(s, _, _)| *s == 201).count();
    let replaced = answers.iter().filter(|(s, _, _)| *s == 200).count();
    assert_eq!((created, replaced), (6, 2), "{answers:?}");

    // One transaction, each event with its own request id.
    let rows: Vec<(String, String)> = sqlx::query_as(
        "SELECT xmin::text, metadata->>'request_id' FROM events \
         WHERE aggregate_type = 'Page' AND aggregate_id = $1",
    )
    .bind(&chapter)
    .fetch_all(&events)
    .await
    .unwrap();
    assert_eq!(rows.len(), 8);
    let transactions: BTreeSet<&str> = rows.iter().map(|(x, _)| x.as_str()).collect();
    assert_eq!(transactions.len(), 1, "{rows:?}");
    let requests: BTreeSet<String> = rows.into_iter().map(|(_, r)| r).collect();
    assert_eq!(requests, (0..8).map(|i| format!("batched-{i}")).collect());

    let newest = answers.iter().max_by_key(|(_, v, _)| *v).unwrap();
    let listed = pages(&app, &chapter, &newest.2).await;
    let listed: Vec<i64> = listed
        .iter()
        .map(|p| p["number"].as_i64().unwrap())
        .collect();
    assert_eq!(listed, vec![1, 2, 3, 4, 5, 6]);
    app.stop().await;
}
