//! The SQL of `q` (`comics_query::search`): answered from the gram index,
//! not by a scan of every title, and its relevance in SQL the same as in
//! Rust, whatever `q` holds.

use comics_domain::values::SearchText;
use comics_query::search::{push_search, relevance_sql, Search};
use serde_json::Value;
use sqlx::{PgPool, Postgres, QueryBuilder};
use uuid::Uuid;

use crate::helpers::{at, TestApp};

const WORDS: [&str; 8] = [
    "Comic", "Tower", "Sword", "Moon", "Dragon", "Sky", "Hunter", "Academy",
];

/// `count` characters from `n` in the block starting at `first` of `size`.
fn chars_from(n: u32, first: u32, size: u32, count: u32) -> String {
    (0..count)
        .map(|k| char::from_u32(first + (n * 7919 + k * 131) % size).unwrap())
        .collect()
}

/// The titles of the `n`th of many comics: a Latin title, a Hangul and a
/// Han alternative title.
fn titles(n: u32) -> Vec<String> {
    vec![
        format!("{} {n}", WORDS[n as usize % WORDS.len()]),
        chars_from(n, 0xAC00, 11172, 3),
        chars_from(n, 0x4E00, 20000, 3),
    ]
}

/// `count` comics inserted in one statement, with the search columns the
/// projector would compute.
async fn insert_many(pool: &PgPool, count: u32) {
    let mut ids = Vec::new();
    let (mut title, mut alts, mut text, mut grams) = (vec![], vec![], vec![], vec![]);
    for n in 0..count {
        let t = titles(n);
        let search = SearchText::of(&t);
        ids.push(Uuid::now_v7());
        title.push(t[0].clone());
        alts.push(t[1..].join("\u{1f}"));
        text.push(search.text);
        grams.push(search.grams.join("\u{1f}"));
    }
    sqlx::query(
        "INSERT INTO catalog.comics (id, title, alt_titles, status, type, search_text, \
           search_grams, created_at, updated_at, version) \
         SELECT id, title, string_to_array(alts, E'\\x1f'), 'ongoing', 'manga', text, \
           string_to_array(grams, E'\\x1f'), $6, $6, 1 \
         FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::text[]) \
           AS r(id, title, alts, text, grams)",
    )
    .bind(ids)
    .bind(title)
    .bind(alts)
    .bind(text)
    .bind(grams)
    .bind(at(0))
    .execute(pool)
    .await
    .expect("insert many comics");
}

/// The plan of a list or count statement for `q`, as JSON text.
async fn plan(pool: &PgPool, q: &str, count: bool) -> String {
    let search = Search::parse(q).unwrap();
    let select = if count { "count(*)" } else { "id" };
    let mut sql = QueryBuilder::<Postgres>::new(format!(
        "EXPLAIN (FORMAT JSON) SELECT {select} FROM catalog.comics WHERE true"
    ));
    push_search(&mut sql, &search);
    if !count {
        sql.push(format!(
            " ORDER BY {}, created_at DESC, id DESC LIMIT 20",
            relevance_sql(&search)
        ));
    }
    let plan: Value = sql.build_query_scalar().fetch_one(pool).await.unwrap();
    plan.to_string()
}

#[tokio::test]
async fn q_is_answered_from_the_gram_index() {
    let app = TestApp::spawn().await;
    insert_many(&app.pool, 2000).await;
    // As autovacuum leaves it: statistics, and the index's pending list
    // (where GIN gathers new entries) merged.
    sqlx::query("VACUUM ANALYZE catalog.comics")
        .execute(&app.pool)
        .await
        .unwrap();
    let hangul = titles(1234)[1].clone();
    let han = titles(777)[2].clone();
    let one: String = hangul.chars().take(1).collect();
    let two: String = han.chars().skip(1).collect();
    for q in ["comic 1234", "DRAGON 4", &hangul, &two, &one] {
        for count in [false, true] {
            let plan = plan(&app.pool, q, count).await;
            assert!(
                plan.contains(r#""Index Name":"comics_search_grams""#),
                "q={q}: {plan}"
            );
            assert!(!plan.contains(r#""Node Type":"Seq Scan""#), "q={q}: {plan}");
        }
    }
}

#[tokio::test]
async fn relevance_in_sql_is_relevance_in_rust_whatever_q_holds() {
    let app = TestApp::spawn().await;
    let texts = [
        "solo\nother",
        "solo leveling",
        "the solo hunter",
        "consolo",
        r"o'neil 50%\ x",
        r"an o'neil 50%\",
        "a_b\nx",
    ];
    for q in [
        "solo",
        "o'neil 50%\\",
        r"'; drop table x; --",
        "a_b",
        "_",
        "%",
    ] {
        let search = Search::parse(q).unwrap();
        let sql = format!(
            "SELECT {} FROM (SELECT $1::text AS search_text) s",
            relevance_sql(&search)
        );
        for text in texts {
            let relevance: i32 = sqlx::query_scalar(&sql)
                .bind(text)
                .fetch_one(&app.pool)
                .await
                .unwrap();
            assert_eq!(relevance, search.relevance(text), "q={q} text={text:?}");
        }
    }
}
