//! The orders of `GET /comics` as lists of sort keys, each an SQL expression
//! over `catalog.comics c` (and `g`, the global rating terms) with its
//! direction, and the opaque `after` cursor that resumes a list just past a
//! row: the row's key values, compared with the keys as a tuple, so a walk
//! never repeats or skips a comic while comics are added.
//!
//! With `q`, relevance comes first (see [`crate::search`]). Rated (viewed)
//! comics come first by their figure, unrated (never viewed)
//! ones after, by id; `order=asc` reverses the ranked part only.

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use sqlx::{Postgres, QueryBuilder};

use comics_common::Problem;

use crate::listing::{bad_param, Order};
use crate::search::{relevance_sql, Search};

/// `sort=`: the orders that have a projection behind them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sort {
    Title,
    CreatedAt,
    UpdatedAt,
    /// By bayesian average (then votes, then id), unrated comics last.
    Rating,
    /// By all-time views (then id), comics never viewed last.
    Popularity,
}

impl Sort {
    pub(super) fn parse(raw: Option<&str>) -> Result<Self, Problem> {
        match raw.unwrap_or("created_at") {
            "title" => Ok(Sort::Title),
            "created_at" => Ok(Sort::CreatedAt),
            "updated_at" => Ok(Sort::UpdatedAt),
            "rating" => Ok(Sort::Rating),
            "popularity" => Ok(Sort::Popularity),
            _ => Err(bad_param(
                "sort",
                "must be one of: title created_at updated_at rating popularity",
            )),
        }
    }

    pub(super) fn default_order(self) -> Order {
        match self {
            Sort::Title => Order::Asc,
            Sort::CreatedAt | Sort::UpdatedAt | Sort::Rating | Sort::Popularity => Order::Desc,
        }
    }
}

/// The Bayesian average over `c` and `g` (as in `document::COLUMNS`), 0
/// without votes.
const BAYESIAN: &str =
    "coalesce((c.votes * (c.score_sum::float8 / NULLIF(c.votes, 0)) + g.m * g.a) \
     / (c.votes + g.m), 0)";
/// The comic's id among ranked comics, the nil id among the others: reversed
/// with the ranked part while the others stay in id order.
const RANKED_ID_BY_VIEWS: &str =
    "(CASE WHEN c.views > 0 THEN c.id ELSE '00000000-0000-0000-0000-000000000000' END)";
const RANKED_ID_BY_VOTES: &str =
    "(CASE WHEN c.votes > 0 THEN c.id ELSE '00000000-0000-0000-0000-000000000000' END)";

/// One sort key: an expression, its SQL type (how a cursor's text is read
/// back) and whether it sorts descending.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Key {
    pub expr: String,
    pub ty: &'static str,
    pub desc: bool,
}

fn key(expr: &str, ty: &'static str, desc: bool) -> Key {
    Key {
        expr: expr.to_string(),
        ty,
        desc,
    }
}

/// The keys of a list: relevance first when `q` is given, then those of
/// `sort` in `order`, the last one unique (the id).
pub fn keys(search: Option<&Search>, sort: Sort, order: Order) -> Vec<Key> {
    let mut keys: Vec<Key> = search
        .map(|s| key(&relevance_sql(s), "int4", false))
        .into_iter()
        .collect();
    keys.extend(sort_keys(sort, order));
    keys
}

fn sort_keys(sort: Sort, order: Order) -> Vec<Key> {
    let desc = order == Order::Desc;
    match sort {
        Sort::Title => vec![
            key("lower(c.title)", "text", desc),
            key("c.id", "uuid", desc),
        ],
        Sort::CreatedAt => vec![
            key("c.created_at", "timestamptz", desc),
            key("c.id", "uuid", desc),
        ],
        Sort::UpdatedAt => vec![
            key("c.updated_at", "timestamptz", desc),
            key("c.id", "uuid", desc),
        ],
        Sort::Popularity => vec![
            key("(c.views > 0)", "bool", true),
            key("c.views", "int8", desc),
            key(RANKED_ID_BY_VIEWS, "uuid", !desc),
            key("c.id", "uuid", false),
        ],
        Sort::Rating => vec![
            key("(c.votes > 0)", "bool", true),
            key(BAYESIAN, "float8", desc),
            key("c.votes", "int4", desc),
            key(RANKED_ID_BY_VOTES, "uuid", !desc),
            key("c.id", "uuid", false),
        ],
    }
}

/// `ORDER BY` over `keys`.
pub fn order_by(keys: &[Key]) -> String {
    let parts: Vec<String> = keys
        .iter()
        .map(|k| format!("{} {}", k.expr, if k.desc { "DESC" } else { "ASC" }))
        .collect();
    format!(" ORDER BY {}", parts.join(", "))
}

