//! When to check and when to retry. Pure, with randomness passed in so tests can pin it.

use std::time::Duration;

/// The default time between checks, as the source document says.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(300);
/// The first retry comes this long after a failed delivery.
pub const RETRY_BASE: Duration = Duration::from_secs(1);
/// Retries never wait longer than this (nor longer than one interval).
pub const RETRY_CAP: Duration = Duration::from_secs(60);

/// A random fraction in [0, 1) from the operating system.
pub fn random_fraction() -> f64 {
    let mut b = [0u8; 8];
    if getrandom::fill(&mut b).is_err() {
        return 0.5;
    }
    (u64::from_le_bytes(b) >> 11) as f64 / (1u64 << 53) as f64
}

/// The wait before the next check: the interval plus up to 10% (at most 30 s), so that a fleet
/// started together spreads out instead of reporting in lock-step.
pub fn next_check_in(interval: Duration, fraction: f64) -> Duration {
    let spread = (interval / 10).min(Duration::from_secs(30));
    interval + spread.mul_f64(fraction.clamp(0.0, 1.0))
}

/// The wait before retry number `attempt` (1, 2, …): exponential from [`RETRY_BASE`], capped at
/// `min(RETRY_CAP, interval)`, with "full jitter" between half and all of it.
pub fn retry_in(attempt: u32, interval: Duration, fraction: f64) -> Duration {
    let cap = RETRY_CAP.min(interval);
    let exp = RETRY_BASE.saturating_mul(1u32 << attempt.saturating_sub(1).min(16));
    let ceiling = exp.min(cap);
    ceiling / 2 + (ceiling / 2).mul_f64(fraction.clamp(0.0, 1.0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_is_bounded() {
        let five = Duration::from_secs(300);
        assert_eq!(next_check_in(five, 0.0), five);
        assert_eq!(next_check_in(five, 1.0), five + Duration::from_secs(30));
        assert_eq!(next_check_in(Duration::from_secs(10), 0.5), Duration::from_millis(10_500));
    }

    #[test]
    fn backoff_doubles_up_to_the_cap() {
        let interval = Duration::from_secs(300);
        let upper: Vec<u64> = (1..=9).map(|a| retry_in(a, interval, 1.0).as_secs()).collect();
        assert_eq!(upper, [1, 2, 4, 8, 16, 32, 60, 60, 60]);
        let lower: Vec<u64> = (1..=8).map(|a| retry_in(a, interval, 0.0).as_millis() as u64).collect();
        assert_eq!(lower, [500, 1000, 2000, 4000, 8000, 16000, 30000, 30000]);
        // Never longer than the interval.
        assert_eq!(retry_in(10, Duration::from_secs(2), 1.0), Duration::from_secs(2));
        assert_eq!(retry_in(u32::MAX, interval, 1.0), RETRY_CAP);
    }

    #[test]
    fn random_fractions_are_fractions() {
        for _ in 0..100 {
            let f = random_fraction();
            assert!((0.0..1.0).contains(&f));
        }
    }
}
