//! The synthetic catalog of the 100k-comic benchmark: each comic's fields
//! are a pure function of its index (so the search terms can be drawn from
//! titles that exist), with titles in the script of the comic's type — manga
//! in kana and kanji, manhwa in Hangul, manhua in Hanzi, webtoons and comics
//! in Latin words — a Latin alternative title, genres drawn from a skewed
//! pool of 20 (1–4 each), and spread statuses and types.

use serde_json::{json, Value};

use crate::zipf::Rng;

/// Latin title words; a few accented, which searches find unaccented.
#[rustfmt::skip]
const LATIN: &[&str] = &[
    "Solo", "Leveling", "Tower", "God", "Return", "Crimson", "Blade", "Shadow", "Moon", "Star",
    "Dragon", "Knight", "Queen", "King", "Empire", "Garden", "Secret", "Winter", "Summer", "Night",
    "Hunter", "Dungeon", "Hero", "Villain", "Princess", "Duke", "Academy", "Legend", "Sword",
    "Magic", "Spirit", "Flower", "Ocean", "Sky", "Flame", "Frost", "Storm", "Wolf", "Tiger", "Fox",
    "Raven", "Ghost", "Demon", "Angel", "Saint", "Sinner", "Heir", "Throne", "Crown", "Song",
    "Dream", "Memory", "Promise", "Journey", "Quest", "Chronicle", "Tale", "Story", "Diary",
    "Letter", "Island", "Mountain", "River", "Forest", "City", "Village", "School", "Office",
    "Kitchen", "Library", "Clock", "Mirror", "Mask", "Rose", "Lily", "Thorn", "Iron", "Silver",
    "Golden", "Jade", "Ruby", "Black", "White", "Scarlet", "Azure", "Last", "First", "Second",
    "Eternal", "Lost", "Hidden", "Broken", "Silent", "Wild", "Little", "Great", "Reborn",
    "Regressor", "Returner", "Martial", "Peak", "Heaven", "Abyss", "Omniscient", "Reader",
    "Tyrant", "Beast", "Tamer", "Chef", "Doctor", "Detective", "Mage", "Archer", "Assassin",
    "Café", "Légende", "Éclat", "Über", "Naïve", "Déjà", "Façade", "Señor",
];

/// Hangul title words, joined by spaces.
#[rustfmt::skip]
const HANGUL: &[&str] = &[
    "나", "혼자만", "레벨업", "신의", "탑", "귀환", "검", "마법사", "왕", "기사", "전생", "학교", "사랑", "밤", "달", "별",
    "용", "전쟁", "게임", "천재", "악녀", "공작", "황제", "회귀", "무림", "헌터", "던전", "괴물", "영웅", "그림자", "꽃", "바다",
    "하늘", "불꽃", "여름", "겨울", "비밀", "정원", "소년", "소녀", "전지적", "독자", "시점", "나노", "마신", "의사",
];

/// Japanese title words (kana and kanji), joined without spaces.
#[rustfmt::skip]
const JAPANESE: &[&str] = &[
    "進撃", "巨人", "鬼滅", "呪術", "廻戦", "僕の", "ヒーロー", "アカデミア", "転生", "スライム", "魔法", "少女", "勇者", "魔王",
    "異世界", "冒険", "学園", "恋", "物語", "夜", "月", "星", "竜", "剣", "王国", "忍者", "侍", "猫", "桜", "空", "海",
    "夢", "影", "炎", "氷", "ゲーム", "ひとり", "ぼっち", "さくら", "かぐや", "せかい", "ダンジョン", "メシ", "葬送", "フリーレン",
];

/// Hanzi title words, joined without spaces.
#[rustfmt::skip]
const HANZI: &[&str] = &[
    "斗破", "苍穹", "全职", "高手", "修仙", "武动", "乾坤", "仙", "魔", "龙", "帝", "剑", "天", "神", "妖", "神医", "少年",
    "江湖", "都市", "重生", "逆天", "至尊", "万界", "星辰", "灵", "凤", "皇", "九", "宗门", "修真", "斗罗", "大陆", "狐妖",
    "红娘", "镇魂街", "一人之下",
];

#[rustfmt::skip]
const AUTHORS: &[&str] = &[
    "Chugong", "SIU", "Sing Shong", "Kōhei Horikoshi", "Isayama Hajime", "Tang Jia San Shao",
    "Tian Can Tu Dou", "Kim Eun-hee", "Fuse", "Yamada Kanehito", "ONE", "Oda Eiichiro",
];

/// The genre pool, most common first, with each one's weight.
pub const GENRES: &[(&str, u32)] = &[
    ("action", 30),
    ("fantasy", 26),
    ("romance", 18),
    ("drama", 16),
    ("comedy", 14),
    ("adventure", 12),
    ("isekai", 9),
    ("slice-of-life", 8),
    ("school-life", 7),
    ("martial-arts", 6),
    ("historical", 5),
    ("supernatural", 5),
    ("mystery", 4),
    ("horror", 4),
    ("sci-fi", 4),
    ("psychological", 3),
    ("sports", 3),
    ("thriller", 3),
    ("mecha", 2),
    ("music", 2),
];

