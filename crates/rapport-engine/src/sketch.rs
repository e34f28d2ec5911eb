//! A log-bucket quantile sketch (DDSketch-style) for live first-response-time gauges: values
//! land in buckets `(γ^(i-1), γ^i]` with `γ = (1+α)/(1-α)`, so reporting a bucket's midpoint
//! `2γ^i/(γ+1)` is within relative error α of every value in it. Mergeable (bucket-wise sum),
//! so per-day sketches roll up into the 7-day gauge. Exact quantiles for SQL/report output come
//! from the `threads` table, not from here.

use serde::{Deserialize, Serialize};

/// Relative accuracy of every quantile estimate (1 %).
pub const RELATIVE_ACCURACY: f64 = 0.01;

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct QuantileSketch {
    /// Values ≤ 0 (answered in the same second) are kept exactly.
    zeros: u64,
    /// Bucket index of `counts[0]`.
    offset: i32,
    counts: Vec<u64>,
    total: u64,
}

fn gamma() -> f64 {
    (1.0 + RELATIVE_ACCURACY) / (1.0 - RELATIVE_ACCURACY)
}

impl QuantileSketch {
    pub fn new() -> Self {
        Self::default()
    }

    pub fn count(&self) -> u64 {
        self.total
    }

    fn index(v: f64) -> i32 {
        // ceil(log_γ v); values in (γ^(i-1), γ^i] share index i.
        (v.ln() / gamma().ln()).ceil() as i32
    }

    pub fn add(&mut self, v: f64) {
        self.total += 1;
        if v <= 0.0 || !v.is_finite() {
            self.zeros += 1;
            return;
        }
        let i = Self::index(v);
        self.bump(i, 1);
    }

    fn bump(&mut self, i: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = i;
            self.counts.push(0);
        }
        if i < self.offset {
            let grow = (self.offset - i) as usize;
            self.counts.splice(0..0, std::iter::repeat_n(0, grow));
            self.offset = i;
        }
        let pos = (i - self.offset) as usize;
        if pos >= self.counts.len() {
            self.counts.resize(pos + 1, 0);
        }
        self.counts[pos] += n;
    }

    pub fn merge(&mut self, other: &QuantileSketch) {
        self.zeros += other.zeros;
        self.total += other.total;
        for (k, &c) in other.counts.iter().enumerate() {
            if c > 0 {
                self.bump(other.offset + k as i32, c);
            }
        }
    }

    /// Nearest-rank quantile (the smallest value with at least `q·n` values at or below it),
    /// within [`RELATIVE_ACCURACY`]; `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        if self.total == 0 {
            return None;
        }
        let rank = ((q.clamp(0.0, 1.0) * self.total as f64).ceil() as u64).max(1);
        if rank <= self.zeros {
            return Some(0.0);
        }
        let mut seen = self.zeros;
        let g = gamma();
        for (k, &c) in self.counts.iter().enumerate() {
            seen += c;
            if seen >= rank {
                let i = self.offset + k as i32;
                return Some(2.0 * g.powi(i) / (g + 1.0));
            }
        }
        None
    }
}

/// Exact nearest-rank quantile of `values` (sorted or not), as METRICS.md §3 defines it for
/// SQL/report output: the smallest value with at least `q·n` values at or below it.
pub fn nearest_rank(values: &[u32], q: f64) -> Option<u32> {
    if values.is_empty() {
        return None;
    }
    let mut v = values.to_vec();
    v.sort_unstable();
    let rank = ((q.clamp(0.0, 1.0) * v.len() as f64).ceil() as usize).max(1);
    v.get(rank - 1).copied()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn nearest_rank_matches_worked_example() {
        assert_eq!(nearest_rank(&[1800, 63_000], 0.5), Some(1800));
        assert_eq!(nearest_rank(&[1800, 63_000], 0.9), Some(63_000));
        assert_eq!(nearest_rank(&[], 0.5), None);
    }

    proptest! {
        #[test]
        fn sketch_is_within_one_percent_of_exact(values in prop::collection::vec(0u32..2_000_000, 1..400),
                                                  q in 0.01f64..1.0) {
            let mut s = QuantileSketch::new();
            for &v in &values { s.add(f64::from(v)); }
            let exact = f64::from(nearest_rank(&values, q).unwrap());
            let est = s.quantile(q).unwrap();
            if exact == 0.0 { prop_assert_eq!(est, 0.0); }
            else { prop_assert!((est - exact).abs() <= exact * RELATIVE_ACCURACY + 1e-9, "{} vs {}", est, exact); }
        }

        #[test]
        fn merge_equals_adding_everything(a in prop::collection::vec(0u32..100_000, 0..100),
                                          b in prop::collection::vec(0u32..100_000, 0..100)) {
            let (mut sa, mut sb, mut all) = (QuantileSketch::new(), QuantileSketch::new(), QuantileSketch::new());
            for &v in &a { sa.add(f64::from(v)); all.add(f64::from(v)); }
            for &v in &b { sb.add(f64::from(v)); all.add(f64::from(v)); }
            sa.merge(&sb);
            for q in [0.1, 0.5, 0.9, 0.99] { prop_assert_eq!(sa.quantile(q), all.quantile(q)); }
        }
    }
}
