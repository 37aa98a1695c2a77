//! Reading comics from `catalog.comics`: a document is one primary-key read;
//! a list is one indexed, ordered read of the page (by `offset` or from an
//! `after` cursor) and its total, from the projector's counts when the
//! filter is one of those it keeps (up to two genres, a status, a type),
//! else counted.

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
///
/// The page is found first by id alone — an index-only scan of the sort's
/// covering index (see the catalog schema), which holds the columns every
/// filter but `q` reads, so that skipping `offset` rows, or the rows before
/// a cursor, reads no table rows — and only the page's rows are then read
/// whole. A sort that lists unranked comics last (rating, popularity) is
/// found as two parts, each from its own partial index: the ranked comics
/// in the sort's order, and the unranked ones, which that order lists by
/// id alone.
#[tracing::instrument(skip_all)]
pub async fn list(pool: &PgPool, query: &ComicQuery) -> Result<ListPage, sqlx::Error> {
    let search = query.filter.search.as_ref();
    let keys = keyset::keys(search, query.sort, query.order);
    // A search counts its matches as it ranks them (one pass over them, not
    // two); other totals are kept counts, read beside the page.
    let counted = search.is_some() && query.after.is_none();
    let mut page = QueryBuilder::<Postgres>::new(format!(
        "SELECT {COLUMNS}{}{} FROM (",
        keyset::select_keys(&keys),
        if counted { ", p.matches" } else { "" }
    ));
    push_page_ids(&mut page, query, &keys, counted);
    page.push(format!(") p, {FROM} WHERE c.id = p.id"))
        .push(keyset::order_by(&keys));
    let (rows, total) = if counted {
        let rows = page.build().fetch_all(pool).await?;
        let total = match rows.first() {
            Some(row) => row.try_get::<i64, _>("matches")?,
            None if query.paging.offset == 0 => 0,
            None => total(pool, &query.filter).await?,
        };
        (rows, total)
    } else {
        tokio::try_join!(page.build().fetch_all(pool), total(pool, &query.filter))?
    };
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

/// Appends a query of the ids of the page (`id`), with `counted` also how
/// many match in all (`matches`; a search, see [`list`]).
fn push_page_ids(
    sql: &mut QueryBuilder<'_, Postgres>,
    query: &ComicQuery,
    keys: &[keyset::Key],
    counted: bool,
) {
    let (limit, offset) = (query.paging.limit, query.paging.offset);
    let ranked = keyset::ranked_by(query.sort).filter(|_| query.filter.search.is_none());
    let (Some(ranked), false) = (ranked, counted) else {
        let columns = if counted {
            ", count(*) OVER () AS matches"
        } else {
            ""
        };
        push_part(sql, query, keys, "", &keyset::order_by(keys), columns);
        sql.push(" LIMIT ")
            .push_bind(limit)
            .push(" OFFSET ")
            .push_bind(offset);
        return;
    };
    push_ranked_page_ids(sql, query, keys, ranked);
}

/// Appends a query of the ids of the page (`id`) sorted by `ranked` (a
/// ranking's count, no search): the ranked comics and the unranked ones
/// read apart, each in the order an index gives, and merged.
fn push_ranked_page_ids(
    sql: &mut QueryBuilder<'_, Postgres>,
    query: &ComicQuery,
    keys: &[keyset::Key],
    ranked: &str,
) {
    let (limit, offset) = (query.paging.limit, query.paging.offset);
    // Each part's first `offset + limit` rows hold the page's rows of that
    // part; the page is cut from both, merged in the order of `keys`.
    let window = offset.saturating_add(limit);
    let outputs: Vec<String> = (0..keys.len()).map(|i| format!("o{i}")).collect();
    let merged: Vec<String> = keys
        .iter()
        .zip(&outputs)
        .map(|(k, o)| format!("{o} {}", if k.desc { "DESC" } else { "ASC" }))
        .collect();
    sql.push("SELECT id FROM ((");
    let columns: String = keys
        .iter()
        .zip(&outputs)
        .map(|(k, o)| format!(", {} AS {o}", k.expr))
        .collect();
    push_part(
        sql,
        query,
        keys,
        &format!(" AND {ranked} > 0"),
        &keyset::order_by(keys),
        &columns,
    );
    sql.push(" LIMIT ").push_bind(window).push(") UNION ALL (");
    // Unranked comics: every key but the id is the same for all of them.
    push_part(
        sql,
        query,
        keys,
        &format!(" AND {ranked} = 0"),
        " ORDER BY c.id",
        &columns,
    );
    sql.push(" LIMIT ")
        .push_bind(window)
        .push(format!(")) u ORDER BY {}", merged.join(", ")))
        .push(" LIMIT ")
        .push_bind(limit)
        .push(" OFFSET ")
        .push_bind(offset);
}

/// Appends `SELECT c.id` and `columns` `FROM … WHERE` the filter, `part`
/// and the cursor, ordered by `order`.
fn push_part(
    sql: &mut QueryBuilder<'_, Postgres>,
    query: &ComicQuery,
    keys: &[keyset::Key],
    part: &str,
    order: &str,
    columns: &str,
) {
    sql.push(format!("SELECT c.id{columns} FROM {FROM}"));
    push_filter(sql, &query.filter);
    sql.push(part);
    if let Some(after) = &query.after {
        keyset::push_after(sql, keys, &after.values);
    }
    sql.push(order);
}

/// How many comics match `filter`: kept by the projector (`filter_counts`)
/// for any filter of at most two genres, a status and a type; counted (from
/// the indexes) with `q` or more genres.
async fn total(pool: &PgPool, filter: &ComicFilter) -> Result<i64, sqlx::Error> {
    if filter.search.is_none() && filter.genres.len() <= 2 {
        let mut genres: Vec<&str> = filter.genres.iter().map(String::as_str).collect();
        genres.sort_unstable();
        let n: Option<i64> = sqlx::query_scalar(
            "SELECT comics FROM catalog.filter_counts \
             WHERE g1 = $1 AND g2 = $2 AND status = $3 AND type = $4",
        )
        .bind(genres.first().copied().unwrap_or(""))
        .bind(genres.get(1).copied().unwrap_or(""))
        .bind(filter.status.map_or("", |s| s.as_str()))
        .bind(filter.kind.map_or("", |k| k.as_str()))
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
