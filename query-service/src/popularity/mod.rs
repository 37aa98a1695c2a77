//! Popularity: `GET /rankings/popular` from the popularity projection, and
//! the view counts every comic document (`popularity.views`), `sort=popularity`
//! and `GET /comics/{id}/stats` show (see [`store`]).
//!
//! Windows are exact to the minute: the projection keeps a per-minute
//! histogram of views, and a view counted in minute `M` is in the window `W`
//! at time `now` while `M > now - W` — it ages out exactly one full window
//! after the start of its minute. `now` is the state's clock. Reads do not
//! sum the histogram: they read the projection's rolling window totals and
//! correct them by the few minutes between the totals' mark and `now`'s
//! first minute (see [`store`]), so their cost does not grow with history.

pub mod store;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, TimeDelta, Utc};
use comics_common::http::QueryParams;
use comics_common::Problem;
use serde::{Deserialize, Serialize};

use crate::listing::{bad_param, given, Page, Paging};
use crate::ratings::{stats, ComicCard};
use crate::state::QueryState;

/// `/rankings/popular`: public.
pub fn ranking_routes() -> Router<QueryState> {
    Router::new().route("/rankings/popular", get(popular))
}

/// A span of time views are counted over.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum Window {
    #[serde(rename = "24h")]
    Day,
    #[serde(rename = "7d")]
    Week,
    #[serde(rename = "30d")]
    Month,
    /// Every view ever counted (the projection's all-time totals).
    #[serde(rename = "all")]
    All,
}

impl Window {
    /// `window=24h|7d|30d|all`, `7d` when not given.
    pub fn parse(raw: Option<&str>) -> Result<Self, Problem> {
        match raw.unwrap_or("7d") {
            "24h" => Ok(Window::Day),
            "7d" => Ok(Window::Week),
            "30d" => Ok(Window::Month),
            "all" => Ok(Window::All),
            _ => Err(bad_param("window", "must be one of: 24h 7d 30d all")),
        }
    }

    /// How far back the window reaches; `None` for `all`.
    pub fn length(self) -> Option<TimeDelta> {
        match self {
            Window::Day => Some(TimeDelta::hours(24)),
            Window::Week => Some(TimeDelta::days(7)),
            Window::Month => Some(TimeDelta::days(30)),
            Window::All => None,
        }
    }

    /// The window's name in the projection's rolling totals
    /// (`popularity.windows.win`); `None` for `all`.
    pub fn key(self) -> Option<&'static str> {
        match self {
            Window::Day => Some("24h"),
            Window::Week => Some("7d"),
            Window::Month => Some("30d"),
            Window::All => None,
        }
    }

    /// The earliest histogram minute inside the window at `now` (`None` for
    /// `all`): minute `M` is in the window iff `M > now - length`, and since
    /// minutes start on whole minutes that is iff `M >= ` the first minute
    /// start strictly after `now - length`. Comparing with `>=` against a
    /// whole minute keeps the test exact whatever the sub-second part of
    /// `now`, and lets Postgres range-scan the histogram's index.
    pub fn first_minute(self, now: DateTime<Utc>) -> Option<DateTime<Utc>> {
        self.length().map(|length| first_minute_after(now - length))
    }
}

/// The first whole minute strictly after `instant`.
fn first_minute_after(instant: DateTime<Utc>) -> DateTime<Utc> {
    let floor = instant.timestamp().div_euclid(60) * 60;
    DateTime::from_timestamp(floor + 60, 0).unwrap_or(DateTime::<Utc>::MAX_UTC)
}

/// The query string of `GET /rankings/popular`; unknown parameters are ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct PopularParams {
    /// Items per page (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
    /// The window the views are counted in (default `7d`).
    #[param(value_type = Option<Window>)]
    window: Option<String>,
}

/// `GET /rankings/popular`: the window and one page of the ranking.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Popular {
    pub window: Window,
    #[serde(flatten)]
    pub page: Page<PopularComic>,
}

/// One item of the popular ranking.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct PopularComic {
    /// 1-based over the whole ranking (`offset` + position on the page).
    pub rank: i64,
    /// Views in the window.
    pub views: i64,
    pub comic: ComicCard,
}

#[utoipa::path(get, path = "/api/v1/rankings/popular", tag = "rankings",
    params(PopularParams),
    responses((status = 200, description = "Comics by views in the window", body = Popular)))]
#[tracing::instrument(skip_all)]
async fn popular(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<PopularParams>,
) -> Result<Json<Popular>, Problem> {
    let window = Window::parse(given(&params.window))?;
    let paging = Paging::parse(given(&params.limit), given(&params.offset))?;
    let (rows, total) = store::popular(&state.popularity, window, state.now(), paging).await?;
    let ids: Vec<_> = rows.iter().map(|r| r.comic_id).collect();
    let ratings = stats::for_comics(&state.ratings, &ids).await?;
    let items = rows
        .into_iter()
        .zip(paging.offset + 1..)
        .map(|(row, rank)| PopularComic {
            rank,
            views: row.views,
            comic: ComicCard {
                id: row.comic_id,
                title: row.title,
                cover_url: row.cover_url,
                status: row.status,
                kind: row.kind,
                rating: ratings.get(&row.comic_id).copied().unwrap_or_default(),
            },
        })
        .collect();
    Ok(Json(Popular {
        window,
        page: paging.page(items, total),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use chrono::TimeZone;

    fn t(h: u32, m: u32, s: u32) -> DateTime<Utc> {
        Utc.with_ymd_and_hms(2024, 3, 10, h, m, s).unwrap()
    }

    #[test]
    fn window_defaults_to_seven_days_and_refuses_others() {
        assert_eq!(Window::parse(None).unwrap(), Window::Week);
        assert_eq!(Window::parse(Some("24h")).unwrap(), Window::Day);
        assert_eq!(Window::parse(Some("30d")).unwrap(), Window::Month);
        assert_eq!(Window::parse(Some("all")).unwrap(), Window::All);
        for bad in ["1d", "7D", "week", "all "] {
            let problem = Window::parse(Some(bad)).unwrap_err();
            assert_eq!(problem.status, 400, "{bad}");
            assert_eq!(problem.errors[0].field, "window");
        }
        assert_eq!(serde_json::to_value(Window::Day).unwrap(), "24h");
    }

    #[test]
    fn a_minute_is_in_the_window_while_it_is_after_the_window_start() {
        // At 12:00:00 the 24h window starts at 12:00:00 yesterday, which is
        // itself out: the first minute in is 12:01.
        let day = Window::Day;
        assert_eq!(
            day.first_minute(t(12, 0, 0)),
            Some(t(12, 1, 0) - TimeDelta::days(1))
        );
        // A nanosecond earlier the 12:00 minute of yesterday is still in.
        let just_before = t(12, 0, 0) - TimeDelta::nanoseconds(1);
        assert_eq!(
            day.first_minute(just_before),
            Some(t(12, 0, 0) - TimeDelta::days(1))
        );
        assert_eq!(
            Window::Week.first_minute(t(12, 0, 30)),
            Some(t(12, 1, 0) - TimeDelta::days(7))
        );
        assert_eq!(Window::All.first_minute(t(12, 0, 0)), None);
    }
}
