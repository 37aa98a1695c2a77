//! Reading comics from `catalog.comics`.

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::document::{ComicDocument, COLUMNS};
use super::query::{ComicFilter, ComicQuery};
use crate::listing::Order;

/// Whether the catalog has the comic `id`.
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn exists(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM catalog.comics WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// The comic with this id, if it exists (its `rating` and `popularity` left
/// empty).
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<ComicDocument>, sqlx::Error> {
    sqlx::query_as::<_, ComicDocument>(&format!(
        "SELECT {COLUMNS} FROM catalog.comics WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// One page of the comics that match, and how many match in all (their
/// `rating`s and `popularity` left empty).
///
/// `ranking` is read for `sort=rating` and `sort=popularity` only: the ids of
/// the rated (viewed) comics, best (most viewed) first, as the ratings (popularity)
/// projection orders them. It is passed in as an array, so that store need
/// not share the catalog's database, and filtering and paging still happen
/// here in SQL. Comics missing from it (unrated, never viewed) come last, by
/// id; `order=asc` reverses the ranked part only.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    query: &ComicQuery,
    ranking: &[Uuid],
) -> Result<(Vec<ComicDocument>, i64), sqlx::Error> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM catalog.comics");
    push_filter(&mut count, &query.filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM catalog.comics"));
    let order_by = match query.sort.sql() {
        Some(key) => {
            push_filter(&mut page, &query.filter);
            let order = query.order.sql();
            format!(" ORDER BY {key} {order}, id {order}")
        }
        None => {
            page.push(" LEFT JOIN unnest(")
                .push_bind(ranking.to_vec())
                .push(
                "::uuid[]) WITH ORDINALITY AS ranked(rated_id, position) ON ranked.rated_id = id",
            );
            push_filter(&mut page, &query.filter);
            // Position 1 is the best rated (most viewed) comic.
            let position = match query.order {
                Order::Desc => "ASC",
                Order::Asc => "DESC",
            };
            format!(" ORDER BY ranked.position {position} NULLS LAST, id ASC")
        }
    };
    page.push(order_by)
        .push(" LIMIT ")
        .push_bind(query.paging.limit)
        .push(" OFFSET ")
        .push_bind(query.paging.offset);
    let items = page
        .build_query_as::<ComicDocument>()
        .fetch_all(pool)
        .await?;
    Ok((items, total))
}

/// Appends the `WHERE` clause for `filter`.
fn push_filter(sql: &mut QueryBuilder<'_, Postgres>, filter: &ComicFilter) {
    sql.push(" WHERE true");
    if let Some(search) = &filter.search {
        sql.push(" AND search_text LIKE '%' || lower(")
            .push_bind(search.clone())
            .push(r") || '%' ESCAPE '\'");
    }
    if !filter.genres.is_empty() {
        sql.push(" AND genres @> ")
            .push_bind(filter.genres.clone())
            .push("::text[]");
    }
    if let Some(status) = filter.status {
        sql.push(" AND status = ").push_bind(status.as_str());
    }
    if let Some(kind) = filter.kind {
        sql.push(" AND type = ").push_bind(kind.as_str());
    }
}
