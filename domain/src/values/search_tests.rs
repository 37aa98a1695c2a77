//! Unit tests of the search normalisation and its grams.

use super::*;

fn grams(list: &[&str]) -> Vec<String> {
    let mut list: Vec<String> = list.iter().map(|g| g.to_string()).collect();
    list.sort();
    list
}

#[test]
fn case_and_accents_are_folded() {
    assert_eq!(normalize("Pokémon"), "pokemon");
    assert_eq!(normalize("POKÉMON"), "pokemon");
    assert_eq!(normalize("Ça Übersetzt ŒUVRE"), "ca ubersetzt œuvre");
    assert_eq!(normalize("Ἀχιλλεύς"), "αχιλλευς");
    assert_eq!(normalize("Ёлка"), "елка");
    // A capital with a dot above lower-cases to i plus a combining dot.
    assert_eq!(normalize("İstanbul"), "istanbul");
}

#[test]
fn compatibility_forms_become_ordinary_ones() {
    assert_eq!(normalize("ＳＯＬＯ　Ｌｅｖｅｌｉｎｇ"), "solo leveling");
    assert_eq!(normalize("ｼﾝｹﾞｷ"), "シンゲキ");
    assert_eq!(normalize("ﬁre"), "fire");
}

#[test]
fn cjk_letters_stay_whole() {
    // Hangul syllables are recomposed: "혼" must not match "호니".
    assert_eq!(normalize("나 혼자만 레벨업"), "나 혼자만 레벨업");
    assert_eq!(normalize("나 혼자만 레벨업").chars().count(), 9);
    // The kana voicing marks are part of the letter, not an accent.
    assert_eq!(normalize("しんげき"), "しんげき");
    assert_ne!(normalize("ばか"), normalize("はか"));
    assert_eq!(normalize("進撃の巨人"), "進撃の巨人");
    assert_eq!(normalize("斗罗大陆"), "斗罗大陆");
}

#[test]
fn whitespace_is_collapsed_and_trimmed() {
    assert_eq!(normalize("  Tower \t of\n\nGod "), "tower of god");
    assert_eq!(normalize("   "), "");
    assert_eq!(normalize("a\u{0}b\u{7f}c"), "abc");
}

#[test]
fn normalising_twice_changes_nothing() {
    for raw in [
        "Pokémon",
        "İstanbul",
        "ｼﾝｹﾞｷ",
        "나 혼자만",
        "Ἀχιλλεύς",
        "ﬁ Ⅻ ß",
    ] {
        let once = normalize(raw);
        assert_eq!(normalize(&once), once, "{raw}");
    }
}

#[test]
fn search_text_joins_titles_and_holds_each_titles_grams() {
    let s = SearchText::of(["Ab C", "혼자"]);
    assert_eq!(s.text, "ab c\n혼자");
    assert_eq!(
        s.grams,
        grams(&["a", "b", "c", "ab", "b ", " c", "혼", "자", "혼자"])
    );
    // No gram spans two titles.
    assert!(!s.grams.iter().any(|g| g.contains(TITLE_SEPARATOR)));
}

#[test]
fn query_grams_are_the_one_character_or_bigrams_covering_every_character() {
    assert_eq!(query_grams(""), Vec::<String>::new());
    assert_eq!(query_grams("a"), grams(&["a"]));
    assert_eq!(query_grams("巨人"), grams(&["巨人"]));
    assert_eq!(query_grams("abc"), grams(&["ab", "bc"]));
    assert_eq!(query_grams("abcd"), grams(&["ab", "cd"]));
    assert_eq!(query_grams("abcde"), grams(&["ab", "cd", "de"]));
    assert_eq!(query_grams("abab"), grams(&["ab"]));
    assert_eq!(query_grams("a b"), grams(&["a ", " b"]));
}

#[test]
fn a_contained_query_has_all_its_grams_in_the_title() {
    let s = SearchText::of(["Solo Leveling", "나 혼자만 레벨업", "進撃の巨人"]);
    for q in ["SOLO", "o l", "혼자", "레벨업", "巨人", "l", "벨"] {
        let q = normalize(q);
        assert!(s.text.contains(&q), "{q}");
        for gram in query_grams(&q) {
            assert!(s.grams.contains(&gram), "{q}: {gram}");
        }
    }
}
