//! A read-through cache of plugins' kv state (per target and key, values and absences), so that a
//! translation's `kv.get`s do not each read the database. SQLite only: there one process writes every
//! target's kv, and each commit that writes kv updates the cache right after it (a translation's commit
//! stores the values it wrote; other commits drop the keys they wrote). On PostgreSQL several instances
//! write kv, so reads go to the database. A generation counter keeps a read that raced with a commit
//! from caching what the commit replaced. Writes another process may make (admin resources over the
//! CLI) bump the target's `kv_epoch`; each target's epoch is read again at most every
//! [`EPOCH_CHECK`], and a new one drops the target's entries.
//!
//! Beside the values, each target has a **key set**: every key that may exist, loaded once in the
//! background (at most [`MAX_KEYS`] keys; a larger target does without). A key outside a loaded set
//! is absent without a read: a plugin's first look at a new user's state costs no query. The set
//! only ever over-approximates: every commit adds the keys it may have written while the load runs or
//! after; a delete removes a key only when it is known to be applied with no commit in between. Set
//! `SCIMGW_KV_CACHE=off` to switch the cache off (for comparisons).

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// How often a target's `kv_epoch` is compared with the one its cached entries were read under.
pub(super) const EPOCH_CHECK: Duration = Duration::from_secs(2);

/// Bytes of keys and values the cache holds at most.
const CAPACITY_BYTES: u64 = 64 << 20;

/// Keys of one target a key set holds at most (beyond, every miss reads the database).
pub(super) const MAX_KEYS: usize = 200_000;

/// What is known of which keys a target has.
enum Keys {
    /// A load (numbered) is running; `written` collects the keys commits may have written meanwhile.
    Loading { load: u64, written: HashSet<String> },
    /// Every key that may exist (a superset of those that do).
    Ready(HashSet<String>),
    /// More than [`MAX_KEYS`]: not tracked.
    TooMany,
}

/// The answer of [`KvCache::lookup`].
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Lookup {
    /// The cached value (`None`: cached as absent, or outside the target's key set).
    Known(Option<String>),
    /// Read the database; when `load` is set, also start loading the target's key set with it.
    Unknown { load: Option<u64> },
}

