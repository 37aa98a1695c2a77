//! Rows written straight into the catalog query store, as the projector
//! would write them.

use chrono::{DateTime, Utc};
use comics_domain::values::ChapterNumber;
use serde_json::Value;
use uuid::Uuid;

use crate::helpers::{at, TestApp};

pub struct ComicSeed {
    pub id: Uuid,
    pub title: String,
    pub alt_titles: Vec<String>,
    pub genres: Vec<String>,
    pub status: &'static str,
    pub kind: &'static str,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub latest_chapter: Option<Value>,
}

impl ComicSeed {
    pub fn titled(title: &str) -> Self {
        Self {
            id: Uuid::now_v7(),
            title: title.into(),
            alt_titles: Vec::new(),
            genres: Vec::new(),
            status: "ongoing",
            kind: "manga",
            created_at: at(0),
            updated_at: at(0),
            latest_chapter: None,
        }
    }

    pub fn created(mut self, minutes: i64) -> Self {
        self.created_at = at(minutes);
        self.updated_at = at(minutes);
        self
    }

    pub fn genres(mut self, genres: &[&str]) -> Self {
        self.genres = genres.iter().map(|g| g.to_string()).collect();
        self
    }
}

pub struct ChapterSeed {
    pub id: Uuid,
    pub comic_id: Uuid,
    pub number: String,
    pub language: String,
}

impl ChapterSeed {
    pub fn new(comic_id: Uuid, number: &str, language: &str) -> Self {
        Self {
            id: Uuid::now_v7(),
            comic_id,
            number: number.into(),
            language: language.into(),
        }
    }
}

impl TestApp {
    pub async fn insert_comic(&self, seed: ComicSeed) -> Uuid {
        let search_text = std::iter::once(&seed.title)
            .chain(&seed.alt_titles)
            .map(|t| t.to_lowercase())
            .collect::<Vec<_>>()
            .join("\n");
        sqlx::query(
            "INSERT INTO catalog.comics (id, title, alt_titles, description, authors, artists, \
               status, type, genres, search_text, chapter_count, latest_chapter, created_at, \
               updated_at, version) \
             VALUES ($1, $2, $3, 'About it', ARRAY['Chugong'], ARRAY['DUBU'], $4, $5, $6, $7, \
               2, $8, $9, $10, 3)",
        )
        .bind(seed.id)
        .bind(&seed.title)
        .bind(&seed.alt_titles)
        .bind(seed.status)
        .bind(seed.kind)
        .bind(&seed.genres)
        .bind(search_text)
        .bind(&seed.latest_chapter)
        .bind(seed.created_at)
        .bind(seed.updated_at)
        .execute(&self.pool)
        .await
        .expect("insert a comic");
        seed.id
    }

    pub async fn insert_chapter(&self, seed: ChapterSeed) -> Uuid {
        let sort_key = ChapterNumber::parse(&seed.number)
            .expect("a chapter number")
            .sort_key();
        sqlx::query(
            "INSERT INTO catalog.chapters (id, comic_id, number, number_sort, title, volume, \
               language, page_count, published_at, created_at, updated_at, version) \
             VALUES ($1, $2, $3, $4, 'Chapter ' || $3, NULL, $5, 24, $6, $6, $7, 1)",
        )
        .bind(seed.id)
        .bind(seed.comic_id)
        .bind(&seed.number)
        .bind(sort_key)
        .bind(&seed.language)
        .bind(at(10))
        .bind(at(20))
        .execute(&self.pool)
        .await
        .expect("insert a chapter");
        seed.id
    }
}
