//! Unit tests of `store`.

use super::*;

fn k(s: &str) -> Key {
    Key::Text(s.encode_utf16().collect())
}

fn v(n: f64) -> Input {
    Input::Number(n)
}

#[test]
fn max_size_is_exact_and_frequent_entries_survive_a_scan() {
    let mut c = Cache::<Input>::new(10, Lifetime::Forever);
    for i in 0..5 {
        c.set(
            k(&format!("hot{i}")).as_ref(),
            v(i as f64),
            None,
            Input::Null,
            0,
        );
        assert!(c.get(k(&format!("hot{i}")).as_ref(), 0).is_some());
    }
    for i in 0..1000 {
        c.set(
            k(&format!("scan{i}")).as_ref(),
            v(i as f64),
            None,
            Input::Null,
            0,
        );
        assert!(c.len(0) <= 10);
    }
    assert_eq!(c.len(0), 10);
    for i in 0..5 {
        assert!(
            c.has(k(&format!("hot{i}")).as_ref(), 0),
            "hot{i} was evicted"
        );
    }
    assert_eq!(c.stats.evictions, 1005 - 10);
}

#[test]
fn ttl_expires_without_timers_and_stats_add_up() {
    let mut c = Cache::<Input>::new(100, Lifetime::Millis(1000));
    c.set(k("a").as_ref(), Input::Null, None, Input::Null, 0);
    c.set(
        k("b").as_ref(),
        v(1.0),
        Some(Lifetime::Forever),
        Input::Null,
        0,
    );
    c.set(
        k("c").as_ref(),
        v(2.0),
        Some(Lifetime::Millis(10)),
        Input::Null,
        0,
    );
    assert!(c.has(k("a").as_ref(), 500), "a stored null is present");
    assert_eq!(c.get(k("a").as_ref(), 500), Some(&Input::Null));
    assert!(c.get(k("c").as_ref(), 11).is_none());
    assert!(c.get(k("a").as_ref(), 1001).is_none());
    assert!(c.has(k("b").as_ref(), i64::MAX - 1));
    assert!(c.delete(k("b").as_ref(), 2000));
    assert!(!c.delete(k("b").as_ref(), 2000));
    let s = c.stats;
    assert_eq!((s.hits, s.misses, s.sets), (1, 2, 3));
    assert_eq!(
        s.sets,
        s.deletes + s.evictions + s.expirations + c.len(2000) as u64
    );
}

#[test]
fn rewriting_a_key_in_a_full_cache_evicts_nothing() {
    let mut c = Cache::<Input>::new(2, Lifetime::Forever);
    c.set(k("a").as_ref(), v(1.0), None, Input::Null, 0);
    c.set(k("b").as_ref(), v(2.0), None, Input::Null, 0);
    c.set(k("a").as_ref(), v(3.0), None, Input::Null, 0);
    assert_eq!(c.len(0), 2);
    assert_eq!(c.stats.evictions, 0);
    assert_eq!(c.get(k("a").as_ref(), 0), Some(&v(3.0)));
    c.configure(Some(1), None, 0);
    assert_eq!(c.len(0), 1);
    assert!(c.has(k("a").as_ref(), 0), "the protected entry stays");
    assert_eq!(c.clear(0), 1);
    assert_eq!(Key::number(-0.0), Key::number(0.0));
}

#[test]
fn entries_peek_evict_and_configure() {
    let mut c = Cache::<Input>::new(4, Lifetime::Millis(100));
    for (n, key) in ["a", "b", "c"].iter().enumerate() {
        c.set(k(key).as_ref(), v(n as f64), None, Input::Object(vec![]), 0);
    }
    assert!(c.get(k("a").as_ref(), 1).is_some());
    let order: Vec<Key> = c.entries(1).iter().map(|e| e.key.clone()).collect();
    assert_eq!(
        order,
        [k("a"), k("c"), k("b")],
        "protected first, then most recent"
    );
    let entry = c.peek(k("b").as_ref(), 1).unwrap();
    entry.metadata = Input::Object(vec![("tier".into(), v(2.0))]);
    assert_eq!(c.peek(k("b").as_ref(), 1).unwrap().expires_at, Some(100));
    assert!(c.evict(1));
    assert!(
        !c.has(k("b").as_ref(), 1),
        "the least recent entry on probation goes first"
    );
    c.configure(None, Some(Lifetime::Forever), 1);
    c.set(k("d").as_ref(), v(9.0), None, Input::Null, 1);
    assert_eq!(c.peek(k("d").as_ref(), 1).unwrap().expires_at, None);
    assert_eq!(c.ttl(), Lifetime::Forever);
    assert_eq!(c.cleanup(150), 2, "a and c expire; d never does");
    assert!(!c.is_empty(150));
    assert_eq!(c.clear(150), 1);
    assert!(!c.evict(150));
    assert!(c.is_empty(150));
}

#[test]
fn set_expiry_keeps_value_and_place_and_keys_keep_their_kind() {
    let mut c = Cache::<Input>::new(4, Lifetime::Millis(100));
    c.set(k("1").as_ref(), v(1.0), None, Input::Null, 0);
    c.set(KeyRef::number(1.0), v(2.0), None, Input::Null, 0);
    assert_eq!(c.get(k("1").as_ref(), 0), Some(&v(1.0)));
    assert_eq!(c.get(KeyRef::number(1.0), 0), Some(&v(2.0)));
    assert!(c.set_expiry(k("1").as_ref(), Lifetime::Forever, 50));
    assert!(!c.set_expiry(k("missing").as_ref(), Lifetime::Forever, 50));
    let e = c.peek(k("1").as_ref(), 50).unwrap();
    assert_eq!((e.timestamp, e.expires_at), (0, None));
    assert!(c.set_expiry(KeyRef::number(1.0), Lifetime::Millis(10), 50));
    assert_eq!(c.cleanup(61), 1);
    assert!(c.has(k("1").as_ref(), 1000));
    assert_eq!(c.stats.sets, 2, "a new expiry is not a set");
}

#[test]
fn rewrites_leave_stale_times_that_never_expire_a_live_entry() {
    let mut c = Cache::<Input>::new(8, Lifetime::Millis(10));
    // Thousands of rewrites of few keys: the heap is rebuilt, not grown without bound.
    for t in 0..5000 {
        c.set(
            k(&format!("k{}", t % 4)).as_ref(),
            v(t as f64),
            None,
            Input::Null,
            t,
        );
        assert!(c.expiry.len() <= 2 * 4 + 65);
    }
    // Each key's latest write expires at its own time, not at a stale one.
    assert_eq!(c.len(5005), 4);
    assert_eq!(c.get(k("k0").as_ref(), 5005), Some(&v(4996.0)));
    assert_eq!(
        c.len(5007),
        3,
        "k0 (expiring at 5006) is gone, k1 (5007) is not yet"
    );
    assert_eq!(c.stats.expirations, 1);
    // A freed slot reused by a new entry keeps the new entry's expiry.
    c.set(
        k("new").as_ref(),
        v(0.0),
        Some(Lifetime::Millis(1000)),
        Input::Null,
        5007,
    );
    assert!(c.has(k("new").as_ref(), 5500));
}
