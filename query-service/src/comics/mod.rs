//! Comics: `GET /comics` (filtered, sorted, paged) and `GET /comics/{id}`,
//! from the catalog projection, each comic with its `rating` from the
//! ratings projection.

mod document;
mod query;
mod store;

use std::collections::HashMap;

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use uuid::Uuid;

use crate::listing::Page;
use crate::ratings::{stats, Rating};
use crate::state::QueryState;
use document::ComicDocument;
use query::{ComicQuery, ListParams, Sort};

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/comics", get(list_comics))
        .route("/comics/{id}", get(get_comic))
}

#[tracing::instrument(skip_all)]
async fn list_comics(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<ListParams>,
) -> Result<Json<Page<ComicDocument>>, Problem> {
    let query = ComicQuery::parse(params)?;
    let (mut items, total, ratings) = if query.sort == Sort::Rating {
        // The ranking read once gives both the order and the numbers shown.
        let ranked = stats::ranked(&state.ratings).await?;
        let ranking: Vec<Uuid> = ranked.iter().map(|(id, _)| *id).collect();
        let (items, total) = store::list(&state.catalog, &query, &ranking).await?;
        (items, total, ranked.into_iter().collect())
    } else {
        let (items, total) = store::list(&state.catalog, &query, &[]).await?;
        let ids: Vec<Uuid> = items.iter().map(|c| c.id).collect();
        (items, total, stats::for_comics(&state.ratings, &ids).await?)
    };
    rate(&mut items, &ratings);
    Ok(Json(query.paging.page(items, total)))
}

#[tracing::instrument(skip_all, fields(comic_id = %id))]
async fn get_comic(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<ComicDocument>, Problem> {
    let mut comic = store::find(&state.catalog, id)
        .await?
        .ok_or_else(|| not_found(id))?;
    let ratings = stats::for_comics(&state.ratings, &[id]).await?;
    rate(std::slice::from_mut(&mut comic), &ratings);
    Ok(Json(comic))
}

/// Sets each comic's rating; comics without votes get the empty one.
fn rate(comics: &mut [ComicDocument], ratings: &HashMap<Uuid, Rating>) {
    for comic in comics {
        comic.rating = ratings.get(&comic.id).copied().unwrap_or_default();
    }
}

/// The 404 for a comic that does not exist (or was deleted).
pub fn not_found(id: Uuid) -> Problem {
    Problem::not_found(format!("there is no comic {id}"))
}
