//! Per-client token buckets for the unauthenticated write routes (`PUT /v1/blobs`,
//! `signInChallenge`, and the sponsorship service `nexus-sponsor` mounts on this server): each lets
//! one address spend a burst at once and then a steady rate, so a single client cannot fill the
//! database or hold the sponsorship budget by itself.
//!
//! Clients are told apart by their IP address as the server sees it. Behind a reverse proxy every
//! client shares the proxy's address, so such deployments must rate-limit at the proxy instead.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::Instant;

/// Buckets kept before idle (full) ones are dropped: bounds memory under many client addresses.
const MAX_TRACKED_CLIENTS: usize = 10_000;

/// A token bucket per client address: `burst` requests at once, refilled at `per_second`.
pub struct RateLimiter {
    per_second: f64,
    burst: f64,
    buckets: Mutex<HashMap<IpAddr, (f64, Instant)>>,
}

impl RateLimiter {
    pub fn new(per_second: f64, burst: f64) -> Self {
        RateLimiter { per_second, burst: burst.max(1.0), buckets: Mutex::new(HashMap::new()) }
    }

    /// Takes a token for `client`; `false` when the bucket is empty.
    pub fn allow(&self, client: IpAddr) -> bool {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else { return true };
        if buckets.len() >= MAX_TRACKED_CLIENTS {
            let (rate, burst) = (self.per_second, self.burst);
            buckets.retain(|_, (tokens, at)| *tokens + now.duration_since(*at).as_secs_f64() * rate < burst);
        }
        let (tokens, at) = buckets.entry(client).or_insert((self.burst, now));
        *tokens = (*tokens + now.duration_since(*at).as_secs_f64() * self.per_second).min(self.burst);
        *at = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            true
        } else {
            false
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_allows_burst_then_refuses() {
        let limiter = RateLimiter::new(0.001, 3.0);
        let ip: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!((0..3).all(|_| limiter.allow(ip)));
        assert!(!limiter.allow(ip));
        assert!(limiter.allow("127.0.0.2".parse().expect("ip")), "buckets are per client");
    }
}
