//! What one client can cost the plane: a per-runner ingest rate (429 with `Retry-After`), a
//! deadline per request, and a bound on the report bodies held in memory at once.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

use axum::extract::Request;
use axum::http::StatusCode;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::ApiError;

/// A runner checks every 5 minutes by default, every second at the fastest the agent allows
/// (`--interval 1s`), and retries with backoff: a burst of this many reports, then one every
/// [`RATE_REFILL`], never slows an honest agent and caps a flooding one at one report a second.
pub const RATE_BURST: f64 = 20.0;
pub const RATE_REFILL: Duration = Duration::from_secs(1);

/// How long one request may take, body included.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// How many report bodies may be read and validated at once (× the body limit = the memory bound).
pub const MAX_BODIES_IN_FLIGHT: usize = 128;

/// A token bucket per runner, in memory (each replica keeps its own).
#[derive(Debug)]
pub struct RateLimiter {
    burst: f64,
    refill: Duration,
    buckets: Mutex<HashMap<String, (f64, i64)>>,
}

impl Default for RateLimiter {
    fn default() -> Self {
        Self::new(RATE_BURST, RATE_REFILL)
    }
}

impl RateLimiter {
    pub fn new(burst: f64, refill: Duration) -> Self {
        Self { burst, refill, buckets: Mutex::default() }
    }

    /// Takes one report's worth for `runner` at `now_ms`; when there is none, how long to wait.
    pub fn take(&self, runner: &str, now_ms: i64) -> Result<(), Duration> {
        let Ok(mut buckets) = self.buckets.lock() else { return Ok(()) };
        if buckets.len() > 200_000 {
            // Forget runners whose bucket is full again anyway.
            let full_after = (self.burst * self.refill.as_millis() as f64) as i64;
            buckets.retain(|_, (_, at)| now_ms - *at < full_after);
        }
        let per_ms = 1.0 / self.refill.as_millis().max(1) as f64;
        let (tokens, at) = buckets.entry(runner.to_owned()).or_insert((self.burst, now_ms));
        *tokens = (*tokens + (now_ms - *at).max(0) as f64 * per_ms).min(self.burst);
        *at = now_ms;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Duration::from_millis(((1.0 - *tokens) / per_ms).ceil() as u64))
        }
    }
}

/// The answer to a runner over its rate: 429 with `Retry-After` in whole seconds.
pub fn too_many(wait: Duration) -> ApiError {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    ApiError::new(
        StatusCode::TOO_MANY_REQUESTS,
        "rate_limited",
        format!("this runner sends reports faster than the plane accepts: retry in {secs} s"),
    )
    .retry_after(secs)
}

/// Ends a request that takes longer than [`REQUEST_TIMEOUT`] (a client trickling its body, a
/// database that hangs) with 408 or 503, instead of holding its connection and memory forever.
pub async fn request_timeout(req: Request, next: Next) -> Response {
    match tokio::time::timeout(REQUEST_TIMEOUT, next.run(req)).await {
        Ok(response) => response,
        Err(_) => ApiError::new(
            StatusCode::REQUEST_TIMEOUT,
            "request_timeout",
            format!("the request took longer than {} s", REQUEST_TIMEOUT.as_secs()),
        )
        .into_response(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_burst_then_one_per_refill() {
        let limiter = RateLimiter::new(3.0, Duration::from_secs(10));
        for _ in 0..3 {
            assert_eq!(limiter.take("rn-a", 0), Ok(()));
        }
        assert_eq!(limiter.take("rn-a", 0), Err(Duration::from_secs(10)));
        assert_eq!(limiter.take("rn-b", 0), Ok(()), "runners have their own buckets");
        assert_eq!(limiter.take("rn-a", 4_000), Err(Duration::from_secs(6)));
        assert_eq!(limiter.take("rn-a", 10_000), Ok(()));
        assert!(limiter.take("rn-a", 10_001).is_err());
        // A long pause refills up to the burst, not beyond.
        for _ in 0..3 {
            assert_eq!(limiter.take("rn-a", 1_000_000), Ok(()));
        }
        assert!(limiter.take("rn-a", 1_000_000).is_err());
    }
}
