//! Value types of a chapter.

use super::{bounded_text, FieldError};
use serde::{Deserialize, Serialize};

/// A chapter's display number (`^\d{1,5}(\.\d{1,2})?$`), kept in canonical
/// form: no leading zeros, no trailing fractional zeros ("012.50" is "12.5"),
/// so numbers equal in value are equal as values.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChapterNumber(String);

impl ChapterNumber {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let err = || {
            FieldError::new(
                "number",
                "must be 1-5 digits, optionally followed by a dot and 1-2 digits",
            )
        };
        let (int, frac) = match raw.split_once('.') {
            Some((i, f)) => (i, Some(f)),
            None => (raw, None),
        };
        let digits = |s: &str, max: usize| {
            (1..=max).contains(&s.len()) && s.bytes().all(|b| b.is_ascii_digit())
        };
        if !digits(int, 5) || frac.is_some_and(|f| !digits(f, 2)) {
            return Err(err());
        }
        let int = int.trim_start_matches('0');
        let int = if int.is_empty() { "0" } else { int };
        let frac = frac.map(|f| f.trim_end_matches('0')).unwrap_or("");
        Ok(Self(if frac.is_empty() {
            int.to_string()
        } else {
            format!("{int}.{frac}")
        }))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The numeric value in hundredths, for sorting ("12.5" → 1250).
    pub fn sort_key(&self) -> i64 {
        let (int, frac) = self.0.split_once('.').unwrap_or((&self.0, ""));
        let int: i64 = int.parse().unwrap_or(0);
        let frac: i64 = format!("{frac:0<2}").parse().unwrap_or(0);
        int * 100 + frac
    }
}

/// A BCP 47 language tag such as `en`, `pt-BR` or `zh-Hant`, in canonical case.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Language(String);

impl Default for Language {
    fn default() -> Self {
        Self("en".into())
    }
}

impl Language {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        let err = || {
            FieldError::new(
                "language",
                "must be a BCP 47 language tag such as en or pt-BR",
            )
        };
        let mut parts = raw.split('-');
        let primary = parts.next().unwrap_or_default();
        if !(2..=3).contains(&primary.len()) || !primary.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(err());
        }
        let mut tag = primary.to_ascii_lowercase();
        for part in parts {
            let ok =
                (2..=8).contains(&part.len()) && part.bytes().all(|b| b.is_ascii_alphanumeric());
            if !ok {
                return Err(err());
            }
            tag.push('-');
            tag.push_str(&canonical_subtag(part));
        }
        if tag.len() > 35 {
            return Err(err());
        }
        Ok(Self(tag))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

fn canonical_subtag(part: &str) -> String {
    match part.len() {
        2 if part.bytes().all(|b| b.is_ascii_alphabetic()) => part.to_ascii_uppercase(),
        4 if part.bytes().all(|b| b.is_ascii_alphabetic()) => {
            let lower = part.to_ascii_lowercase();
            lower[..1].to_ascii_uppercase() + &lower[1..]
        }
        _ => part.to_ascii_lowercase(),
    }
}

/// A chapter's title: 1–200 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct ChapterTitle(String);

impl ChapterTitle {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("title", raw, 1, 200).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// A volume label such as "2" or "2b": 1–20 characters after trimming.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Volume(String);

impl Volume {
    pub fn parse(raw: &str) -> Result<Self, FieldError> {
        bounded_text("volume", raw, 1, 20).map(Self)
    }
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chapter_numbers_are_canonical() {
        assert_eq!(ChapterNumber::parse("012.50").unwrap().as_str(), "12.5");
        assert_eq!(ChapterNumber::parse("12.0").unwrap().as_str(), "12");
        assert_eq!(ChapterNumber::parse("0").unwrap().as_str(), "0");
        assert_eq!(ChapterNumber::parse("12.05").unwrap().sort_key(), 1205);
        assert_eq!(ChapterNumber::parse("12.5").unwrap().sort_key(), 1250);
        for bad in ["", "123456", "1.234", "1.", ".5", "-1", "1e3", "١"] {
            assert!(ChapterNumber::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn languages_are_bcp47_in_canonical_case() {
        assert_eq!(Language::parse("EN").unwrap().as_str(), "en");
        assert_eq!(Language::parse("pt-br").unwrap().as_str(), "pt-BR");
        assert_eq!(Language::parse("zh-hant").unwrap().as_str(), "zh-Hant");
        for bad in ["", "e", "english", "en_US", "en-", "en-x"] {
            assert!(Language::parse(bad).is_err(), "{bad}");
        }
    }
}
