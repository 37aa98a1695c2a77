//! `TestApp`: the whole system (`Roles::ALL`) on a free port, and a client
//! with one method per endpoint.

use std::time::Duration;

use chrono::Duration as Ttl;
use comics::Roles;
use reqwest::{Method, Response};
use serde_json::Value;
use tokio_util::sync::CancellationToken;

use super::TestEnv;

pub struct TestApp {
    pub env: TestEnv,
    pub base: String,
    pub http: reqwest::Client,
    pub admin_token: String,
    pub user_token: String,
    shutdown: CancellationToken,
    handle: tokio::task::JoinHandle<()>,
}

impl TestApp {
    pub async fn spawn() -> Self {
        Self::spawn_with(|_| {}).await
    }

    /// [`Self::spawn`] with settings changed by `tune` first.
    pub async fn spawn_with(tune: impl FnOnce(&mut comics_common::Settings)) -> Self {
        Self::spawn_as(Roles::ALL, tune).await
    }

    /// [`Self::spawn_with`] running only `roles` (start the others with
    /// `env.start`).
    pub async fn spawn_as(roles: Roles, tune: impl FnOnce(&mut comics_common::Settings)) -> Self {
        let mut env = TestEnv::new().await;
        tune(&mut env.settings);
        let (port, shutdown, handle) = env.start(roles).await;
        let jwt = env.jwt();
        Self {
            base: format!("http://127.0.0.1:{port}"),
            http: reqwest::Client::builder()
                .timeout(Duration::from_secs(30))
                .build()
                .unwrap(),
            admin_token: jwt.mint("admin-1", &["admin"], Ttl::hours(1)).unwrap(),
            user_token: jwt.mint("user-1", &[], Ttl::hours(1)).unwrap(),
            env,
            shutdown,
            handle,
        }
    }

    /// Stops the application and removes its database and stream.
    pub async fn stop(self) {
        self.shutdown.cancel();
        let _ = tokio::time::timeout(Duration::from_secs(10), self.handle).await;
        self.env.cleanup().await;
    }

    /// A request with an optional bearer token and JSON body.
    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request")
    }

    pub async fn get(&self, path: &str) -> Response {
        self.send(Method::GET, path, None, None).await
    }

    /// A GET that waits for the write behind `token` (X-Consistency-Token).
    pub async fn get_after(&self, path: &str, consistency: &str) -> Response {
        self.http
            .get(format!("{}{path}", self.base))
            .header("x-consistency-token", consistency)
            .send()
            .await
            .expect("request")
    }

    pub async fn create_comic(&self, body: Value) -> Response {
        self.send(
            Method::POST,
            "/api/v1/comics",
            Some(&self.admin_token),
            Some(body),
        )
        .await
    }

    pub async fn patch_comic(&self, id: &str, body: Value) -> Response {
        self.send(
            Method::PATCH,
            &format!("/api/v1/comics/{id}"),
            Some(&self.admin_token),
            Some(body),
        )
        .await
    }

    pub async fn delete_comic(&self, id: &str) -> Response {
        self.send(
            Method::DELETE,
            &format!("/api/v1/comics/{id}"),
            Some(&self.admin_token),
            None,
        )
        .await
    }

    pub async fn create_chapter(&self, comic_id: &str, body: Value) -> Response {
        let path = format!("/api/v1/comics/{comic_id}/chapters");
        self.send(Method::POST, &path, Some(&self.admin_token), Some(body))
            .await
    }

    pub async fn patch_chapter(&self, id: &str, body: Value) -> Response {
        self.send(
            Method::PATCH,
            &format!("/api/v1/chapters/{id}"),
            Some(&self.admin_token),
            Some(body),
        )
        .await
    }

    pub async fn delete_chapter(&self, id: &str) -> Response {
        self.send(
            Method::DELETE,
            &format!("/api/v1/chapters/{id}"),
            Some(&self.admin_token),
            None,
        )
        .await
    }

    /// Creates a comic and returns its id and consistency token.
    pub async fn comic(&self, title: &str) -> (String, String) {
        let r = self.create_comic(serde_json::json!({"title": title})).await;
        assert_eq!(r.status(), 201, "create comic");
        created(r).await
    }

    /// Creates a chapter and returns its id and consistency token.
    pub async fn chapter(&self, comic_id: &str, number: &str) -> (String, String) {
        let r = self
            .create_chapter(comic_id, serde_json::json!({"number": number}))
            .await;
        assert_eq!(r.status(), 201, "create chapter {number}");
        created(r).await
    }
}

