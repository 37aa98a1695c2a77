//! Premium plans: `GET /plans` (the plans on sale, cheapest first, ties by
//! name) and `GET /plans/{id}` (a retired plan is 404), from the plans
//! projection.

use axum::extract::State;
use axum::routing::get;
use axum::{Json, Router};
use chrono::{DateTime, Utc};
use comics_common::http::{PathParams, QueryParams};
use comics_common::Problem;
use serde::Serialize;
use sqlx::PgPool;
use uuid::Uuid;

use crate::listing::{Page, PageParams, Paging};
use crate::state::QueryState;

pub fn routes() -> Router<QueryState> {
    Router::new()
        .route("/plans", get(list_plans))
        .route("/plans/{id}", get(get_plan))
}

/// A plan as readers see it.
#[derive(Debug, Clone, Serialize, sqlx::FromRow, utoipa::ToSchema)]
pub struct PlanDocument {
    pub id: Uuid,
    pub name: String,
    pub description: String,
    pub price_cents: i64,
    pub currency: String,
    pub interval: String,
    pub perks: Vec<String>,
    pub created_at: DateTime<Utc>,
    pub updated_at: DateTime<Utc>,
    pub version: i64,
}

const COLUMNS: &str = "id, name, description, price_cents, currency, \
     billing_interval AS interval, perks, created_at, updated_at, version";

/// Cheapest first; the same price by name (lower case, then as written,
/// code point order), then by id, so the order never depends on a locale.
const ORDER: &str = r#"price_cents, name_key COLLATE "C", name COLLATE "C", id"#;

#[utoipa::path(get, path = "/api/v1/plans", tag = "plans",
    params(PageParams),
    responses((status = 200, description = "Plans, cheapest first (ties by name)", body = Page<PlanDocument>)))]
#[tracing::instrument(skip_all)]
async fn list_plans(
    State(state): State<QueryState>,
    QueryParams(params): QueryParams<PageParams>,
) -> Result<Json<Page<PlanDocument>>, Problem> {
    let paging = params.paging()?;
    let (items, total) = page(&state.plans, paging).await?;
    Ok(Json(paging.page(items, total)))
}

#[utoipa::path(get, path = "/api/v1/plans/{id}", tag = "plans",
    params(("id" = Uuid, Path, description = "The plan")),
    responses(
        (status = 200, description = "The plan", body = PlanDocument),
        (status = 404, description = "No such plan (or retired)"),
    ))]
#[tracing::instrument(skip_all, fields(plan_id = %id))]
async fn get_plan(
    State(state): State<QueryState>,
    PathParams(id): PathParams<Uuid>,
) -> Result<Json<PlanDocument>, Problem> {
    sqlx::query_as::<_, PlanDocument>(&format!("SELECT {COLUMNS} FROM plans.plans WHERE id = $1"))
        .bind(id)
        .fetch_optional(&state.plans)
        .await?
        .map(Json)
        .ok_or_else(|| Problem::not_found(format!("there is no plan {id}")))
}

/// One page of the plans and how many there are.
async fn page(pool: &PgPool, paging: Paging) -> Result<(Vec<PlanDocument>, i64), sqlx::Error> {
    let total: i64 = sqlx::query_scalar("SELECT count(*) FROM plans.plans")
        .fetch_one(pool)
        .await?;
    let items = sqlx::query_as::<_, PlanDocument>(&format!(
        "SELECT {COLUMNS} FROM plans.plans ORDER BY {ORDER} LIMIT $1 OFFSET $2"
    ))
    .bind(paging.limit)
    .bind(paging.offset)
    .fetch_all(pool)
    .await?;
    Ok((items, total))
}
