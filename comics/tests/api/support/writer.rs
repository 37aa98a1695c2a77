//! A second write-side instance in the test process: its own
//! `CommandState` (own in-memory aggregates and group committers) on the
//! test's database, served over HTTP, so tests can both send it commands
//! and count what its stores read.

use std::collections::HashMap;

use comics_command::CommandState;

use super::TestApp;

pub struct Writer {
    pub state: CommandState,
    pub base: String,
}

impl Writer {
    /// Starts one beside `app`, on its database and JWT secret.
    pub async fn beside(app: &TestApp) -> Self {
        let state = CommandState::new(app.env.events_pool().await, app.env.jwt());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a port");
        let base = format!("http://{}", listener.local_addr().expect("address"));
        let router = comics_command::router(state.clone());
        tokio::spawn(async move { axum::serve(listener, router).await });
        Self { state, base }
    }

    /// Statements this instance has run to read comics (single loads and
    /// group-commit rounds' catch-ups).
    pub fn comic_reads(&self) -> u64 {
        self.state.stores.comics.store().reads()
    }

    /// Rounds its rating committer went through.
    pub fn rating_rounds(&self) -> u64 {
        self.state.stores.rating_commits.rounds()
    }

    /// Rounds its bookmark committer went through.
    pub fn bookmark_rounds(&self) -> u64 {
        self.state.stores.bookmark_commits.rounds()
    }

    /// `PUT` on `path` as `token`, with `body` if any; the status.
    pub async fn put(
        &self,
        app: &TestApp,
        path: &str,
        token: &str,
        body: Option<serde_json::Value>,
    ) -> u16 {
        let mut req = app
            .http
            .put(format!("{}{path}", self.base))
            .bearer_auth(token);
        if let Some(b) = body {
            req = req.json(&b);
        }
        req.send().await.expect("request").status().as_u16()
    }
}

/// The metadata a command's events record, for commands sent to a
/// committer directly.
pub fn metadata(actor: &str) -> HashMap<String, String> {
    HashMap::from([("actor".to_string(), actor.to_string())])
}
