//! Zipf-distributed choices over a list (rank 1 is the most likely), a small
//! seedable generator, and the comic id files the live benchmark shares with
//! its wrk scripts.

use std::path::Path;

/// SplitMix64: fast, seedable, good enough for picking load.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Self(seed)
    }

    /// A seed from the clock, different on every run.
    pub fn from_clock() -> Self {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        Self::new(nanos ^ u64::from(std::process::id()).rotate_left(32))
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in [0, 1).
    pub fn unit(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in 0..n (n > 0).
    pub fn below(&mut self, n: usize) -> usize {
        (((self.next_u64() >> 32) * n as u64) >> 32) as usize
    }
}

/// P(rank k) = k^-s / H(n, s), sampled by binary search of the CDF.
pub struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    pub fn new(n: usize, s: f64) -> Self {
        let weights: Vec<f64> = (1..=n.max(1)).map(|k| (k as f64).powf(-s)).collect();
        let total: f64 = weights.iter().sum();
        let mut acc = 0.0;
        let cdf = weights
            .iter()
            .map(|w| {
                acc += w / total;
                acc
            })
            .collect();
        Self { cdf }
    }

    /// The share of all draws that falls on index `i` (rank `i + 1`).
    pub fn share(&self, i: usize) -> f64 {
        self.cdf[i] - if i == 0 { 0.0 } else { self.cdf[i - 1] }
    }

    /// An index in 0..n, index 0 the most likely.
    pub fn sample(&self, rng: &mut Rng) -> usize {
        let u = rng.unit();
        self.cdf
            .partition_point(|&c| c <= u)
            .min(self.cdf.len() - 1)
    }
}

/// The comic ids of a file, one per line (blank lines skipped).
pub fn read_ids(path: &Path) -> anyhow::Result<Vec<String>> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| anyhow::anyhow!("cannot read {}: {e}", path.display()))?;
    let ids: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    anyhow::ensure!(!ids.is_empty(), "no comic ids in {}", path.display());
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn zipf_with_s_one_follows_one_over_rank() {
        let zipf = Zipf::new(1000, 1.0);
        let h: f64 = (1..=1000).map(|k| 1.0 / k as f64).sum();
        assert!((zipf.share(0) - 1.0 / h).abs() < 1e-12);
        assert!((zipf.share(9) - 0.1 / h).abs() < 1e-12);
        let mut rng = Rng::new(7);
        let mut hits = vec![0u32; 1000];
        let draws = 200_000;
        for _ in 0..draws {
            hits[zipf.sample(&mut rng)] += 1;
        }
        let top = f64::from(hits[0]) / draws as f64;
        assert!((top - 1.0 / h).abs() < 0.01, "rank 1 drew {top}");
        assert!(hits[0] > hits[1] && hits[1] > hits[9] && hits[9] > hits[99]);
        assert!(hits.iter().filter(|&&n| n > 0).count() > 900);
    }

    #[test]
    fn below_stays_in_range() {
        let mut rng = Rng::new(1);
        assert!((0..10_000).all(|_| rng.below(3) < 3));
        let unit = rng.unit();
        assert!((0.0..1.0).contains(&unit));
    }
}
