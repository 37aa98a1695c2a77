//! Search normalisation, shared by the catalog projector (which stores a
//! comic's search text and grams) and the query side (which normalises `q`
//! the same way), so that `q` matches a title when the normalised title
//! contains the normalised `q`.
//!
//! [`normalize`]: compatibility decomposition (NFKD: full-width Latin and
//! half-width kana become their ordinary forms), Unicode lower case, the
//! accents dropped (the generic combining diacritical marks that Latin,
//! Greek and Cyrillic letters decompose to; script-specific marks such as
//! the kana voicing marks stay), recomposition (NFC: Hangul syllables and
//! voiced kana become one character again), whitespace collapsed and other
//! control characters dropped.
//!
//! [`grams`]: the distinct single characters and character bigrams of each
//! normalised title. A gram index (GIN on `text[]`) answers a `q` of one
//! character exactly and narrows a longer one to the comics holding the
//! bigrams that cover it ([`query_grams`]) — which, unlike `pg_trgm`'s
//! trigrams, works for the 2-character words common in CJK titles.

use std::collections::BTreeSet;

use unicode_normalization::UnicodeNormalization;

/// What separates the titles in a search text: `q` (whitespace collapsed)
/// never contains it, so it never matches across two titles.
pub const TITLE_SEPARATOR: char = '\n';

/// `raw` compared case- and accent-insensitively (see the module docs).
pub fn normalize(raw: &str) -> String {
    let folded: String = raw
        .nfkd()
        .flat_map(char::to_lowercase)
        .nfkd()
        .filter(|c| !is_accent(*c) && (c.is_whitespace() || !c.is_control()))
        .nfc()
        .collect();
    folded.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// The combining marks dropped as accents: the generic combining
/// diacritical blocks (not the marks a script's letters are made of).
fn is_accent(c: char) -> bool {
    matches!(
        c,
        '\u{0300}'..='\u{036F}'
            | '\u{1AB0}'..='\u{1AFF}'
            | '\u{1DC0}'..='\u{1DFF}'
            | '\u{20D0}'..='\u{20FF}'
            | '\u{FE20}'..='\u{FE2F}'
    )
}

/// A comic's stored search columns: its normalised titles joined by
/// [`TITLE_SEPARATOR`], and their [`grams`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SearchText {
    pub text: String,
    pub grams: Vec<String>,
}

impl SearchText {
    /// The search columns of a comic with these titles (title first, then
    /// the alternative titles).
    pub fn of<T: AsRef<str>>(titles: impl IntoIterator<Item = T>) -> Self {
        let titles: Vec<String> = titles.into_iter().map(|t| normalize(t.as_ref())).collect();
        let mut grams = BTreeSet::new();
        for title in &titles {
            grams.extend(grams_of(title));
        }
        Self {
            text: titles.join(&TITLE_SEPARATOR.to_string()),
            grams: grams.into_iter().collect(),
        }
    }
}

/// The grams of one normalised title: each character that is not
/// whitespace, and each pair of adjacent characters.
fn grams_of(title: &str) -> impl Iterator<Item = String> + '_ {
    let chars: Vec<char> = title.chars().collect();
    let singles: Vec<String> = chars
        .iter()
        .filter(|c| !c.is_whitespace())
        .map(|c| c.to_string())
        .collect();
    let pairs: Vec<String> = chars.windows(2).map(|w| w.iter().collect()).collect();
    singles.into_iter().chain(pairs)
}

/// Grams a title must hold to contain the normalised query `q`: its one
/// character, or distinct bigrams that cover every character of it (every
/// other one, and the last): fewer index lookups than all its bigrams, and
/// the `LIKE` recheck makes the answer exact anyway. Empty for an empty `q`.
pub fn query_grams(q: &str) -> Vec<String> {
    let chars: Vec<char> = q.chars().collect();
    let bigram = |i: usize| chars[i..i + 2].iter().collect::<String>();
    let grams: BTreeSet<String> = match chars.len() {
        0 => BTreeSet::new(),
        1 => BTreeSet::from([q.to_string()]),
        n => (0..n - 1).step_by(2).chain([n - 2]).map(bigram).collect(),
    };
    grams.into_iter().collect()
}

#[cfg(test)]
#[path = "search_tests.rs"]
mod tests;
