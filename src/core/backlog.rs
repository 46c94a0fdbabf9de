//! Work handed to another thread (the JS thread) and not yet taken, counted and bounded: past
//! the bound, new work is dropped rather than queued without end.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

/// The count of items waiting.
#[derive(Clone, Default)]
pub struct Backlog(Arc<AtomicUsize>);

/// One item's place in a [`Backlog`]; dropping it makes room.
pub struct Waiting(Arc<AtomicUsize>);

impl Backlog {
    /// Items waiting now.
    pub fn len(&self) -> usize {
        self.0.load(Ordering::Acquire)
    }

    /// Whether nothing waits.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A place for one more item, or None when `max` wait already.
    pub fn enter(&self, max: usize) -> Option<Waiting> {
        if self.0.fetch_add(1, Ordering::AcqRel) >= max {
            self.0.fetch_sub(1, Ordering::AcqRel);
            return None;
        }
        Some(Waiting(self.0.clone()))
    }
}

impl Drop for Waiting {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn past_the_bound_nothing_enters_until_a_place_is_left() {
        let backlog = Backlog::default();
        let first = backlog.enter(2).expect("room");
        let _second = backlog.enter(2).expect("room");
        assert!(backlog.enter(2).is_none());
        drop(first);
        assert!(backlog.enter(2).is_some());
    }
}