const STATUSES: &[(&str, u32)] = &[
    ("ongoing", 55),
    ("completed", 30),
    ("hiatus", 10),
    ("cancelled", 5),
];

const TYPES: &[(&str, u32)] = &[
    ("manga", 35),
    ("manhwa", 30),
    ("manhua", 15),
    ("webtoon", 12),
    ("comic", 8),
];

/// Every `NUMBERED`-th comic also carries the alternative title
/// "Comic <index>" (what a "comic 4242" search looks for).
pub const NUMBERED: usize = 4;

/// One comic of the catalog.
#[derive(Debug, Clone, PartialEq)]
pub struct Comic {
    pub title: String,
    pub alt_titles: Vec<String>,
    pub kind: &'static str,
    pub status: &'static str,
    pub genres: Vec<&'static str>,
    pub author: &'static str,
}

impl Comic {
    /// The comic of index `i` in the catalog seeded with `seed`.
    pub fn of(seed: u64, i: usize) -> Self {
        let mut rng = Rng::new(seed ^ (i as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let kind = weighted(TYPES, &mut rng);
        let status = weighted(STATUSES, &mut rng);
        let title = match kind {
            "manga" => phrase(JAPANESE, 2, 3, "", &mut rng),
            "manhwa" => phrase(HANGUL, 2, 4, " ", &mut rng),
            "manhua" => phrase(HANZI, 2, 3, "", &mut rng),
            _ => phrase(LATIN, 2, 4, " ", &mut rng),
        };
        let latin = phrase(LATIN, 2, 4, " ", &mut rng);
        let mut alt_titles = vec![latin];
        if kind == "webtoon" {
            alt_titles.push(phrase(HANGUL, 1, 3, " ", &mut rng));
        }
        if i.is_multiple_of(NUMBERED) {
            alt_titles.push(format!("Comic {i}"));
        }
        Self {
            title,
            alt_titles,
            kind,
            status,
            genres: genres(&mut rng),
            author: AUTHORS[rng.below(AUTHORS.len())],
        }
    }

    /// The body of `POST /api/v1/comics`.
    pub fn body(&self) -> Value {
        json!({
            "title": self.title,
            "alt_titles": self.alt_titles,
            "description": "A comic of the catalog benchmark, with a description of a \
                            typical length for a catalog entry.",
            "type": self.kind,
            "status": self.status,
            "authors": [self.author],
            "genres": self.genres,
        })
    }
}

/// A choice by weight.
fn weighted<T: Copy>(table: &[(T, u32)], rng: &mut Rng) -> T {
    let total: u32 = table.iter().map(|(_, w)| w).sum();
    let mut pick = rng.below(total as usize) as u32;
    for &(item, weight) in table {
        if pick < weight {
            return item;
        }
        pick -= weight;
    }
    table[table.len() - 1].0
}

/// `min..=max` distinct words of `pool` joined by `sep`.
fn phrase(pool: &[&str], min: usize, max: usize, sep: &str, rng: &mut Rng) -> String {
    let n = min + rng.below(max - min + 1);
    let mut words: Vec<&str> = Vec::with_capacity(n);
    while words.len() < n {
        let w = pool[rng.below(pool.len())];
        if !words.contains(&w) {
            words.push(w);
        }
    }
    words.join(sep)
}

/// 1–4 distinct genres, drawn by weight without replacement.
fn genres(rng: &mut Rng) -> Vec<&'static str> {
    let n = 1 + rng.below(4);
    let mut chosen: Vec<&'static str> = Vec::with_capacity(n);
    while chosen.len() < n {
        let g = weighted(GENRES, rng);
        if !chosen.contains(&g) {
            chosen.push(g);
        }
    }
    chosen
}

/// A search term of the catalog of `comics` comics seeded with `seed`, as a
/// user types it: part of a random comic's title or Latin alternative title
/// (see [`excerpt`]), or "comic <random number>" (a fifth of them).
pub fn term(seed: u64, comics: usize, rng: &mut Rng) -> String {
    let roll = rng.below(10);
    if roll < 2 {
        return format!("comic {}", rng.below(comics.max(1)));
    }
    let comic = Comic::of(seed, rng.below(comics.max(1)));
    let title = if roll < 5 {
        &comic.alt_titles[0]
    } else {
        &comic.title
    };
    excerpt(title, rng)
}

/// Part of a title, in lower case without accents: of words separated by
/// spaces, a word, two neighbouring words, or a word and the first
/// characters of the next; of a title without spaces (kana/kanji, Hanzi),
/// 2–4 neighbouring characters.
fn excerpt(title: &str, rng: &mut Rng) -> String {
    let folded = fold(title);
    let words: Vec<&str> = folded.split(' ').filter(|w| !w.is_empty()).collect();
    if words.len() < 2 {
        let chars: Vec<char> = folded.chars().collect();
        let n = (2 + rng.below(3)).min(chars.len());
        let start = rng.below(chars.len() - n + 1);
        return chars[start..start + n].iter().collect();
    }
    let i = rng.below(words.len());
    let Some(next) = words.get(i + 1) else {
        return words[i].to_string();
    };
    match rng.below(3) {
        0 => words[i].to_string(),
        1 => format!("{} {next}", words[i]),
        _ => {
            let typed: String = next.chars().take(1 + rng.below(3)).collect();
            format!("{} {typed}", words[i])
        }
    }
}

/// Lower case without the accents of the Latin words (what a user types).
fn fold(word: &str) -> String {
    word.to_lowercase()
        .chars()
        .map(|c| match c {
            'á' | 'à' | 'â' | 'ä' => 'a',
            'é' | 'è' | 'ê' | 'ë' => 'e',
            'í' | 'ï' | 'î' => 'i',
            'ó' | 'ō' | 'ô' | 'ö' => 'o',
            'ú' | 'ü' | 'û' => 'u',
            'ç' => 'c',
            'ñ' => 'n',
            other => other,
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_latin(word: &str) -> bool {
        word.chars()
            .all(|c| c.is_ascii() || ('\u{c0}'..='\u{17f}').contains(&c))
    }

    #[test]
    fn a_comic_is_a_function_of_its_index() {
        assert_eq!(Comic::of(7, 42), Comic::of(7, 42));
        assert_ne!(Comic::of(7, 42), Comic::of(7, 43));
        let c = Comic::of(7, 8);
        assert!(c.alt_titles.contains(&"Comic 8".to_string()));
        assert!((1..=4).contains(&c.genres.len()));
        let body = c.body();
        assert_eq!(body["type"], c.kind);
        assert_eq!(body["genres"].as_array().unwrap().len(), c.genres.len());
    }

    #[test]
    fn titles_are_in_the_script_of_the_type() {
        for i in 0..500 {
            let c = Comic::of(1, i);
            let script = |f: fn(char) -> bool| c.title.chars().any(f);
            match c.kind {
                "manhwa" => assert!(script(|ch| ('\u{ac00}'..='\u{d7a3}').contains(&ch))),
                "manga" => assert!(script(|ch| ('\u{3040}'..='\u{9fff}').contains(&ch))),
                "manhua" => assert!(script(|ch| ('\u{4e00}'..='\u{9fff}').contains(&ch))),
                _ => assert!(is_latin(&c.title.replace(' ', ""))),
            }
            assert!(is_latin(&c.alt_titles[0].replace(' ', "")));
        }
    }

    /// The two most common genres together fill more than 5000 comics of
    /// 100k, so `genre=action,fantasy&offset=5000` is a real deep page.
    #[test]
    fn the_common_genre_pair_reaches_deep_pages() {
        let both = (0..100_000)
            .map(|i| Comic::of(3, i))
            .filter(|c| c.genres.contains(&"action") && c.genres.contains(&"fantasy"))
            .count();
        assert!(both > 6_000, "{both} comics with action and fantasy");
        let kinds = (0..1000)
            .filter(|&i| Comic::of(3, i).kind == "manhua")
            .count();
        assert!((100..200).contains(&kinds), "{kinds} manhua of 1000");
    }

    #[test]
    fn terms_are_parts_of_titles_as_typed() {
        let mut rng = Rng::new(5);
        let terms: Vec<String> = (0..4000).map(|_| term(9, 100_000, &mut rng)).collect();
        let has = |f: fn(char) -> bool| terms.iter().any(|t| t.chars().any(f));
        assert!(has(|c| ('\u{ac00}'..='\u{d7a3}').contains(&c)), "Hangul");
        assert!(has(|c| ('\u{3040}'..='\u{30ff}').contains(&c)), "kana");
        assert!(has(|c| ('\u{4e00}'..='\u{9fff}').contains(&c)), "Han");
        assert!(terms.iter().any(|t| t.starts_with("comic ")));
        assert!(terms
            .iter()
            .any(|t| t.contains(' ') && !t.starts_with("comic")));
        assert!(terms
            .iter()
            .all(|t| !t.is_empty() && t == &t.to_lowercase()));
        let distinct: std::collections::HashSet<&String> = terms.iter().collect();
        assert!(
            distinct.len() * 10 > terms.len() * 6,
            "{} distinct",
            distinct.len()
        );
        assert_eq!(fold("Légende Über Façade"), "legende uber facade");
    }

    #[test]
    fn an_excerpt_is_in_its_title() {
        let mut rng = Rng::new(11);
        for title in [
            "Crimson Blade Tower",
            "進撃巨人",
            "斗破苍穹",
            "나 혼자만 레벨업",
            "Café",
        ] {
            for _ in 0..50 {
                let part = excerpt(title, &mut rng);
                let words: Vec<&str> = part.split(' ').collect();
                let (whole, typed) = words.split_at(words.len() - 1);
                let found =
                    fold(title).contains(&whole.join(" ")) && fold(title).contains(typed[0]);
                assert!(found && !part.is_empty(), "{part:?} of {title:?}");
            }
        }
    }
}
