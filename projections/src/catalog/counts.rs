//! How many live comics match each list filter whose total is kept: in
//! all, per status and per type (the `counts` table), and per combination
//! of up to two genres with or without a status and a type (the
//! `filter_counts` table), moved around each Comic event so list totals
//! need not count rows.

use sqlx::PgConnection;
use uuid::Uuid;

/// A comic's status, type and genres, if the catalog has it.
pub(super) type Kind = Option<(String, String, Vec<String>)>;

pub(super) async fn kind_of(db: &mut PgConnection, s: &str, comic: Uuid) -> anyhow::Result<Kind> {
    Ok(sqlx::query_as(&format!(
        "SELECT status, type, genres FROM {s}.comics WHERE id = $1"
    ))
    .bind(comic)
    .fetch_optional(&mut *db)
    .await?)
}

/// One `filter_counts` key: two genres (`g1 < g2` in byte order, `""` for
/// none), a status and a type (`""` for any).
pub type FilterKey = (String, String, String, String);

/// The `filter_counts` keys a comic with these genres, status and type is
/// counted under: every set of at most two of its genres (the empty set
/// too), each with and without its status and its type. A list filtered by
/// at most two genres, a status and a type reads its total under the key
/// made the same way from the filter (see the query service's
/// `comics::store`).
pub fn filter_keys(genres: &[String], status: &str, kind: &str) -> Vec<FilterKey> {
    let mut genres: Vec<&str> = genres.iter().map(String::as_str).collect();
    genres.sort_unstable();
    genres.dedup();
    let mut sets: Vec<(&str, &str)> = vec![("", "")];
    for (i, a) in genres.iter().enumerate() {
        sets.push((a, ""));
        for b in &genres[i + 1..] {
            sets.push((a, b));
        }
    }
    let mut keys = Vec::with_capacity(sets.len() * 4);
    for (g1, g2) in sets {
        for st in ["", status] {
            for ty in ["", kind] {
                keys.push((g1.into(), g2.into(), st.into(), ty.into()));
            }
        }
    }
    keys
}

/// The `counts` keys a comic of this status and type is counted under.
pub(super) fn keys_of(status: &str, kind: &str) -> [String; 3] {
    [
        "all".to_string(),
        format!("status:{status}"),
        format!("type:{kind}"),
    ]
}

/// The `filter_keys` of a comic as four columns (for `unnest`).
pub(super) fn filter_columns(genres: &[String], status: &str, kind: &str) -> [Vec<String>; 4] {
    let mut columns: [Vec<String>; 4] = Default::default();
    for (g1, g2, st, ty) in filter_keys(genres, status, kind) {
        for (column, value) in columns.iter_mut().zip([g1, g2, st, ty]) {
            column.push(value);
        }
    }
    columns
}

/// Moves the counts from the comic's kind `before` an event to `after` it.
pub(super) async fn moved(
    db: &mut PgConnection,
    s: &str,
    before: Kind,
    after: Kind,
) -> anyhow::Result<()> {
    if before == after {
        return Ok(());
    }
    let mut keys: Vec<String> = Vec::new();
    let mut deltas: Vec<i64> = Vec::new();
    let mut filters: [Vec<String>; 4] = Default::default();
    let mut filter_deltas: Vec<i64> = Vec::new();
    for (kind, delta) in [(&before, -1), (&after, 1)] {
        if let Some((status, kind, genres)) = kind {
            for key in keys_of(status, kind) {
                keys.push(key);
                deltas.push(delta);
            }
            let columns = filter_columns(genres, status, kind);
            filter_deltas.extend(std::iter::repeat_n(delta, columns[0].len()));
            for (column, values) in filters.iter_mut().zip(columns) {
                column.extend(values);
            }
        }
    }
    sqlx::query(&format!(
        "WITH kept AS ( \
           INSERT INTO {s}.counts AS c (key, comics) \
           SELECT key, sum(delta) FROM unnest($1::text[], $2::bigint[]) AS d(key, delta) GROUP BY key \
           ON CONFLICT (key) DO UPDATE SET comics = c.comics + EXCLUDED.comics) \
         INSERT INTO {s}.filter_counts AS f (g1, g2, status, type, comics) \
         SELECT g1, g2, st, ty, sum(delta) \
         FROM unnest($3::text[], $4::text[], $5::text[], $6::text[], $7::bigint[]) AS d(g1, g2, st, ty, delta) \
         GROUP BY g1, g2, st, ty HAVING sum(delta) <> 0 \
         ON CONFLICT (g1, g2, status, type) DO UPDATE SET comics = f.comics + EXCLUDED.comics"
    ))
    .bind(&keys)
    .bind(&deltas)
    .bind(&filters[0])
    .bind(&filters[1])
    .bind(&filters[2])
    .bind(&filters[3])
    .bind(&filter_deltas)
    .execute(&mut *db)
    .await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_comic_is_counted_under_every_pair_of_its_genres_with_and_without_status_and_type() {
        let genres = ["romance".to_string(), "action".into(), "drama".into()];
        let keys = filter_keys(&genres, "ongoing", "manga");
        // {}, 3 singles, 3 pairs; each × 4.
        assert_eq!(keys.len(), 7 * 4);
        let key = |a: &str, b: &str, st: &str, ty: &str| (a.into(), b.into(), st.into(), ty.into());
        assert!(keys.contains(&key("", "", "", "")));
        assert!(keys.contains(&key("action", "romance", "ongoing", "")));
        assert!(keys.contains(&key("drama", "", "", "manga")));
        assert!(keys.contains(&key("action", "drama", "ongoing", "manga")));
        assert!(
            !keys.contains(&key("romance", "action", "", "")),
            "pairs are ordered"
        );
        let unique: std::collections::BTreeSet<_> = keys.iter().collect();
        assert_eq!(unique.len(), keys.len());
    }
}
