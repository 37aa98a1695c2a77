//! The chapter document of API.md: a row of `catalog.chapters`, plus its
//! neighbours in reading order on `GET /chapters/{id}`.

use chrono::{DateTime, Utc};
use serde::Serialize;
use uuid::Uuid;

/// The columns of `catalog.chapters` (aliased `ch`) that make a [`ChapterSummary`].
pub const COLUMNS: &str = "ch.id, ch.comic_id, ch.number, ch.title, ch.volume, ch.language, \
     ch.page_count, ch.published_at, ch.created_at, ch.updated_at, ch.version";

/// A chapter without its neighbours (the items of a comic's chapter list).
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct ChapterSummary {
    pub id: Uuid,
    pub comic_id: Uuid,
    pub number: String,
    pub title: Option<String>,
    pub volume: Option<String>,
    pub language: String,
    pub page_count: i32,
    pub published_at: DateTime<Utc>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

/// The previous or next chapter of the same comic and language.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct Neighbour {
    pub id: Uuid,
    pub number: String,
}

/// One chapter as readers see it (`GET /chapters/{id}`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ChapterDocument {
    #[serde(flatten)]
    pub chapter: ChapterSummary,
    pub prev: Option<Neighbour>,
    pub next: Option<Neighbour>,
}

/// A chapter row joined with its neighbours' ids and numbers.
#[derive(Debug, sqlx::FromRow)]
pub struct ChapterRow {
    #[sqlx(flatten)]
    pub chapter: ChapterSummary,
    pub prev_id: Option<Uuid>,
    pub prev_number: Option<String>,
    pub next_id: Option<Uuid>,
    pub next_number: Option<String>,
}

impl From<ChapterRow> for ChapterDocument {
    fn from(row: ChapterRow) -> Self {
        let neighbour = |id: Option<Uuid>, number: Option<String>| {
            Some(Neighbour {
                id: id?,
                number: number?,
            })
        };
        Self {
            chapter: row.chapter,
            prev: neighbour(row.prev_id, row.prev_number),
            next: neighbour(row.next_id, row.next_number),
        }
    }
}
