//! Conversions from core values to JS values, and core errors to JS `Error`s with `code`.
//! Runs on the JS thread only.

use std::ptr;
use std::sync::Arc;

use napi::sys;

use super::raw::{
    array_with_length, boolean, data_property, date, define_all, null, number, object, set_element,
    set_key, string, undefined, JsResult,
};
use super::row_factory;

use crate::core::db::Output;
use crate::core::error::Error;
use crate::core::value::{Row, Value};

/// A result that becomes a JS value on the JS thread.
pub trait IntoJs: Send + 'static {
    fn into_js(self, env: sys::napi_env) -> JsResult;
}

impl IntoJs for () {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        undefined(env)
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

impl<T: IntoJs> IntoJs for Vec<T> {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        let array = array_with_length(env, self.len())?;
        for (i, item) in self.into_iter().enumerate() {
            let v = item.into_js(env)?;
            set_element(env, array, i as u32, v)?;
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
    let obj = object(env)?;
    let mut properties = Vec::with_capacity(names.len());
    for (k, v) in names.iter().zip(&r.values) {
        properties.push(data_property(*k, value(env, v)?));
    }
    define_all(env, obj, &properties)?;
    Ok(obj)
}

/// One core value as a JS value: numbers for integers and floats, `Date` for timestamps, parsed
/// JSON for JSON columns, `null` for SQL NULL.
pub fn value(env: sys::napi_env, v: &Value) -> JsResult {
    match v {
        Value::Null => null(env),
        Value::Bool(b) => boolean(env, *b),
        Value::Int(i) => number(env, *i as f64),
        Value::Float(f) => number(env, *f),
        Value::Text(s) => string(env, s),
        Value::Uuid(u) => string(env, &u.hyphenated().to_string()),
        Value::Timestamp(ms) => date(env, *ms as f64),
        Value::Json(j) => json(env, j),
    }
}

fn json(env: sys::napi_env, j: &serde_json::Value) -> JsResult {
    use serde_json::Value as J;
    match j {
        J::Null => null(env),
        J::Bool(b) => boolean(env, *b),
        J::Number(n) => number(env, n.as_f64().unwrap_or(f64::NAN)),
        J::String(s) => string(env, s),
        J::Array(items) => {
            let out = array_with_length(env, items.len())?;
            for (i, item) in items.iter().enumerate() {
                set_element(env, out, i as u32, json(env, item)?)?;
            }
            Ok(out)
        }
        J::Object(map) => {
            let out = object(env)?;
            for (k, item) in map {
                set_key(env, out, string(env, k)?, json(env, item)?)?;
            }
            Ok(out)
        }
    }
}

thread_local! {
    /// The `WorkflowInfraError` class of this thread's environment (`lib/errors.js`).
    static ERROR_CLASS: std::cell::RefCell<Option<super::reference::JsRef>> =
        const { std::cell::RefCell::new(None) };
}

/// Makes `class` (`lib/errors.js`'s `WorkflowInfraError`) the class of every error this thread's
/// environment is given.
pub fn use_error_class(env: sys::napi_env, class: sys::napi_value) -> napi::Result<()> {
    let class = super::reference::JsRef::new(env, class)?;
    ERROR_CLASS.with(|c| *c.borrow_mut() = Some(class));
    Ok(())
}

/// A `WorkflowInfraError` with `code`, the message `"<prefix>: <message>"`, `retryable`,
/// `meta.operation` and, where there is one, a `cause` (an `Error` whose `code` is the driver's
/// own). A plain `Error` with the same properties if the class is not there.
pub fn make_error(env: sys::napi_env, prefix: &str, err: &Error) -> sys::napi_value {
    let message = format!("{prefix}: {}", err.message);
    let cause = err
        .cause
        .as_ref()
        .map(|cause| new_error(env, cause.code.as_deref(), &cause.message))
        .filter(|c| !c.is_null());
    if let Some(error) = of_class(env, &message, prefix, err, cause) {
        return error;
    }
    let error = new_error(env, Some(err.code.as_str()), &message);
    if let (Some(c), false) = (cause, error.is_null()) {
        // SAFETY: `error` and `c` were made just now in this env; the name is NUL-terminated.
        unsafe { sys::napi_set_named_property(env, error, c"cause".as_ptr(), c) };
    }
    error
}

/// `new WorkflowInfraError(message, {code, retryable, meta, cause})`, if the class is there.
fn of_class(
    env: sys::napi_env,
    message: &str,
    prefix: &str,
    err: &Error,
    cause: Option<sys::napi_value>,
) -> Option<sys::napi_value> {
    let class = ERROR_CLASS.with(|c| c.borrow().as_ref().and_then(|r| r.get(env).ok()))?;
    let options = object(env).ok()?;
    let operation = prefix.strip_prefix("Failed to ").unwrap_or(prefix);
    let mut known = serde_json::Map::new();
    known.insert("operation".into(), operation.into());
    let m = err.meta();
    for (key, v) in [
        ("table", &m.table),
        ("column", &m.column),
        ("constraint", &m.constraint),
        ("argument", &m.argument),
    ] {
        if let Some(v) = v {
            known.insert(key.into(), v.as_str().into());
        }
    }
    let meta = value(env, &Value::Json(serde_json::Value::Object(known))).ok()?;
    let fields = [
        ("code", string(env, err.code.as_str()).ok()?),
        ("retryable", boolean(env, err.code.retryable()).ok()?),
        ("meta", meta),
    ];
    for (name, v) in fields {
        super::raw::set(env, options, name, v).ok()?;
    }
    if let Some(c) = cause {
        super::raw::set(env, options, "cause", c).ok()?;
    }
    let args = [string(env, message).ok()?, options];
    let mut error = ptr::null_mut();
    // SAFETY: `class` and the arguments are live values of this env; `error` is written by
    // Node-API.
    let status = unsafe { sys::napi_new_instance(env, class, 2, args.as_ptr(), &mut error) };
    (status == sys::Status::napi_ok && !error.is_null()).then_some(error)
}

fn new_error(env: sys::napi_env, code: Option<&str>, message: &str) -> sys::napi_value {
    let mut error = ptr::null_mut();
    let code = match code.map(|c| string(env, c)) {
        Some(Ok(c)) => c,
        _ => ptr::null_mut(),
    };
    if let Ok(msg) = string(env, message) {
        // SAFETY: `code` and `msg` are strings of this env (or null); `error` is written by
        // Node-API.
        unsafe { sys::napi_create_error(env, code, msg, &mut error) };
    }
    error
}

impl IntoJs for Output {
    fn into_js(self, env: sys::napi_env) -> JsResult {
        match self {
            Output::Undefined => undefined(env),
            Output::Null => value(env, &Value::Null),
            Output::Bool(b) => value(env, &Value::Bool(b)),
            Output::Count(n) => value(env, &Value::Int(n as i64)),
            Output::Row(r) => r.into_js(env),
            Output::Value(v) => value(env, &v),
            Output::List(items) => {
                let array = array_with_length(env, items.len())?;
                for (i, item) in items.into_iter().enumerate() {
                    let v = item.into_js(env)?;
                    set_element(env, array, i as u32, v)?;
                }
                Ok(array)
            }
            Output::Object(fields) => {
                let obj = object(env)?;
                for (name, field) in fields {
                    let v = field.into_js(env)?;
                    let key = string(env, &name)?;
                    set_key(env, obj, key, v)?;
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
                    value: cursor,
                    attributes: sys::PropertyAttributes::default,
                    ..data_property(ptr::null_mut(), cursor)
                };
                define_all(env, array, &[property])?;
                Ok(array)
            }
        }
    }
}

fn rows_array(env: sys::napi_env, rows: &[Row]) -> JsResult {
    let array = array_with_length(env, rows.len())?;
    // Rows of one result share their column names: one maker for all.
    let Some(first) = rows.first() else {
        return Ok(array);
    };
    let maker = Maker::of(env, &first.columns)?;
    for (i, r) in rows.iter().enumerate() {
        let obj = maker.row(env, r)?;
        set_element(env, array, i as u32, obj)?;
    }
    Ok(array)
}

/// Throws a coded error (as a rejection would carry it) from a synchronous method: the returned
/// error tells napi an exception is already pending.
pub fn throw(env: sys::napi_env, prefix: &str, err: &Error) -> napi::Error {
    // SAFETY: the env is the current call's, and the error a live value of it.
    unsafe { sys::napi_throw(env, make_error(env, prefix, err)) };
    napi::Error::from_status(napi::Status::PendingException)
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
