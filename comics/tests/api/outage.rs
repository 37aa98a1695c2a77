//! Dependency failures (API.md conventions): a database that ends every
//! connection under load is answered with 503 and `Retry-After`, never 500,
//! on every path (single commands, group commits, views, reads, health), and
//! nothing the service acknowledged is lost once the database is usable again.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use reqwest::Method;
use serde_json::{json, Value};
use sqlx::{Connection, PgConnection};
use tokio_util::sync::CancellationToken;

use crate::support::client::TestApp;
use crate::support::eventually;

const ADMIN_URL: &str = "postgres://postgres@127.0.0.1:5432/postgres";
const LOAD_FOR: Duration = Duration::from_secs(4);
const CLIENTS: usize = 6;

/// Every status seen per route kind, and a sample body of each.
#[derive(Default)]
struct Seen {
    statuses: BTreeMap<(&'static str, u16), usize>,
    samples: BTreeMap<(&'static str, u16), String>,
    missing_retry_after: usize,
}

impl Seen {
    fn note(&mut self, what: &'static str, status: u16, retry_after: bool, body: String) {
        *self.statuses.entry((what, status)).or_default() += 1;
        self.samples.entry((what, status)).or_insert(body);
        if status == 503 && !retry_after {
            self.missing_retry_after += 1;
        }
    }
}

/// Ends every connection to `database` but the caller's, every `every`,
/// until `stop`; returns how many it ended.
async fn terminate_connections(
    database: String,
    every: Duration,
    stop: CancellationToken,
) -> usize {
    let mut admin = PgConnection::connect(ADMIN_URL)
        .await
        .expect("admin connection");
    let mut ended = 0;
    while !stop.is_cancelled() {
        let n: i64 = sqlx::query_scalar(
            "SELECT count(*) FROM (SELECT pg_terminate_backend(pid) FROM pg_stat_activity \
             WHERE datname = $1 AND pid <> pg_backend_pid()) t",
        )
        .bind(&database)
        .fetch_one(&mut admin)
        .await
        .expect("terminate");
        ended += n as usize;
        tokio::time::sleep(every).await;
    }
    ended
}

/// One client's request mix, until `stop`: returns the (comic, user) pairs
/// whose rating was acknowledged.
async fn client(
    app: Arc<TestApp>,
    n: usize,
    comics: Arc<Vec<String>>,
    seen: Arc<Mutex<Seen>>,
    stop: CancellationToken,
) -> Vec<(String, String)> {
    let mut rated = Vec::new();
    let mut i = 0usize;
    while !stop.is_cancelled() {
        i += 1;
        let comic = &comics[(n + i) % comics.len()];
        let user = format!("outage-{n}-{i}");
        let token = app.user(&user);
        let (what, method, path, auth, body): (_, _, String, Option<&str>, _) = match i % 7 {
            0 => (
                "create comic",
                Method::POST,
                "/api/v1/comics".into(),
                Some(&app.admin_token),
                Some(json!({"title": format!("Outage {n}-{i}")})),
            ),
            1 => (
                "rate",
                Method::PUT,
                format!("/api/v1/comics/{comic}/rating"),
                Some(&token),
                Some(json!({"score": 1 + (i % 10)})),
            ),
            2 => (
                "bookmark",
                Method::PUT,
                format!("/api/v1/me/bookmarks/{comic}"),
                Some(&token),
                None,
            ),
            3 => (
                "view",
                Method::POST,
                format!("/api/v1/comics/{comic}/views"),
                Some(&token),
                None,
            ),
            4 => (
                "read comic",
                Method::GET,
                format!("/api/v1/comics/{comic}"),
                None,
                None,
            ),
            5 => (
                "read list",
                Method::GET,
                format!("/api/v1/comics?sort=rating&offset={}", i % 3),
                None,
                None,
            ),
            _ => ("ready", Method::GET, "/health/ready".into(), None, None),
        };
        let r = app.send(method, &path, auth, body).await;
        let status = r.status().as_u16();
        let retry_after = r.headers().contains_key("retry-after");
        if what == "rate" && status == 200 {
            rated.push((comic.clone(), user));
        }
        let text = r.text().await.unwrap_or_default();
        seen.lock().unwrap().note(what, status, retry_after, text);
    }
    rated
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_database_ending_every_connection_under_load_answers_503_never_500_and_loses_nothing() {
    let app = Arc::new(TestApp::spawn().await);
    let mut comics = Vec::new();
    for k in 0..8 {
        let (id, token) = app.comic(&format!("Before {k}")).await;
        assert_eq!(
            app.get_after(&format!("/api/v1/comics/{id}"), &token)
                .await
                .status(),
            200
        );
        comics.push(id);
    }
    let comics = Arc::new(comics);
    let seen = Arc::new(Mutex::new(Seen::default()));
    let stop = CancellationToken::new();
    let killer = tokio::spawn(terminate_connections(
        app.env.database.clone(),
        Duration::from_millis(150),
        stop.clone(),
    ));
    let clients: Vec<_> = (0..CLIENTS)
        .map(|n| {
            tokio::spawn(client(
                app.clone(),
                n,
                comics.clone(),
                seen.clone(),
                stop.clone(),
            ))
        })
        .collect();
    tokio::time::sleep(LOAD_FOR).await;
    stop.cancel();
    let ended = killer.await.unwrap();
    let mut rated = Vec::new();
    for c in clients {
        rated.extend(c.await.unwrap());
    }
    let seen = Arc::try_unwrap(seen).ok().unwrap().into_inner().unwrap();
    let served = |ok: fn(u16) -> bool| {
        seen.statuses
            .iter()
            .filter(|((_, s), _)| ok(*s))
            .map(|(_, n)| n)
            .sum::<usize>()
    };
    let answered = served(|_| true);
    assert!(ended > 0, "no connection was ended");
    let wrong: Vec<_> = seen
        .statuses
        .keys()
        .filter(|(_, s)| ![200, 201, 202, 204, 503].contains(s))
        .map(|k| (k, &seen.samples[k]))
        .collect();
    assert!(
        wrong.is_empty(),
        "answers other than 2xx and 503: {wrong:?}"
    );
    assert_eq!(seen.missing_retry_after, 0, "a 503 without Retry-After");
    assert!(
        served(|s| s < 300) > 0,
        "nothing was served: {:?}",
        seen.statuses
    );
    eprintln!(
        "{answered} answers, {ended} connections ended: {:?}",
        seen.statuses
    );

    // Once the database is left alone, every acknowledged rating is
    // projected (a 503 may or may not have been applied: it is not checked).
    assert!(!rated.is_empty(), "no rating was acknowledged");
    for (comic, user) in &rated {
        let token = app.user(user);
        eventually(Duration::from_secs(30), || async {
            let r = app.my_ratings(Some(&token), "", None).await;
            let mine: Value = r.json().await.ok()?;
            (mine["items"][0]["comic_id"] == json!(comic)).then_some(())
        })
        .await;
    }
    Arc::try_unwrap(app).ok().unwrap().stop().await;
}
