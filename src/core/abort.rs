//! A call's abort: the caller's `AbortSignal`, as a flag the call's work reads where stopping is
//! still safe. While a call is submitted, and while its work is polled ([`Abortable`]), its
//! abort is the current one ([`current`]); the storage floor reads it where a write can still be
//! rolled back (before it starts, and before its transaction or savepoint commits) and where a
//! read's result can still be dropped. Past those points the call completes as if no abort had
//! come: an aborted call never reports an abort for work that committed.

use std::cell::RefCell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

use crate::core::error::{Error, Result};

/// The flag one call's signal sets.
#[derive(Clone, Debug, Default)]
pub struct Abort(Arc<AtomicBool>);

impl Abort {
    pub fn new() -> Abort {
        Abort::default()
    }

    /// Marks the call aborted (from the JS thread, when its signal fires).
    pub fn fire(&self) {
        self.0.store(true, Ordering::Release);
    }

    pub fn fired(&self) -> bool {
        self.0.load(Ordering::Acquire)
    }

    /// `Err(aborted)` once the signal fired.
    pub fn check(&self) -> Result<()> {
        match self.fired() {
            true => Err(Error::aborted()),
            false => Ok(()),
        }
    }
}

thread_local! {
    static CURRENT: RefCell<Option<Abort>> = const { RefCell::new(None) };
}

/// The abort of the call being submitted or polled on this thread.
pub fn current() -> Option<Abort> {
    CURRENT.with(|c| c.borrow().clone())
}

/// `Err(aborted)` when the current call's signal fired.
pub fn check() -> Result<()> {
    match current() {
        Some(abort) => abort.check(),
        None => Ok(()),
    }
}

/// Runs `f` with `abort` as the current abort.
pub fn scope<T>(abort: Option<Abort>, f: impl FnOnce() -> T) -> T {
    let outer = CURRENT.with(|c| c.replace(abort));
    let out = f();
    CURRENT.with(|c| *c.borrow_mut() = outer);
    out
}

/// A future polled with its call's abort as the current one (None: with none, for work that
/// must finish once begun, such as a journal entry after its write).
pub struct Abortable<F> {
    abort: Option<Abort>,
    inner: Pin<Box<F>>,
}

impl<F: Future> Abortable<F> {
    pub fn new(abort: Option<Abort>, inner: F) -> Abortable<F> {
        Abortable {
            abort,
            inner: Box::pin(inner),
        }
    }
}

impl<F: Future> Future for Abortable<F> {
    type Output = F::Output;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let this = &mut *self;
        scope(this.abort.clone(), || this.inner.as_mut().poll(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    #[test]
    fn the_current_abort_is_the_scope_s_and_checks_once_fired() {
        assert!(current().is_none());
        assert!(check().is_ok());
        let abort = Abort::new();
        scope(Some(abort.clone()), || {
            assert!(check().is_ok());
            abort.fire();
            assert_eq!(check().unwrap_err().code, ErrorCode::Aborted);
            scope(None, || assert!(check().is_ok()));
            assert!(check().is_err());
        });
        assert!(current().is_none());
    }

    #[tokio::test]
    async fn an_abortable_future_sees_its_abort_across_awaits() {
        let abort = Abort::new();
        let seen = Abortable::new(Some(abort.clone()), async {
            let before = current().is_some_and(|a| !a.fired());
            tokio::task::yield_now().await;
            abort.fire();
            let inner = Abortable::new(None, async { current().is_none() }).await;
            (before, check().is_err(), inner)
        })
        .await;
        assert_eq!(seen, (true, true, true));
        assert!(current().is_none());
    }
}
