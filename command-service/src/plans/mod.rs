//! Premium plan commands: create, change (with `If-Match`), retire.

pub(crate) mod dto;

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::{patch, post};
use axum::Router;
use comics_common::auth::Admin;
use comics_common::http::{JsonBody, PathParams, RequestId};
use comics_common::Problem;
use comics_domain::PlanCommand;
use uuid::Uuid;

use crate::response::{created, if_match, metadata, no_content, ok, Versioned};
use crate::state::CommandState;

pub fn routes() -> Router<CommandState> {
    Router::new()
        .route("/api/v1/plans", post(create))
        .route("/api/v1/plans/{id}", patch(change).delete(retire))
}

#[utoipa::path(post, path = "/api/v1/plans", tag = "plans", operation_id = "create_plan",
    request_body = dto::CreatePlan,
    security(("bearer" = ["admin"])),
    responses(
        (status = 201, description = "Created", body = Versioned, headers(("Location" = String))),
    ))]
#[tracing::instrument(skip_all)]
async fn create(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    JsonBody(body): JsonBody<dto::CreatePlan>,
) -> Result<Response, Problem> {
    let details = body.parse()?;
    let id = Uuid::now_v7();
    let command = PlanCommand::Create {
        plan_id: id,
        details,
    };
    let meta = metadata(&user, &request);
    let done = state.stores.plans.execute(id, command, &meta, None).await?;
    tracing::info!(plan_id = %id, "plan created");
    let location = format!("/api/v1/plans/{id}");
    Ok(created(location, id, done.version, &done.token))
}

/// A plan has no other aggregate to keep in step with, so concurrent
/// changes need no lock: a conflict is retried (or, with `If-Match`, 412).
#[utoipa::path(patch, path = "/api/v1/plans/{id}", tag = "plans", operation_id = "change_plan",
    params(("id" = Uuid, Path, description = "The plan"), ("If-Match" = Option<String>, Header, description = "The version this change was made against, quoted (`\"3\"`); `*` for any. Stale → 412")),
    request_body = dto::ChangePlan,
    security(("bearer" = ["admin"])),
    responses(
        (status = 200, description = "Changed", body = Versioned, headers(("ETag" = String, description = "The new version, quoted"))),
        (status = 404, description = "No such plan"),
        (status = 412, description = "`If-Match` names another version"),
    ))]
#[tracing::instrument(skip_all, fields(plan_id = %id))]
async fn change(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
    JsonBody(body): JsonBody<dto::ChangePlan>,
) -> Result<Response, Problem> {
    let expected = if_match(&headers)?;
    let changes = body.parse()?;
    let meta = metadata(&user, &request);
    let command = PlanCommand::Change(changes);
    let done = state
        .stores
        .plans
        .execute(id, command, &meta, expected)
        .await?;
    Ok(ok(id, done.version, &done.token))
}

/// Retires the plan (`If-Match` honoured as for a change).
#[utoipa::path(delete, path = "/api/v1/plans/{id}", tag = "plans", operation_id = "retire_plan",
    params(("id" = Uuid, Path, description = "The plan"), ("If-Match" = Option<String>, Header, description = "The version this change was made against, quoted (`\"3\"`); `*` for any. Stale → 412")),
    security(("bearer" = ["admin"])),
    responses(
        (status = 204, description = "Retired: gone from reads"),
        (status = 404, description = "No such plan"),
        (status = 412, description = "`If-Match` names another version"),
    ))]
#[tracing::instrument(skip_all, fields(plan_id = %id))]
async fn retire(
    State(state): State<CommandState>,
    Admin(user): Admin,
    request: RequestId,
    PathParams(id): PathParams<Uuid>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let expected = if_match(&headers)?;
    let meta = metadata(&user, &request);
    let command = PlanCommand::Retire;
    let done = state
        .stores
        .plans
        .execute(id, command, &meta, expected)
        .await?;
    tracing::info!("plan retired");
    Ok(no_content(&done.token))
}
