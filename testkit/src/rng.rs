//! A small seeded random generator for tests and benchmarks that must be replayable.
//!
//! Why not the `rand` crate: the crash tests and the load benchmark need only "spread these
//! moments or requests reproducibly for a seed", and a seed printed by a failing run must replay
//! it exactly on any machine and any future dependency version. xorshift64* (Vigna, 2016) is
//! ten lines, has a fixed definition, and is plenty for spreading kill moments.

/// xorshift64*. The state must never be zero (it would stay zero), so a seed `s` starts the
/// state at `2s + 1`: odd, and distinct for distinct seeds below 2^63.
#[derive(Clone, Debug)]
pub struct Rng {
    state: u64,
    seed: u64,
}

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng { state: seed.wrapping_mul(2) | 1, seed }
    }

    /// The seed this generator started from (for failure messages that must name it).
    pub fn seed(&self) -> u64 {
        self.seed
    }

    /// A seed from the environment variable `var` (to replay a run), or else from the clock;
    /// printed to stderr either way, so a failing run names the value that replays it.
    pub fn from_env_or_clock(var: &str) -> Self {
        let seed = std::env::var(var).ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64)
        });
        eprintln!("random seed: {var}={seed}");
        Rng::new(seed)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.state ^= self.state >> 12;
        self.state ^= self.state << 25;
        self.state ^= self.state >> 27;
        self.state.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `0..n` for the small `n` tests use (`n` must be non-zero).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seed_replays_the_same_sequence() {
        let (mut a, mut b) = (Rng::new(42), Rng::new(42));
        let xs: Vec<u64> = (0..5).map(|_| a.next_u64()).collect();
        assert_eq!(xs, (0..5).map(|_| b.next_u64()).collect::<Vec<_>>());
        assert_ne!(xs[0], xs[1]);
        assert!(Rng::new(0).next_u64() != 0, "a zero seed must not stick at zero");
        assert_ne!(Rng::new(2).next_u64(), Rng::new(3).next_u64(), "neighbouring seeds differ");
    }
}
