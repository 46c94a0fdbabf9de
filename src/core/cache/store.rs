//! `WorkflowCache`'s store: a segmented LRU (new entries on probation, entries read again move
//! to a protected segment of 80 %), so eviction weighs recency and frequency, and a one-off
//! scan cannot push out what is read often. `max_size` is exact. Time-to-live needs no timer:
//! a heap of expiry times is swept at every operation, so nothing keeps a process alive and an
//! expired entry is never returned. The store is generic over what it keeps: the
//! binding keeps JS values (by reference), the tests plain data.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashTable};

pub use super::entry::{Entry, Key, KeyRef, Lifetime, Stats};
use crate::core::input::Input;

const NONE: usize = usize::MAX;

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
enum Segment {
    Probation,
    Protected,
}

struct Node<V> {
    entry: Entry<V>,
    segment: Segment,
    prev: usize,
    next: usize,
}

#[derive(Clone, Copy)]
struct List {
    head: usize, // most recent
    tail: usize, // least recent
    len: usize,
}

impl List {
    const EMPTY: List = List {
        head: NONE,
        tail: NONE,
        len: 0,
    };
}

/// The store. Not thread-safe by itself: the binding owns it on the JS thread.
pub struct Cache<V> {
    nodes: Vec<Option<Node<V>>>,
    free: Vec<usize>,
    /// Node positions, hashed by their entries' keys (each key is kept once, in its node).
    index: HashTable<usize>,
    hasher: DefaultHashBuilder,
    /// Expiry times and their nodes, soonest first. Deletion is lazy: a rewrite or a removal
    /// leaves the old time in the heap, and a time counts only while its node still expires
    /// then. The heap is rebuilt when such stale times outnumber the entries.
    expiry: BinaryHeap<Reverse<(i64, usize)>>,
    probation: List,
    protected: List,
    max_size: usize,
    /// Default time-to-live in ms (None: entries do not expire).
    ttl: Lifetime,
    pub stats: Stats,
}

impl<V> Cache<V> {
    pub fn new(max_size: usize, ttl: Lifetime) -> Cache<V> {
        Cache {
            nodes: Vec::new(),
            free: Vec::new(),
            index: HashTable::new(),
            hasher: DefaultHashBuilder::default(),
            expiry: BinaryHeap::new(),
            probation: List::EMPTY,
            protected: List::EMPTY,
            max_size: max_size.max(1),
            ttl,
            stats: Stats::default(),
        }
    }

    pub fn max_size(&self) -> usize {
        self.max_size
    }

    pub fn ttl(&self) -> Lifetime {
        self.ttl
    }

    /// Live entries (expired ones are swept first).
    pub fn len(&mut self, now: i64) -> usize {
        self.sweep(now);
        self.index.len()
    }

    pub fn is_empty(&mut self, now: i64) -> bool {
        self.len(now) == 0
    }

    /// New limits; a smaller `max_size` evicts at once.
    pub fn configure(&mut self, max_size: Option<usize>, ttl: Option<Lifetime>, now: i64) {
        if let Some(ttl) = ttl {
            self.ttl = ttl;
        }
        if let Some(max) = max_size {
            self.max_size = max.max(1);
            self.sweep(now);
            while self.index.len() > self.max_size {
                self.evict_one();
            }
        }
    }

    /// The value (a hit refreshes its recency and promotes it), or None (a miss).
    pub fn get(&mut self, key: KeyRef, now: i64) -> Option<&V> {
        self.sweep(now);
        let Some(i) = self.find(key) else {
            self.stats.misses += 1;
            return None;
        };
        self.stats.hits += 1;
        self.touch(i);
        self.nodes[i].as_ref().map(|n| &n.entry.value)
    }

    /// Whether a live entry exists (a stored null counts); no effect on stats or recency.
    pub fn has(&mut self, key: KeyRef, now: i64) -> bool {
        self.sweep(now);
        self.find(key).is_some()
    }

