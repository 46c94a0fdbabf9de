//! The time and the ids a plan draws, made reproducible. While a call is planned and run under a
//! [`Stamp`], [`now_millis`] answers the stamp's time and [`new_uuid`] draws its ids from the
//! stamp's seed, in order: planning the same call again under the same stamp (the fallback's
//! journal replayed onto PostgreSQL) makes the same rows the caller was given. Without a stamp
//! they are the clock and random ids.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// A call's time and id seed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Stamp {
    /// Epoch milliseconds.
    pub now_ms: i64,
    pub seed: u64,
}

thread_local! {
    /// The stamp in force on this thread, and how many ids it has drawn.
    static CURRENT: Cell<Option<(Stamp, u64)>> = const { Cell::new(None) };
}

impl Stamp {
    /// A stamp of now, with a random seed.
    pub fn fresh() -> Stamp {
        Stamp {
            now_ms: chrono::Utc::now().timestamp_millis(),
            seed: uuid::Uuid::new_v4().as_u64_pair().0,
        }
    }

    /// Runs `f` under this stamp (its ids drawn from the start).
    pub fn apply<T>(self, f: impl FnOnce() -> T) -> T {
        let outer = CURRENT.with(|c| c.replace(Some((self, 0))));
        let out = f();
        CURRENT.with(|c| c.set(outer));
        out
    }
}

/// Now, in epoch milliseconds: the stamp's time under a stamp.
pub fn now_millis() -> i64 {
    match CURRENT.with(Cell::get) {
        Some((stamp, _)) => stamp.now_ms,
        None => chrono::Utc::now().timestamp_millis(),
    }
}

/// A new id: random, or under a stamp the next of its seed's (a version-4 UUID either way).
pub fn new_uuid() -> uuid::Uuid {
    let drawn = CURRENT.with(|c| {
        let (stamp, n) = c.get()?;
        c.set(Some((stamp, n + 1)));
        Some((stamp.seed, n))
    });
    match drawn {
        None => uuid::Uuid::new_v4(),
        Some((seed, n)) => {
            let high = splitmix(seed ^ n.wrapping_mul(0x9e37_79b9_7f4a_7c15));
            let low = splitmix(high ^ n);
            uuid::Builder::from_random_bytes(
                (u128::from(high) << 64 | u128::from(low)).to_be_bytes(),
            )
            .into_uuid()
        }
    }
}

/// SplitMix64's finaliser: spreads a seed's bits over the whole word.
fn splitmix(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9e37_79b9_7f4a_7c15);
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// A future run under a stamp: each poll sees it, so work that draws ids across awaits (several
/// calls in sequence) draws them in the same order every time.
pub struct Stamped<F> {
    stamp: Stamp,
    drawn: u64,
    inner: Pin<Box<F>>,
}

impl<F: Future> Stamped<F> {
    pub fn new(stamp: Stamp, inner: F) -> Stamped<F> {
        Stamped {
            stamp,
            drawn: 0,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Stamped<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        let outer = CURRENT.with(|c| c.replace(Some((this.stamp, this.drawn))));
        let out = this.inner.as_mut().poll(cx);
        this.drawn = CURRENT
            .with(|c| c.replace(outer))
            .map_or(this.drawn, |(_, n)| n);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stamp_gives_the_same_time_and_ids_again() {
        let stamp = Stamp {
            now_ms: 1_767_225_600_123,
            seed: 42,
        };
        let draw = || (now_millis(), new_uuid(), new_uuid());
        let first = stamp.apply(draw);
        let second = stamp.apply(draw);
        assert_eq!(first, second);
        assert_eq!(first.0, 1_767_225_600_123);
        assert_ne!(first.1, first.2);
        assert_eq!(first.1.get_version_num(), 4);
        // Outside the stamp: the clock and random ids.
        assert_ne!(now_millis(), 1_767_225_600_123);
        assert_ne!(new_uuid(), first.1);
        let other = Stamp { seed: 43, ..stamp }.apply(new_uuid);
        assert_ne!(other, first.1);
    }

    #[tokio::test]
    async fn a_stamped_future_draws_in_order_across_awaits() {
        let stamp = Stamp { now_ms: 5, seed: 7 };
        let work = || async {
            let a = new_uuid();
            tokio::task::yield_now().await;
            (a, new_uuid(), now_millis())
        };
        let first = Stamped::new(stamp, work()).await;
        let second = Stamped::new(stamp, work()).await;
        assert_eq!(first, second);
        assert_eq!(first.1, stamp.apply(|| (new_uuid(), new_uuid()).1));
    }
}
