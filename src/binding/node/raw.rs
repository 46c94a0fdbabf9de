//! The small Node-API operations everything else is made of: strings, `undefined`, scripts,
//! plain objects and arrays, promises, and raw values as napi-rs's `Unknown`. Each `unsafe`
//! block calls Node-API on the JS thread, with the `env` of the call under way and values
//! that belong to it.

use std::ptr;

use napi::bindgen_prelude::{ToNapiValue, Unknown};
use napi::{check_status, sys, Env};

pub type JsResult = napi::Result<sys::napi_value>;

/// A JS string.
pub fn string(env: sys::napi_env, s: &str) -> JsResult {
    let mut v = ptr::null_mut();
    // ASCII is valid Latin-1: V8 copies it as it is instead of decoding UTF-8.
    let status = if s.is_ascii() {
        // SAFETY: `s` outlives the call, which copies it; `v` is written by Node-API.
        unsafe { sys::napi_create_string_latin1(env, s.as_ptr().cast(), s.len() as isize, &mut v) }
    } else {
        // SAFETY: as above.
        unsafe { sys::napi_create_string_utf8(env, s.as_ptr().cast(), s.len() as isize, &mut v) }
    };
    check_status!(status)?;
    Ok(v)
}

/// `undefined`.
pub fn undefined(env: sys::napi_env) -> JsResult {
    let mut u = ptr::null_mut();
    // SAFETY: the env is the current call's; `u` is written by Node-API.
    check_status!(unsafe { sys::napi_get_undefined(env, &mut u) })?;
    Ok(u)
}

/// Runs `source` as a script in the global scope and returns its value.
pub fn run_script(env: sys::napi_env, source: &str) -> JsResult {
    let script = string(env, source)?;
    let mut result = std::ptr::null_mut();
    // SAFETY: `script` is a live string of this env; `result` is written by Node-API.
    check_status!(unsafe { sys::napi_run_script(env, script, &mut result) })?;
    Ok(result)
}

/// A raw value of this env as the `Unknown` napi-rs takes and returns.
pub fn unknown(env: &Env, value: sys::napi_value) -> Unknown<'_> {
    // SAFETY: `value` is a live value of `env`, made or fetched by the caller just now; the
    // `Unknown` cannot outlive the env borrow.
    unsafe { Unknown::from_raw_unchecked(env.raw(), value) }
}

/// A class instance napi-rs wraps, as a JS value.
pub fn wrap<T: ToNapiValue>(env: sys::napi_env, instance: T) -> JsResult {
    // SAFETY: called on the JS thread with the current env; napi-rs wraps `instance` in a new
    // object of its class.
    unsafe { T::to_napi_value(env, instance) }
}

/// `null`.
pub fn null(env: sys::napi_env) -> JsResult {
    let mut v = ptr::null_mut();
    // SAFETY: the env is the current call's; `v` is written by Node-API.
    check_status!(unsafe { sys::napi_get_null(env, &mut v) })?;
    Ok(v)
}

/// A JS boolean.
pub fn boolean(env: sys::napi_env, b: bool) -> JsResult {
    let mut v = ptr::null_mut();
    // SAFETY: the env is the current call's; `v` is written by Node-API.
    check_status!(unsafe { sys::napi_get_boolean(env, b, &mut v) })?;
    Ok(v)
}

/// A JS number.
pub fn number(env: sys::napi_env, n: f64) -> JsResult {
    let mut v = ptr::null_mut();
    // SAFETY: the env is the current call's; `v` is written by Node-API.
    check_status!(unsafe { sys::napi_create_double(env, n, &mut v) })?;
    Ok(v)
}

/// A `Date` at `ms` since the epoch.
pub fn date(env: sys::napi_env, ms: f64) -> JsResult {
    let mut v = ptr::null_mut();
    // SAFETY: the env is the current call's; `v` is written by Node-API.
    check_status!(unsafe { sys::napi_create_date(env, ms, &mut v) })?;
    Ok(v)
}

/// An empty array of length `len`, to fill with [`set_element`].
pub fn array_with_length(env: sys::napi_env, len: usize) -> JsResult {
    let mut array = ptr::null_mut();
    // SAFETY: the env is the current call's; `array` is written by Node-API.
    check_status!(unsafe { sys::napi_create_array_with_length(env, len, &mut array) })?;
    Ok(array)
}

/// `array[i] = value`.
pub fn set_element(
    env: sys::napi_env,
    array: sys::napi_value,
    i: u32,
    value: sys::napi_value,
) -> napi::Result<()> {
    // SAFETY: `array` and `value` are live values of this env.
    check_status!(unsafe { sys::napi_set_element(env, array, i, value) })
}

/// `obj[key] = value`, the key a JS value.
pub fn set_key(
    env: sys::napi_env,
    obj: sys::napi_value,
    key: sys::napi_value,
    value: sys::napi_value,
) -> napi::Result<()> {
    // SAFETY: `obj`, `key` and `value` are live values of this env.
    check_status!(unsafe { sys::napi_set_property(env, obj, key, value) })
}

