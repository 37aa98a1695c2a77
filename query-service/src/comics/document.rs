//! The comic document of API.md, read whole from one row of
//! `catalog.comics`: the catalog projection keeps each comic's votes, views
//! and bookmarks beside its own fields, and the global vote totals behind the
//! Bayesian average in `catalog.rating_totals`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::postgres::PgRow;
use sqlx::{FromRow, Row};
use uuid::Uuid;

use crate::ratings::Rating;

/// What `SELECT {COLUMNS} FROM {FROM}` reads: a [`ComicDocument`]. The
/// averages are computed as `ratings::stats::RATED` computes them (the same
/// floating-point steps), so documents, stats and rankings agree.
pub const COLUMNS: &str = "c.id, c.title, c.alt_titles, c.description, c.authors, c.artists, \
     c.status, c.type, c.genres, c.cover_url, c.chapter_count, c.latest_chapter, \
     c.created_at, c.updated_at, c.version, c.votes, c.views, c.bookmarks, \
     c.score_sum::float8 / NULLIF(c.votes, 0) AS average, \
     (c.votes * (c.score_sum::float8 / NULLIF(c.votes, 0)) + g.m * g.a) / (c.votes + g.m) AS bayesian";

/// The comics with the global terms of the Bayesian average beside each.
pub const FROM: &str = "catalog.comics c CROSS JOIN \
     (SELECT coalesce(max(votes::float8 / NULLIF(rated_comics, 0)), 0) AS m, \
             coalesce(max(score_sum::float8 / NULLIF(votes, 0)), 0) AS a \
      FROM catalog.rating_totals) g";

/// One comic as readers see it (`GET /comics/{id}` and list items).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ComicDocument {
    pub id: Uuid,
    pub title: String,
    pub alt_titles: Vec<String>,
    pub description: String,
    pub authors: Vec<String>,
    pub artists: Vec<String>,
    pub status: String,
    #[serde(rename = "type")]
    pub kind: String,
    pub genres: Vec<String>,
    pub cover_url: Option<String>,
    pub chapter_count: i32,
    /// `{"id","number","title","published_at"}` as the projector stored it.
    pub latest_chapter: Option<serde_json::Value>,
    pub rating: Rating,
    pub popularity: Popularity,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// A comic's `popularity`: all-time views and how many users bookmarked it.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Popularity {
    pub views: i64,
    pub bookmarks: i64,
}

impl FromRow<'_, PgRow> for ComicDocument {
    fn from_row(row: &PgRow) -> sqlx::Result<Self> {
        let votes: i32 = row.try_get("votes")?;
        let bookmarks: i32 = row.try_get("bookmarks")?;
        Ok(Self {
            id: row.try_get("id")?,
            title: row.try_get("title")?,
            alt_titles: row.try_get("alt_titles")?,
            description: row.try_get("description")?,
            authors: row.try_get("authors")?,
            artists: row.try_get("artists")?,
            status: row.try_get("status")?,
            kind: row.try_get("type")?,
            genres: row.try_get("genres")?,
            cover_url: row.try_get("cover_url")?,
            chapter_count: row.try_get("chapter_count")?,
            latest_chapter: row.try_get("latest_chapter")?,
            rating: Rating {
                average: row.try_get("average")?,
                bayesian: row.try_get("bayesian")?,
                count: votes.into(),
            },
            popularity: Popularity {
                views: row.try_get("views")?,
                bookmarks: bookmarks.into(),
            },
            created_at: row.try_get("created_at")?,
            updated_at: row.try_get("updated_at")?,
            version: row.try_get("version")?,
        })
    }
}
