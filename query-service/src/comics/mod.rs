//! Comics: `GET /comics` (filtered, sorted, paged), `GET /comics/{id}` and
//! `GET /comics/{id}/stats`, from the catalog projection, each comic with its
//! `rating` from the ratings projection and its `popularity` from the
//! popularity (views) and bookmarks (bookmark count) projections.

mod document;
mod query;
mod stats;
mod store;

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Extension, Json, Router};
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use uuid::Uuid;

use crate::cache::{Rerate, Scope};
use crate::listing::Page;
use crate::ratings::{stats as ratings, Rating};
use crate::state::QueryState;
use crate::{bookmarks, popularity};
use document::{ComicDocument, Popularity};
use query::{ComicQuery, ListParams, Sort};

/// `GET /comics` and `GET /comics/{id}`.
pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/comics", get(list_comics))
        .route("/comics/{id}", get(get_comic))
}

/// `GET /comics/{id}/stats`.
pub fn stats_routes() -> Router<QueryState> {
    Router::new().route("/comics/{id}/stats", get(stats::comic_stats))
}

#[tracing::instrument(skip_all)]
async fn list_comics(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Page<ComicDocument>>, Problem> {
    let query = ComicQuery::parse(params)?;
    // A ranking read once gives both the order and the numbers shown.
    let mut known = Extras::default();
    let ranking: Vec<Uuid> = match query.sort {
        Sort::Rating => {
            let ranked = ratings::ranked(&state.ratings).await?;
            let ids = ranked.iter().map(|(id, _)| *id).collect();
            known.ratings = Some(ranked.into_iter().collect());
            ids
        }
        Sort::Popularity => {
            let ranked = popularity::store::ranked(&state.popularity).await?;
            let ids = ranked.iter().map(|(id, _)| *id).collect();
            known.views = Some(ranked.into_iter().collect());
            ids
        }
        Sort::Title | Sort::CreatedAt | Sort::UpdatedAt => Vec::new(),
    };
    let (mut items, total) = store::list(&state.catalog, &query, &ranking).await?;
    known.fill(&state, &mut items).await?;
    Ok(Json(query.paging.page(items, total)))
}

#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn get_comic(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<
    (
        Extension<Scope>,
        Option<Extension<Rerate>>,
        Json<ComicDocument>,
    ),
    Problem,
> {
    let mut comic = store::find(&state.catalog, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    Extras::default()
        .fill(&state, std::slice::from_mut(&mut comic))
        .await?;
    let rerate = rerate(&comic.rating);
    Ok((Extension(Scope(id)), rerate, Json(comic)))
}

/// What comic documents get from the other projections, by comic id; what
/// is already known (from the ranking a list was sorted by) is not read again.
#[derive(Debug, Default)]
struct Extras {
    ratings: Option<HashMap<Uuid, Rating>>,
    views: Option<HashMap<Uuid, i64>>,
}

impl Extras {
    /// Sets each comic's `rating` and `popularity`, reading the stores
    /// concurrently; comics missing from a store get zeros (no votes, no
    /// views, no bookmarks).
    async fn fill(self, state: &QueryState, comics: &mut [ComicDocument]) -> Result<(), Problem> {
        let ids: Vec<Uuid> = comics.iter().map(|c| c.id).collect();
        let (ratings, views, bookmarks) = tokio::try_join!(
            async {
                match self.ratings {
                    Some(known) => Ok(known),
                    None => ratings::for_comics(&state.ratings, &ids).await,
                }
            },
            async {
                match self.views {
                    Some(known) => Ok(known),
                    None => popularity::store::views_for(&state.popularity, &ids).await,
                }
            },
            bookmarks::counts_for(&state.bookmarks, &ids),
        )?;
        for comic in comics {
            comic.rating = ratings.get(&comic.id).copied().unwrap_or_default();
            comic.popularity = Popularity {
                views: views.get(&comic.id).copied().unwrap_or(0),
                bookmarks: bookmarks.get(&comic.id).copied().unwrap_or(0),
            };
        }
        Ok(())
    }
}

/// For the read cache: how to re-rate a comic's kept answer when the
/// global mean moves (nothing to do without votes: the average is null).
pub fn rerate(rating: &Rating) -> Option<Extension<Rerate>> {
    rating.average.map(|average| {
        Extension(Rerate {
            votes: rating.count,
            average,
        })
    })
}

/// The 404 for a comic that does not exist (or was deleted).
pub fn not_found(id: Uuid) -> Problem {
    Problem::not_found(format!("there is no comic {id}"))
}
