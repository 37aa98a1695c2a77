//! The query string of `GET /comics/{id}/chapters`, parsed.

use comics_common::Problem;
use comics_domain::values::Language;
use serde::Deserialize;

use crate::listing::{bad_value, given, Order, Paging};

/// The raw query string; unknown parameters are ignored.
#[derive(Debug, Default, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ChapterListParams {
    /// Items per page (default 20).
    #[param(value_type = Option<i64>, minimum = 1, maximum = 100)]
    limit: Option<String>,
    /// Items to skip (default 0).
    #[param(value_type = Option<i64>, minimum = 0, maximum = 1_000_000_000)]
    offset: Option<String>,
    /// Only chapters in this language (BCP 47, e.g. `en`).
    language: Option<String>,
    /// `asc` (reading order, default) or `desc`.
    #[param(pattern = "^(asc|desc)$")]
    order: Option<String>,
}

/// A valid chapter list request: reading order (`asc`) unless told otherwise.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChapterQuery {
    pub language: Option<Language>,
    pub order: Order,
    pub paging: Paging,
}

impl ChapterQuery {
    pub fn parse(params: ChapterListParams) -> Result<Self, Problem> {
        Ok(Self {
            language: given(&params.language)
                .map(Language::parse)
                .transpose()
                .map_err(bad_value)?,
            order: Order::parse(given(&params.order), Order::Asc)?,
            paging: Paging::parse(given(&params.limit), given(&params.offset))?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapters_list_in_reading_order_by_default() {
        let q = ChapterQuery::parse(ChapterListParams::default()).unwrap();
        assert_eq!((q.order, q.language), (Order::Asc, None));
    }

    #[test]
    fn a_language_is_a_bcp47_tag_in_canonical_case() {
        let params = ChapterListParams {
            language: Some("pt-br".into()),
            ..Default::default()
        };
        assert_eq!(
            ChapterQuery::parse(params)
                .unwrap()
                .language
                .unwrap()
                .as_str(),
            "pt-BR"
        );
        let params = ChapterListParams {
            language: Some("english!".into()),
            ..Default::default()
        };
        assert_eq!(ChapterQuery::parse(params).unwrap_err().status, 400);
    }
}
