//! JS values → [`Input`], walked once on the JS thread. Only own enumerable string keys are read;
//! depth is bounded, which also stops cycles. Reading never throws: a getter or a Proxy trap
//! that throws (or a revoked Proxy) makes that value [`UNREADABLE`], and its exception is
//! cleared, so the method refuses the input with a coded error instead.

use std::ptr;

use napi::sys;

use crate::core::input::{Input, MAX_DEPTH};

/// What a value whose reading threw (a getter, a Proxy trap, a revoked Proxy) becomes.
pub const UNREADABLE: Input = Input::Unsupported("a value whose reading threw");

/// Whether a Node-API call succeeded; when it left a JS exception pending, that exception is
/// cleared (the caller then treats the value as unreadable).
pub(crate) fn ok(env: sys::napi_env, status: sys::napi_status) -> bool {
    if status == sys::Status::napi_ok {
        return true;
    }
    let mut pending = false;
    // SAFETY: env is the current environment; this only inspects its exception.
    unsafe { sys::napi_is_exception_pending(env, &mut pending) };
    if pending {
        let mut thrown = ptr::null_mut();
        // SAFETY: as above; this clears the pending exception, written to a local.
        unsafe { sys::napi_get_and_clear_last_exception(env, &mut thrown) };
    }
    false
}

/// Reads any JS value as an [`Input`].
pub fn input(env: sys::napi_env, value: sys::napi_value) -> Input {
    walk(env, value, 0)
}

/// Reads an optional argument (a missing argument is `undefined`).
pub fn optional(env: sys::napi_env, value: Option<sys::napi_value>) -> Input {
    value.map_or(Input::Undefined, |v| input(env, v))
}

fn walk(env: sys::napi_env, value: sys::napi_value, depth: usize) -> Input {
    if depth > MAX_DEPTH + 1 {
        return Input::Unsupported("value nested too deep (or circular)");
    }
    let mut kind = 0;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    if unsafe { sys::napi_typeof(env, value, &mut kind) } != sys::Status::napi_ok {
        return Input::Unsupported("unreadable value");
    }
    match kind {
        sys::ValueType::napi_undefined => Input::Undefined,
        sys::ValueType::napi_null => Input::Null,
        sys::ValueType::napi_boolean => {
            let mut b = false;
            // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
            // writes.
            unsafe { sys::napi_get_value_bool(env, value, &mut b) };
            Input::Bool(b)
        }
        sys::ValueType::napi_number => {
            let mut n = 0.0;
            // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
            // writes.
            unsafe { sys::napi_get_value_double(env, value, &mut n) };
            Input::Number(n)
        }
        sys::ValueType::napi_string => {
            string(env, value).map_or(Input::Unsupported("unreadable string"), Input::Text)
        }
        sys::ValueType::napi_object => object(env, value, depth),
        sys::ValueType::napi_function => Input::Unsupported("function"),
        sys::ValueType::napi_symbol => Input::Unsupported("symbol"),
        sys::ValueType::napi_bigint => Input::Unsupported("bigint"),
        _ => Input::Unsupported("external value"),
    }
}

/// A JS string's text (None if it is not a string or not UTF-8).
pub(crate) fn string(env: sys::napi_env, value: sys::napi_value) -> Option<String> {
    // Most strings (ids, names, types) are short: one call into a stack buffer. It is complete
    // when the buffer kept room for any further character (up to 4 bytes in UTF-8); otherwise
    // the length is asked for first.
    let mut small = [0u8; 256];
    let mut written = 0;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    if unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            small.as_mut_ptr().cast(),
            small.len(),
            &mut written,
        )
    } != sys::Status::napi_ok
    {
        return None;
    }
    if written + 4 < small.len() {
        return std::str::from_utf8(&small[..written])
            .ok()
            .map(str::to_owned);
    }
    let mut len = 0;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    if unsafe { sys::napi_get_value_string_utf8(env, value, ptr::null_mut(), 0, &mut len) }
        != sys::Status::napi_ok
    {
        return None;
    }
    let mut buf = vec![0u8; len + 1];
    let mut written = 0;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe {
        sys::napi_get_value_string_utf8(
            env,
            value,
            buf.as_mut_ptr().cast(),
            buf.len(),
            &mut written,
        )
    };
    buf.truncate(written);
    String::from_utf8(buf).ok()
}

