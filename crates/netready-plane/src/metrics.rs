//! The plane's own counters (reports accepted and refused, the writer's batches and commit
//! latency), one set per process, rendered for Prometheus. Made by `serve` and handed to the store
//! and the handlers; they depend on nothing of the plane's.

use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

/// Upper bounds of the commit-latency histogram, in seconds.
const LATENCY_BUCKETS: [f64; 10] = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1.0];
/// Upper bounds of the batch-size histogram, in reports.
const BATCH_BUCKETS: [f64; 8] = [1.0, 2.0, 4.0, 8.0, 16.0, 64.0, 256.0, 512.0];

/// A Prometheus histogram with fixed buckets.
#[derive(Debug)]
pub struct Histogram {
    bounds: &'static [f64],
    counts: Vec<AtomicU64>,
    sum_micros: AtomicU64,
    count: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [f64]) -> Self {
        Self {
            bounds,
            counts: bounds.iter().map(|_| AtomicU64::new(0)).collect(),
            sum_micros: AtomicU64::new(0),
            count: AtomicU64::new(0),
        }
    }

    pub fn observe(&self, value: f64) {
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            if value <= *bound {
                count.fetch_add(1, Ordering::Relaxed);
            }
        }
        self.sum_micros.fetch_add((value * 1e6) as u64, Ordering::Relaxed);
        self.count.fetch_add(1, Ordering::Relaxed);
    }

    fn render(&self, out: &mut String, name: &str, help: &str) {
        let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} histogram");
        for (bound, count) in self.bounds.iter().zip(&self.counts) {
            let _ = writeln!(out, "{name}_bucket{{le=\"{bound}\"}} {}", count.load(Ordering::Relaxed));
        }
        let total = self.count.load(Ordering::Relaxed);
        let _ = writeln!(out, "{name}_bucket{{le=\"+Inf\"}} {total}");
        let _ = writeln!(out, "{name}_sum {}", self.sum_micros.load(Ordering::Relaxed) as f64 / 1e6);
        let _ = writeln!(out, "{name}_count {total}");
    }
}

/// The plane's counters; one per process (replica).
#[derive(Debug)]
pub struct Metrics {
    /// Reports accepted, by result (`created`, `duplicate`).
    accepted: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    /// Reports refused, by the error code of the answer.
    rejected: Mutex<std::collections::BTreeMap<&'static str, u64>>,
    pub batch_size: Histogram,
    pub commit_seconds: Histogram,
}

impl Default for Metrics {
    fn default() -> Self {
        Self {
            accepted: Mutex::default(),
            rejected: Mutex::default(),
            batch_size: Histogram::new(&BATCH_BUCKETS),
            commit_seconds: Histogram::new(&LATENCY_BUCKETS),
        }
    }
}

impl Metrics {
    pub fn accepted(&self, result: &'static str) {
        if let Ok(mut m) = self.accepted.lock() {
            *m.entry(result).or_default() += 1;
        }
    }

    pub fn rejected(&self, code: &'static str) {
        if let Ok(mut m) = self.rejected.lock() {
            *m.entry(code).or_default() += 1;
        }
    }

    /// One committed batch of `size` reports that took `took`.
    pub fn batch(&self, size: usize, took: Duration) {
        self.batch_size.observe(size as f64);
        self.commit_seconds.observe(took.as_secs_f64());
    }

    /// The counters in Prometheus text format 0.0.4, appended to `out`.
    pub fn render(&self, out: &mut String) {
        let m = self;
        let _ = writeln!(
            out,
            "# HELP netready_plane_reports_accepted_total Reports accepted, by result.\n\
             # TYPE netready_plane_reports_accepted_total counter"
        );
        let accepted = m.accepted.lock().map(|a| a.clone()).unwrap_or_default();
        for result in ["created", "duplicate"] {
            let _ = writeln!(
                out,
                "netready_plane_reports_accepted_total{{result=\"{result}\"}} {}",
                accepted.get(result).unwrap_or(&0)
            );
        }
        let _ = writeln!(
            out,
            "# HELP netready_plane_reports_rejected_total Reports refused, by the error code answered.\n\
             # TYPE netready_plane_reports_rejected_total counter"
        );
        let rejected = m.rejected.lock().map(|r| r.clone()).unwrap_or_default();
        for (code, n) in &rejected {
            let _ = writeln!(out, "netready_plane_reports_rejected_total{{reason=\"{code}\"}} {n}");
        }
        m.batch_size.render(out, "netready_plane_commit_batch_reports", "Reports committed per transaction.");
        m.commit_seconds.render(out, "netready_plane_commit_seconds", "Time to commit one batch of reports.");
    }
}

/// This process's delivery attempts, by result, and the notifications it gave up.
#[derive(Debug, Default)]
pub struct DeliveryCounters {
    pub(crate) delivered: AtomicU64,
    pub(crate) failed: AtomicU64,
    pub(crate) given_up: AtomicU64,
    /// Channels paused by their breaker now.
    pub(crate) paused: AtomicU64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn histograms_are_cumulative() {
        let h = Histogram::new(&BATCH_BUCKETS);
        for v in [1.0, 3.0, 3.0, 600.0] {
            h.observe(v);
        }
        let mut out = String::new();
        h.render(&mut out, "b", "help");
        assert!(out.contains("b_bucket{le=\"1\"} 1\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"4\"} 3\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"512\"} 3\n"), "{out}");
        assert!(out.contains("b_bucket{le=\"+Inf\"} 4\n"), "{out}");
        assert!(out.contains("b_count 4\n"), "{out}");
    }
}
