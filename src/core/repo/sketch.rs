//! The arithmetic of the statistics rollups (migration 010): DDSketch bins for percentiles, and
//! moments (count, mean, sum of squared deviations, extremes) merged exactly from shifted sums.

use std::collections::BTreeMap;

/// The relative accuracy of a percentile read from the bins.
pub const RELATIVE_ACCURACY: f64 = 0.01;

/// The ratio of one bin's upper bound to the one below: (1 + α) / (1 − α).
pub const GAMMA: f64 = 1.01 / 0.99;

/// What the stored bin numbers add to the logarithmic index (so bins of values from 1e-300 up
/// are positive).
const OFFSET: i64 = 40_000;

/// Values this close to zero share the zero bin.
const ZERO: f64 = 1e-300;

/// The bin of `v` as the triggers store it: `k + 40000` for `v` in (γ^(k-1), γ^k], negated for a
/// negative value, 0 near zero.
pub fn bin(v: f64) -> i64 {
    if v.abs() < ZERO {
        return 0;
    }
    let k = OFFSET + (v.abs().ln() / GAMMA.ln()).ceil() as i64;
    if v > 0.0 {
        k
    } else {
        -k
    }
}

/// The value a bin stands for: 2γ^k / (γ + 1), within α of every value of the bin.
pub fn bin_value(bin: i64) -> f64 {
    if bin == 0 {
        return 0.0;
    }
    let k = (bin.abs() - OFFSET) as i32;
    let v = 2.0 * GAMMA.powi(k) / (GAMMA + 1.0);
    if bin > 0 {
        v
    } else {
        -v
    }
}

/// Bin counts (bin numbers sort as their values do).
#[derive(Debug, Default, Clone)]
pub struct Sketch {
    bins: BTreeMap<i64, i64>,
    count: i64,
}

impl Sketch {
    pub fn add(&mut self, bin: i64, count: i64) {
        if count != 0 {
            *self.bins.entry(bin).or_default() += count;
            self.count += count;
        }
    }

    pub fn add_value(&mut self, v: f64) {
        self.add(bin(v), 1);
    }

    /// The value of rank `rank` (0-based) in sorted order, within α, clamped to `[min, max]`;
    /// the extremes themselves are exact.
    fn at_rank(&self, rank: i64, min: f64, max: f64) -> f64 {
        if rank <= 0 {
            return min;
        }
        if rank >= self.count - 1 {
            return max;
        }
        let mut seen = 0;
        for (&b, &n) in &self.bins {
            seen += n;
            if seen > rank {
                return bin_value(b).clamp(min, max);
            }
        }
        max
    }

    /// `percentile_cont(q)`: the interpolation between the values of ranks ⌊q(n−1)⌋ and
    /// ⌈q(n−1)⌉, each within α (so the result is within α of the exact one when both have the
    /// same sign, and within α of the larger magnitude otherwise). `None` when empty.
    pub fn percentile(&self, q: f64, min: f64, max: f64) -> Option<f64> {
        if self.count <= 0 {
            return None;
        }
        let r = q * (self.count - 1) as f64;
        let lo = r.floor();
        let low = self.at_rank(lo as i64, min, max);
        let high = self.at_rank(r.ceil() as i64, min, max);
        Some(low + (r - lo) * (high - low))
    }
}

/// Count, shifted sums and extremes of a set of values, mergeable exactly: the sum and the sum of
/// squares of the differences from `shift`, a value of the set (so values such as epoch
/// milliseconds keep their precision), as the rollup rows keep them.
#[derive(Debug, Default, Clone, Copy)]
pub struct Moments {
    pub n: i64,
    pub shift: f64,
    pub s1: f64,
    pub s2: f64,
    pub min: Option<f64>,
    pub max: Option<f64>,
}

impl Moments {
    /// From a rollup row: `n` values whose differences from `shift` sum to `s1`, and whose
    /// squares sum to `s2`.
    pub fn from_shifted(
        n: i64,
        shift: f64,
        s1: f64,
        s2: f64,
        min: Option<f64>,
        max: Option<f64>,
    ) -> Moments {
        if n <= 0 {
            return Moments::default();
        }
        Moments {
            n,
            shift,
            s1,
            s2,
            min,
            max,
        }
    }

    pub fn add_value(&mut self, v: f64) {
        self.merge(&Moments {
            n: 1,
            shift: v,
            s1: 0.0,
            s2: 0.0,
            min: Some(v),
            max: Some(v),
        });
    }

