//! Catalog `totalCount`s, kept until the catalog changes.
//!
//! Why: counting is the one catalog query PostgreSQL cannot answer from an index page. A page of
//! 20 agents reads 21 rows, but `totalCount` of "all active agents" visits every matching row —
//! 9,000 heap tuples (about 9 ms) on a 10,000-agent catalog — and the catalog's first page is
//! the API's most frequent request. The set of agents matching a filter only changes when an
//! agent row changes, which is rare (registration, price or status updates, metadata) and always
//! announced: the indexer NOTIFYs `nexus_agents` and `nexus_reorg` in the committing transaction,
//! and the metadata resolver's trigger NOTIFYs `nexus_agent_metadata`.
//!
//! Invariant: an entry is served only if no catalog notification arrived since the count it
//! holds was *started*, and the LISTEN connection was up the whole time. The generation is read
//! before the count query runs and stored with the result; any notification, and every connect
//! or disconnect of the listener (notifications may have been missed), bumps the generation, so
//! a count racing with a change is stored already stale and never served. While the listener is
//! down nothing is served from the cache.
//!
//! Only filters over `agents` columns are cached (execution statistics are not part of any
//! catalog filter). Listings over executions, purchases or balances change every block and are
//! always counted fresh.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// Distinct filters remembered. Clients choose filters (price bounds, search words), so the map
/// must be bounded; when full it is emptied, which costs one count per filter in use. Real
/// catalogs see a few hundred distinct filters between changes.
pub const MAX_ENTRIES: usize = 10_000;

/// Counts by cache key, valid for one generation of the catalog.
#[derive(Default, Debug)]
pub struct CountCache {
    generation: AtomicU64,
    /// Whether the notification listener is connected (no notification can be missed).
    live: AtomicBool,
    entries: Mutex<HashMap<String, (u64, i64)>>,
}

impl CountCache {
    /// The catalog changed (or may have): every entry is stale.
    pub fn invalidate(&self) {
        self.generation.fetch_add(1, Ordering::AcqRel);
    }

    /// The listener (re)connected or lost its connection. Both invalidate: notifications sent
    /// while it was down are lost.
    pub fn set_live(&self, live: bool) {
        self.invalidate();
        self.live.store(live, Ordering::Release);
    }

    /// The generation to pass to [`CountCache::store`]; read it *before* counting.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    /// A count still valid for the current catalog.
    pub fn get(&self, key: &str) -> Option<i64> {
        if !self.live.load(Ordering::Acquire) {
            return None;
        }
        let current = self.generation();
        let entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        entries.get(key).filter(|(generation, _)| *generation == current).map(|(_, count)| *count)
    }

    /// Remembers `count`, computed by a query started at `generation`.
    pub fn store(&self, key: String, generation: u64, count: i64) {
        if generation != self.generation() {
            return; // already stale
        }
        let mut entries = self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        if entries.len() >= MAX_ENTRIES {
            entries.retain(|_, (g, _)| *g == generation);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (generation, count));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn live() -> CountCache {
        let cache = CountCache::default();
        cache.set_live(true);
        cache
    }

    #[test]
    fn serves_a_count_until_the_catalog_changes() {
        let cache = live();
        let g = cache.generation();
        cache.store("active".into(), g, 9000);
        assert_eq!(cache.get("active"), Some(9000));
        assert_eq!(cache.get("crypto"), None);
        cache.invalidate();
        assert_eq!(cache.get("active"), None);
    }

    #[test]
    fn a_count_racing_with_a_change_is_never_served() {
        let cache = live();
        let g = cache.generation();
        cache.invalidate(); // a notification arrives while the count runs
        cache.store("active".into(), g, 9000);
        assert_eq!(cache.get("active"), None);
    }

    #[test]
    fn nothing_is_served_while_the_listener_is_down() {
        let cache = CountCache::default();
        let g = cache.generation();
        cache.store("active".into(), g, 1);
        assert_eq!(cache.get("active"), None, "never connected");
        let cache = live();
        let g = cache.generation();
        cache.store("active".into(), g, 1);
        cache.set_live(false);
        assert_eq!(cache.get("active"), None);
        cache.set_live(true);
        assert_eq!(cache.get("active"), None, "notifications may have been missed while down");
    }

    #[test]
    fn stays_bounded() {
        let cache = live();
        let g = cache.generation();
        for i in 0..MAX_ENTRIES + 10 {
            cache.store(format!("k{i}"), g, i as i64);
        }
        assert!(cache.entries.lock().map(|e| e.len()).unwrap_or(usize::MAX) <= MAX_ENTRIES);
        assert_eq!(cache.get(&format!("k{}", MAX_ENTRIES + 9)), Some((MAX_ENTRIES + 9) as i64));
    }
}
