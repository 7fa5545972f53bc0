//! A persistent hash map built for the decision index: one probe into a
//! flat hash table, and copy-on-write per shard.
//!
//! The map is a fixed two-level radix of 64 × 64 shared pointers over 4,096
//! shards, each an ordinary (SwissTable) `HashMap`. A look-up walks two
//! pointer arrays that stay in cache (32 KiB in all) and probes one shard:
//! about two cache misses at a million keys, against four to eight for a
//! hash trie. Cloning the map is O(1) (one reference count); the first change
//! to a shard after a clone copies that shard and the two small pointer
//! arrays above it, so a writer that clones a model and applies a batch of
//! changes to its copy pays O(keys per shard) per shard it touches, never
//! O(size of the map). Readers of the old copy are unaffected.
//!
//! The shard is picked from bits 32–43 of the key's hash. Those bits are
//! unused by the shard's own table at any size this map reaches (a shard's
//! table indexes with the low bits and tags with the top seven), so keys of
//! one shard still spread over its buckets and tags.

use std::collections::HashMap;
use std::hash::{BuildHasher, Hash};
use std::sync::Arc;

/// The hasher of the decision maps: foldhash, seeded per process (UUID keys
/// may be chosen by clients, so the seed must not be predictable).
pub(crate) type FastState = foldhash::fast::RandomState;

const FAN: usize = 64;

type Shard<K, V> = HashMap<K, V, FastState>;
type Mid<K, V> = [Arc<Shard<K, V>>; FAN];

/// A persistent hash map: O(1) clone, copy-on-write per shard.
pub(crate) struct FlatMap<K, V> {
    top: Arc<[Arc<Mid<K, V>>; FAN]>,
    len: usize,
    state: FastState,
}

impl<K, V> Clone for FlatMap<K, V> {
    fn clone(&self) -> Self {
        Self {
            top: self.top.clone(),
            len: self.len,
            state: self.state,
        }
    }
}

impl<K, V> std::fmt::Debug for FlatMap<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FlatMap").field("len", &self.len).finish()
    }
}

impl<K, V> Default for FlatMap<K, V> {
    fn default() -> Self {
        let state = FastState::default();
        let shard = Arc::new(HashMap::with_hasher(state));
        let mid: Arc<Mid<K, V>> = Arc::new(std::array::from_fn(|_| shard.clone()));
        Self {
            top: Arc::new(std::array::from_fn(|_| mid.clone())),
            len: 0,
            state,
        }
    }
}

impl<K: Hash + Eq + Clone, V: Clone> FlatMap<K, V> {
    #[inline]
    fn position(&self, k: &K) -> (usize, usize) {
        let h = self.state.hash_one(k);
        (((h >> 32) as usize) % FAN, ((h >> 38) as usize) % FAN)
    }

    fn shard_mut(&mut self, (t, m): (usize, usize)) -> &mut Shard<K, V> {
        let top = Arc::make_mut(&mut self.top);
        let mid = Arc::make_mut(&mut top[t]);
        Arc::make_mut(&mut mid[m])
    }

    /// The value of `k`.
    #[inline]
    pub(crate) fn get(&self, k: &K) -> Option<&V> {
        let (t, m) = self.position(k);
        self.top[t][m].get(k)
    }

    /// Sets the value of `k`, returning the previous one.
    pub(crate) fn insert(&mut self, k: K, v: V) -> Option<V> {
        let pos = self.position(&k);
        let old = self.shard_mut(pos).insert(k, v);
        if old.is_none() {
            self.len += 1;
        }
        old
    }

    /// Removes `k`, returning its value. Copies nothing when `k` is absent.
    pub(crate) fn remove(&mut self, k: &K) -> Option<V> {
        let pos = self.position(k);
        if !self.top[pos.0][pos.1].contains_key(k) {
            return None;
        }
        let old = self.shard_mut(pos).remove(k);
        if old.is_some() {
            self.len -= 1;
        }
        old
    }

    /// The value of `k` for changing in place (copying its shard if shared).
    pub(crate) fn get_mut(&mut self, k: &K) -> Option<&mut V> {
        let pos = self.position(k);
        if !self.top[pos.0][pos.1].contains_key(k) {
            return None;
        }
        self.shard_mut(pos).get_mut(k)
    }

    /// Every entry, in no particular order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&K, &V)> {
        // An empty map's shards are all one shared empty shard: skip them.
        let shards = if self.len == 0 { 0 } else { FAN };
        self.top[..shards]
            .iter()
            .flat_map(|mid| mid.iter())
            .flat_map(|shard| shard.iter())
    }

    /// Makes room for `additional` more keys spread evenly over the shards
    /// (a bulk load's hint, so shards do not regrow one key at a time).
    pub(crate) fn reserve(&mut self, additional: usize) {
        if additional < FAN * FAN {
            // Small: shards grow on their own at no noticeable cost.
            return;
        }
        let per_shard = additional / (FAN * FAN) + 1;
        let top = Arc::make_mut(&mut self.top);
        for mid in top.iter_mut() {
            for shard in Arc::make_mut(mid).iter_mut() {
                Arc::make_mut(shard).reserve(per_shard);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    #[test]
    fn behaves_as_a_map_and_clones_are_independent() {
        let mut m: FlatMap<u64, u64> = FlatMap::default();
        let mut reference = BTreeMap::new();
        for i in 0..20_000u64 {
            let k = i.wrapping_mul(0x9e37_79b9_7f4a_7c15) % 5_000;
            if i % 3 == 0 {
                assert_eq!(m.remove(&k), reference.remove(&k));
            } else {
                assert_eq!(m.insert(k, i), reference.insert(k, i));
            }
            if i % 2_000 == 0 {
                assert_eq!(m.iter().count(), reference.len());
            }
        }
        let snapshot = m.clone();
        let before: BTreeMap<u64, u64> = snapshot.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(before, reference);
        for k in 0..5_000u64 {
            m.insert(k, 0);
        }
        if let Some(v) = m.get_mut(&7) {
            *v = 70;
        }
        assert_eq!(m.get(&7), Some(&70));
        let after: BTreeMap<u64, u64> = snapshot.iter().map(|(k, v)| (*k, *v)).collect();
        assert_eq!(after, before, "changes to a clone leave the original alone");
        assert_eq!(m.iter().count(), 5_000);
        assert_eq!(m.remove(&1_000_000), None);
        assert!(m.get_mut(&1_000_000).is_none());
        m.reserve(100_000);
        assert_eq!(m.iter().count(), 5_000);
        assert!(m.get(&4_999).is_some() && m.get(&5_000).is_none());
    }
}
