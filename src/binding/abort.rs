//! What `lib/calls.js` needs to give a call its caller's `AbortSignal` (internal exports, named
//! `__…` and taken off the package's exports at load): a flag, the function that fires it, and
//! the function that makes a call with that flag as its abort (`core::abort`).

use napi::bindgen_prelude::{External, Function, Unknown};
use napi_derive::napi;

use crate::core::abort::{self, Abort};

/// A new abort flag, for one call.
#[napi(skip_typescript, js_name = "__abortFlag")]
pub fn abort_flag() -> External<Abort> {
    External::new(Abort::new())
}

/// Fires the flag (the signal's `abort` listener).
#[napi(skip_typescript, js_name = "__abort")]
pub fn fire(flag: &External<Abort>) {
    flag.fire();
}

/// Calls `call()` with `flag` as the abort of what it submits; returns what `call` returns.
#[napi(skip_typescript, js_name = "__callWithAbort")]
pub fn call_with_abort<'env>(
    flag: &External<Abort>,
    call: Function<'env, (), Unknown<'env>>,
) -> napi::Result<Unknown<'env>> {
    let abort: &Abort = flag;
    abort::scope(Some(abort.clone()), || call.call(()))
}
