//! Conversions from core values to JS values, and core errors to JS `Error`s with `code`.
//! Runs on the JS thread only.

use std::ptr;
use std::sync::Arc;

use napi::{check_status, sys};

use super::raw::{string, JsResult};
use super::row_factory;

use crate::core::db::Output;
use crate::core::error::Error;
use crate::core::input::Input;
use crate::core::value::{Row, Value};

/// A result that becomes a JS value on the JS thread.
pub trait IntoJs: Send + 'static {
    fn into_js(self, env: sys::napi_env) -> JsResult;
}

impl IntoJs for () {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let mut v = ptr::null_mut();
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        check_status!(unsafe { sys::napi_get_undefined(env, &mut v) })?;
        Ok(v)
    }
}

impl IntoJs for bool {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        value(env, &Value::Bool(self))
    }
}

impl IntoJs for Value {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        value(env, &self)
    }
}

impl IntoJs for Row {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        Maker::of(env, &self.columns)?.row(env, &self)
    }
}

/// A shared row (a cache hit) becomes an object without copying it first.
impl IntoJs for Arc<Row> {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        Maker::of(env, &self.columns)?.row(env, &self)
    }
}

impl IntoJs for Option<Row> {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        match self {
            Some(r) => r.into_js(env),
            None => value(env, &Value::Null),
        }
    }
}

/// An object built from named fields, in order.
pub struct Object(pub Vec<(&'static str, Box<dyn IntoJsBoxed>)>);

/// Object-safe form of [`IntoJs`].
pub trait IntoJsBoxed: Send {
    fn into_js_boxed(self: Box<Self>, env: sys::napi_env) -> JsResult;
}

impl<T: IntoJs> IntoJsBoxed for T {
    fn into_js_boxed(self: Box<Self>, env: sys::napi_env) -> JsResult {
        (*self).into_js(env)
    }
}

impl Object {
    pub fn new() -> Self {
        Object(Vec::new())
    }

    pub fn with(mut self, key: &'static str, v: impl IntoJs) -> Self {
        self.0.push((key, Box::new(v)));
        self
    }
}

impl IntoJs for Object {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let mut obj = ptr::null_mut();
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        check_status!(unsafe { sys::napi_create_object(env, &mut obj) })?;
        for (key, v) in self.0 {
            let k = string(env, key)?;
            let v = v.into_js_boxed(env)?;
            // SAFETY: the object and key are live values of this env (a name is NUL-terminated);
            // the out-pointer is a local Node-API writes.
            check_status!(unsafe { sys::napi_set_property(env, obj, k, v) })?;
        }
        Ok(obj)
    }
}

impl<T: IntoJs> IntoJs for Vec<T> {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let mut array = ptr::null_mut();
        // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the
        // out-pointer is a local Node-API writes.
        check_status!(unsafe { sys::napi_create_array_with_length(env, self.len(), &mut array) })?;
        for (i, item) in self.into_iter().enumerate() {
            let v = item.into_js(env)?;
            check_status!(unsafe { sys::napi_set_element(env, array, i as u32, v) })?;
        }
        Ok(array)
    }
}

/// How the rows of one column list become objects: through their compiled factory
/// ([`shape`]), or key by key where there is none.
enum Maker {
    Factory(sys::napi_value),
    Keys(Vec<sys::napi_value>),
}

impl Maker {
    fn of(env: sys::napi_env, columns: &Arc<[String]>) -> napi::Result<Maker> {
        Ok(match row_factory::factory(env, columns)? {
            Some(f) => Maker::Factory(f),
            None => Maker::Keys(
                columns
                    .iter()
                    .map(|c| string(env, c))
                    .collect::<napi::Result<_>>()?,
            ),
        })
    }

    fn row(&self, env: sys::napi_env, r: &Row) -> JsResult {
        match self {
            Maker::Factory(f) => {
                let mut values = Vec::with_capacity(r.values.len());
                for v in &r.values {
                    values.push(value(env, v)?);
                }
                row_factory::build(env, *f, &values)
            }
            Maker::Keys(names) => keyed_row(env, r, names),
        }
    }
}

