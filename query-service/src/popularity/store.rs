//! Reading the popularity projection: all-time views (`popularity.totals`),
//! views per window, and the popular ranking over the comic cards of
//! `popularity.comics`.
//!
//! Views per window come from the rolling totals `popularity.windows`, which
//! count each comic's minutes from the window's mark
//! (`popularity.window_marks.aged_from`, moved forward by the projection's
//! ager) on. A read at `now` wants the minutes from the window's first minute
//! `F` on; when the mark `A` is elsewhere it corrects exactly, per comic, by
//! the histogram minutes in between: less those in `[A, F)` when `F > A`,
//! plus those in `[F, A)` when `F < A`. The ager keeps `A` within a minute or
//! two of the wall clock's `F`, so the correction reads a bounded number of
//! rows; every statement reads totals, mark and minutes in one snapshot.

use chrono::{DateTime, Utc};
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use super::Window;
use crate::listing::Paging;

/// A comic's views, all time and per window (`GET /comics/{id}/stats`).
#[derive(
    Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, sqlx::FromRow, utoipa::ToSchema,
)]
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
    sqlx::query_as::<_, Views>(&format!(
        "SELECT coalesce((SELECT views FROM popularity.totals WHERE comic_id = $1), 0) AS total, \
           {} AS day, {} AS week, {} AS month",
        window_views("24h", "$2"),
        window_views("7d", "$3"),
        window_views("30d", "$4"),
    ))
    .bind(id)
    .bind(day)
    .bind(week)
    .bind(month)
    .fetch_one(pool)
    .await
}

/// An expression for comic `$1`'s views in window `win` from the minute
/// `first` on: its rolling total, corrected from the mark to `first`.
fn window_views(win: &str, first: &str) -> String {
    format!(
        "coalesce((SELECT coalesce((SELECT views FROM popularity.windows \
                                    WHERE comic_id = $1 AND win = k.win), 0) \
             + coalesce((SELECT sum(m.views) * CASE WHEN {first} > k.aged_from THEN -1 ELSE 1 END \
                         FROM popularity.minutes m WHERE m.comic_id = $1 \
                           AND m.minute >= least(k.aged_from, {first}) \
                           AND m.minute < greatest(k.aged_from, {first})), 0) \
           FROM popularity.window_marks k WHERE k.win = '{win}'), 0)::int8"
    )
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
    let (Some(win), Some(first)) = (window.key(), window.first_minute(now)) else {
        return all_time(pool, paging).await;
    };
    let total: i64 = sqlx::query_scalar(&format!("{CORRECTION} {COUNT}"))
        .bind(win)
        .bind(first)
        .fetch_one(pool)
        .await?;
    let items = sqlx::query_as::<_, PopularRow>(&format!("{CORRECTION} {PAGE}"))
        .bind(win)
        .bind(first)
        .bind(paging.limit)
        .bind(paging.offset)
        .fetch_all(pool)
        .await?;
    Ok((items, total))
}

/// Window `$1`'s mark, and `delta`: per comic, what to add to its rolling
/// total for the window to start at minute `$2` (empty when the mark is
/// there). The mark is a one-row scalar, so the histogram is read by a range
/// scan of its minute index.
const CORRECTION: &str =
    "WITH mark AS (SELECT aged_from FROM popularity.window_marks WHERE win = $1), \
     delta AS (SELECT m.comic_id, (sum(m.views) \
                 * CASE WHEN $2 > (SELECT aged_from FROM mark) THEN -1 ELSE 1 END)::int8 AS views \
               FROM popularity.minutes m \
               WHERE m.minute >= least((SELECT aged_from FROM mark), $2) \
                 AND m.minute < greatest((SELECT aged_from FROM mark), $2) \
               GROUP BY m.comic_id)";

/// How many ranked comics there are: those with positive totals, less the
/// corrected ones that were, plus the corrected ones that are.
const COUNT: &str = "SELECT (SELECT count(*) FROM popularity.windows w \
         JOIN popularity.comics c ON c.id = w.comic_id WHERE w.win = $1 AND w.views > 0) \
     + (SELECT count(*) FILTER (WHERE coalesce(w.views, 0) + d.views > 0) \
             - count(*) FILTER (WHERE coalesce(w.views, 0) > 0) \
        FROM delta d JOIN popularity.comics c ON c.id = d.comic_id \
        LEFT JOIN popularity.windows w ON w.comic_id = d.comic_id AND w.win = $1)";

/// A page (`$3` rows after `$4`). Without correction, the first `$3 + $4`
/// rolling totals in index order. With it, a comic not corrected keeps its
/// total, and at most one ranked place per corrected comic can change
/// hands, so the page is among the first `$3 + $4 + |delta|` totals in
/// index order and the corrected comics. The corrected comics' cards and
/// totals are looked up one by one (`OFFSET 0` keeps the planner from
/// turning that into a scan of every card or total).
const PAGE: &str = ", \
     head AS (SELECT w.comic_id, w.views, c.title, c.cover_url, c.status, c.type \
              FROM popularity.windows w JOIN popularity.comics c ON c.id = w.comic_id \
              WHERE w.win = $1 AND w.views > 0 \
              ORDER BY w.views DESC, w.comic_id ASC \
              LIMIT $3 + $4 + (SELECT count(*) FROM delta)), \
     ranked AS (SELECT h.comic_id, h.views + coalesce(d.views, 0) AS views, \
                       h.title, h.cover_url, h.status, h.type \
                FROM head h LEFT JOIN delta d ON d.comic_id = h.comic_id \
                UNION ALL \
                SELECT d.comic_id, c.views + d.views, c.title, c.cover_url, c.status, c.type \
                FROM delta d CROSS JOIN LATERAL \
                  (SELECT c.title, c.cover_url, c.status, c.type, \
                          coalesce((SELECT w.views FROM popularity.windows w \
                                    WHERE w.comic_id = d.comic_id AND w.win = $1), 0) AS views \
                   FROM popularity.comics c WHERE c.id = d.comic_id OFFSET 0) c \
                WHERE NOT EXISTS (SELECT 1 FROM head h WHERE h.comic_id = d.comic_id)) \
     SELECT comic_id, views, title, cover_url, status, type FROM ranked WHERE views > 0 \
     ORDER BY views DESC, comic_id ASC LIMIT $3 OFFSET $4";

/// The all-time ranking, from `popularity.totals`.
async fn all_time(pool: &PgPool, paging: Paging) -> Result<(Vec<PopularRow>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar(
        "SELECT count(*) FROM popularity.totals t JOIN popularity.comics c ON c.id = t.comic_id \
         WHERE t.views > 0",
    )
    .fetch_one(pool)
    .await?;
    let items = sqlx::query_as::<_, PopularRow>(
        "SELECT t.comic_id, t.views, c.title, c.cover_url, c.status, c.type \
         FROM popularity.totals t JOIN popularity.comics c ON c.id = t.comic_id \
         WHERE t.views > 0 ORDER BY t.views DESC, t.comic_id ASC LIMIT $1 OFFSET $2",
    )
    .bind(paging.limit)
    .bind(paging.offset)
    .fetch_all(pool)
    .await?;
    Ok((items, total))
}
