//! `GET /comics/{id}/stats`: a comic's rating with its distribution of
//! scores, its views all time and per window, and its bookmark count, each
//! from its own projection (read concurrently and merged); the parts still
//! unchanged since they were last read are taken from memory
//! ([`crate::stats_parts`]).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::{Extension, Json};
use comics_common::consistency;
use comics_common::http::PathParams;
use comics_common::Problem;
use serde::Serialize;
use uuid::Uuid;

use super::{not_found, rerate, store};
use crate::cache::{ComicAnswer, Scope};
use crate::popularity::store::{views_of, Views};
use crate::ratings::stats::{detailed, DetailedRating};
use crate::state::QueryState;
use crate::stats_parts::Kept;

/// The body of `GET /comics/{id}/stats`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ComicStats {
    pub rating: DetailedRating,
    pub views: Views,
    pub bookmarks: i64,
}

#[utoipa::path(get, path = "/api/v1/comics/{id}/stats", tag = "comics",
    params(("id" = Uuid, Path, description = "The comic")),
    responses(
        (status = 200, description = "Rating with its distribution, views per window, bookmarks", body = ComicStats),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn comic_stats(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
) -> Result<ComicAnswer<ComicStats>, Problem> {
    let now = state.now();
    let minute = now.timestamp().div_euclid(60);
    // A read with a consistency token reads every store.
    let parts = (!headers.contains_key(consistency::HEADER))
        .then_some(state.stats_parts.as_ref())
        .flatten();
    let (mut kept, stamp) = match parts {
        Some(parts) => (parts.fresh(id, minute), parts.stamp()),
        None => (Kept::default(), 0),
    };
    let (exists, rating, views, bookmarks) = tokio::try_join!(
        async {
            match kept.exists {
                Some(_) => Ok(true),
                None => store::exists(&state.catalog, id).await,
            }
        },
        detailed(&state.ratings, id),
        async {
            match kept.views {
                Some((views, _, _)) => Ok(views),
                None => views_of(&state.popularity, id, now).await,
            }
        },
        async {
            match kept.bookmarks {
                Some((count, _)) => Ok(count),
                None => crate::bookmarks::counts_for(&state.bookmarks, &[id])
                    .await
                    .map(|counts| counts.get(&id).copied().unwrap_or(0)),
            }
        },
    )?;
    if !exists {
        if let Some(parts) = parts {
            parts.forget(id);
        }
        return Err(not_found(id));
    }
    if let Some(parts) = parts {
        kept.exists.get_or_insert(stamp);
        kept.views.get_or_insert((views, minute, stamp));
        kept.bookmarks.get_or_insert((bookmarks, stamp));
        parts.keep(id, kept);
    }
    let stats = ComicStats {
        rating,
        views,
        bookmarks,
    };
    let rerate = rerate(&stats.rating.rating);
    Ok((Extension(Scope(id)), rerate, Json(stats)))
}
