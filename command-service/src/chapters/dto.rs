//! Request bodies of the chapter commands and their parsing.

use chrono::{DateTime, Utc};
use comics_common::Problem;
use comics_domain::chapter::{ChapterChanges, NewChapter};
use comics_domain::values::{ChapterNumber, ChapterTitle, Language, Volume};
use serde::{Deserialize, Deserializer};
use uuid::Uuid;

use crate::fields::{opt, Fields};

#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateChapter {
    pub number: String,
    pub title: Option<String>,
    pub volume: Option<String>,
    pub language: Option<String>,
    pub published_at: Option<DateTime<Utc>>,
}

/// `title` and `volume` may be set to `null` to clear them.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ChangeChapter {
    pub number: Option<String>,
    #[serde(default, deserialize_with = "present")]
    pub title: Option<Option<String>>,
    #[serde(default, deserialize_with = "present")]
    pub volume: Option<Option<String>>,
    pub published_at: Option<DateTime<Utc>>,
}

fn present<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(d).map(Some)
}

impl CreateChapter {
    pub fn parse(self, comic_id: Uuid) -> Result<NewChapter, Problem> {
        let mut f = Fields::default();
        let number = f.take(ChapterNumber::parse(&self.number));
        let title = opt(&mut f, self.title, |s| ChapterTitle::parse(&s));
        let volume = opt(&mut f, self.volume, |s| Volume::parse(&s));
        let language = opt(&mut f, self.language, |s| Language::parse(&s));
        f.finish()?;
        Ok(NewChapter {
            comic_id,
            number: number.ok_or_else(|| Problem::validation(vec![]))?,
            language: language.unwrap_or_default(),
            title,
            volume,
            published_at: self.published_at.unwrap_or_else(Utc::now),
        })
    }
}

impl ChangeChapter {
    pub fn parse(self) -> Result<ChapterChanges, Problem> {
        let mut f = Fields::default();
        let number = opt(&mut f, self.number, |s| ChapterNumber::parse(&s));
        let title = self
            .title
            .map(|t| opt(&mut f, t, |s| ChapterTitle::parse(&s)));
        let volume = self.volume.map(|v| opt(&mut f, v, |s| Volume::parse(&s)));
        f.finish()?;
        Ok(ChapterChanges {
            number,
            title,
            volume,
            published_at: self.published_at,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn null_clears_a_title_and_absence_keeps_it() {
        let clear: ChangeChapter = serde_json::from_str(r#"{"title": null}"#).unwrap();
        assert_eq!(clear.parse().unwrap().title, Some(None));
        let keep: ChangeChapter = serde_json::from_str("{}").unwrap();
        assert_eq!(keep.parse().unwrap().title, None);
    }

    #[test]
    fn a_bad_number_and_language_are_both_reported() {
        let body: CreateChapter =
            serde_json::from_str(r#"{"number": "1.234", "language": "english"}"#).unwrap();
        let p = body.parse(Uuid::nil()).unwrap_err();
        assert_eq!(p.errors.len(), 2);
    }
}