pub(super) struct KvCache {
    map: Option<moka::sync::Cache<(i64, String), Option<String>>>,
    generation: AtomicU64,
    /// Per target: the `kv_epoch` the entries belong to and when it was last read.
    epochs: Mutex<HashMap<i64, (i64, Instant)>>,
    /// Per target: the keys that may exist.
    keys: Mutex<HashMap<i64, Keys>>,
    loads: AtomicU64,
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
        KvCache {
            map,
            generation: AtomicU64::new(0),
            epochs: Mutex::new(HashMap::new()),
            keys: Mutex::new(HashMap::new()),
            loads: AtomicU64::new(0),
        }
    }

    /// Whether the cache is on: it is for SQLite unless `SCIMGW_KV_CACHE=off`.
    pub(super) fn wanted(sqlite: bool) -> bool {
        sqlite && std::env::var("SCIMGW_KV_CACHE").map_or(true, |v| v != "off")
    }

    /// The value as far as the cache knows it. The first lookup of a target asks the caller to load its
    /// key set ([`KvCache::keys_loaded`]).
    pub(super) fn lookup(&self, target_pk: i64, key: &str) -> Lookup {
        let Some(map) = &self.map else { return Lookup::Unknown { load: None } };
        if let Some(v) = map.get(&(target_pk, key.to_owned())) {
            return Lookup::Known(v);
        }
        let Ok(mut keys) = self.keys.lock() else { return Lookup::Unknown { load: None } };
        match keys.get(&target_pk) {
            Some(Keys::Ready(set)) if !set.contains(key) => Lookup::Known(None),
            Some(_) => Lookup::Unknown { load: None },
            None => {
                let load = self.loads.fetch_add(1, Ordering::SeqCst) + 1;
                keys.insert(target_pk, Keys::Loading { load, written: HashSet::new() });
                Lookup::Unknown { load: Some(load) }
            }
        }
    }

    /// The end of a key-set load: `found` holds the target's keys (None: more than [`MAX_KEYS`], or
    /// the read failed, then `too_many` says which). A load overtaken by a new epoch is dropped.
    pub(super) fn keys_loaded(&self, target_pk: i64, load: u64, found: Option<Vec<String>>) {
        let Ok(mut keys) = self.keys.lock() else { return };
        let Some(Keys::Loading { load: current, written }) = keys.get_mut(&target_pk) else { return };
        if *current != load {
            return;
        }
        match found {
            Some(found) => {
                let mut set = std::mem::take(written);
                set.extend(found);
                keys.insert(target_pk, Keys::Ready(set));
            }
            None => {
                keys.insert(target_pk, Keys::TooMany);
            }
        }
    }

    /// A failed key-set load: the next lookup tries again.
    pub(super) fn keys_failed(&self, target_pk: i64, load: u64) {
        if let Ok(mut keys) = self.keys.lock()
            && matches!(keys.get(&target_pk), Some(Keys::Loading { load: l, .. }) if *l == load)
        {
            keys.remove(&target_pk);
        }
    }

    /// Keys that may exist now (a commit wrote or may have written them).
    fn may_exist<'a>(&self, target_pk: i64, written: impl IntoIterator<Item = &'a String>) {
        let Ok(mut keys) = self.keys.lock() else { return };
        match keys.get_mut(&target_pk) {
            Some(Keys::Loading { written: set, .. } | Keys::Ready(set)) => {
                set.extend(written.into_iter().cloned());
                if set.len() > MAX_KEYS {
                    keys.insert(target_pk, Keys::TooMany);
                }
            }
            Some(Keys::TooMany) | None => {}
        }
    }

    /// A key known to be deleted with no other commit since: it leaves a loaded set.
    fn deleted(&self, target_pk: i64, key: &str) {
        if let Ok(mut keys) = self.keys.lock()
            && let Some(Keys::Ready(set)) = keys.get_mut(&target_pk)
        {
            set.remove(key);
        }
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
            if let Ok(mut keys) = self.keys.lock() {
                keys.remove(&target_pk);
            }
        }
    }

    /// The cached value (`Some(None)`: cached as absent), or None on a miss (key sets aside).
    #[cfg(test)]
    fn get(&self, target_pk: i64, key: &str) -> Option<Option<String>> {
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
        self.may_exist(target_pk, kv.iter().filter(|(_, v)| v.is_some()).map(|(k, _)| k));
        for (k, v) in kv {
            if now == generation + 1 {
                map.insert((target_pk, k.clone()), v.clone());
                if v.is_none() {
                    self.deleted(target_pk, k);
                }
            } else {
                map.invalidate(&(target_pk, k.clone()));
                if v.is_none() {
                    self.may_exist(target_pk, [k]);
                }
            }
        }
    }

    /// After a commit that may have written these keys: drops them.
    pub(super) fn invalidate<'a>(&self, target_pk: i64, keys: impl IntoIterator<Item = &'a String>) {
        let Some(map) = &self.map else { return };
        self.generation.fetch_add(1, Ordering::SeqCst);
        let keys: Vec<&String> = keys.into_iter().collect();
        self.may_exist(target_pk, keys.iter().copied());
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
            if let Ok(mut k) = self.keys.lock() {
                k.clear();
            }
        }
    }
}

