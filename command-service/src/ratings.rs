//! A user's rating of a comic: give or change it (`PUT`), remove it (`DELETE`).
//! Each (user, comic) pair is its own aggregate, so many users rating one
//! comic at once never contend.

use axum::extract::State;
use axum::response::Response;
use axum::routing::put;
use axum::Router;
use comics_common::auth::User;
use comics_common::http::{JsonBody, PathParams, RequestId};
use comics_common::problem::FieldProblem;
use comics_common::Problem;
use comics_domain::values::Score;
use comics_domain::{rating_id, RatingCommand};
use serde::Deserialize;
use uuid::Uuid;

use crate::response::{metadata, no_content, ok, Versioned};
use crate::state::CommandState;

pub fn routes() -> Router<CommandState> {
    Router::new().route("/api/v1/comics/{id}/rating", put(rate).delete(unrate))
}

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
struct RateBody {
    #[schema(minimum = 1, maximum = 10)]
    score: i64,
}

#[utoipa::path(put, path = "/api/v1/comics/{id}/rating", tag = "ratings", operation_id = "rate",
    params(("id" = Uuid, Path, description = "The comic")),
    request_body = RateBody,
    security(("bearer" = [])),
    responses(
        (status = 200, description = "The caller's score (replacing an earlier one)", body = Versioned,
            headers(("ETag" = String, description = "The rating's version, quoted"))),
        (status = 404, description = "No such comic"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn rate(
    State(state): State<CommandState>,
    user: User,
    request: RequestId,
    PathParams(comic_id): PathParams<Uuid>,
    JsonBody(body): JsonBody<RateBody>,
) -> Result<Response, Problem> {
    let score = Score::try_from(body.score).map_err(|e| {
        Problem::validation(vec![FieldProblem {
            field: e.field,
            message: e.message,
        }])
    })?;
    let id = rating_id(comic_id, &user.sub);
    let command = RatingCommand::Rate {
        comic_id,
        user: user.sub.clone(),
        score,
    };
    let meta = metadata(&user, &request);
    let commits = &state.stores.rating_commits;
    let done = commits.execute(id.to_string(), command, meta).await?;
    Ok(ok(id, done.version, &done.token))
}

#[utoipa::path(delete, path = "/api/v1/comics/{id}/rating", tag = "ratings", operation_id = "unrate",
    params(("id" = Uuid, Path, description = "The comic")),
    security(("bearer" = [])),
    responses(
        (status = 204, description = "The caller's score is withdrawn"),
        (status = 404, description = "No such comic, or the caller had not rated it"),
    ))]
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
async fn unrate(
    State(state): State<CommandState>,
    user: User,
    request: RequestId,
    PathParams(comic_id): PathParams<Uuid>,
) -> Result<Response, Problem> {
    let id = rating_id(comic_id, &user.sub);
    let meta = metadata(&user, &request);
    let commits = &state.stores.rating_commits;
    let command = RatingCommand::Unrate;
    let done = commits.execute(id.to_string(), command, meta).await?;
    Ok(no_content(&done.token))
}
