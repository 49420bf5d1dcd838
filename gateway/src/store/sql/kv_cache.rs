//! A read-through cache of plugins' kv state (per target and key, values and absences), so that a
//! translation's `kv.get`s do not each read the database. SQLite only: there one process writes every
//! target's kv, and each commit that writes kv updates the cache right after it (a translation's commit
//! stores the values it wrote; other commits drop the keys they wrote). On PostgreSQL several instances
//! write kv, so reads go to the database. A generation counter keeps a read that raced with a commit
//! from caching what the commit replaced. Writes another process may make (admin resources over the
//! CLI) bump the target's `kv_epoch`; each target's epoch is read again at most every
//! [`EPOCH_CHECK`], and a new one drops the target's entries.

use std::collections::HashMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How often a target's `kv_epoch` is compared with the one its cached entries were read under.
pub(super) const EPOCH_CHECK: Duration = Duration::from_secs(2);

/// Bytes of keys and values the cache holds at most.
const CAPACITY_BYTES: u64 = 64 << 20;

pub(super) struct KvCache {
    map: Option<moka::sync::Cache<(i64, String), Option<String>>>,
    generation: AtomicU64,
    /// Per target: the `kv_epoch` the entries belong to and when it was last read.
    epochs: Mutex<HashMap<i64, (i64, Instant)>>,
}

impl KvCache {
    pub(super) fn new(enabled: bool) -> KvCache {
        let map = enabled.then(|| {
            moka::sync::Cache::builder()
                .max_capacity(CAPACITY_BYTES)
                .weigher(|k: &(i64, String), v: &Option<String>| {
                    (k.1.len() + v.as_ref().map_or(0, String::len) + 48).try_into().unwrap_or(u32::MAX)
                })
                .support_invalidation_closures()
                .build()
        });
        KvCache { map, generation: AtomicU64::new(0), epochs: Mutex::new(HashMap::new()) }
    }

    /// Whether the target's epoch is due to be read again (always false when the cache is off).
    pub(super) fn epoch_due(&self, target_pk: i64) -> bool {
        self.map.is_some()
            && self.epochs.lock().map_or(true, |e| e.get(&target_pk).is_none_or(|(_, at)| at.elapsed() >= EPOCH_CHECK))
    }

    /// Records the target's current epoch; a different one than before drops its entries.
    pub(super) fn epoch_seen(&self, target_pk: i64, epoch: i64) {
        let Some(map) = &self.map else { return };
        let changed = match self.epochs.lock() {
            Ok(mut e) => {
                let before = e.insert(target_pk, (epoch, Instant::now()));
                before.is_some_and(|(old, _)| old != epoch)
            }
            Err(_) => true,
        };
        if changed {
            self.generation.fetch_add(1, Ordering::SeqCst);
            let _ = map.invalidate_entries_if(move |k, _| k.0 == target_pk);
        }
    }

    /// The cached value (`Some(None)`: cached as absent), or None on a miss.
    pub(super) fn get(&self, target_pk: i64, key: &str) -> Option<Option<String>> {
        self.map.as_ref()?.get(&(target_pk, key.to_owned()))
    }

    /// The generation to pass to [`KvCache::fill`] (read before the database read).
    pub(super) fn generation(&self) -> u64 {
        self.generation.load(Ordering::SeqCst)
    }

    /// Caches what a read found, unless a commit happened since `generation` was read.
    pub(super) fn fill(&self, target_pk: i64, key: &str, value: Option<String>, generation: u64) {
        if let Some(map) = &self.map
            && self.generation() == generation
        {
            map.insert((target_pk, key.to_owned()), value);
        }
    }

    /// After a commit that wrote exactly `kv` (known to be applied), begun at `generation`: stores the
    /// values when no other commit came in between, else drops the keys.
    pub(super) fn committed(&self, target_pk: i64, kv: &[(String, Option<String>)], generation: u64) {
        let Some(map) = &self.map else { return };
        let now = self.generation.fetch_add(1, Ordering::SeqCst) + 1;
        for (k, v) in kv {
            if now == generation + 1 {
                map.insert((target_pk, k.clone()), v.clone());
            } else {
                map.invalidate(&(target_pk, k.clone()));
            }
        }
    }

    /// After a commit that may have written these keys: drops them.
    pub(super) fn invalidate<'a>(&self, target_pk: i64, keys: impl IntoIterator<Item = &'a String>) {
        let Some(map) = &self.map else { return };
        self.generation.fetch_add(1, Ordering::SeqCst);
        for k in keys {
            map.invalidate(&(target_pk, k.clone()));
        }
    }

    /// Drops everything (a target was deleted: its pk may be given to a new one).
    pub(super) fn clear(&self) {
        if let Some(map) = &self.map {
            self.generation.fetch_add(1, Ordering::SeqCst);
            map.invalidate_all();
            if let Ok(mut e) = self.epochs.lock() {
                e.clear();
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::KvCache;

    #[test]
    fn a_read_that_raced_with_a_commit_is_not_cached() {
        let c = KvCache::new(true);
        let g = c.generation();
        c.invalidate(1, [&"k".to_owned()]); // a commit lands between the read and its fill
        c.fill(1, "k", Some("old".into()), g);
        assert_eq!(c.get(1, "k"), None, "the stale read is dropped");
        let g = c.generation();
        c.fill(1, "k", Some("new".into()), g);
        assert_eq!(c.get(1, "k"), Some(Some("new".into())));
        let g = c.generation();
        c.committed(1, &[("k".into(), None)], g);
        assert_eq!(c.get(1, "k"), Some(None), "a committed delete is cached as absent");
        let g = c.generation();
        c.invalidate(1, [&"other".to_owned()]);
        c.committed(1, &[("k".into(), Some("v".into()))], g);
        assert_eq!(c.get(1, "k"), None, "another commit came in between: the key is dropped");
        assert_eq!(KvCache::new(false).get(1, "k"), None);
    }

    #[test]
    fn a_new_epoch_drops_the_target_entries_only() {
        let c = KvCache::new(true);
        assert!(c.epoch_due(1));
        c.epoch_seen(1, 0);
        c.epoch_seen(2, 0);
        assert!(!c.epoch_due(1), "checked a moment ago");
        for pk in [1, 2] {
            let g = c.generation();
            c.fill(pk, "k", Some("v".into()), g);
        }
        c.epoch_seen(1, 1); // another process wrote target 1's kv
        c.map.as_ref().expect("on").run_pending_tasks();
        assert_eq!(c.get(1, "k"), None);
        assert_eq!(c.get(2, "k"), Some(Some("v".into())));
    }
}