    /// Stores `value` for `ttl` (None: the cache's default).
    pub fn set(&mut self, key: KeyRef, value: V, ttl: Option<Lifetime>, metadata: Input, now: i64) {
        self.sweep(now);
        self.stats.sets += 1;
        let expires_at = ttl.unwrap_or(self.ttl).expiry(now);
        if let Some(i) = self.find(key) {
            let node = self.nodes[i].as_mut().expect("indexed node");
            node.entry.value = value;
            node.entry.timestamp = now;
            node.entry.expires_at = expires_at;
            node.entry.metadata = metadata;
            self.deadline(expires_at, i);
            self.touch(i);
            return;
        }
        if self.index.len() >= self.max_size {
            self.evict_one();
        }
        let node = Node {
            entry: Entry {
                key: key.to_owned(),
                value,
                timestamp: now,
                expires_at,
                metadata,
            },
            segment: Segment::Probation,
            prev: NONE,
            next: NONE,
        };
        let i = match self.free.pop() {
            Some(i) => {
                self.nodes[i] = Some(node);
                i
            }
            None => {
                self.nodes.push(Some(node));
                self.nodes.len() - 1
            }
        };
        let (nodes, hasher) = (&self.nodes, &self.hasher);
        self.index
            .insert_unique(hasher.hash_one(key), i, |&j| hash_of(hasher, nodes, j));
        self.deadline(expires_at, i);
        self.push_front(Segment::Probation, i);
    }

    /// Removes an entry; true when it existed.
    pub fn delete(&mut self, key: KeyRef, now: i64) -> bool {
        self.sweep(now);
        match self.find(key) {
            Some(i) => {
                self.remove(i);
                self.stats.deletes += 1;
                true
            }
            None => false,
        }
    }

    /// Removes everything (counted as deletes); returns how many entries there were.
    pub fn clear(&mut self, now: i64) -> usize {
        self.sweep(now);
        let n = self.index.len();
        self.stats.deletes += n as u64;
        self.nodes.clear();
        self.free.clear();
        self.index.clear();
        self.expiry.clear();
        self.probation = List::EMPTY;
        self.protected = List::EMPTY;
        n
    }

    /// Removes expired entries now; returns how many.
    pub fn cleanup(&mut self, now: i64) -> usize {
        let before = self.stats.expirations;
        self.sweep(now);
        (self.stats.expirations - before) as usize
    }

    /// Live entries, most valuable first (protected, then probation, each most recent first).
    pub fn entries(&mut self, now: i64) -> Vec<&Entry<V>> {
        self.sweep(now);
        let mut out = Vec::with_capacity(self.index.len());
        for list in [self.protected, self.probation] {
            let mut i = list.head;
            while i != NONE {
                let node = self.nodes[i].as_ref().expect("listed node");
                out.push(&node.entry);
                i = node.next;
            }
        }
        out
    }

    /// The entry, without touching stats or recency.
    pub fn peek(&mut self, key: KeyRef, now: i64) -> Option<&mut Entry<V>> {
        self.sweep(now);
        let i = self.find(key)?;
        self.nodes[i].as_mut().map(|n| &mut n.entry)
    }

    /// Sets a live entry's expiry to `ttl` from now, keeping its value,
    /// metadata, timestamp and place; false when there is no such entry.
    pub fn set_expiry(&mut self, key: KeyRef, ttl: Lifetime, now: i64) -> bool {
        self.sweep(now);
        let Some(i) = self.find(key) else {
            return false;
        };
        let expires_at = ttl.expiry(now);
        self.nodes[i]
            .as_mut()
            .expect("indexed node")
            .entry
            .expires_at = expires_at;
        self.deadline(expires_at, i);
        true
    }

    fn find(&self, key: KeyRef) -> Option<usize> {
        let nodes = &self.nodes;
        self.index
            .find(self.hasher.hash_one(key), |&i| {
                nodes[i]
                    .as_ref()
                    .is_some_and(|n| n.entry.key.as_ref() == key)
            })
            .copied()
    }

