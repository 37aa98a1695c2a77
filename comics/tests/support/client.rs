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
        let env = TestEnv::new().await;
        let (port, shutdown, handle) = env.start(Roles::ALL).await;
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
