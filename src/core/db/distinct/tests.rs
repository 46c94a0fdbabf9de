//! Unit tests of the sketches of distinct ids.

use super::*;

fn of(ids: impl Iterator<Item = String>) -> Distinct {
    let mut d = Distinct::default();
    ids.for_each(|id| d.add_id(&id));
    d
}

fn ids(from: usize, to: usize) -> impl Iterator<Item = String> {
    (from..to).map(|i| format!("exec_{i}"))
}

#[test]
fn the_hash_is_pinned() {
    // Stored in every sketch: a change would mix two hashes in one sketch.
    // FNV-1a then fmix64, computed independently.
    assert_eq!(hash(""), 0xefd0_1f60_ba99_2926);
    assert_eq!(hash("exec_1"), 0x4820_86b4_6e37_2cdb);
}

#[test]
fn small_selections_are_counted_exactly() {
    for n in [0, 1, 7, SET_MAX] {
        let d = of(ids(0, n));
        assert!(matches!(d, Distinct::Set(_)));
        assert_eq!(d.count(), n as i64);
    }
    // Repeats count once.
    let mut d = of(ids(0, 100));
    ids(0, 100).for_each(|id| d.add_id(&id));
    assert_eq!(d.count(), 100);
}

#[test]
fn large_selections_are_within_three_standard_errors() {
    // 1.04 / sqrt(16384) = 0.8125 %.
    for n in [SET_MAX + 1, 5_000, 20_000, 50_000, 200_000, 1_000_000] {
        let d = of(ids(0, n));
        assert!(matches!(d, Distinct::Registers(_)));
        let error = (d.count() as f64 - n as f64).abs() / n as f64;
        assert!(error < 3.0 * 0.008125, "{n}: {} ({error})", d.count());
    }
}

#[test]
fn merging_is_a_union_in_any_order_and_idempotent() {
    let (a, b) = (of(ids(0, 800)), of(ids(500, 3_000)));
    let mut ab = a.clone();
    ab.merge(&b);
    let mut ba = b.clone();
    ba.merge(&a);
    assert_eq!(ab, ba);
    assert_eq!(ab, of(ids(0, 3_000)));
    let mut again = ab.clone();
    again.merge(&a);
    again.merge(&ab);
    assert_eq!(again, ab);
    // Two sets whose union stays small stay a set.
    let mut small = of(ids(0, 10));
    small.merge(&of(ids(5, 20)));
    assert_eq!(small, of(ids(0, 20)));
    assert_eq!(small.count(), 20);
}

#[test]
fn stored_sketches_read_back_and_garbage_is_refused() {
    for d in [
        Distinct::default(),
        of(ids(0, 3)),
        of(ids(0, SET_MAX)),
        of(ids(0, 10_000)),
    ] {
        assert_eq!(Distinct::decode(&d.encode()).unwrap(), d);
    }
    for bad in ["", "x", "s!!", "sAAA", "rAAAA"] {
        assert!(Distinct::decode(bad).is_err(), "{bad}");
    }
}

#[test]
fn a_register_takes_the_rank_of_the_first_one_bit() {
    assert_eq!(register(0), (0, (Q + 1) as u8));
    assert_eq!(register(1), (0, Q as u8));
    assert_eq!(register(1 << (Q - 1)), (0, 1));
    assert_eq!(register(u64::MAX), (M - 1, 1));
}