    fn sweep(&mut self, now: i64) {
        while let Some(&Reverse((at, i))) = self.expiry.peek() {
            if at >= now {
                break;
            }
            self.expiry.pop();
            if self.expires_at(i) == Some(at) {
                self.remove(i);
                self.stats.expirations += 1;
            }
        }
    }

    /// Records that node `i` now expires at `at` (if ever).
    fn deadline(&mut self, at: Option<i64>, i: usize) {
        let Some(at) = at else { return };
        self.expiry.push(Reverse((at, i)));
        if self.expiry.len() > 2 * self.index.len() + 64 {
            let live = self.nodes.iter().enumerate();
            let times = live.filter_map(|(i, n)| Some(Reverse((n.as_ref()?.entry.expires_at?, i))));
            self.expiry = times.collect();
        }
    }

    fn expires_at(&self, i: usize) -> Option<i64> {
        self.nodes[i].as_ref()?.entry.expires_at
    }

    /// Evicts the entry valued least now (after sweeping expired ones); false when empty.
    pub fn evict(&mut self, now: i64) -> bool {
        self.sweep(now);
        let before = self.stats.evictions;
        self.evict_one();
        self.stats.evictions > before
    }

    fn evict_one(&mut self) {
        let victim = if self.probation.tail != NONE {
            self.probation.tail
        } else {
            self.protected.tail
        };
        if victim != NONE {
            self.remove(victim);
            self.stats.evictions += 1;
        }
    }

    /// A read or rewrite: probation entries are promoted; the protected segment keeps 80 % of
    /// the room, its least recent entry going back on probation.
    fn touch(&mut self, i: usize) {
        let segment = self.nodes[i].as_ref().expect("node").segment;
        self.unlink(i);
        self.push_front(Segment::Protected, i);
        if segment == Segment::Probation {
            let room = (self.max_size * 4 / 5).max(1);
            if self.protected.len > room {
                let demoted = self.protected.tail;
                self.unlink(demoted);
                self.push_front(Segment::Probation, demoted);
            }
        }
    }

    fn remove(&mut self, i: usize) {
        self.unlink(i);
        let hash = hash_of(&self.hasher, &self.nodes, i);
        if let Ok(found) = self.index.find_entry(hash, |&j| j == i) {
            found.remove();
        }
        if self.nodes[i].take().is_some() {
            self.free.push(i);
        }
    }

    fn list(&mut self, segment: Segment) -> &mut List {
        match segment {
            Segment::Probation => &mut self.probation,
            Segment::Protected => &mut self.protected,
        }
    }

    fn unlink(&mut self, i: usize) {
        let (segment, prev, next) = {
            let n = self.nodes[i].as_ref().expect("node");
            (n.segment, n.prev, n.next)
        };
        if prev != NONE {
            self.nodes[prev].as_mut().expect("prev").next = next;
        }
        if next != NONE {
            self.nodes[next].as_mut().expect("next").prev = prev;
        }
        let list = self.list(segment);
        if list.head == i {
            list.head = next;
        }
        if list.tail == i {
            list.tail = prev;
        }
        list.len -= 1;
        let n = self.nodes[i].as_mut().expect("node");
        n.prev = NONE;
        n.next = NONE;
    }

    fn push_front(&mut self, segment: Segment, i: usize) {
        let head = self.list(segment).head;
        {
            let n = self.nodes[i].as_mut().expect("node");
            n.segment = segment;
            n.prev = NONE;
            n.next = head;
        }
        if head != NONE {
            self.nodes[head].as_mut().expect("head").prev = i;
        }
        let list = self.list(segment);
        list.head = i;
        if list.tail == NONE {
            list.tail = i;
        }
        list.len += 1;
    }
}

/// The hash of the key in node `i`.
fn hash_of<V>(hasher: &DefaultHashBuilder, nodes: &[Option<Node<V>>], i: usize) -> u64 {
    hasher.hash_one(nodes[i].as_ref().expect("indexed node").entry.key.as_ref())
}

#[cfg(test)]
mod tests;
