//! Median, min and max over repeated runs, and ours-to-theirs ratios.

use serde::{Deserialize, Serialize};

/// One measurement repeated `runs` times.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Summary {
    pub median: f64,
    pub min: f64,
    pub max: f64,
    pub runs: usize,
}

/// Which way is better for a unit (exchanges/s: higher; seconds: lower).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Better {
    Higher,
    Lower,
}

/// The median (mean of the middle two for an even count), min and max; `None` for no samples or a NaN.
pub fn summarize(samples: &[f64]) -> Option<Summary> {
    if samples.is_empty() || samples.iter().any(|s| s.is_nan()) {
        return None;
    }
    let mut sorted = samples.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    let median = if sorted.len() % 2 == 1 { sorted[mid] } else { (sorted[mid - 1] + sorted[mid]) / 2.0 };
    Some(Summary { median, min: sorted[0], max: sorted[sorted.len() - 1], runs: sorted.len() })
}

/// How many times better ours is than theirs (medians): above 1 is better, whichever way the unit goes.
/// `None` when either side is missing or the divisor is zero.
pub fn ratio(ours: Option<&Summary>, theirs: Option<&Summary>, better: Better) -> Option<f64> {
    let (ours, theirs) = (ours?.median, theirs?.median);
    let (num, den) = match better {
        Better::Higher => (ours, theirs),
        Better::Lower => (theirs, ours),
    };
    (den > 0.0 && num.is_finite()).then(|| num / den)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn median_of_odd_and_even_counts() {
        let s = summarize(&[5.0, 1.0, 3.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (3.0, 1.0, 5.0, 3));
        let s = summarize(&[4.0, 1.0, 3.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max, s.runs), (2.5, 1.0, 4.0, 4));
        assert_eq!(summarize(&[7.0]).unwrap().median, 7.0);
    }

    #[test]
    fn no_summary_without_samples_or_with_nan() {
        assert_eq!(summarize(&[]), None);
        assert_eq!(summarize(&[1.0, f64::NAN]), None);
    }

    #[test]
    fn ratio_follows_which_way_is_better() {
        let fast = summarize(&[200.0]).unwrap();
        let slow = summarize(&[100.0]).unwrap();
        assert_eq!(ratio(Some(&fast), Some(&slow), Better::Higher), Some(2.0));
        // Seconds: ours took 100, theirs 200 → ours is twice as good.
        assert_eq!(ratio(Some(&slow), Some(&fast), Better::Lower), Some(2.0));
        assert_eq!(ratio(Some(&fast), None, Better::Higher), None);
        let zero = summarize(&[0.0]).unwrap();
        assert_eq!(ratio(Some(&fast), Some(&zero), Better::Higher), None);
    }
}
