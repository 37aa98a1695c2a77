//! Write rate limits (per token `sub`, per client address when anonymous)
//! and the client's address behind a trusted proxy.

use comics_common::client::TrustedProxies;
use comics_common::rate_limit::{Rate, RateLimitSettings};
use reqwest::Method;
use serde_json::Value;

use crate::support::client::{consistency, problem, TestApp};

const TIGHT: Rate = Rate {
    per_minute: 6,
    burst: 3,
};

async fn bookmark(app: &TestApp, token: &str, comic: &str) -> reqwest::Response {
    let path = format!("/api/v1/me/bookmarks/{comic}");
    app.send(Method::PUT, &path, Some(token), None).await
}

/// An anonymous view from `forwarded_for` (`X-Forwarded-For`, when given).
async fn anonymous_view(
    app: &TestApp,
    comic: &str,
    forwarded_for: Option<&str>,
) -> reqwest::Response {
    let mut req = app
        .http
        .post(format!("{}/api/v1/comics/{comic}/views", app.base));
    if let Some(addr) = forwarded_for {
        req = req.header("x-forwarded-for", addr);
    }
    req.send().await.expect("request")
}

#[tokio::test]
async fn a_flooding_user_gets_429_with_retry_after_while_another_user_is_served() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits = RateLimitSettings {
            user: TIGHT,
            anonymous: TIGHT,
        }
    })
    .await;
    let (comic, token) = app.comic("Limited").await;
    app.wait_for_all(&[token]).await;
    let greedy = app.user("greedy");
    let mut statuses = Vec::new();
    for _ in 0..TIGHT.burst + 2 {
        statuses.push(bookmark(&app, &greedy, &comic).await.status().as_u16());
    }
    assert_eq!(statuses[..3], [204, 204, 204], "{statuses:?}");
    let r = bookmark(&app, &greedy, &comic).await;
    let retry: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=10).contains(&retry), "Retry-After {retry}");
    let p = problem(r, 429).await;
    assert!(p["detail"].as_str().unwrap().contains("retry"), "{p}");
    // Another user, and reads, are not held back by the greedy one.
    assert_eq!(
        bookmark(&app, &app.user("patient"), &comic).await.status(),
        204
    );
    for _ in 0..20 {
        assert_eq!(
            app.get(&format!("/api/v1/comics/{comic}")).await.status(),
            200
        );
    }
    // Anonymous writes count per address: the loopback client floods too.
    let mut anonymous = Vec::new();
    for _ in 0..TIGHT.burst + 1 {
        anonymous.push(anonymous_view(&app, &comic, None).await.status().as_u16());
    }
    assert_eq!(anonymous, [202, 202, 202, 429], "{anonymous:?}");
    // A user's token is its own budget, whatever the address.
    let r = app
        .view_comic(Some(&app.user("reader")), &comic, None)
        .await;
    assert_eq!(r.status(), 202);
    app.stop().await;
}

#[tokio::test]
async fn a_bad_token_is_still_401_and_counts_against_the_address() {
    let app = TestApp::spawn_with(|s| {
        s.rate_limits = RateLimitSettings {
            user: TIGHT,
            anonymous: TIGHT,
        }
    })
    .await;
    let (comic, _) = app.comic("Guarded").await;
    let mut statuses = Vec::new();
    for _ in 0..TIGHT.burst + 1 {
        statuses.push(
            bookmark(&app, "not-a-token", &comic)
                .await
                .status()
                .as_u16(),
        );
    }
    assert_eq!(statuses, [401, 401, 401, 429], "{statuses:?}");
    app.stop().await;
}

/// The total views of `comic` once the view behind `token` is applied.
async fn views_after(app: &TestApp, comic: &str, token: &str) -> i64 {
    let stats: Value = app
        .get_after(&format!("/api/v1/comics/{comic}/stats"), token)
        .await
        .json()
        .await
        .unwrap();
    stats["views"]["total"].as_i64().expect("views")
}

#[tokio::test]
async fn two_anonymous_readers_behind_a_trusted_proxy_count_twice() {
    let app = TestApp::spawn_with(|s| {
        s.trusted_proxies = TrustedProxies::parse("127.0.0.1/32, ::1").unwrap();
    })
    .await;
    let (comic, token) = app.comic("Behind the gateway").await;
    app.wait_for_all(&[token]).await;
    let mut last = String::new();
    for reader in ["198.51.100.1", "198.51.100.2", "198.51.100.1"] {
        let r = anonymous_view(&app, &comic, Some(reader)).await;
        assert_eq!(r.status(), 202);
        last = consistency(&r);
    }
    assert_eq!(views_after(&app, &comic, &last).await, 2);
    app.stop().await;
}

#[tokio::test]
async fn a_forwarded_address_from_an_untrusted_peer_is_ignored() {
    let app = TestApp::spawn().await;
    let (comic, token) = app.comic("Forged").await;
    app.wait_for_all(&[token]).await;
    let mut last = String::new();
    for forged in ["198.51.100.1", "198.51.100.2", "203.0.113.5"] {
        let r = anonymous_view(&app, &comic, Some(forged)).await;
        assert_eq!(r.status(), 202);
        last = consistency(&r);
    }
    assert_eq!(
        views_after(&app, &comic, &last).await,
        1,
        "one peer, one view"
    );
    app.stop().await;
}
