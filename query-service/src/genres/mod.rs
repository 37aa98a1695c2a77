//! Genres: `GET /genres`, every genre in use with how many comics carry it.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use comics_common::Problem;
use serde::Serialize;

use crate::state::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new().route("/genres", get(list_genres))
}

/// One genre and the number of live comics that carry it.
#[derive(Debug, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct GenreCount {
    pub genre: String,
    pub comics: i32,
}

#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Genres {
    pub items: Vec<GenreCount>,
}

#[utoipa::path(get, path = "/api/v1/genres", tag = "comics",
    responses((status = 200, description = "Every genre in use, by name, with its comic count", body = Genres)))]
#[tracing::instrument(skip_all)]
async fn list_genres(State(state): State<QueryState>) -> Result<Json<Genres>, Problem> {
    // Slugs sort by code point, whatever the database's collation.
    let items = sqlx::query_as::<_, GenreCount>(
        r#"SELECT genre, comics FROM catalog.genres WHERE comics > 0 ORDER BY genre COLLATE "C""#,
    )
    .fetch_all(&state.catalog)
    .await?;
    Ok(Json(Genres { items }))
}
