//! The query string of `GET /comics`, parsed into a [`ComicQuery`] that can
//! only hold valid filters, sorts and paging.

use comics_common::Problem;
use comics_domain::values::{ComicStatus, ComicType, Genre};
use serde::Deserialize;

use crate::listing::{bad_param, bad_value, given, Order, Paging};

/// At most as many genres as a comic may carry.
const MAX_GENRES: usize = 20;

/// The raw query string; unknown parameters are ignored.
#[derive(Debug, Default, Deserialize)]
pub struct ListParams {
    limit: Option<String>,
    offset: Option<String>,
    q: Option<String>,
    genre: Option<String>,
    status: Option<String>,
    #[serde(rename = "type")]
    kind: Option<String>,
    sort: Option<String>,
    order: Option<String>,
}

/// Which comics to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComicFilter {
    /// `q` as a `LIKE` pattern body (wildcards escaped), not yet lower-cased.
    pub search: Option<String>,
    /// Every one of these genres must be on the comic.
    pub genres: Vec<String>,
    pub status: Option<ComicStatus>,
    pub kind: Option<ComicType>,
}

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
    fn parse(raw: Option<&str>) -> Result<Self, Problem> {
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

    /// The key expression of a catalog column sort, before the `id`
    /// tie-break; `None` for `rating` and `popularity`, whose orders come
    /// from the ratings and popularity projections.
    pub fn sql(self) -> Option<&'static str> {
        match self {
            Sort::Title => Some("lower(title)"),
            Sort::CreatedAt => Some("created_at"),
            Sort::UpdatedAt => Some("updated_at"),
            Sort::Rating | Sort::Popularity => None,
        }
    }

    fn default_order(self) -> Order {
        match self {
            Sort::Title => Order::Asc,
            Sort::CreatedAt | Sort::UpdatedAt | Sort::Rating | Sort::Popularity => Order::Desc,
        }
    }
}

/// A valid `GET /comics` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComicQuery {
    pub filter: ComicFilter,
    pub sort: Sort,
    pub order: Order,
    pub paging: Paging,
}

impl ComicQuery {
    pub fn parse(params: ListParams) -> Result<Self, Problem> {
        let sort = Sort::parse(given(&params.sort))?;
        Ok(Self {
            filter: ComicFilter {
                search: given(&params.q).and_then(like_pattern),
                genres: parse_genres(given(&params.genre))?,
                status: given(&params.status)
                    .map(ComicStatus::parse)
                    .transpose()
                    .map_err(bad_value)?,
                kind: given(&params.kind)
                    .map(ComicType::parse)
                    .transpose()
                    .map_err(bad_value)?,
            },
            sort,
            order: Order::parse(given(&params.order), sort.default_order())?,
            paging: Paging::parse(given(&params.limit), given(&params.offset))?,
        })
    }
}

/// `q` trimmed, with `LIKE`'s `\`, `%` and `_` escaped; nothing if blank.
fn like_pattern(q: &str) -> Option<String> {
    let q = q.trim();
    if q.is_empty() {
        return None;
    }
    let mut pattern = String::with_capacity(q.len() + 4);
    for c in q.chars() {
        if matches!(c, '\\' | '%' | '_') {
            pattern.push('\\');
        }
        pattern.push(c);
    }
    Some(pattern)
}

/// `genre=a,b`: lower-cased slugs, duplicates removed.
fn parse_genres(raw: Option<&str>) -> Result<Vec<String>, Problem> {
    let mut genres: Vec<String> = Vec::new();
    for part in raw
        .unwrap_or("")
        .split(',')
        .map(str::trim)
        .filter(|p| !p.is_empty())
    {
        let genre = Genre::parse("genre", &part.to_lowercase()).map_err(bad_value)?;
        if !genres.iter().any(|g| g == genre.as_str()) {
            genres.push(genre.as_str().to_string());
        }
    }
    if genres.len() > MAX_GENRES {
        return Err(bad_param(
            "genre",
            format!("must name at most {MAX_GENRES} genres"),
        ));
    }
    Ok(genres)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<ComicQuery, Problem> {
        let map: serde_json::Map<String, serde_json::Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), (*v).into()))
            .collect();
        ComicQuery::parse(serde_json::from_value(map.into()).unwrap())
    }

    #[test]
    fn defaults_are_newest_first() {
        let q = parse(&[]).unwrap();
        assert_eq!((q.sort, q.order), (Sort::CreatedAt, Order::Desc));
        assert_eq!(q.filter, ComicFilter::default());
    }

    #[test]
    fn title_sorts_ascending_unless_told_otherwise() {
        assert_eq!(parse(&[("sort", "title")]).unwrap().order, Order::Asc);
        let q = parse(&[("sort", "title"), ("order", "desc")]).unwrap();
        assert_eq!(q.order, Order::Desc);
    }

    #[test]
    fn rating_sorts_best_first_unless_told_otherwise() {
        let q = parse(&[("sort", "rating")]).unwrap();
        assert_eq!((q.sort, q.order), (Sort::Rating, Order::Desc));
        let q = parse(&[("sort", "rating"), ("order", "asc")]).unwrap();
        assert_eq!(q.order, Order::Asc);
    }

    #[test]
    fn popularity_sorts_most_viewed_first_unless_told_otherwise() {
        let q = parse(&[("sort", "popularity")]).unwrap();
        assert_eq!((q.sort, q.order), (Sort::Popularity, Order::Desc));
        let q = parse(&[("sort", "popularity"), ("order", "asc")]).unwrap();
        assert_eq!(q.order, Order::Asc);
        let p = parse(&[("sort", "views")]).unwrap_err();
        assert_eq!(p.errors[0].field, "sort");
    }

    #[test]
    fn like_wildcards_in_q_are_taken_literally() {
        assert_eq!(like_pattern(r" 100%_a\b "), Some(r"100\%\_a\\b".into()));
        assert_eq!(like_pattern("   "), None);
    }

    #[test]
    fn genres_are_slugs_lowercased_and_deduplicated() {
        assert_eq!(
            parse_genres(Some("Action, fantasy,,action")).unwrap(),
            ["action", "fantasy"]
        );
        assert_eq!(parse_genres(Some("sci fi")).unwrap_err().status, 400);
    }

    #[test]
    fn unknown_status_or_type_is_a_bad_request() {
        assert_eq!(parse(&[("status", "paused")]).unwrap_err().status, 400);
        assert_eq!(parse(&[("type", "novel")]).unwrap_err().status, 400);
        let q = parse(&[("status", "hiatus"), ("type", "webtoon")]).unwrap();
        assert_eq!(q.filter.status, Some(ComicStatus::Hiatus));
        assert_eq!(q.filter.kind, Some(ComicType::Webtoon));
    }
}
