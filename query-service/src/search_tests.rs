//! Unit tests of `q`'s parsing and SQL.

use super::*;

fn search(q: &str) -> Search {
    Search::parse(q).expect("a non-empty q")
}

#[test]
fn q_is_normalised_and_blank_is_no_search() {
    assert_eq!(search("  POKÉMON  Go ").text(), "pokemon go");
    assert_eq!(Search::parse("   "), None);
    assert_eq!(Search::parse("\u{301}"), None);
}

#[test]
fn one_character_needs_its_gram_and_more_need_bigrams() {
    assert_eq!(search("A").grams, ["a"]);
    assert_eq!(search("혼자").grams, ["혼자"]);
    assert_eq!(search("lalal").grams, ["al", "la"]);
}

#[test]
fn like_wildcards_in_q_are_taken_literally() {
    assert_eq!(search(r" 100%_a\b ").like, r"100\%\_a\\b");
}

#[test]
fn q_is_inlined_as_escaped_literals() {
    assert_eq!(literal("it's a\\b\nc"), r"E'it''s a\\b\nc'");
    let sql = relevance_sql(&search(r"o'neil 50%\"));
    assert!(sql.contains(r"E'% o''neil 50\\%\\\\%'"), "{sql}");
}

#[test]
fn relevance_prefers_equal_then_prefix_then_word_then_contains() {
    let q = search("Solo");
    assert_eq!(q.relevance("solo"), 0);
    assert_eq!(q.relevance("solo leveling\nsolo"), 0);
    assert_eq!(q.relevance("solo leveling"), 1);
    assert_eq!(q.relevance("a\nsolo leveling"), 1);
    assert_eq!(q.relevance("the solo leveling"), 2);
    assert_eq!(q.relevance("consolo"), 3);
}
