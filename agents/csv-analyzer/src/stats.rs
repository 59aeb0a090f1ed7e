//! Descriptive statistics over `f64` samples.
//!
//! Conventions are the ones analysts expect from pandas/numpy, so numbers can be checked against
//! them: sample standard deviation (`n - 1`), quartiles by linear interpolation between closest
//! ranks (numpy's default "linear" method), Pearson's r over pairwise-complete rows.

/// Mean and sample standard deviation (`None` below two samples).
pub fn mean_std(xs: &[f64]) -> (Option<f64>, Option<f64>) {
    if xs.is_empty() {
        return (None, None);
    }
    let n = xs.len() as f64;
    let mean = xs.iter().sum::<f64>() / n;
    if xs.len() < 2 {
        return (Some(mean), None);
    }
    let var = xs.iter().map(|x| (x - mean).powi(2)).sum::<f64>() / (n - 1.0);
    (Some(mean), Some(var.sqrt()))
}

/// The `q`-quantile (0..=1) of sorted samples, linear interpolation.
pub fn quantile(sorted: &[f64], q: f64) -> Option<f64> {
    if sorted.is_empty() {
        return None;
    }
    let pos = q * (sorted.len() - 1) as f64;
    let lo = pos.floor() as usize;
    let hi = pos.ceil() as usize;
    let frac = pos - lo as f64;
    Some(sorted[lo] + (sorted[hi] - sorted[lo]) * frac)
}

/// Pearson's correlation coefficient; `None` with fewer than 3 pairs or a constant side.
pub fn pearson(pairs: &[(f64, f64)]) -> Option<f64> {
    if pairs.len() < 3 {
        return None;
    }
    let n = pairs.len() as f64;
    let mx = pairs.iter().map(|p| p.0).sum::<f64>() / n;
    let my = pairs.iter().map(|p| p.1).sum::<f64>() / n;
    let (mut sxy, mut sxx, mut syy) = (0.0, 0.0, 0.0);
    for &(x, y) in pairs {
        sxy += (x - mx) * (y - my);
        sxx += (x - mx).powi(2);
        syy += (y - my).powi(2);
    }
    if sxx == 0.0 || syy == 0.0 {
        return None;
    }
    Some((sxy / (sxx.sqrt() * syy.sqrt())).clamp(-1.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn matches_numpy_conventions() {
        let xs = [1.0, 2.0, 3.0, 4.0, 10.0];
        let (mean, std) = mean_std(&xs);
        assert_eq!(mean, Some(4.0));
        // numpy.std([1,2,3,4,10], ddof=1) = 3.5355339059327378
        assert!((std.expect("std") - 3.535_533_905_932_737_8).abs() < 1e-12);
        assert_eq!(quantile(&xs, 0.25), Some(2.0));
        assert_eq!(quantile(&xs, 0.5), Some(3.0));
        assert_eq!(quantile(&[1.0, 2.0, 3.0, 4.0], 0.25), Some(1.75));
        assert_eq!(quantile(&[7.0], 0.75), Some(7.0));
        assert_eq!(quantile(&[], 0.5), None);
        assert_eq!(mean_std(&[5.0]), (Some(5.0), None));
    }

    #[test]
    fn pearson_r() {
        let perfect: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, 2.0 * i as f64 + 1.0)).collect();
        assert!((pearson(&perfect).expect("r") - 1.0).abs() < 1e-12);
        let inverse: Vec<(f64, f64)> = (0..5).map(|i| (i as f64, -(i as f64))).collect();
        assert!((pearson(&inverse).expect("r") + 1.0).abs() < 1e-12);
        // numpy.corrcoef([1,2,3,4],[2,1,4,3])[0,1] = 0.6
        let r = pearson(&[(1.0, 2.0), (2.0, 1.0), (3.0, 4.0), (4.0, 3.0)]).expect("r");
        assert!((r - 0.6).abs() < 1e-12);
        assert_eq!(pearson(&[(1.0, 1.0), (2.0, 1.0), (3.0, 1.0)]), None);
        assert_eq!(pearson(&[(1.0, 1.0), (2.0, 2.0)]), None);
    }
}