/// One row object, every property defined in one call.
fn keyed_row(env: sys::napi_env, r: &Row, names: &[sys::napi_value]) -> JsResult {
    let mut obj = ptr::null_mut();
    // SAFETY: the env is the current call's; the inputs outlive the call, which copies them, and
    // Node-API writes the out-pointer.
    check_status!(unsafe { sys::napi_create_object(env, &mut obj) })?;
    let mut properties = Vec::with_capacity(names.len());
    for (k, v) in names.iter().zip(&r.values) {
        properties.push(sys::napi_property_descriptor {
            utf8name: ptr::null(),
            name: *k,
            method: None,
            getter: None,
            setter: None,
            value: value(env, v)?,
            attributes: sys::PropertyAttributes::writable
                | sys::PropertyAttributes::enumerable
                | sys::PropertyAttributes::configurable,
            data: ptr::null_mut(),
        });
    }
    // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the out-
    // pointer is a local Node-API writes.
    check_status!(unsafe {
        sys::napi_define_properties(env, obj, properties.len(), properties.as_ptr())
    })?;
    Ok(obj)
}

/// One core value as a JS value: numbers for integers and floats, `Date` for timestamps, parsed
/// JSON for JSON columns, `null` for SQL NULL.
pub fn value(env: sys::napi_env, v: &Value) -> JsResult {
    let mut out = ptr::null_mut();
    match v {
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        Value::Null => check_status!(unsafe { sys::napi_get_null(env, &mut out) })?,
        Value::Bool(b) => check_status!(unsafe { sys::napi_get_boolean(env, *b, &mut out) })?,
        Value::Int(i) => {
            check_status!(unsafe { sys::napi_create_double(env, *i as f64, &mut out) })?
        }
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        Value::Float(f) => check_status!(unsafe { sys::napi_create_double(env, *f, &mut out) })?,
        Value::Text(s) => return string(env, s),
        Value::Uuid(u) => return string(env, &u.hyphenated().to_string()),
        Value::Timestamp(ms) => {
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe { sys::napi_create_date(env, *ms as f64, &mut out) })?
        }
        Value::Json(j) => return json(env, j),
    }
    Ok(out)
}

fn json(env: sys::napi_env, j: &serde_json::Value) -> JsResult {
    use serde_json::Value as J;
    let mut out = ptr::null_mut();
    match j {
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        J::Null => check_status!(unsafe { sys::napi_get_null(env, &mut out) })?,
        J::Bool(b) => check_status!(unsafe { sys::napi_get_boolean(env, *b, &mut out) })?,
        J::Number(n) => check_status!(unsafe {
            sys::napi_create_double(env, n.as_f64().unwrap_or(f64::NAN), &mut out)
        })?,
        J::String(s) => return string(env, s),
        J::Array(items) => {
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe {
                sys::napi_create_array_with_length(env, items.len(), &mut out)
            })?;
            for (i, item) in items.iter().enumerate() {
                let v = json(env, item)?;
                // SAFETY: the object and key are live values of this env (a name is NUL-
                // terminated); the out-pointer is a local Node-API writes.
                check_status!(unsafe { sys::napi_set_element(env, out, i as u32, v) })?;
            }
        }
        J::Object(map) => {
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe { sys::napi_create_object(env, &mut out) })?;
            for (k, item) in map {
                let key = string(env, k)?;
                let v = json(env, item)?;
                // SAFETY: the object and key are live values of this env (a name is NUL-
                // terminated); the out-pointer is a local Node-API writes.
                check_status!(unsafe { sys::napi_set_property(env, out, key, v) })?;
            }
        }
    }
    Ok(out)
}

/// A JS `Error` with `code`, the message `"<prefix>: <message>"` and, where there is one, a
/// `cause` (an `Error` whose `code` is the driver's own).
pub fn make_error(env: sys::napi_env, prefix: &str, err: &Error) -> sys::napi_value {
    let message = format!("{prefix}: {}", err.message);
    let error = new_error(env, Some(err.code.as_str()), &message);
    if let (Some(cause), false) = (&err.cause, error.is_null()) {
        let c = new_error(env, cause.code.as_deref(), &cause.message);
        if !c.is_null() {
            // SAFETY: the object and key are live values of this env (a name is NUL-terminated);
            // the out-pointer is a local Node-API writes.
            unsafe { sys::napi_set_named_property(env, error, c"cause".as_ptr(), c) };
        }
    }
    error
}