/// Loads the target's key set in the background (the lookup that asked goes on to read its key).
pub(super) fn load_keys(cache: &Arc<KvCache>, read: sqlx::SqlitePool, target_pk: i64, load: u64) {
    let cache = cache.clone();
    tokio::spawn(async move {
        let found: Result<Vec<String>, sqlx::Error> =
            sqlx::query_scalar("SELECT key FROM target_kv WHERE target_pk = $1 LIMIT $2")
                .bind(target_pk)
                .bind(MAX_KEYS as i64 + 1)
                .fetch_all(&read)
                .await;
        match found {
            Ok(keys) if keys.len() > MAX_KEYS => cache.keys_loaded(target_pk, load, None),
            Ok(keys) => cache.keys_loaded(target_pk, load, Some(keys)),
            Err(e) => {
                tracing::warn!(target_pk, error = %e, "could not load a target's kv key set; reads go to the database");
                cache.keys_failed(target_pk, load);
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::{KvCache, Lookup};

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

    fn load(c: &KvCache, pk: i64, key: &str) -> u64 {
        match c.lookup(pk, key) {
            Lookup::Unknown { load: Some(n) } => n,
            other => panic!("expected a load to start, got {other:?}"),
        }
    }

    #[test]
    fn a_key_outside_a_loaded_set_is_absent_without_a_read() {
        let c = KvCache::new(true);
        let n = load(&c, 1, "u/a");
        assert_eq!(c.lookup(1, "u/b"), Lookup::Unknown { load: None }, "one load at a time");
        c.keys_loaded(1, n, Some(vec!["u/a".into()]));
        assert_eq!(c.lookup(1, "u/new"), Lookup::Known(None), "not in the set: absent");
        assert_eq!(c.lookup(1, "u/a"), Lookup::Unknown { load: None }, "in the set, value not cached: read");
        let g = c.generation();
        c.committed(1, &[("u/new".into(), Some("1".into()))], g);
        assert_eq!(c.lookup(1, "u/new"), Lookup::Known(Some("1".into())));
        c.invalidate(1, [&"u/other".to_owned()]); // a delivery may have written it
        assert_eq!(c.lookup(1, "u/other"), Lookup::Unknown { load: None });
        let g = c.generation();
        c.committed(1, &[("u/a".into(), None)], g);
        c.map.as_ref().expect("on").invalidate(&(1, "u/a".to_owned()));
        assert_eq!(c.lookup(1, "u/a"), Lookup::Known(None), "a delete known applied leaves the set");
    }

    #[test]
    fn commits_during_a_load_are_kept_and_races_keep_keys() {
        let c = KvCache::new(true);
        let n = load(&c, 1, "k");
        let g = c.generation();
        c.committed(1, &[("during".into(), Some("v".into()))], g);
        c.map.as_ref().expect("on").invalidate(&(1, "during".to_owned()));
        c.keys_loaded(1, n, Some(vec![])); // the snapshot missed the commit
        assert_eq!(c.lookup(1, "during"), Lookup::Unknown { load: None }, "written during the load: read it");
        // A delete that raced with another commit keeps the key (reading it is safe; skipping it is not).
        let g = c.generation();
        c.invalidate(1, [&"x".to_owned()]);
        c.committed(1, &[("during".into(), None)], g);
        assert_eq!(c.lookup(1, "during"), Lookup::Unknown { load: None });
    }

    #[test]
    fn a_new_epoch_or_an_overtaken_load_starts_over() {
        let c = KvCache::new(true);
        c.epoch_seen(1, 0);
        let n = load(&c, 1, "k");
        c.epoch_seen(1, 1); // another process wrote kv while the load ran
        c.keys_loaded(1, n, Some(vec![]));
        let m = load(&c, 1, "k");
        assert_ne!(m, n, "the overtaken load was dropped; a new one starts");
        c.keys_failed(1, m);
        let m2 = load(&c, 1, "k");
        c.keys_loaded(1, m2, None); // too many keys: not tracked
        assert_eq!(c.lookup(1, "anything"), Lookup::Unknown { load: None });
        assert_eq!(KvCache::new(false).lookup(1, "k"), Lookup::Unknown { load: None });
    }
}
