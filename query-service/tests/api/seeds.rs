//! Rows written straight into the query stores, as the projectors would
//! write them.

use chrono::{DateTime, Utc};
use comics_domain::values::{ChapterNumber, SearchText};
use comics_projections::catalog::counts::filter_keys;
use comics_projections::popularity;
use serde_json::Value;
use sqlx::PgPool;
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
        // The search columns as the catalog projector computes them.
        let search = SearchText::of(std::iter::once(&seed.title).chain(&seed.alt_titles));
        sqlx::query(
            "INSERT INTO catalog.comics (id, title, alt_titles, description, authors, artists, \
               status, type, genres, search_text, search_grams, chapter_count, latest_chapter, \
               created_at, updated_at, version) \
             VALUES ($1, $2, $3, 'About it', ARRAY['Chugong'], ARRAY['DUBU'], $4, $5, $6, $7, \
               $11, 2, $8, $9, $10, 3)",
        )
        .bind(seed.id)
        .bind(&seed.title)
        .bind(&seed.alt_titles)
        .bind(seed.status)
        .bind(seed.kind)
        .bind(&seed.genres)
        .bind(search.text)
        .bind(&seed.latest_chapter)
        .bind(seed.created_at)
        .bind(seed.updated_at)
        .bind(search.grams)
        .execute(&self.pool)
        .await
        .expect("insert a comic");
        count_comic(&self.pool, &seed).await;
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

/// A comic card as the ratings and bookmarks projections keep it.
pub struct CardSeed {
    pub id: Uuid,
    pub title: String,
}

impl CardSeed {
    pub fn titled(title: &str) -> Self {
        Self {
            id: Uuid::now_v7(),
            title: title.into(),
        }
    }
}

impl TestApp {
    /// A comic card in `ratings.comics` (the rating reads' comics).
    pub async fn insert_rating_card(&self, card: &CardSeed) {
        insert_card(&self.ratings, "ratings", card).await;
    }

    /// A comic card in `bookmarks.comics`.
    pub async fn insert_bookmark_card(&self, card: &CardSeed) {
        insert_card(&self.bookmarks, "bookmarks", card).await;
    }

    /// `user`'s first score for `comic` (see [`rate`]).
    pub async fn rate(&self, comic: Uuid, user: &str, score: i16, minutes: i64) {
        rate(&self.ratings, comic, user, score, minutes).await;
        rate_in_catalog(&self.pool, comic, score).await;
    }

    /// `user` bookmarked `comic` at `at(minutes)` (the comic's count moves
    /// with it, as the projector does).
    pub async fn bookmark(&self, comic: Uuid, user: &str, minutes: i64) {
        sqlx::query(
            "INSERT INTO bookmarks.bookmarks (user_id, comic_id, bookmarked_at) VALUES ($1, $2, $3)",
        )
        .bind(user)
        .bind(comic)
        .bind(at(minutes))
        .execute(&self.bookmarks)
        .await
        .expect("insert a bookmark");
        sqlx::query(
            "INSERT INTO bookmarks.counts AS c (comic_id, bookmarks) VALUES ($1, 1) \
             ON CONFLICT (comic_id) DO UPDATE SET bookmarks = c.bookmarks + 1",
        )
        .bind(comic)
        .execute(&self.bookmarks)
        .await
        .expect("count a bookmark");
        catalog_figures(&self.pool, comic, "bookmarks = bookmarks + 1").await;
    }

    /// A comic card in `popularity.comics` (the popular ranking's comics).
    pub async fn insert_popularity_card(&self, card: &CardSeed) {
        insert_card(&self.popularity, "popularity", card).await;
    }

    /// The popularity card of a catalog comic, unless it has one: the
    /// projector keeps one for every live comic, and counts views of those
    /// only. (None for a comic the catalog does not have.)
    pub async fn ensure_popularity_card(&self, comic: Uuid) {
        let title: Option<String> =
            sqlx::query_scalar("SELECT title FROM catalog.comics WHERE id = $1")
                .bind(comic)
                .fetch_optional(&self.pool)
                .await
                .expect("read a comic's title");
        let Some(title) = title else { return };
        sqlx::query(
            "INSERT INTO popularity.comics (id, title, cover_url, status, type) \
             VALUES ($1, $2, '/api/v1/comics/' || $1 || '/cover', 'ongoing', 'manga') \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(comic)
        .bind(title)
        .execute(&self.popularity)
        .await
        .expect("insert a popularity card");
    }

    /// `views` views of `comic` in the minute starting at `minute`: added to
    /// the comic's histogram and its all-time total, as the projector does.
    pub async fn view(&self, comic: Uuid, minute: DateTime<Utc>, views: i64) {
        self.ensure_popularity_card(comic).await;
        view(&self.popularity, comic, minute, views).await;
        view_in_catalog(&self.pool, comic, views).await;
    }

    /// `views` views of `comic` in its all-time total only (views whose
    /// minutes have left the 31-day histogram).
    pub async fn view_long_ago(&self, comic: Uuid, views: i64) {
        add_total(&self.popularity, comic, views).await;
        view_in_catalog(&self.pool, comic, views).await;
    }
}

/// `user`'s first score for `comic` (rated at `at(minutes)`), with the
/// comic's statistics and the global totals moved as the projector would.
pub async fn rate(pool: &PgPool, comic: Uuid, user: &str, score: i16, minutes: i64) {
    let mut tx = pool.begin().await.unwrap();
    sqlx::query(
        "INSERT INTO ratings.ratings (comic_id, user_id, score, rated_at) VALUES ($1, $2, $3, $4)",
    )
    .bind(comic)
    .bind(user)
    .bind(score)
    .bind(at(minutes))
    .execute(&mut *tx)
    .await
    .expect("insert a rating");
    let first: bool =
        sqlx::query_scalar("SELECT NOT EXISTS (SELECT 1 FROM ratings.stats WHERE comic_id = $1)")
            .bind(comic)
            .fetch_one(&mut *tx)
            .await
            .unwrap();
    sqlx::query(
        "INSERT INTO ratings.stats AS st (comic_id, votes, score_sum, distribution) \
         VALUES ($1, 1, $2, array_fill(0, ARRAY[10])) \
         ON CONFLICT (comic_id) DO UPDATE SET votes = st.votes + 1, \
           score_sum = st.score_sum + EXCLUDED.score_sum",
    )
    .bind(comic)
    .bind(i64::from(score))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE ratings.stats SET distribution[$2] = distribution[$2] + 1 WHERE comic_id = $1",
    )
    .bind(comic)
    .bind(i32::from(score))
    .execute(&mut *tx)
    .await
    .unwrap();
    sqlx::query(
        "UPDATE ratings.totals SET votes = votes + 1, score_sum = score_sum + $1, \
           rated_comics = rated_comics + $2",
    )
    .bind(i64::from(score))
    .bind(i64::from(first))
    .execute(&mut *tx)
    .await
    .unwrap();
    tx.commit().await.unwrap();
}