    /// Re-shifts `other` to this shift and adds it.
    pub fn merge(&mut self, other: &Moments) {
        if other.n == 0 {
            return;
        }
        if self.n == 0 {
            *self = *other;
            return;
        }
        let delta = other.shift - self.shift;
        let n = other.n as f64;
        self.s2 += other.s2 + 2.0 * delta * other.s1 + n * delta * delta;
        self.s1 += other.s1 + n * delta;
        self.n += other.n;
        self.min = least(self.min, other.min);
        self.max = greatest(self.max, other.max);
    }

    pub fn mean(&self) -> Option<f64> {
        (self.n > 0).then(|| self.shift + self.s1 / self.n as f64)
    }

    /// The sample standard deviation (`stddev_samp`): none below two values.
    pub fn sample_std_dev(&self) -> Option<f64> {
        let n = self.n as f64;
        (self.n > 1).then(|| ((self.s2 - self.s1 * self.s1 / n).max(0.0) / (n - 1.0)).sqrt())
    }
}

pub fn least<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b < a { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    }
}

pub fn greatest<T: PartialOrd>(a: Option<T>, b: Option<T>) -> Option<T> {
    match (a, b) {
        (Some(a), Some(b)) => Some(if b > a { b } else { a }),
        (a, None) => a,
        (None, b) => b,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bins_hold_values_within_the_accuracy() {
        for v in [
            1e-299, 1e-9, 0.5, 1.0, 1.0202, 3.0, 12.5, 999.9, 1.7e12, 1e150, -4.0, -1e-5,
        ] {
            let b = bin(v);
            let rel = (bin_value(b) - v).abs() / v.abs();
            assert!(rel <= RELATIVE_ACCURACY + 1e-12, "{v}: {rel}");
        }
        assert_eq!(bin(0.0), 0);
        assert_eq!(bin(1e-301), 0);
        assert_eq!(bin_value(0), 0.0);
        // The triggers' numbers (PostgreSQL's ln, SQLite's bounds) for 1, 5, 3 and 100.
        assert_eq!(
            [bin(1.0), bin(5.0), bin(3.0), bin(100.0)],
            [40000, 40081, 40055, 40231]
        );
        assert!(bin(-2.0) < bin(-1.0) && bin(-1.0) < bin(0.0) && bin(0.0) < bin(1e-200));
    }

    #[test]
    fn percentiles_are_within_the_bound_of_percentile_cont() {
        let mut values: Vec<f64> = (1..=10_000)
            .map(|i| ((i * 7919) % 10_007) as f64 / 3.0 + 0.5)
            .collect();
        let mut sketch = Sketch::default();
        for v in &values {
            sketch.add_value(*v);
        }
        values.sort_by(f64::total_cmp);
        let (min, max) = (values[0], values[values.len() - 1]);
        for q in [0.0, 0.01, 0.5, 0.95, 0.99, 1.0] {
            let r = q * (values.len() - 1) as f64;
            let exact = values[r.floor() as usize]
                + (r - r.floor()) * (values[r.ceil() as usize] - values[r.floor() as usize]);
            let got = sketch.percentile(q, min, max).unwrap();
            assert!(
                (got - exact).abs() <= RELATIVE_ACCURACY * exact.abs() + 1e-12,
                "{q}: {got} vs {exact}"
            );
        }
        assert_eq!(Sketch::default().percentile(0.5, 0.0, 0.0), None);
    }

    #[test]
    fn moments_merge_exactly() {
        let values = [1.7e12 + 1.0, 1.7e12 + 2.0, 1.7e12 + 4.0, 1.7e12 + 8.0];
        let mut all = Moments::default();
        for v in values {
            all.add_value(v);
        }
        let mut halves =
            Moments::from_shifted(2, values[0], 1.0, 1.0, Some(values[0]), Some(values[1]));
        halves.merge(&Moments::from_shifted(
            2,
            values[2],
            4.0,
            16.0,
            Some(values[2]),
            Some(values[3]),
        ));
        for m in [all, halves] {
            assert_eq!(m.n, 4);
            assert!((m.mean().unwrap() - (1.7e12 + 3.75)).abs() < 1e-3);
            assert!((m.sample_std_dev().unwrap() - 3.095695936834452).abs() < 1e-9);
            assert_eq!(m.min, Some(values[0]));
            assert_eq!(m.max, Some(values[3]));
        }
        assert_eq!(Moments::default().sample_std_dev(), None);
        assert_eq!(least(None, Some(2)), Some(2));
        assert_eq!(greatest(Some(1), Some(2)), Some(2));
    }
}
