//! The comic document of API.md: a row of `catalog.comics` plus its
//! `rating` from the ratings projection and its `popularity` (all-time views
//! from the popularity projection, bookmark count from the bookmarks
//! projection), each read separately and merged, since the query stores may
//! live in different databases.

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
    /// Filled in from the popularity and bookmarks projections after the
    /// catalog read.
    #[sqlx(skip)]
    pub popularity: Popularity,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// A comic's `popularity`: all-time views and how many users bookmarked it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Popularity {
    pub views: i64,
    pub bookmarks: i64,
}
