//! Where the time of a search goes, by script: `GET /api/v1/comics?q=<term>`
//! for terms of a file, one at a time, past the read cache (with the
//! consistency token of a write already applied), each timed; reported per
//! kind of term (Latin, Hangul, kana, Han, "comic <n>") with the slowest.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use crate::client;
use crate::seed::CONSISTENCY;
use crate::stats::{emit, emit_ms, percentile};
use crate::zipf::{read_ids, Rng};

#[derive(clap::Args)]
pub struct Args {
    #[arg(long)]
    base: String,
    /// Search terms, one per line.
    #[arg(long)]
    terms: PathBuf,
    /// A consistency token already applied (takes each read to the store).
    #[arg(long)]
    token: String,
    /// How many terms, drawn at random.
    #[arg(long, default_value_t = 100)]
    count: usize,
    /// Stop sending after this long.
    #[arg(long, default_value_t = 20.0)]
    seconds: f64,
}

const KINDS: [&str; 5] = ["latin", "hangul", "kana", "han", "number"];

/// Prints, per kind, `probe_<kind>_n`, `_p50_ms` and `_max_ms`, then
/// `probe_slow <ms> <total> <term>` for the five slowest terms.
pub async fn run(args: Args) -> anyhow::Result<()> {
    let terms = read_ids(&args.terms)?;
    let http = client::http(1)?;
    let url = client::url(&args.base, "/api/v1/comics");
    let (mut rng, started) = (Rng::from_clock(), Instant::now());
    let mut timed: Vec<(Duration, u64, &str)> = Vec::new();
    while timed.len() < args.count && started.elapsed().as_secs_f64() < args.seconds {
        let term = terms[rng.below(terms.len())].as_str();
        let sent = Instant::now();
        let r = http
            .get(&url)
            .query(&[("q", term), ("limit", "20")])
            .header(CONSISTENCY, &args.token)
            .send()
            .await?;
        anyhow::ensure!(r.status().is_success(), "q={term}: {}", r.status());
        let body: serde_json::Value = r.json().await?;
        timed.push((sent.elapsed(), body["total"].as_u64().unwrap_or(0), term));
    }
    for kind in KINDS {
        let mut took: Vec<Duration> = timed
            .iter()
            .filter(|(_, _, t)| kind_of(t) == kind)
            .map(|(d, _, _)| *d)
            .collect();
        took.sort();
        emit(&format!("probe_{kind}_n"), took.len());
        emit_ms(&format!("probe_{kind}_p50_ms"), percentile(&took, 50.0));
        emit_ms(&format!("probe_{kind}_max_ms"), percentile(&took, 100.0));
    }
    timed.sort_by_key(|t| std::cmp::Reverse(t.0));
    for (took, total, term) in timed.iter().take(5) {
        println!(
            "probe_slow {:.1} {total} {term}",
            took.as_secs_f64() * 1000.0
        );
    }
    Ok(())
}

/// The kind of a term: by its script, or "number" for "comic <n>".
fn kind_of(term: &str) -> &'static str {
    let has = |f: fn(&char) -> bool| term.chars().any(|c| f(&c));
    if term.starts_with("comic ") && has(char::is_ascii_digit) {
        "number"
    } else if has(|c| ('\u{ac00}'..='\u{d7a3}').contains(c)) {
        "hangul"
    } else if has(|c| ('\u{3040}'..='\u{30ff}').contains(c)) {
        "kana"
    } else if has(|c| ('\u{4e00}'..='\u{9fff}').contains(c)) {
        "han"
    } else {
        "latin"
    }
}

#[cfg(test)]
mod tests {
    use super::kind_of;

    #[test]
    fn kinds_by_script() {
        assert_eq!(kind_of("comic 4242"), "number");
        assert_eq!(kind_of("crimson bl"), "latin");
        assert_eq!(kind_of("혼자만 레"), "hangul");
        assert_eq!(kind_of("僕のヒ"), "kana");
        assert_eq!(kind_of("斗破"), "han");
    }
}