/// The key values as text columns `k0, k1, …` (what a cursor is made of).
pub fn select_keys(keys: &[Key]) -> String {
    keys.iter()
        .enumerate()
        .map(|(i, k)| format!(", ({})::text AS k{i}", k.expr))
        .collect()
}

/// The column whose 0 marks the comics a sort lists last, by id alone
/// (never rated, never viewed); none for the sorts that rank every comic.
pub fn ranked_by(sort: Sort) -> Option<&'static str> {
    match sort {
        Sort::Rating => Some("c.votes"),
        Sort::Popularity => Some("c.views"),
        Sort::Title | Sort::CreatedAt | Sort::UpdatedAt => None,
    }
}

/// Appends `AND` the rows strictly after `values` in the order of `keys`:
/// a row comparison when every key runs the same way (which an index scan
/// starts from), else the same comparison spelled out key by key.
pub fn push_after(sql: &mut QueryBuilder<'_, Postgres>, keys: &[Key], values: &[String]) {
    if keys.iter().all(|k| k.desc == keys[0].desc) {
        let exprs: Vec<&str> = keys.iter().map(|k| k.expr.as_str()).collect();
        let beyond = if keys[0].desc { "<" } else { ">" };
        sql.push(format!(" AND ({}) {beyond} (", exprs.join(", ")));
        for (i, (k, value)) in keys.iter().zip(values).enumerate() {
            if i > 0 {
                sql.push(", ");
            }
            sql.push_bind(value.clone()).push(format!("::{}", k.ty));
        }
        sql.push(")");
        return;
    }
    sql.push(" AND (");
    for (i, k) in keys.iter().enumerate() {
        if i > 0 {
            sql.push(" OR ");
        }
        sql.push("(");
        for (earlier, value) in keys[..i].iter().zip(values) {
            sql.push(format!("{} = ", earlier.expr))
                .push_bind(value.clone())
                .push(format!("::{} AND ", earlier.ty));
        }
        let beyond = if k.desc { "<" } else { ">" };
        sql.push(format!("{} {beyond} ", k.expr))
            .push_bind(values[i].clone())
            .push(format!("::{})", k.ty));
    }
    sql.push(")");
}

/// A place in one order of the list: which order, and the key values of the
/// last row seen.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Cursor {
    pub order: String,
    pub values: Vec<String>,
}

impl Cursor {
    /// The name of an order (with the search it ranks by), so that a cursor
    /// is used only with its own.
    pub fn order_name(search: Option<&Search>, sort: Sort, order: Order) -> String {
        let q = search.map(Search::text).unwrap_or_default();
        format!("{sort:?}.{order:?}.{q}")
    }

    pub fn encode(&self) -> String {
        URL_SAFE_NO_PAD.encode(serde_json::to_vec(self).unwrap_or_default())
    }

    /// Reads `after=` for the order `sort`/`order`: 400 naming `after` when it
    /// is not a cursor of that order.
    pub fn decode(
        raw: &str,
        search: Option<&Search>,
        sort: Sort,
        order: Order,
    ) -> Result<Self, Problem> {
        let bad = || {
            bad_param(
                "after",
                "is not a cursor of this list's order (use `next` as given)",
            )
        };
        let bytes = URL_SAFE_NO_PAD.decode(raw.trim()).map_err(|_| bad())?;
        let cursor: Cursor = serde_json::from_slice(&bytes).map_err(|_| bad())?;
        let fits = cursor.order == Self::order_name(search, sort, order)
            && cursor.values.len() == keys(search, sort, order).len();
        fits.then_some(cursor).ok_or_else(bad)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_cursor_is_read_back_only_for_its_own_order() {
        let cursor = Cursor {
            order: Cursor::order_name(None, Sort::Title, Order::Asc),
            values: vec!["solo".into(), uuid::Uuid::nil().to_string()],
        };
        let raw = cursor.encode();
        assert_eq!(
            Cursor::decode(&raw, None, Sort::Title, Order::Asc).unwrap(),
            cursor
        );
        let wrong = Cursor::decode(&raw, None, Sort::Title, Order::Desc).unwrap_err();
        assert_eq!(
            (wrong.status, wrong.errors[0].field.as_str()),
            (400, "after")
        );
        let searched = Search::parse("solo");
        let other_q = Cursor::decode(&raw, searched.as_ref(), Sort::Title, Order::Asc);
        assert_eq!(other_q.unwrap_err().status, 400);
        assert_eq!(
            Cursor::decode("%%%", None, Sort::Title, Order::Asc)
                .unwrap_err()
                .status,
            400
        );
    }
}