/// A first score for `comic` as the catalog projector keeps it: on the
/// comic's row, and in the global totals when the catalog has the comic.
pub async fn rate_in_catalog(catalog: &PgPool, comic: Uuid, score: i16) {
    sqlx::query(
        "WITH up AS (UPDATE catalog.comics SET votes = votes + 1, score_sum = score_sum + $2 \
                     WHERE id = $1 RETURNING votes) \
         UPDATE catalog.rating_totals SET votes = votes + 1, score_sum = score_sum + $2, \
           rated_comics = rated_comics + (SELECT (votes = 1)::int FROM up) \
         WHERE EXISTS (SELECT 1 FROM up)",
    )
    .bind(comic)
    .bind(i64::from(score))
    .execute(catalog)
    .await
    .expect("the catalog's figures of a rating");
}

/// Moves a comic's figures on its catalog row (`set`, with `$1` its id).
async fn catalog_figures(pool: &PgPool, comic: Uuid, set: &str) {
    sqlx::query(&format!("UPDATE catalog.comics SET {set} WHERE id = $1"))
        .bind(comic)
        .execute(pool)
        .await
        .expect("the catalog's figures");
}

/// Counts a new comic as the catalog projector does: in all, by status, by
/// type, by genre and under each filter of up to two of its genres.
async fn count_comic(pool: &PgPool, seed: &ComicSeed) {
    let keys = [
        "all".to_string(),
        format!("status:{}", seed.status),
        format!("type:{}", seed.kind),
    ];
    sqlx::query(
        "INSERT INTO catalog.counts AS c (key, comics) SELECT unnest($1::text[]), 1 \
         ON CONFLICT (key) DO UPDATE SET comics = c.comics + 1",
    )
    .bind(&keys)
    .execute(pool)
    .await
    .expect("count a comic");
    sqlx::query(
        "INSERT INTO catalog.genres AS g (genre, comics) SELECT unnest($1::text[]), 1 \
         ON CONFLICT (genre) DO UPDATE SET comics = g.comics + 1",
    )
    .bind(&seed.genres)
    .execute(pool)
    .await
    .expect("count a comic's genres");
    let filters = filter_keys(&seed.genres, seed.status, seed.kind);
    let column = |i: usize| -> Vec<&str> {
        filters
            .iter()
            .map(|(g1, g2, st, ty)| [g1, g2, st, ty][i].as_str())
            .collect()
    };
    sqlx::query(
        "INSERT INTO catalog.filter_counts AS f (g1, g2, status, type, comics) \
         SELECT *, 1 FROM unnest($1::text[], $2::text[], $3::text[], $4::text[]) \
         ON CONFLICT (g1, g2, status, type) DO UPDATE SET comics = f.comics + 1",
    )
    .bind(column(0))
    .bind(column(1))
    .bind(column(2))
    .bind(column(3))
    .execute(pool)
    .await
    .expect("count a comic under its filters");
}

async fn insert_card(pool: &PgPool, schema: &str, card: &CardSeed) {
    sqlx::query(&format!(
        "INSERT INTO {schema}.comics (id, title, cover_url, status, type) \
         VALUES ($1, $2, '/api/v1/comics/' || $1 || '/cover', 'ongoing', 'manga')"
    ))
    .bind(card.id)
    .bind(&card.title)
    .execute(pool)
    .await
    .expect("insert a comic card");
}

/// `views` views of `comic` in the minute `minute` (histogram and total),
/// and in the rolling window totals whose mark is at or before the minute,
/// with the projector's own statement (the comic's card must be there).
pub async fn view(pool: &PgPool, comic: Uuid, minute: DateTime<Utc>, views: i64) {
    let mut db = pool.acquire().await.unwrap();
    popularity::record_views(&mut db, "popularity", comic, views, &[minute], &[views])
        .await
        .expect("record views");
}

async fn add_total(pool: &PgPool, comic: Uuid, views: i64) {
    sqlx::query(
        "INSERT INTO popularity.totals AS t (comic_id, views) VALUES ($1, $2) \
         ON CONFLICT (comic_id) DO UPDATE SET views = t.views + EXCLUDED.views",
    )
    .bind(comic)
    .bind(views)
    .execute(pool)
    .await
    .expect("add to the total views");
}

/// `views` more views of `comic` on its catalog row, as the catalog
/// projector keeps them.
pub async fn view_in_catalog(catalog: &PgPool, comic: Uuid, views: i64) {
    catalog_figures(catalog, comic, &format!("views = views + {views}")).await;
}