/// A writable, enumerable, configurable data property.
pub fn data_property(
    key: sys::napi_value,
    value: sys::napi_value,
) -> sys::napi_property_descriptor {
    sys::napi_property_descriptor {
        utf8name: ptr::null(),
        name: key,
        method: None,
        getter: None,
        setter: None,
        value,
        attributes: sys::PropertyAttributes::writable
            | sys::PropertyAttributes::enumerable
            | sys::PropertyAttributes::configurable,
        data: ptr::null_mut(),
    }
}

/// Defines every property of `properties` on `obj`, in one call.
pub fn define_all(
    env: sys::napi_env,
    obj: sys::napi_value,
    properties: &[sys::napi_property_descriptor],
) -> napi::Result<()> {
    // SAFETY: `obj` and the descriptors' names and values are live values of this env; the
    // slice outlives the call.
    check_status!(unsafe {
        sys::napi_define_properties(env, obj, properties.len(), properties.as_ptr())
    })
}

/// Whether `value` is a promise.
pub fn is_promise(env: sys::napi_env, value: sys::napi_value) -> bool {
    let mut is = false;
    // SAFETY: `value` is a live value of this env; `is` is written by Node-API.
    unsafe { sys::napi_is_promise(env, value, &mut is) };
    is
}

/// `{}`.
pub fn object(env: sys::napi_env) -> JsResult {
    let mut obj = ptr::null_mut();
    // SAFETY: the env is the current call's; `obj` is written by Node-API.
    check_status!(unsafe { sys::napi_create_object(env, &mut obj) })?;
    Ok(obj)
}

/// `obj[name] = value`.
pub fn set(
    env: sys::napi_env,
    obj: sys::napi_value,
    name: &str,
    value: sys::napi_value,
) -> napi::Result<()> {
    let key = string(env, name)?;
    // SAFETY: `obj`, `key` and `value` are live values of this env.
    check_status!(unsafe { sys::napi_set_property(env, obj, key, value) })
}

/// `obj[name]` (undefined when reading it throws: the exception is left pending for the
/// caller's caller to see).
pub fn get(env: sys::napi_env, obj: sys::napi_value, name: &std::ffi::CStr) -> JsResult {
    let mut value = ptr::null_mut();
    // SAFETY: `obj` is a live value of this env and `name` a NUL-terminated string.
    check_status!(unsafe { sys::napi_get_named_property(env, obj, name.as_ptr(), &mut value) })?;
    Ok(value)
}

/// `globalThis[name]`.
pub fn global(env: sys::napi_env, name: &std::ffi::CStr) -> JsResult {
    let mut global = ptr::null_mut();
    // SAFETY: the env is the current call's; `global` is written by Node-API.
    check_status!(unsafe { sys::napi_get_global(env, &mut global) })?;
    get(env, global, name)
}

/// An array of `values`.
pub fn array(env: sys::napi_env, values: &[sys::napi_value]) -> JsResult {
    let array = array_with_length(env, values.len())?;
    for (i, v) in values.iter().enumerate() {
        set_element(env, array, i as u32, *v)?;
    }
    Ok(array)
}

/// The items of an array (none for anything else).
pub fn items(env: sys::napi_env, array: sys::napi_value) -> Vec<sys::napi_value> {
    let mut len = 0u32;
    // SAFETY: `array` is a live value of this env; a non-array leaves `len` at 0.
    unsafe { sys::napi_get_array_length(env, array, &mut len) };
    (0..len)
        .map(|i| {
            let mut item = ptr::null_mut();
            // SAFETY: `i` is below the length just read; `item` is written by Node-API.
            unsafe { sys::napi_get_element(env, array, i, &mut item) };
            item
        })
        .collect()
}

/// A promise resolved with undefined.
pub fn resolved(env: sys::napi_env) -> JsResult {
    let mut deferred = ptr::null_mut();
    let mut promise = ptr::null_mut();
    // SAFETY: the env is the current call's; both out-values are written by Node-API.
    check_status!(unsafe { sys::napi_create_promise(env, &mut deferred, &mut promise) })?;
    // SAFETY: `deferred` was made just now and is settled once, here.
    check_status!(unsafe { sys::napi_resolve_deferred(env, deferred, undefined(env)?) })?;
    Ok(promise)
}

/// `new globalThis[constructor]()`.
pub fn construct(env: sys::napi_env, constructor: &std::ffi::CStr) -> JsResult {
    let class = global(env, constructor)?;
    let mut instance = ptr::null_mut();
    // SAFETY: `class` is a live value of this env; no arguments are passed.
    check_status!(unsafe { sys::napi_new_instance(env, class, 0, ptr::null(), &mut instance) })?;
    Ok(instance)
}