fn new_error(env: sys::napi_env, code: Option<&str>, message: &str) -> sys::napi_value {
    let mut error = ptr::null_mut();
    let code = match code.map(|c| string(env, c)) {
        Some(Ok(c)) => c,
        _ => ptr::null_mut(),
    };
    if let Ok(msg) = string(env, message) {
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        unsafe { sys::napi_create_error(env, code, msg, &mut error) };
    }
    error
}

impl IntoJs for Output {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        match self {
            Output::Null => value(env, &Value::Null),
            Output::Bool(b) => value(env, &Value::Bool(b)),
            Output::Count(n) => value(env, &Value::Int(n as i64)),
            Output::Row(r) => r.into_js(env),
            Output::Value(v) => value(env, &v),
            Output::List(items) => {
                let mut array = ptr::null_mut();
                // SAFETY: the env is the current call's; the inputs outlive the call, which copies
                // them, and Node-API writes the out-pointer.
                check_status!(unsafe {
                    sys::napi_create_array_with_length(env, items.len(), &mut array)
                })?;
                for (i, item) in items.into_iter().enumerate() {
                    let v = item.into_js(env)?;
                    // SAFETY: the object and key are live values of this env (a name is NUL-
                    // terminated); the out-pointer is a local Node-API writes.
                    check_status!(unsafe { sys::napi_set_element(env, array, i as u32, v) })?;
                }
                Ok(array)
            }
            Output::Object(fields) => {
                let mut obj = ptr::null_mut();
                // SAFETY: the env is the current call's; the inputs outlive the call, which copies
                // them, and Node-API writes the out-pointer.
                check_status!(unsafe { sys::napi_create_object(env, &mut obj) })?;
                for (name, field) in fields {
                    let v = field.into_js(env)?;
                    let key = string(env, &name)?;
                    // SAFETY: the object and key are live values of this env (a name is NUL-
                    // terminated); the out-pointer is a local Node-API writes.
                    check_status!(unsafe { sys::napi_set_property(env, obj, key, v) })?;
                }
                Ok(obj)
            }
            Output::Rows { rows, next } => {
                let array = rows_array(env, &rows)?;
                // The keyset cursor rides on the array as a non-enumerable property, so the
                // result stays the planned plain array for every other use.
                let cursor = match next {
                    Some(c) => string(env, &c)?,
                    None => value(env, &Value::Null)?,
                };
                let property = sys::napi_property_descriptor {
                    utf8name: c"nextCursor".as_ptr(),
                    name: ptr::null_mut(),
                    method: None,
                    getter: None,
                    setter: None,
                    value: cursor,
                    attributes: sys::PropertyAttributes::default,
                    data: ptr::null_mut(),
                };
                // SAFETY: the object and key are live values of this env (a name is NUL-
                // terminated); the out-pointer is a local Node-API writes.
                check_status!(unsafe { sys::napi_define_properties(env, array, 1, &property) })?;
                Ok(array)
            }
        }
    }
}

fn rows_array(env: sys::napi_env, rows: &[Row]) -> JsResult {
    let mut array = ptr::null_mut();
    // SAFETY: the env is the current call's; the inputs outlive the call, which copies them, and
    // Node-API writes the out-pointer.
    check_status!(unsafe { sys::napi_create_array_with_length(env, rows.len(), &mut array) })?;
    // Rows of one result share their column names: one maker for all.
    let Some(first) = rows.first() else {
        return Ok(array);
    };
    let maker = Maker::of(env, &first.columns)?;
    for (i, r) in rows.iter().enumerate() {
        let obj = maker.row(env, r)?;
        // SAFETY: the object and key are live values of this env (a name is NUL-terminated); the
        // out-pointer is a local Node-API writes.
        check_status!(unsafe { sys::napi_set_element(env, array, i as u32, obj) })?;
    }
    Ok(array)
}

/// Throws a coded error (as a rejection would carry it) from a synchronous method: the returned
/// error tells napi an exception is already pending.
pub fn throw(env: sys::napi_env, prefix: &str, err: &Error) -> napi::Error {
    // SAFETY: the env is the current call's; this only reads or clears its pending exception.
    unsafe { sys::napi_throw(env, make_error(env, prefix, err)) };
    napi::Error::from_status(napi::Status::PendingException)
}

