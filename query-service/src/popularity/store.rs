//! Reading the popularity projection: all-time views (`popularity.totals`),
//! views per window from the per-minute histogram (`popularity.minutes`),
//! and the popular ranking over the comic cards of `popularity.comics`.

use std::collections::HashMap;

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::Window;
use crate::listing::Paging;

/// The all-time views of those of `ids` that have any.
#[tracing::instrument(skip_all, fields(comics = ids.len()))]
pub async fn views_for(pool: &PgPool, ids: &[Uuid]) -> Result<HashMap<Uuid, i64>, sqlx::Error> {
    if ids.is_empty() {
        return Ok(HashMap::new());
    }
    let rows: Vec<(Uuid, i64)> = sqlx::query_as(
        "SELECT comic_id, views FROM popularity.totals WHERE comic_id = ANY($1) AND views > 0",
    )
    .bind(ids)
    .fetch_all(pool)
    .await?;
    Ok(rows.into_iter().collect())
}

/// Every comic with views and its all-time views, most viewed first, then by
/// id (the order of `sort=popularity`).
#[tracing::instrument(skip_all)]
pub async fn ranked(pool: &PgPool) -> Result<Vec<(Uuid, i64)>, sqlx::Error> {
    sqlx::query_as(
        "SELECT comic_id, views FROM popularity.totals WHERE views > 0 \
         ORDER BY views DESC, comic_id ASC",
    )
    .fetch_all(pool)
    .await
}

/// A comic's views, all time and per window (`GET /comics/{id}/stats`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow)]
pub struct Views {
    pub total: i64,
    #[serde(rename = "24h")]
    pub day: i64,
    #[serde(rename = "7d")]
    pub week: i64,
    #[serde(rename = "30d")]
    pub month: i64,
}

/// The views of comic `id` at `now` (all zeros for a comic never viewed).
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn views_of(pool: &PgPool, id: Uuid, now: DateTime<Utc>) -> Result<Views, sqlx::Error> {
    let [day, week, month] = [Window::Day, Window::Week, Window::Month]
        .map(|w| w.first_minute(now).expect("a bounded window"));
    // One statement, so the total and the windows are one snapshot.
    sqlx::query_as::<_, Views>(
        "SELECT coalesce((SELECT views FROM popularity.totals WHERE comic_id = $1), 0) AS total, \
           coalesce(sum(views) FILTER (WHERE minute >= $2), 0)::int8 AS day, \
           coalesce(sum(views) FILTER (WHERE minute >= $3), 0)::int8 AS week, \
           coalesce(sum(views), 0)::int8 AS month \
         FROM popularity.minutes WHERE comic_id = $1 AND minute >= $4",
    )
    .bind(id)
    .bind(day)
    .bind(week)
    .bind(month)
    .fetch_one(pool)
    .await
}

/// A row of the popular ranking: the comic's card and its views in the window.
#[derive(Debug, sqlx::FromRow)]
pub struct PopularRow {
    pub comic_id: Uuid,
    pub views: i64,
    pub title: String,
    pub cover_url: Option<String>,
    pub status: String,
    #[sqlx(rename = "type")]
    pub kind: String,
}

/// One page of the comics viewed in `window` at `now`, most viewed first
/// then by id, and how many there are. Only comics with a card in
/// `popularity.comics` and at least one view in the window are ranked.
#[tracing::instrument(skip_all, fields(?window))]
pub async fn popular(
    pool: &PgPool,
    window: Window,
    now: DateTime<Utc>,
    paging: Paging,
) -> Result<(Vec<PopularRow>, i64), sqlx::Error> {
    let first_minute = window.first_minute(now);

    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM (");
    push_viewed(&mut count, first_minute);
    count.push(") v JOIN popularity.comics c ON c.id = v.comic_id");
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page = QueryBuilder::<Postgres>::new(
        "SELECT v.comic_id, v.views, c.title, c.cover_url, c.status, c.type FROM (",
    );
    push_viewed(&mut page, first_minute);
    page.push(
        ") v JOIN popularity.comics c ON c.id = v.comic_id \
         ORDER BY v.views DESC, v.comic_id ASC LIMIT ",
    )
    .push_bind(paging.limit)
    .push(" OFFSET ")
    .push_bind(paging.offset);
    let items = page.build_query_as::<PopularRow>().fetch_all(pool).await?;
    Ok((items, total))
}

/// A subquery of `(comic_id, views)` for every comic with views since
/// `first_minute` (all-time totals when `None`).
fn push_viewed(sql: &mut QueryBuilder<'_, Postgres>, first_minute: Option<DateTime<Utc>>) {
    match first_minute {
        None => {
            sql.push("SELECT comic_id, views FROM popularity.totals WHERE views > 0");
        }
        Some(first) => {
            sql.push(
                "SELECT comic_id, sum(views)::int8 AS views FROM popularity.minutes \
                 WHERE minute >= ",
            )
            .push_bind(first)
            .push(" GROUP BY comic_id HAVING sum(views) > 0");
        }
    }
}
