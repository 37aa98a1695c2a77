//! Reading comics from `catalog.comics`: a document is one primary-key read;
//! a list is one indexed, ordered read of the page (by `offset` or from an
//! `after` cursor) and its total, from the projector's counts when the
//! filter is one of those it keeps, else counted.

use sqlx::{PgPool, Postgres, QueryBuilder, Row};
use uuid::Uuid;

use super::document::{ComicDocument, COLUMNS, FROM};
use super::keyset::{self, Cursor};
use super::query::{ComicFilter, ComicQuery};

/// Whether the catalog has the comic `id`.
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn exists(pool: &PgPool, id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM catalog.comics WHERE id = $1)")
        .bind(id)
        .fetch_one(pool)
        .await
}

/// The comic with this id, if it exists.
#[tracing::instrument(skip_all, fields(comic_id = %id))]
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<ComicDocument>, sqlx::Error> {
    sqlx::query_as::<_, ComicDocument>(&format!("SELECT {COLUMNS} FROM {FROM} WHERE c.id = $1"))
        .bind(id)
        .fetch_optional(pool)
        .await
}

/// One page of a list.
pub struct ListPage {
    pub items: Vec<ComicDocument>,
    pub total: i64,
    /// The cursor after the last item, when the page is full.
    pub next: Option<String>,
}

/// One page of the comics that match, and how many match in all.
#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool, query: &ComicQuery) -> Result<ListPage, sqlx::Error> {
    let search = query.filter.search.as_ref();
    let keys = keyset::keys(search, query.sort, query.order);
    let mut page = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS}{} FROM {FROM}",
        keyset::select_keys(&keys)
    ));
    push_filter(&mut page, &query.filter);
    if let Some(after) = &query.after {
        keyset::push_after(&mut page, &keys, &after.values);
    }
    page.push(keyset::order_by(&keys))
        .push(" LIMIT ")
        .push_bind(query.paging.limit)
        .push(" OFFSET ")
        .push_bind(query.paging.offset);
    let (rows, total) = tokio::try_join!(page.build().fetch_all(pool), total(pool, &query.filter))?;
    let next = match rows.last() {
        Some(last) if rows.len() as i64 == query.paging.limit => {
            let values = (0..keys.len())
                .map(|i| last.try_get::<String, _>(format!("k{i}").as_str()))
                .collect::<Result<_, _>>()?;
            let order = Cursor::order_name(search, query.sort, query.order);
            Some(Cursor { order, values }.encode())
        }
        _ => None,
    };
    let items = rows
        .iter()
        .map(sqlx::FromRow::from_row)
        .collect::<Result<_, _>>()?;
    Ok(ListPage { items, total, next })
}

/// How many comics match `filter`: kept by the projector for no filter, one
/// status, one type or one genre; counted (from the indexes) otherwise.
async fn total(pool: &PgPool, filter: &ComicFilter) -> Result<i64, sqlx::Error> {
    let kept = match (
        &filter.search,
        filter.genres.as_slice(),
        filter.status,
        filter.kind,
    ) {
        (None, [], None, None) => Some(("counts", "all".to_string())),
        (None, [], Some(status), None) => Some(("counts", format!("status:{}", status.as_str()))),
        (None, [], None, Some(kind)) => Some(("counts", format!("type:{}", kind.as_str()))),
        (None, [genre], None, None) => Some(("genres", genre.clone())),
        _ => None,
    };
    if let Some((table, key)) = kept {
        let column = if table == "genres" { "genre" } else { "key" };
        let n: Option<i64> = sqlx::query_scalar(&format!(
            "SELECT comics::int8 FROM catalog.{table} WHERE {column} = $1"
        ))
        .bind(key)
        .fetch_optional(pool)
        .await?;
        return Ok(n.unwrap_or(0));
    }
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM catalog.comics c");
    push_filter(&mut count, filter);
    count.build_query_scalar().fetch_one(pool).await
}

/// Appends the `WHERE` clause for `filter`.
fn push_filter(sql: &mut QueryBuilder<'_, Postgres>, filter: &ComicFilter) {
    sql.push(" WHERE true");
    if let Some(search) = &filter.search {
        crate::search::push_search(sql, search);
    }
    if !filter.genres.is_empty() {
        sql.push(" AND c.genres @> ")
            .push_bind(filter.genres.clone())
            .push("::text[]");
    }
    if let Some(status) = filter.status {
        sql.push(" AND c.status = ").push_bind(status.as_str());
    }
    if let Some(kind) = filter.kind {
        sql.push(" AND c.type = ").push_bind(kind.as_str());
    }
}
