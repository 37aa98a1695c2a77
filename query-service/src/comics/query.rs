//! The query string of `GET /comics`, parsed into a [`ComicQuery`] that can
//! only hold valid filters, sorts and paging.

use comics_common::Problem;
use comics_domain::values::{ComicStatus, ComicType, Genre};
use serde::Deserialize;

use super::keyset::{Cursor, Sort};
use crate::listing::{bad_param, bad_value, given, Order, Paging};

/// At most as many genres as a comic may carry.
const MAX_GENRES: usize = 20;

/// The raw query string; unknown parameters are ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ListParams {
    /// Items per page (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0); not with `after`.
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
    /// Words matched, case- and accent-insensitively, against titles and alternative titles.
    q: Option<String>,
    /// Comma-separated genre slugs; a comic must carry every one.
    genre: Option<String>,
    /// `ongoing`, `completed`, `hiatus` or `cancelled`.
    #[param(pattern = "^(ongoing|completed|hiatus|cancelled)$")]
    status: Option<String>,
    /// `manga`, `manhwa`, `manhua`, `webtoon` or `comic`.
    #[serde(rename = "type")]
    #[param(pattern = "^(manga|manhwa|manhua|webtoon|comic)$")]
    kind: Option<String>,
    /// `title`, `created_at` (default), `updated_at`, `rating` or `popularity`.
    #[param(pattern = "^(title|created_at|updated_at|rating|popularity)$")]
    sort: Option<String>,
    /// `asc` or `desc` (default `desc`, `asc` for `title`).
    #[param(pattern = "^(asc|desc)$")]
    order: Option<String>,
    /// The `next` of the previous page (same `q`, `sort` and `order`).
    after: Option<String>,
}

/// Which comics to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComicFilter {
    /// `q`, normalised (none when blank).
    pub search: Option<crate::search::Search>,
    /// Every one of these genres must be on the comic.
    pub genres: Vec<String>,
    pub status: Option<ComicStatus>,
    pub kind: Option<ComicType>,
}

/// A valid `GET /comics` request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ComicQuery {
    pub filter: ComicFilter,
    pub sort: Sort,
    pub order: Order,
    pub paging: Paging,
    /// Resume just past this place (`after=`, the `next` of a page).
    pub after: Option<Cursor>,
}

impl ComicQuery {
    pub fn parse(params: ListParams) -> Result<Self, Problem> {
        let sort = Sort::parse(given(&params.sort))?;
        let order = Order::parse(given(&params.order), sort.default_order())?;
        let paging = Paging::parse(given(&params.limit), given(&params.offset))?;
        let search = given(&params.q).and_then(crate::search::Search::parse);
        let after = given(&params.after)
            .map(|raw| Cursor::decode(raw, search.as_ref(), sort, order))
            .transpose()?;
        if after.is_some() && paging.offset > 0 {
            return Err(bad_param("offset", "cannot be given with `after`"));
        }
        Ok(Self {
            filter: ComicFilter {
                search,
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
            order,
            paging,
            after,
        })
    }
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
