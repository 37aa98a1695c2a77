//! Request bodies of the comic commands, and their parsing into valid
//! domain values (every broken rule reported at once, as a 422).

use comics_common::Problem;
use comics_domain::comic::{ComicChanges, ComicDetails};
use comics_domain::values::{ComicStatus, ComicTitle, ComicType, Description, Genres, NameList};

use crate::fields::{clearable, opt, present, required, Fields};
use serde::Deserialize;

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateComic {
    pub title: String,
    #[serde(default)]
    pub alt_titles: Vec<String>,
    #[serde(default)]
    pub description: String,
    #[serde(default)]
    pub authors: Vec<String>,
    #[serde(default)]
    pub artists: Vec<String>,
    pub status: Option<String>,
    #[serde(rename = "type")]
    pub comic_type: Option<String>,
    #[serde(default)]
    pub genres: Vec<String>,
}

/// A field left out stays as it is; `null` clears a text or list field
/// (`description`, `alt_titles`, `authors`, `artists`, `genres`) and is
/// refused for `title`, `status` and `type`, which cannot be empty.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeComic {
    #[serde(default, deserialize_with = "present")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub alt_titles: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub description: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub authors: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub artists: Option<Option<Vec<String>>>,
    #[serde(default, deserialize_with = "present")]
    pub status: Option<Option<String>>,
    #[serde(rename = "type", default, deserialize_with = "present")]
    pub comic_type: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub genres: Option<Option<Vec<String>>>,
}

impl CreateComic {
    pub fn parse(self) -> Result<ComicDetails, Problem> {
        let mut f = Fields::default();
        let title = f.take(ComicTitle::parse(&self.title));
        let alt_titles = f.take(NameList::parse("alt_titles", &self.alt_titles));
        let description = f.take(Description::parse(&self.description));
        let authors = f.take(NameList::parse("authors", &self.authors));
        let artists = f.take(NameList::parse("artists", &self.artists));
        let status = opt(&mut f, self.status, |s| ComicStatus::parse(&s));
        let comic_type = opt(&mut f, self.comic_type, |s| ComicType::parse(&s));
        let genres = f.take(Genres::parse(&self.genres));
        f.finish()?;
        match (title, alt_titles, description, authors, artists, genres) {
            (
                Some(title),
                Some(alt_titles),
                Some(description),
                Some(authors),
                Some(artists),
                Some(genres),
            ) => Ok(ComicDetails {
                title,
                alt_titles,
                description,
                authors,
                artists,
                status: status.unwrap_or_default(),
                comic_type: comic_type.unwrap_or_default(),
                genres,
            }),
            _ => Err(Problem::validation(vec![])),
        }
    }
}

impl ChangeComic {
    pub fn parse(self) -> Result<ComicChanges, Problem> {
        let mut f = Fields::default();
        let title = f.take(required("title", self.title)).flatten();
        let status = f.take(required("status", self.status)).flatten();
        let comic_type = f.take(required("type", self.comic_type)).flatten();
        let changes = ComicChanges {
            title: opt(&mut f, title, |s| ComicTitle::parse(&s)),
            alt_titles: opt(&mut f, clearable(self.alt_titles), |v| {
                NameList::parse("alt_titles", &v)
            }),
            description: opt(&mut f, clearable(self.description), |s| {
                Description::parse(&s)
            }),
            authors: opt(&mut f, clearable(self.authors), |v| {
                NameList::parse("authors", &v)
            }),
            artists: opt(&mut f, clearable(self.artists), |v| {
                NameList::parse("artists", &v)
            }),
            status: opt(&mut f, status, |s| ComicStatus::parse(&s)),
            comic_type: opt(&mut f, comic_type, |s| ComicType::parse(&s)),
            genres: opt(&mut f, clearable(self.genres), |v| Genres::parse(&v)),
        };
        f.finish()?;
        Ok(changes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_broken_rule_is_reported_at_once() {
        let body: CreateComic = serde_json::from_value(serde_json::json!({
            "title": " ", "status": "paused", "genres": ["Action"]
        }))
        .unwrap();
        let problem = body.parse().unwrap_err();
        assert_eq!(problem.status, 422);
        let fields: Vec<_> = problem.errors.iter().map(|e| e.field.as_str()).collect();
        assert_eq!(fields, ["title", "status", "genres[0]"]);
    }

    #[test]
    fn null_clears_lists_and_is_refused_for_the_title() {
        let body: ChangeComic =
            serde_json::from_value(serde_json::json!({"genres": null, "description": null}))
                .unwrap();
        let changes = body.parse().unwrap();
        assert_eq!(changes.genres, Some(Genres::default()));
        assert_eq!(changes.description, Some(Description::default()));
        let body: ChangeComic = serde_json::from_value(serde_json::json!({"title": null})).unwrap();
        assert_eq!(body.parse().unwrap_err().errors[0].field, "title");
    }

    #[test]
    fn unknown_fields_are_refused() {
        let r: Result<CreateComic, _> =
            serde_json::from_value(serde_json::json!({"title": "x", "titel": "y"}));
        assert!(r.is_err());
    }
}