fn object(env: sys::napi_env, value: sys::napi_value, depth: usize) -> Input {
    let mut is = false;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe { sys::napi_is_date(env, value, &mut is) };
    if is {
        let mut ms = 0.0;
        // SAFETY: `value` is a Date of this env (just checked); `ms` is written by Node-API.
        unsafe { sys::napi_get_date_value(env, value, &mut ms) };
        return Input::Date(ms);
    }
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe { sys::napi_is_error(env, value, &mut is) };
    if is {
        // An Error's own properties are not enumerable: keep its name and message.
        let text = |name: &std::ffi::CStr| {
            let mut v = ptr::null_mut();
            // SAFETY: the object and key are live values of this env (a name is NUL-terminated);
            // the out-pointer is a local Node-API writes.
            if !ok(env, unsafe {
                sys::napi_get_named_property(env, value, name.as_ptr(), &mut v)
            }) {
                return Input::Undefined;
            }
            match walk(env, v, depth + 1) {
                Input::Text(s) => Input::Text(s),
                _ => Input::Undefined,
            }
        };
        return Input::Object(vec![
            ("name".into(), text(c"name")),
            ("message".into(), text(c"message")),
        ]);
    }
    // A revoked Proxy throws even here.
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    if !ok(env, unsafe { sys::napi_is_array(env, value, &mut is) }) {
        return UNREADABLE;
    }
    if is {
        let mut len = 0u32;
        // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API
        // writes.
        if !ok(env, unsafe {
            sys::napi_get_array_length(env, value, &mut len)
        }) {
            return UNREADABLE;
        }
        let mut items = Vec::with_capacity(len.min(1 << 16) as usize);
        for i in 0..len {
            let mut item = ptr::null_mut();
            // SAFETY: the object and key are live values of this env (a name is NUL-terminated);
            // the out-pointer is a local Node-API writes.
            if !ok(env, unsafe {
                sys::napi_get_element(env, value, i, &mut item)
            }) {
                return UNREADABLE;
            }
            items.push(walk(env, item, depth + 1));
        }
        return Input::Array(items);
    }
    let mut names = ptr::null_mut();
    // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the out-
    // pointer is a local Node-API writes.
    let status = unsafe {
        sys::napi_get_all_property_names(
            env,
            value,
            sys::KeyCollectionMode::own_only,
            sys::KeyFilter::enumerable | sys::KeyFilter::skip_symbols,
            sys::KeyConversion::numbers_to_strings,
            &mut names,
        )
    };
    if !ok(env, status) {
        return UNREADABLE;
    }
    let mut len = 0u32;
    // SAFETY: the value is a live value of this env; the out-pointer is a local Node-API writes.
    unsafe { sys::napi_get_array_length(env, names, &mut len) };
    let mut members = Vec::with_capacity(len as usize);
    for i in 0..len {
        let mut key = ptr::null_mut();
        let mut member = ptr::null_mut();
        // SAFETY: `names` is the array of `value`'s keys and `i` below its length; `key` is
        // written by Node-API.
        unsafe { sys::napi_get_element(env, names, i, &mut key) };
        // SAFETY: `value` and `key` are live values of this env; `member` is written by
        // Node-API (a throwing getter is reported through the status).
        if !ok(env, unsafe {
            sys::napi_get_property(env, value, key, &mut member)
        }) {
            return UNREADABLE;
        }
        let Some(name) = string(env, key) else {
            continue;
        };
        members.push((name, walk(env, member, depth + 1)));
    }
    Input::Object(members)
}

/// A method's argument as input (undefined when it was not given).
pub fn argument(env: &napi::Env, value: Option<napi::bindgen_prelude::Unknown>) -> Input {
    optional(env.raw(), value.map(|v| napi::JsValue::raw(&v)))
}
