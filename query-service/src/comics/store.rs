//! Reading comics from `catalog.comics`.

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::document::{ComicDocument, COLUMNS};
use super::query::{ComicFilter, ComicQuery};

/// The comic with this id, if it exists.
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<ComicDocument>, sqlx::Error> {
    sqlx::query_as::<_, ComicDocument>(&format!(
        "SELECT {COLUMNS} FROM catalog.comics WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(pool)
    .await
}

/// One page of the comics that match, and how many match in all.
#[tracing::instrument(skip_all)]
pub async fn list(
    pool: &PgPool,
    query: &ComicQuery,
) -> Result<(Vec<ComicDocument>, i64), sqlx::Error> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM catalog.comics");
    push_filter(&mut count, &query.filter);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page = QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM catalog.comics"));
    push_filter(&mut page, &query.filter);
    let (key, order) = (query.sort.sql(), query.order.sql());
    page.push(format!(" ORDER BY {key} {order}, id {order}"))
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