/// A stored [`Input`] back as a JS value (the cache's values and metadata).
pub fn input_value(env: sys::napi_env, input: &Input) -> JsResult {
    let mut out = ptr::null_mut();
    match input {
        Input::Undefined | Input::Unsupported(_) => {
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe { sys::napi_get_undefined(env, &mut out) })?
        }
        Input::Null => check_status!(unsafe { sys::napi_get_null(env, &mut out) })?,
        Input::Bool(b) => check_status!(unsafe { sys::napi_get_boolean(env, *b, &mut out) })?,
        // SAFETY: the env is the current call's; the inputs outlive the call, which copies them,
        // and Node-API writes the out-pointer.
        Input::Number(n) => check_status!(unsafe { sys::napi_create_double(env, *n, &mut out) })?,
        Input::Text(s) => return string(env, s),
        Input::Date(ms) => check_status!(unsafe { sys::napi_create_date(env, *ms, &mut out) })?,
        Input::Array(items) => {
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe {
                sys::napi_create_array_with_length(env, items.len(), &mut out)
            })?;
            for (i, item) in items.iter().enumerate() {
                let v = input_value(env, item)?;
                // SAFETY: the object and key are live values of this env (a name is NUL-
                // terminated); the out-pointer is a local Node-API writes.
                check_status!(unsafe { sys::napi_set_element(env, out, i as u32, v) })?;
            }
        }
        Input::Object(fields) => {
            // SAFETY: the env is the current call's; the inputs outlive the call, which copies
            // them, and Node-API writes the out-pointer.
            check_status!(unsafe { sys::napi_create_object(env, &mut out) })?;
            for (k, item) in fields {
                let key = string(env, k)?;
                let v = input_value(env, item)?;
                if k == "__proto__" {
                    // An own data property, as stored (assigning would set the prototype).
                    let property = sys::napi_property_descriptor {
                        utf8name: ptr::null(),
                        name: key,
                        method: None,
                        getter: None,
                        setter: None,
                        value: v,
                        attributes: sys::PropertyAttributes::writable
                            | sys::PropertyAttributes::enumerable
                            | sys::PropertyAttributes::configurable,
                        data: ptr::null_mut(),
                    };
                    // SAFETY: the object and key are live values of this env (a name is NUL-
                    // terminated); the out-pointer is a local Node-API writes.
                    check_status!(unsafe { sys::napi_define_properties(env, out, 1, &property) })?;
                } else {
                    check_status!(unsafe { sys::napi_set_property(env, out, key, v) })?;
                }
            }
        }
    }
    Ok(out)
}

/// An argument that must be an instance of the class `T` (`what` names it): anything else
/// throws `ERR_VALIDATION` with `prefix` (napi-rs's own conversion would throw `InvalidArg`).
pub fn instance<'e, T>(
    env: &'e napi::Env,
    value: napi::bindgen_prelude::Unknown<'e>,
    prefix: &str,
    what: &str,
) -> napi::Result<napi::bindgen_prelude::ClassInstance<'e, T>>
where
    T: 'e + napi::bindgen_prelude::MaybeTypeTag,
{
    use napi::bindgen_prelude::FromNapiValue;
    use napi::JsValue;
    // SAFETY: `value` is a live value of this env; the conversion checks the wrapped class
    // (type tag and class identity) before it casts.
    unsafe { napi::bindgen_prelude::ClassInstance::<T>::from_napi_value(env.raw(), value.raw()) }
        .map_err(|_| throw(env.raw(), prefix, &Error::validation(what.to_string())))
}

/// [`instance`] for an optional argument: undefined or null is None.
pub fn optional_instance<'e, T>(
    env: &'e napi::Env,
    value: Option<napi::bindgen_prelude::Unknown<'e>>,
    prefix: &str,
    what: &str,
) -> napi::Result<Option<napi::bindgen_prelude::ClassInstance<'e, T>>>
where
    T: 'e + napi::bindgen_prelude::MaybeTypeTag,
{
    match value {
        Some(v)
            if !matches!(
                v.get_type(),
                Ok(napi::ValueType::Undefined | napi::ValueType::Null)
            ) =>
        {
            instance(env, v, prefix, what).map(Some)
        }
        _ => Ok(None),
    }
}
