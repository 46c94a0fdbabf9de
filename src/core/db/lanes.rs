//! How many calls run on the runtime at once, per database: at most [`RUNNING`]; the others
//! wait in a queue as what starts them — their plan, a few hundred bytes — and not as a running
//! future: a call's future is about 30 KB, half of it sqlx's wait for a pooled connection, and
//! a burst of 100,000 un-awaited calls held 2 GB that way. A lane that finishes a call starts
//! the next one waiting.

use std::collections::VecDeque;
use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, Mutex};

use super::sync::lock;

/// Calls running at once on one database: enough to keep PostgreSQL's group commit fed (four
/// groups of up to 256 writes), few enough that their futures stay within about 15 MB.
pub const RUNNING: usize = 512;

/// Work waiting for a lane: builds its future when a lane takes it.
pub type Start = Box<dyn FnOnce() -> Pin<Box<dyn Future<Output = ()> + Send>> + Send>;

#[derive(Default)]
pub struct Lanes {
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    running: usize,
    waiting: VecDeque<Start>,
}

impl Lanes {
    /// Runs `start`'s work on `runtime` now if a lane is free, else once one is.
    pub fn run(self: &Arc<Self>, runtime: &tokio::runtime::Handle, start: Start) {
        {
            let mut state = lock(&self.state);
            if state.running >= RUNNING {
                state.waiting.push_back(start);
                return;
            }
            state.running += 1;
        }
        let lanes = self.clone();
        runtime.spawn(async move {
            let mut next = Some(start);
            while let Some(start) = next.take() {
                // A call that panics ends there (its promise settles through its own
                // completion), and the lane goes on.
                let _ = CatchUnwind(start()).await;
                next = lanes.next();
            }
        });
    }

    /// The next waiting work for a lane that finished, or None (the lane closes).
    fn next(&self) -> Option<Start> {
        let mut state = lock(&self.state);
        let next = state.waiting.pop_front();
        if next.is_none() {
            state.running -= 1;
        }
        next
    }

    /// Calls waiting for a lane.
    pub fn waiting(&self) -> usize {
        lock(&self.state).waiting.len()
    }
}

/// A future that ends with `Err` where the one it wraps panicked, instead of unwinding out of
/// the lane's task.
struct CatchUnwind(Pin<Box<dyn Future<Output = ()> + Send>>);

impl Future for CatchUnwind {
    type Output = std::thread::Result<()>;

    fn poll(
        mut self: Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        let inner = &mut self.0;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| inner.as_mut().poll(cx))) {
            Ok(std::task::Poll::Pending) => std::task::Poll::Pending,
            Ok(std::task::Poll::Ready(())) => std::task::Poll::Ready(Ok(())),
            Err(panic) => std::task::Poll::Ready(Err(panic)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering};

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn at_most_running_at_once_and_every_one_runs() {
        let lanes = Arc::new(Lanes::default());
        let (now, peak, done) = (
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
            Arc::new(AtomicUsize::new(0)),
        );
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let total = RUNNING * 3;
        // One that panics takes its lane with it for no one.
        lanes.run(
            &tokio::runtime::Handle::current(),
            Box::new(|| Box::pin(async { panic!("a call that panics") })),
        );
        for _ in 0..total {
            let (now, peak, done, tx) = (now.clone(), peak.clone(), done.clone(), tx.clone());
            lanes.run(
                &tokio::runtime::Handle::current(),
                Box::new(move || {
                    Box::pin(async move {
                        let n = now.fetch_add(1, Ordering::SeqCst) + 1;
                        peak.fetch_max(n, Ordering::SeqCst);
                        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
                        now.fetch_sub(1, Ordering::SeqCst);
                        done.fetch_add(1, Ordering::SeqCst);
                        let _ = tx.send(());
                    })
                }),
            );
        }
        assert!(lanes.waiting() > 0, "beyond the lanes, calls wait");
        for _ in 0..total {
            rx.recv().await.unwrap();
        }
        assert_eq!(done.load(Ordering::SeqCst), total);
        assert!(peak.load(Ordering::SeqCst) <= RUNNING);
        assert_eq!(lanes.waiting(), 0);
        // The last lanes close just after their last work signalled.
        for _ in 0..100 {
            if lock(&lanes.state).running == 0 {
                break;
            }
            tokio::time::sleep(std::time::Duration::from_millis(5)).await;
        }
        assert_eq!(lock(&lanes.state).running, 0, "every lane closed");
    }
}
