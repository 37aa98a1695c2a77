//! The comic document of API.md: a row of `catalog.comics` plus its
//! `rating` from the ratings projection (read separately and merged, since
//! the two query stores may live in different databases).
//!
//! `popularity` is not part of it yet: the views projection does not exist
//! so far, and the field is left out rather than faked.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

use crate::ratings::Rating;

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
    /// Filled in from the ratings projection after the catalog read.
    #[sqlx(skip)]
    pub rating: Rating,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}
