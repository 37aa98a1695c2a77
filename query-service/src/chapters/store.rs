//! Reading chapters from `catalog.chapters`; a chapter whose comic is gone
//! is never served.

use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use super::document::{ChapterDocument, ChapterRow, ChapterSummary, COLUMNS};
use super::query::ChapterQuery;

pub async fn comic_exists(pool: &PgPool, comic_id: Uuid) -> Result<bool, sqlx::Error> {
    sqlx::query_scalar("SELECT EXISTS (SELECT 1 FROM catalog.comics WHERE id = $1)")
        .bind(comic_id)
        .fetch_one(pool)
        .await
}

/// One page of a comic's chapters by numeric value, and how many match.
#[tracing::instrument(skip_all, fields(comic_id = %comic_id))]
pub async fn list(
    pool: &PgPool,
    comic_id: Uuid,
    query: &ChapterQuery,
) -> Result<(Vec<ChapterSummary>, i64), sqlx::Error> {
    let mut count = QueryBuilder::<Postgres>::new("SELECT count(*) FROM catalog.chapters ch");
    push_filter(&mut count, comic_id, query);
    let total: i64 = count.build_query_scalar().fetch_one(pool).await?;

    let mut page =
        QueryBuilder::<Postgres>::new(format!("SELECT {COLUMNS} FROM catalog.chapters ch"));
    push_filter(&mut page, comic_id, query);
    let order = query.order.sql();
    page.push(format!(" ORDER BY ch.number_sort {order}, ch.id {order}"))
        .push(" LIMIT ")
        .push_bind(query.paging.limit)
        .push(" OFFSET ")
        .push_bind(query.paging.offset);
    let items = page
        .build_query_as::<ChapterSummary>()
        .fetch_all(pool)
        .await?;
    Ok((items, total))
}

fn push_filter(sql: &mut QueryBuilder<'_, Postgres>, comic_id: Uuid, query: &ChapterQuery) {
    sql.push(" WHERE ch.comic_id = ").push_bind(comic_id);
    if let Some(language) = &query.language {
        sql.push(" AND ch.language = ")
            .push_bind(language.as_str().to_string());
    }
}

/// The chapter with this id and its neighbours of the same comic and
/// language in reading order (`number_sort`, then id), if it and its comic exist.
#[tracing::instrument(skip_all, fields(chapter_id = %id))]
pub async fn find(pool: &PgPool, id: Uuid) -> Result<Option<ChapterDocument>, sqlx::Error> {
    let sql = format!(
        "SELECT {COLUMNS}, prev.id AS prev_id, prev.number AS prev_number, \
                next.id AS next_id, next.number AS next_number \
         FROM catalog.chapters ch \
         JOIN catalog.comics c ON c.id = ch.comic_id \
         LEFT JOIN LATERAL ({}) prev ON true \
         LEFT JOIN LATERAL ({}) next ON true \
         WHERE ch.id = $1",
        neighbour("<", "DESC"),
        neighbour(">", "ASC"),
    );
    let row = sqlx::query_as::<_, ChapterRow>(&sql)
        .bind(id)
        .fetch_optional(pool)
        .await?;
    Ok(row.map(ChapterDocument::from))
}

/// The closest chapter of `ch`'s comic and language on one side of it.
fn neighbour(side: &str, order: &str) -> String {
    format!(
        "SELECT o.id, o.number FROM catalog.chapters o \
         WHERE o.comic_id = ch.comic_id AND o.language = ch.language \
           AND (o.number_sort, o.id) {side} (ch.number_sort, ch.id) \
         ORDER BY o.number_sort {order}, o.id {order} LIMIT 1"
    )
}
