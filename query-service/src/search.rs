//! `q` of `GET /comics`: the comics whose title or an alternative title
//! contains `q`, case- and accent-insensitively (both sides normalised by
//! [`comics_domain::values::normalize`]), found through the gram index of
//! `catalog.comics` and ranked by relevance.
//!
//! The catalog projector keeps each comic's normalised titles in
//! `search_text` (joined by a newline, which `q` never contains) and their
//! distinct characters and character bigrams in `search_grams` (GIN). A `q`
//! of one character is answered by the index alone (its one gram); a longer
//! one by the comics holding the bigrams that cover it (the index),
//! rechecked with `LIKE` for the exact "contains". Bigrams, unlike `pg_trgm`'s trigrams,
//! also index the 2-character words common in Korean, Japanese and Chinese.

use comics_domain::values::{normalize, query_grams, TITLE_SEPARATOR};
use sqlx::{Postgres, QueryBuilder};

/// A non-empty `q`, normalised.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Search {
    /// `q` normalised.
    text: String,
    /// `text` as a `LIKE` pattern body (`\`, `%` and `_` escaped with `\`).
    like: String,
    /// What a comic's `search_grams` must contain.
    grams: Vec<String>,
}

impl Search {
    /// `q` normalised; nothing when that leaves it empty (no filter).
    pub fn parse(q: &str) -> Option<Self> {
        let text = normalize(q);
        if text.is_empty() {
            return None;
        }
        Some(Self {
            like: like_body(&text),
            grams: query_grams(&text),
            text,
        })
    }

    /// The normalised `q`.
    pub fn text(&self) -> &str {
        &self.text
    }

    /// What [`relevance_sql`] gives for a comic with this `search_text`.
    pub fn relevance(&self, search_text: &str) -> i32 {
        let q = self.text.as_str();
        let mut titles = search_text.split(TITLE_SEPARATOR);
        if titles.clone().any(|t| t == q) {
            0
        } else if titles.any(|t| t.starts_with(q)) {
            1
        } else if search_text.contains(&format!(" {q}")) {
            2
        } else {
            3
        }
    }
}

/// `text` with `LIKE`'s `\`, `%` and `_` escaped.
fn like_body(text: &str) -> String {
    let mut body = String::with_capacity(text.len() + 4);
    for c in text.chars() {
        if matches!(c, '\\' | '%' | '_') {
            body.push('\\');
        }
        body.push(c);
    }
    body
}

/// Appends ` AND` the comics that match `search` (to a `WHERE` clause over
/// `catalog.comics`, whatever its alias): the gram index, then the exact
/// recheck.
pub fn push_search(sql: &mut QueryBuilder<'_, Postgres>, search: &Search) {
    sql.push(" AND search_grams @> ")
        .push_bind(search.grams.clone())
        .push("::text[] AND search_text LIKE ")
        .push_bind(format!("%{}%", search.like))
        .push(r" ESCAPE E'\\'");
}

/// The relevance of a matching comic, best first (sort ascending): 0 when a
/// title or an alternative title equals `q`, 1 when one starts with it, 2
/// when a word in one starts with it, else 3 (it contains it). An `int4`
/// expression over `search_text` with `q` inlined as escaped literals (no
/// bind parameters), so it can serve as a cursor key as well as in
/// `ORDER BY` and the select list.
pub fn relevance_sql(search: &Search) -> String {
    let s = TITLE_SEPARATOR;
    let like = &search.like;
    let exact = literal(&format!("%{s}{like}{s}%"));
    let prefix = literal(&format!("%{s}{like}%"));
    let word = literal(&format!("% {like}%"));
    let sep = literal(&s.to_string());
    format!(
        "(CASE WHEN {sep} || search_text || {sep} LIKE {exact} ESCAPE E'\\\\' THEN 0 \
         WHEN {sep} || search_text LIKE {prefix} ESCAPE E'\\\\' THEN 1 \
         WHEN search_text LIKE {word} ESCAPE E'\\\\' THEN 2 ELSE 3 END)"
    )
}

/// `text` as an SQL escape-string literal (`E'…'`), whatever the server's
/// `standard_conforming_strings`; `text` holds no control character but
/// the title separator (see [`normalize`]).
fn literal(text: &str) -> String {
    let mut out = String::with_capacity(text.len() + 4);
    out.push_str("E'");
    for c in text.chars() {
        match c {
            '\\' => out.push_str(r"\\"),
            '\'' => out.push_str("''"),
            '\n' => out.push_str(r"\n"),
            c => out.push(c),
        }
    }
    out.push('\'');
    out
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
