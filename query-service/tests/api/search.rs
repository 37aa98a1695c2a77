//! `GET /comics?q=`: titles and alternative titles in any script, case- and
//! accent-insensitively, ranked by relevance, then by the requested sort.

use crate::helpers::{ids, json, TestApp};
use crate::seeds::ComicSeed;

fn with_alts(title: &str, alts: &[&str]) -> ComicSeed {
    let mut seed = ComicSeed::titled(title);
    seed.alt_titles = alts.iter().map(|a| a.to_string()).collect();
    seed
}

/// The ids `q` (percent-encoded here) finds, sorted, and the total.
async fn found(app: &TestApp, q: &str) -> (Vec<String>, i64) {
    let q: String = q
        .bytes()
        .map(|b| match b {
            b'a'..=b'z' | b'A'..=b'Z' | b'0'..=b'9' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect();
    let body = json(app.get_comics(&format!("q={q}&limit=100")).await, 200).await;
    let mut found = ids(&body);
    found.sort();
    (found, body["total"].as_i64().unwrap())
}

fn owned(list: &[&String]) -> Vec<String> {
    list.iter().map(|id| id.to_string()).collect()
}

async fn expect(app: &TestApp, q: &str, expected: &[&String]) {
    let mut expected = owned(expected);
    expected.sort();
    let total = expected.len() as i64;
    assert_eq!(found(app, q).await, (expected, total), "q={q}");
}

#[tokio::test]
async fn q_finds_any_word_of_any_title_in_any_script_ignoring_case_and_accents() {
    let app = &TestApp::spawn().await;
    let insert = |seed| async move { app.insert_comic(seed).await.to_string() };
    let solo = insert(with_alts(
        "Solo Leveling",
        &["나 혼자만 레벨업", "Only I Level Up"],
    ))
    .await;
    let titan = insert(with_alts(
        "Attack on Titan",
        &["進撃の巨人", "しんげきのきょじん"],
    ))
    .await;
    let douluo = insert(with_alts("Douluo Dalu", &["斗罗大陆"])).await;
    let pokemon = insert(with_alts("Pokémon Adventures", &[])).await;
    let pocket = insert(with_alts("Pocket Monsters", &["pokemon"])).await;

    for (q, expected) in [
        ("레벨업", vec![&solo]),
        ("혼자", vec![&solo]),
        ("巨人", vec![&titan]),
        ("しんげき", vec![&titan]),
        ("大陆", vec![&douluo]),
        ("SOLO", vec![&solo]),
        ("ｓｏｌｏ", vec![&solo]),
        ("only i", vec![&solo]),
        ("pokemon", vec![&pokemon, &pocket]),
        ("POKÉMON", vec![&pokemon, &pocket]),
        ("  Pokémon   ADVENTURES ", vec![&pokemon]),
        // One character: Hangul, Han, a letter in either case.
        ("혼", vec![&solo]),
        ("陆", vec![&douluo]),
        ("U", vec![&solo, &douluo, &pokemon]),
        ("é", vec![&solo, &pokemon, &pocket]),
    ] {
        expect(app, q, &expected).await;
    }
    // Never across two titles, nor a syllable inside another.
    for q in ["leveling 나", "업 only", "호", "혼자만레벨업", "pokemons"] {
        expect(app, q, &[]).await;
    }
}

#[tokio::test]
async fn like_wildcards_in_q_are_taken_literally_even_alone() {
    let app = &TestApp::spawn().await;
    let percent = app
        .insert_comic(ComicSeed::titled("100% Love"))
        .await
        .to_string();
    app.insert_comic(ComicSeed::titled("100 Love")).await;
    let underscore = app.insert_comic(ComicSeed::titled("a_b")).await.to_string();
    app.insert_comic(ComicSeed::titled("axb")).await;
    let backslash = app
        .insert_comic(ComicSeed::titled(r"c\d"))
        .await
        .to_string();
    let quote = app
        .insert_comic(ComicSeed::titled("O'Neil"))
        .await
        .to_string();

    expect(app, "100%", &[&percent]).await;
    expect(app, "%", &[&percent]).await;
    expect(app, "a_b", &[&underscore]).await;
    expect(app, "_", &[&underscore]).await;
    expect(app, r"c\d", &[&backslash]).await;
    expect(app, r"\", &[&backslash]).await;
    expect(app, "o'n", &[&quote]).await;
}

#[tokio::test]
async fn relevance_comes_first_then_the_requested_sort() {
    let app = &TestApp::spawn().await;
    let insert = |seed: ComicSeed, minutes| async move {
        app.insert_comic(seed.created(minutes)).await.to_string()
    };
    let lonely = insert(with_alts("Lonely", &["Solo"]), 1).await; // an alt title equals q
    let equal = insert(ComicSeed::titled("SOLO"), 2).await; // the title equals q
    let leveling = insert(ComicSeed::titled("Solo Leveling"), 3).await; // starts with q
    let word = insert(ComicSeed::titled("The Solo Hunter"), 4).await; // a word starts with q
    let contains = insert(ComicSeed::titled("Consolo"), 5).await; // contains q
    let camping = insert(with_alts("Camping", &["Solo Camping"]), 6).await; // an alt starts with q
    app.insert_comic(ComicSeed::titled("Unrelated").created(7))
        .await;

    let listed = |query: &'static str| async move {
        let body = json(app.get_comics(query).await, 200).await;
        assert_eq!(body["total"], 6, "{query}");
        ids(&body)
    };
    assert_eq!(
        listed("q=solo").await,
        owned(&[&equal, &lonely, &camping, &leveling, &word, &contains])
    );
    assert_eq!(
        listed("q=solo&sort=created_at&order=asc").await,
        owned(&[&lonely, &equal, &leveling, &camping, &word, &contains])
    );
    assert_eq!(
        listed("q=Solo&sort=title").await,
        owned(&[&lonely, &equal, &camping, &leveling, &word, &contains])
    );
    assert_eq!(
        listed("q=solo&limit=2&offset=2").await,
        owned(&[&camping, &leveling])
    );
}