/// The id and consistency token of a 201 response.
pub async fn created(r: Response) -> (String, String) {
    let token = consistency(&r);
    let body: Value = r.json().await.expect("json body");
    (body["id"].as_str().expect("id").to_string(), token)
}

pub fn consistency(r: &Response) -> String {
    r.headers()
        .get("x-consistency-token")
        .expect("X-Consistency-Token")
        .to_str()
        .unwrap()
        .to_string()
}

/// Reads, conditional writes and raw requests for the `api_*` tests.
impl TestApp {
    /// A request with any body and `Content-Type` (or none).
    pub async fn send_raw(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        content_type: Option<&str>,
        body: Vec<u8>,
    ) -> Response {
        let mut req = self.http.request(method, format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(ct) = content_type {
            req = req.header("content-type", ct);
        }
        req.body(body).send().await.expect("request")
    }

    /// A JSON PATCH with `If-Match: "<version>"`.
    pub async fn patch_if_match(&self, path: &str, version: &str, body: Value) -> Response {
        self.http
            .patch(format!("{}{path}", self.base))
            .bearer_auth(&self.admin_token)
            .header("if-match", format!("\"{version}\""))
            .json(&body)
            .send()
            .await
            .expect("request")
    }

    pub async fn patch_comic_if_match(&self, id: &str, version: i64, body: Value) -> Response {
        let path = format!("/api/v1/comics/{id}");
        self.patch_if_match(&path, &version.to_string(), body).await
    }

    pub async fn patch_chapter_if_match(&self, id: &str, version: i64, body: Value) -> Response {
        let path = format!("/api/v1/chapters/{id}");
        self.patch_if_match(&path, &version.to_string(), body).await
    }

    /// `GET /api/v1/comics/{id}` after the write behind `consistency`.
    pub async fn get_comic(&self, id: &str, consistency: &str) -> Response {
        self.get_after(&format!("/api/v1/comics/{id}"), consistency)
            .await
    }

    /// `GET /api/v1/chapters/{id}` after the write behind `consistency`.
    pub async fn get_chapter(&self, id: &str, consistency: &str) -> Response {
        self.get_after(&format!("/api/v1/chapters/{id}"), consistency)
            .await
    }

    /// `GET /api/v1/comics/{id}/chapters?{query}` after `consistency`.
    pub async fn list_chapters(&self, comic_id: &str, query: &str, consistency: &str) -> Response {
        let path = format!("/api/v1/comics/{comic_id}/chapters?{query}");
        self.get_after(&path, consistency).await
    }

    /// `GET /api/v1/comics?{query}` after `consistency`.
    pub async fn list_comics(&self, query: &str, consistency: &str) -> Response {
        self.get_after(&format!("/api/v1/comics?{query}"), consistency)
            .await
    }

    /// `GET /api/v1/genres` after `consistency`.
    pub async fn genres(&self, consistency: &str) -> Response {
        self.get_after("/api/v1/genres", consistency).await
    }

    /// Creates a comic from `body` and returns its id and consistency token.
    pub async fn comic_with(&self, body: Value) -> (String, String) {
        let r = self.create_comic(body).await;
        assert_eq!(r.status(), 201, "create comic");
        created(r).await
    }

    /// Creates a chapter from `body` and returns its id and consistency token.
    pub async fn chapter_with(&self, comic_id: &str, body: Value) -> (String, String) {
        let r = self.create_chapter(comic_id, body).await;
        assert_eq!(r.status(), 201, "create chapter");
        created(r).await
    }
}

/// The JSON body of a response that must have `status`.
pub async fn json_with(r: Response, status: u16) -> Value {
    let actual = r.status().as_u16();
    let text = r.text().await.expect("body");
    assert_eq!(actual, status, "unexpected status; body: {text}");
    serde_json::from_str(&text).expect("json body")
}

/// Asserts `r` is an RFC 9457 problem with `status` and returns its body.
pub async fn problem(r: Response, status: u16) -> Value {
    let content_type = r
        .headers()
        .get("content-type")
        .map(|v| v.to_str().unwrap().to_string())
        .unwrap_or_default();
    let body = json_with(r, status).await;
    assert!(
        content_type.starts_with("application/problem+json"),
        "content type {content_type:?} for {body}"
    );
    assert!(body["type"].is_string(), "problem type in {body}");
    assert!(body["title"].is_string(), "problem title in {body}");
    assert_eq!(body["status"], serde_json::json!(status), "problem status");
    body
}

/// The fields named by a 422 problem's `errors`.
pub fn error_fields(problem: &Value) -> Vec<String> {
    problem["errors"]
        .as_array()
        .map(|errors| {
            errors
                .iter()
                .filter_map(|e| e["field"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

impl TestApp {
    /// Waits until the read side reflects every write behind `tokens` (one
    /// consistent read per token), so a list can then be read with the last.
    pub async fn wait_for_all(&self, tokens: &[String]) {
        for token in tokens {
            let r = self.genres(token).await;
            assert_eq!(r.status(), 200, "waiting for a write to be projected");
        }
    }
}

/// Ratings and bookmarks (`api_ratings`, `api_bookmarks`, `rebuild_engagement`).
impl TestApp {
    /// A token for another plain user `sub`, valid for an hour.
    pub fn user(&self, sub: &str) -> String {
        self.env.jwt().mint(sub, &[], Ttl::hours(1)).unwrap()
    }

    /// A GET with an optional bearer token and optional consistency token.
    pub async fn get_as(
        &self,
        path: &str,
        token: Option<&str>,
        consistency: Option<&str>,
    ) -> Response {
        let mut req = self.http.get(format!("{}{path}", self.base));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(c) = consistency {
            req = req.header("x-consistency-token", c);
        }
        req.send().await.expect("request")
    }

    /// `PUT /api/v1/comics/{id}/rating` with any JSON body.
    pub async fn rate_with(&self, token: Option<&str>, comic_id: &str, body: Value) -> Response {
        let path = format!("/api/v1/comics/{comic_id}/rating");
        self.send(Method::PUT, &path, token, Some(body)).await
    }

    /// `PUT /api/v1/comics/{id}/rating` with `{"score": score}` as `token`.
    pub async fn rate_comic(&self, token: &str, comic_id: &str, score: i64) -> Response {
        self.rate_with(Some(token), comic_id, serde_json::json!({ "score": score }))
            .await
    }

    /// Rates and asserts 200; returns the consistency token.
    pub async fn rated(&self, token: &str, comic_id: &str, score: i64) -> String {
        let r = self.rate_comic(token, comic_id, score).await;
        let status = r.status();
        let t = consistency(&r);
        assert_eq!(status, 200, "rate {comic_id} with {score}");
        t
    }

    /// `DELETE /api/v1/comics/{id}/rating` as `token`.
    pub async fn unrate_comic(&self, token: Option<&str>, comic_id: &str) -> Response {
        let path = format!("/api/v1/comics/{comic_id}/rating");
        self.send(Method::DELETE, &path, token, None).await
    }

    /// `GET /api/v1/me/ratings?{query}` as `token`, after `consistency`.
    pub async fn my_ratings(
        &self,
        token: Option<&str>,
        query: &str,
        consistency: Option<&str>,
    ) -> Response {
        self.get_as(&format!("/api/v1/me/ratings?{query}"), token, consistency)
            .await
    }

    /// `GET /api/v1/rankings/top-rated?{query}`, after `consistency`.
    pub async fn top_rated(&self, query: &str, consistency: Option<&str>) -> Response {
        let path = format!("/api/v1/rankings/top-rated?{query}");
        self.get_as(&path, None, consistency).await
    }

    /// `PUT /api/v1/me/bookmarks/{comic_id}` as `token`.
    pub async fn bookmark_comic(&self, token: Option<&str>, comic_id: &str) -> Response {
        let path = format!("/api/v1/me/bookmarks/{comic_id}");
        self.send(Method::PUT, &path, token, None).await
    }

    /// `DELETE /api/v1/me/bookmarks/{comic_id}` as `token`.
    pub async fn unbookmark_comic(&self, token: Option<&str>, comic_id: &str) -> Response {
        let path = format!("/api/v1/me/bookmarks/{comic_id}");
        self.send(Method::DELETE, &path, token, None).await
    }

    /// `GET /api/v1/me/bookmarks?{query}` as `token`, after `consistency`.
    pub async fn my_bookmarks(
        &self,
        token: Option<&str>,
        query: &str,
        consistency: Option<&str>,
    ) -> Response {
        self.get_as(&format!("/api/v1/me/bookmarks?{query}"), token, consistency)
            .await
    }

    /// Waits until the ratings projection reflects every write behind
    /// `tokens` (a consistent top-rated read per token; a 503 is retried
    /// within 60 s).
    pub async fn wait_for_ratings(&self, tokens: &[String]) {
        for token in tokens {
            self.wait_on("/api/v1/rankings/top-rated?limit=1", None, token)
                .await;
        }
    }

    /// Waits until the bookmarks projection reflects every write behind
    /// `tokens` (a consistent `/me/bookmarks` read per token, as `user_token`).
    pub async fn wait_for_bookmarks(&self, tokens: &[String]) {
        for token in tokens {
            let bearer = self.user_token.clone();
            self.wait_on("/api/v1/me/bookmarks?limit=1", Some(&bearer), token)
                .await;
        }
    }

    async fn wait_on(&self, path: &str, bearer: Option<&str>, consistency: &str) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let r = self.get_as(path, bearer, Some(consistency)).await;
            match r.status().as_u16() {
                200 => return,
                503 if tokio::time::Instant::now() < deadline => {}
                status => panic!(
                    "waiting for a write on {path}: {status} {}",
                    r.text().await.unwrap_or_default()
                ),
            }
        }
    }
}

/// Page views and popularity (`api_views`, `rebuild_popularity`).
impl TestApp {
    /// `POST /api/v1/comics/{id}/views` as `token` (anonymous when `None`),
    /// with an optional JSON body.
    pub async fn view_comic(
        &self,
        token: Option<&str>,
        comic_id: &str,
        body: Option<Value>,
    ) -> Response {
        let path = format!("/api/v1/comics/{comic_id}/views");
        self.send(Method::POST, &path, token, body).await
    }

    /// Views `comic_id` (no body) and asserts 202.
    pub async fn viewed(&self, token: Option<&str>, comic_id: &str) {
        let r = self.view_comic(token, comic_id, None).await;
        let status = r.status().as_u16();
        let body = r.text().await.unwrap_or_default();
        assert_eq!(status, 202, "view of {comic_id}: {body}");
    }

    /// `GET /api/v1/comics/{id}/stats`, after `consistency` if given.
    pub async fn comic_stats(&self, comic_id: &str, consistency: Option<&str>) -> Response {
        self.get_as(
            &format!("/api/v1/comics/{comic_id}/stats"),
            None,
            consistency,
        )
        .await
    }

    /// `GET /api/v1/rankings/popular?{query}`, after `consistency` if given.
    pub async fn popular(&self, query: &str, consistency: Option<&str>) -> Response {
        let path = format!("/api/v1/rankings/popular?{query}");
        self.get_as(&path, None, consistency).await
    }
}
