//! The comic document of API.md, as a row of `catalog.comics`.
//!
//! `rating` and `popularity` are not part of it yet: their projections do not
//! exist so far, and the fields are left out rather than faked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The columns of `catalog.comics` that make a [`ComicDocument`].
pub const COLUMNS: &str = "id, title, alt_titles, description, authors, artists, status, type, \
     genres, cover_url, chapter_count, latest_chapter, created_at, updated_at, version";

/// One comic as readers see it (`GET /comics/{id}` and list items).
#[derive(Debug, Clone, Serialize, sqlx::FromRow)]
pub struct ComicDocument {
    pub id: Uuid,
    pub title: String,
    pub alt_titles: Vec<String>,
    pub description: String,
    pub authors: Vec<String>,
    pub artists: Vec<String>,
    pub status: String,
    #[serde(rename = "type")]
    #[sqlx(rename = "type")]
    pub kind: String,
    pub genres: Vec<String>,
    pub cover_url: Option<String>,
    pub chapter_count: i32,
    /// `{"id","number","title","published_at"}` as the projector stored it.
    pub latest_chapter: Option<serde_json::Value>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}
