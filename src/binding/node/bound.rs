//! Methods bound to one instance: plain Node-API functions, created when the instance is
//! constructed and set on it as its own (non-enumerable) properties, each carrying the
//! instance's native state as its callback data. They are for the calls where napi-rs's method
//! glue costs more than the work itself. A generated `&self` method records its borrow in a
//! process-wide registry (a mutex, a map and an allocation per call), and a prototype method
//! must find its instance's state through two private-property lookups (type tag and unwrap).
//! Together that was 170 of a `WorkflowCache.get`'s 250 ns; a bound function's call costs 15.
//!
//! Each function holds its own `Rc` of the state, released when the function is collected, so
//! a method kept apart from its instance (`const get = cache.get`) stays valid. The state is
//! shared, so it keeps its mutable parts in cells.

use std::ffi::CStr;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::ptr;
use std::rc::Rc;

use napi::{check_status, sys, JsError};

/// A Node-API function callback.
// SAFETY: Node-API calls this on the JS thread with the env, and with the data pointer this file
// gave it.
pub type Callback = unsafe extern "C" fn(sys::napi_env, sys::napi_callback_info) -> sys::napi_value;

/// Sets `methods` on `this` as functions bound to `state`: writable, configurable and not
/// enumerable, as a class's methods are.
pub fn bind<S: 'static>(
    env: sys::napi_env,
    this: sys::napi_value,
    state: &Rc<S>,
    methods: &[(&'static CStr, Callback)],
) -> napi::Result<()> {
    let mut properties = Vec::with_capacity(methods.len());
    for (name, callback) in methods {
        properties.push(sys::napi_property_descriptor {
            utf8name: name.as_ptr(),
            name: ptr::null_mut(),
            method: None,
            getter: None,
            setter: None,
            value: function(env, name, *callback, state)?,
            attributes: sys::PropertyAttributes::writable | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        });
    }
    // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the out-
    // pointer is a local Node-API writes.
    check_status!(unsafe {
        sys::napi_define_properties(env, this, properties.len(), properties.as_ptr())
    })
}

/// A JS function calling `callback` with a clone of `state`, dropped when it is collected.
fn function<S: 'static>(
    env: sys::napi_env,
    name: &CStr,
    callback: Callback,
    state: &Rc<S>,
) -> napi::Result<sys::napi_value> {
    let data = Box::into_raw(Box::new(Rc::clone(state))).cast();
    let mut f = ptr::null_mut();
    // SAFETY: the env is the current call's; the inputs outlive the call, which copies them, and
    // Node-API writes the out-pointer.
    let status = unsafe {
        sys::napi_create_function(
            env,
            name.as_ptr(),
            name.count_bytes() as isize,
            Some(callback),
            data,
            &mut f,
        )
    };
    if status != sys::Status::napi_ok {
        // SAFETY: the pointer came from `Box::into_raw` of this type and is taken back exactly
        // once.
        drop(unsafe { Box::from_raw(data.cast::<Rc<S>>()) });
        return check_status!(status).map(|_| f);
    }
    // Should the finalizer fail, `data` is leaked: never freed while the function may run.
    // SAFETY: called on the JS thread with the env of the current call; the values passed are live
    // values of it.
    check_status!(unsafe {
        sys::napi_add_finalizer(
            env,
            f,
            data,
            Some(release::<S>),
            ptr::null_mut(),
            ptr::null_mut(),
        )
    })?;
    Ok(f)
}

// SAFETY: Node-API calls this on the JS thread with the env, and with the data pointer this file
// gave it.
unsafe extern "C" fn release<S>(
    _env: sys::napi_env,
    data: *mut std::ffi::c_void,
    _hint: *mut std::ffi::c_void,
) {
    // SAFETY: the pointer came from `Box::into_raw` of this type and is taken back exactly once.
    drop(unsafe { Box::from_raw(data.cast::<Rc<S>>()) });
}

/// Runs a bound method: reads `N` arguments (missing ones are `undefined`) and returns what
/// `f` returns with the function's state. An `Err` becomes a JS exception (unless one is
/// already pending), and so does a panic.
///
/// # Safety
/// `env` and `info` are the ones Node-API passed to a callback that [`bind`] set up with state
/// of type `S`.
// SAFETY: called on the JS thread with the env of the current call; the values passed are live
// values of it.
pub unsafe fn call<S, const N: usize>(
    env: sys::napi_env,
    info: sys::napi_callback_info,
    f: impl FnOnce(&S, [sys::napi_value; N]) -> napi::Result<sys::napi_value>,
) -> sys::napi_value {
    let mut argc = N;
    let mut args = [ptr::null_mut(); N];
    let mut data = ptr::null_mut();
    let outcome = catch_unwind(AssertUnwindSafe(|| {
        // SAFETY: the callback info is the current call's; Node-API writes at most `argc` values
        // into the array given.
        check_status!(unsafe {
            sys::napi_get_cb_info(
                env,
                info,
                &mut argc,
                args.as_mut_ptr(),
                ptr::null_mut(),
                &mut data,
            )
        })?;
        // SAFETY: called on the JS thread with the env of the current call; the values passed are
        // live values of it.
        let state: &Rc<S> = unsafe { &*data.cast::<Rc<S>>() };
        f(state, args)
    }));
    let error = match outcome {
        Ok(Ok(value)) => return value,
        Ok(Err(e)) => e,
        Err(_) => napi::Error::from_reason("internal error (a panic) in a bound method"),
    };
    if error.status != napi::Status::PendingException {
        // SAFETY: called on the JS thread with the env of the current call; the values passed are
        // live values of it.
        unsafe { JsError::from(error).throw_into(env) };
    }
    ptr::null_mut()
}
