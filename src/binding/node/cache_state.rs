//! What a `WorkflowCache` holds, and its hot path. The state an instance shares with its bound
//! methods; the JS values it keeps, by reference: `get` returns the stored object itself, as the
//! planned `Map`-based cache and every JS cache do. This is where the habit of keeping no JS
//! values in native state does not fit: a copy per read cost 30× a `Map` lookup and changed what callers get
//! back. A reference lives exactly as long as its entry (delete, eviction, expiry, `clear`, or
//! the cache itself being collected), so the cache pins at most `maxSize` values. (Like any
//! native cache holding its values strongly, a value that refers back to its own cache keeps
//! both alive.)
//!
//! `get`, `set`, `has` and `delete` run here, for the prototype's methods and for the functions
//! the constructor binds to each instance (see `bound.rs`): own properties, a sixth of a
//! prototype method's cost. A subclass's instances keep the prototype's, so their overrides are
//! honoured.
//!
//! Time: `set` stamps entries with the precise clock (`timestamp` is `Date.now()`'s); the other
//! three check expiry against the kernel's coarse clock, a fifth of the cost: an entry may
//! outlive its TTL by up to one clock tick (1–4 ms), as lru-cache's entries may by its
//! `ttlResolution`.

use std::cell::{RefCell, RefMut};

use napi::bindgen_prelude::get_class_constructor;
use napi::{check_status, sys};
use serde_json::json;

use super::bound::{self, Callback};
use super::clock::recent_millis;
use super::convert::{throw, value};
use super::input::{input, with_utf16};
use super::logger::{Level, Logger};
use super::raw::{array, boolean, element, get, null, number, undefined, JsResult};
use super::reference::LocalRef;
use crate::core::cache::entry::{set_options, unstorable};
use crate::core::cache::{Cache, Key, KeyRef};
use crate::core::error::Error;
use crate::core::value::{now_millis, Value};

/// What the instance and its bound methods share. No JS runs while `cache` is borrowed:
/// options and metadata are read, and the logger called, outside.
pub(crate) struct State {
    pub(crate) cache: RefCell<Cache<CachedValue>>,
    pub(crate) logger: RefCell<Logger>,
}

/// A value the cache holds. Objects and functions are held by reference. Numbers, booleans,
/// null and undefined are kept inline. Strings, symbols and bigints sit in a one-element array
/// held by reference, as Node 20 references objects only.
pub(crate) enum CachedValue {
    Object(LocalRef),
    Boxed(LocalRef),
    Number(f64),
    Bool(bool),
    Null,
    Undefined,
}

impl CachedValue {
    /// Holds `v` (a reference for anything but a number, boolean, null or undefined).
    fn new(env: sys::napi_env, v: sys::napi_value) -> napi::Result<CachedValue> {
        let mut kind = 0;
        // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
        // writes.
        check_status!(unsafe { sys::napi_typeof(env, v, &mut kind) })?;
        Ok(match kind {
            sys::ValueType::napi_object | sys::ValueType::napi_function => {
                CachedValue::Object(LocalRef::new(env, v)?)
            }
            sys::ValueType::napi_number => {
                let mut n = 0.0;
                // SAFETY: the value is a live value of this env; the out-pointer is a local Node-
                // API writes.
                check_status!(unsafe { sys::napi_get_value_double(env, v, &mut n) })?;
                CachedValue::Number(n)
            }
            sys::ValueType::napi_boolean => {
                let mut b = false;
                // SAFETY: the value is a live value of this env; the out-pointer is a local Node-
                // API writes.
                check_status!(unsafe { sys::napi_get_value_bool(env, v, &mut b) })?;
                CachedValue::Bool(b)
            }
            sys::ValueType::napi_null => CachedValue::Null,
            sys::ValueType::napi_undefined => CachedValue::Undefined,
            _ => CachedValue::Boxed(LocalRef::new(env, array(env, &[v])?)?),
        })
    }

    /// The held value.
    pub(crate) fn get(&self, env: sys::napi_env) -> JsResult {
        match self {
            CachedValue::Object(r) => r.get(),
            CachedValue::Boxed(r) => element(env, r.get()?, 0),
            CachedValue::Number(n) => number(env, *n),
            CachedValue::Bool(b) => boolean(env, *b),
            CachedValue::Null => null(env),
            CachedValue::Undefined => undefined(env),
        }
    }
}

/// Calls `f` with the key argument, borrowed; a key that is not a string or a number (or is
/// NaN) throws a validation error with `context`.
pub(crate) fn with_key<R>(
    env: sys::napi_env,
    key: sys::napi_value,
    context: &str,
    f: impl FnOnce(KeyRef<'_>) -> napi::Result<R>,
) -> napi::Result<R> {
    // The string read itself tells a string apart (no `typeof` first: keys are mostly strings).
    let mut f = Some(f);
    let text = with_utf16(env, key, |s| f.take().map(|f| f(KeyRef::Text(s))));
    if let Some(done) = text.flatten() {
        return done;
    }
    let mut n = f64::NAN;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe { sys::napi_get_value_double(env, key, &mut n) };
    match f {
        Some(f) if !n.is_nan() => return f(KeyRef::number(n)),
        _ => {}
    }
    Err(throw(
        env,
        context,
        &Error::validation("key must be a string or a number"),
    ))
}

/// A stored key as the JS string or number it was.
pub(crate) fn key_value(env: sys::napi_env, key: &Key) -> JsResult {
    match key {
        Key::Text(units) => {
            let mut v = std::ptr::null_mut();
            let len = units.len() as isize;
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe {
                sys::napi_create_string_utf16(env, units.as_ptr(), len, &mut v)
            })?;
            Ok(v)
        }
        Key::Number(bits) => value(env, &Value::Float(f64::from_bits(*bits))),
    }
}

