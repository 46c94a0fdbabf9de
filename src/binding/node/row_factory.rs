//! Row objects built by one compiled JS function per column list.
//!
//! A row made key by key through napi creates and internalises every key string, then walks the
//! object through one hidden-class transition per key. A function
//! `(v0, v1, …) => ({ "execution_id": v0, … })`, compiled once per column list and kept by
//! reference, lets V8 build the object from its literal's boilerplate in one call: the keys are
//! already internalised and every row of a shape shares one hidden class, which also keeps the
//! caller's property reads monomorphic.
//!
//! Factories are kept per JS thread (one env a thread); a thread that sees another env starts a
//! new list. The number of shapes is bounded: past it, rows fall back to key-by-key objects.

use std::cell::RefCell;
use std::ptr;
use std::sync::Arc;

use napi::{check_status, sys};

use super::raw::{run_script, undefined, JsResult};

/// Column lists kept per thread (the schema has a handful of row shapes and a few aggregates).
const MAX_SHAPES: usize = 64;

struct Shapes {
    env: sys::napi_env,
    list: Vec<(Arc<[String]>, sys::napi_ref)>,
}

thread_local! {
    static SHAPES: RefCell<Shapes> = const {
        RefCell::new(Shapes { env: ptr::null_mut(), list: Vec::new() })
    };
}

/// The factory for `columns`, compiled on first use; `None` when the columns cannot be object
/// literal keys as they are (`__proto__`) or the thread keeps too many shapes already.
pub fn factory(
    env: sys::napi_env,
    columns: &Arc<[String]>,
) -> napi::Result<Option<sys::napi_value>> {
    SHAPES.with(|cell| {
        let mut shapes = cell.borrow_mut();
        if shapes.env != env {
            // A new env on this thread: the old one's references died with it.
            shapes.env = env;
            shapes.list.clear();
        }
        let found = shapes
            .list
            .iter()
            .find(|(c, _)| Arc::ptr_eq(c, columns))
            .or_else(|| shapes.list.iter().find(|(c, _)| **c == **columns))
            .map(|(_, r)| *r);
        if let Some(reference) = found {
            let mut f = ptr::null_mut();
            // SAFETY: the reference was made in this env on this thread and is not yet deleted.
            check_status!(unsafe { sys::napi_get_reference_value(env, reference, &mut f) })?;
            return Ok(Some(f));
        }
        if shapes.list.len() >= MAX_SHAPES || columns.iter().any(|c| c == "__proto__") {
            return Ok(None);
        }
        let f = compile(env, columns)?;
        let mut reference = ptr::null_mut();
        // SAFETY: the reference was made in this env on this thread and is not yet deleted.
        check_status!(unsafe { sys::napi_create_reference(env, f, 1, &mut reference) })?;
        shapes.list.push((columns.clone(), reference));
        Ok(Some(f))
    })
}

/// Calls a factory with one row's values, in column order.
pub fn build(env: sys::napi_env, factory: sys::napi_value, values: &[sys::napi_value]) -> JsResult {
    let this = undefined(env)?;
    let mut out = ptr::null_mut();
    // SAFETY: the factory and the values are live values of this env; a thrown exception is
    // reported through the status.
    check_status!(unsafe {
        sys::napi_call_function(env, this, factory, values.len(), values.as_ptr(), &mut out)
    })?;
    Ok(out)
}

fn compile(env: sys::napi_env, columns: &[String]) -> JsResult {
    let params: Vec<String> = (0..columns.len()).map(|i| format!("v{i}")).collect();
    let fields: Vec<String> = columns
        .iter()
        .zip(&params)
        .map(|(c, p)| format!("{}: {p}", serde_json::Value::from(c.as_str())))
        .collect();
    let source = format!(
        "(function ({}) {{ return {{ {} }} }})",
        params.join(", "),
        fields.join(", ")
    );
    run_script(env, &source)
}