impl State {
    /// The store, borrowed for one call.
    pub(crate) fn cache(&self) -> napi::Result<RefMut<'_, Cache<CachedValue>>> {
        self.cache.try_borrow_mut().map_err(|_| {
            napi::Error::from_reason("WorkflowCache was called again while it was busy")
        })
    }

    /// Logs through the configured logger (no borrow of the cache is held: it may be JS).
    pub(crate) fn log(
        &self,
        env: sys::napi_env,
        level: Level,
        message: &str,
        meta: serde_json::Value,
    ) {
        let logger = self.logger.borrow().clone();
        logger.log(env, level, message, meta);
    }
}

/// The four hot operations, shared by the prototype's methods and the bound ones.
impl State {
    /// `get(key)`: the stored value, or null on a miss.
    pub(crate) fn get(&self, env: sys::napi_env, key: sys::napi_value) -> JsResult {
        with_key(env, key, "Failed to get cache entry", |key| {
            match self.cache()?.get(key, recent_millis()) {
                Some(held) => held.get(env),
                None => value(env, &Value::Null),
            }
        })
    }

    /// `set(key, value, options?)`: true when stored; false (with a warning) when the metadata
    /// cannot be kept as data. Options are read before the store is borrowed (getters are JS).
    pub(crate) fn set(
        &self,
        env: sys::napi_env,
        key: sys::napi_value,
        v: sys::napi_value,
        options: sys::napi_value,
    ) -> JsResult {
        let fail = |e: Error| throw(env, "Failed to set cache entry", &e);
        let (ttl, metadata) = set_options(&input(env, options)).map_err(fail)?;
        if let Some(what) = unstorable(&metadata) {
            let meta = json!({"reason": what});
            self.log(env, Level::Warn, "WorkflowCache: value not cached", meta);
            return value(env, &Value::Bool(false));
        }
        let held = CachedValue::new(env, v)?;
        with_key(env, key, "Failed to set cache entry", |key| {
            self.cache()?.set(key, held, ttl, metadata, now_millis());
            Ok(())
        })?;
        value(env, &Value::Bool(true))
    }

    /// `has(key)`: whether a live entry exists (a stored null or undefined counts).
    pub(crate) fn has(&self, env: sys::napi_env, key: sys::napi_value) -> JsResult {
        let found = with_key(env, key, "Failed to read cache entry", |key| {
            Ok(self.cache()?.has(key, recent_millis()))
        })?;
        value(env, &Value::Bool(found))
    }

    /// `delete(key)`: true when the entry existed.
    pub(crate) fn delete(&self, env: sys::napi_env, key: sys::napi_value) -> JsResult {
        let found = with_key(env, key, "Failed to delete cache entry", |key| {
            Ok(self.cache()?.delete(key, recent_millis()))
        })?;
        value(env, &Value::Bool(found))
    }
}

/// The bound methods (see `bound.rs`).
pub(crate) const BOUND: [(&std::ffi::CStr, Callback); 4] = [
    (c"get", bound_get),
    (c"set", bound_set),
    (c"has", bound_has),
    (c"delete", bound_delete),
];

/// A bound method: a Node-API callback that runs `$body` on the state the function carries.
macro_rules! bound {
    ($name:ident, |$state:ident, $env:ident, [$($arg:ident),+]| $body:expr) => {
        // SAFETY: Node-API calls this on the JS thread with the env, and with the data pointer this
        // file gave it.
        unsafe extern "C" fn $name(
            $env: sys::napi_env,
            info: sys::napi_callback_info,
        ) -> sys::napi_value {
            // SAFETY: called by Node-API for a function `bound::bind` made, whose data is the state
            // it holds.
            unsafe { bound::call($env, info, |$state: &State, [$($arg),+]| $body) }
        }
    };
}

bound!(bound_get, |state, env, [key]| state.get(env, key));
bound!(bound_set, |state, env, [key, v, options]| state
    .set(env, key, v, options));
bound!(bound_has, |state, env, [key]| state.has(env, key));
bound!(bound_delete, |state, env, [key]| state.delete(env, key));

/// Whether `this` is a `WorkflowCache` itself, not an instance of a subclass (whose overrides
/// of the bound methods must not be shadowed).
pub(crate) fn plain_instance(env: sys::napi_env, this: sys::napi_value) -> napi::Result<bool> {
    // napi-rs registers classes under their NUL-terminated names.
    let Some(class) = get_class_constructor("WorkflowCache\0") else {
        return Ok(false);
    };
    let mut constructor = std::ptr::null_mut();
    let mut own = std::ptr::null_mut();
    let mut same = false;
    // SAFETY: napi-rs made this reference to the class in this env, and never deletes it.
    check_status!(unsafe { sys::napi_get_reference_value(env, class, &mut constructor) })?;
    let prototype = get(env, constructor, c"prototype")?;
    // SAFETY: `this` is the receiver of the current call; `own` is written by Node-API.
    check_status!(unsafe { sys::napi_get_prototype(env, this, &mut own) })?;
    // SAFETY: both are live values of this env; `same` is written by Node-API.
    check_status!(unsafe { sys::napi_strict_equals(env, own, prototype, &mut same) })?;
    Ok(same)
}
