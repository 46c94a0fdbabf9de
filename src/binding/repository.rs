//! What the three repository classes share: the database they were built on, and running a
//! core [`Call`] as a Promise — settled at once for SQLite point reads, through the SQLite
//! writer for SQLite writes, on the runtime otherwise.

use std::sync::{Arc, RwLock};

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::Env;

use super::database::WorkflowDatabase;
use super::jsref::JsRef;
use super::settle::{self, Then};
use crate::core::db::{Backend, Database};
use crate::core::db::{Call, Dialect, Op, Output};
use crate::core::error::{Error, Result};

/// The database slot shared by a `WorkflowDatabase` and everything built on it: `close()`
/// empties it, and every later call rejects with `ERR_CLOSED`.
pub type DbSlot = Arc<RwLock<Option<Arc<Database>>>>;

pub fn open_db(slot: &DbSlot) -> Result<Arc<Database>> {
    slot.read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
        .ok_or_else(Error::closed)
}

/// Builds the call (validation happens here, before anything runs) and runs it.
pub fn run<'env>(
    env: &'env Env,
    slot: &DbSlot,
    prefix: &'static str,
    build: impl FnOnce(&Dialect) -> Result<Call>,
) -> napi::Result<PromiseRaw<'env, ()>> {
    run_then(env, slot, prefix, build, settle::as_is())
}

/// [`run`], with `then` turning the outcome into the settlement on the JS thread.
pub fn run_then<'env>(
    env: &'env Env,
    slot: &DbSlot,
    prefix: &'static str,
    build: impl FnOnce(&Dialect) -> Result<Call>,
    then: Then<Output>,
) -> napi::Result<PromiseRaw<'env, ()>> {
    let db = match open_db(slot) {
        Ok(db) => db,
        Err(e) => return settle::settled_then(env, prefix, Err(e), then),
    };
    let timer = db.metrics().start(prefix);
    let call = match build(&Dialect::of(&db)) {
        Ok(call) => call,
        Err(e) => {
            let refused = Err(e);
            timer.finish(&refused);
            return settle::settled_then(env, prefix, refused, then);
        }
    };
    if let Some(result) = db.call_now(&call) {
        timer.finish(&result);
        return settle::settled_then(env, prefix, result, then);
    }
    match (&call.op, db.backend()) {
        (Op::Write(_) | Op::Batch { .. }, Backend::Sqlite(_)) => settle::deferred_then(
            env,
            prefix,
            move |complete| {
                db.call_with(call, move |result| {
                    timer.finish(&result);
                    complete(result)
                })
            },
            then,
        ),
        _ => {
            let under_way = db.begin_call();
            settle::spawn_then(
                env,
                prefix,
                async move {
                    let _under_way = under_way;
                    let result = db.call(call).await;
                    timer.finish(&result);
                    result
                },
                then,
            )
        }
    }
}

/// Runs an async core function (several calls in sequence) on the runtime.
pub fn run_async<'env, F, Fut>(
    env: &'env Env,
    slot: &DbSlot,
    prefix: &'static str,
    work: F,
    then: Then<Output>,
) -> napi::Result<PromiseRaw<'env, ()>>
where
    F: FnOnce(Arc<Database>) -> Fut,
    Fut: std::future::Future<Output = Result<Output>> + Send + 'static,
{
    match open_db(slot) {
        Ok(db) => {
            let under_way = db.begin_call();
            let timer = db.metrics().start(prefix);
            let work = work(db);
            settle::spawn_then(
                env,
                prefix,
                async move {
                    let _under_way = under_way;
                    let result = work.await;
                    timer.finish(&result);
                    result
                },
                then,
            )
        }
        Err(e) => settle::settled_then(env, prefix, Err(e), then),
    }
}

/// The slot of `db`, or a fresh private in-memory database when there is none; with the
/// repository's planned `db` member (the `WorkflowDatabase`, or none for a private one).
pub fn slot_or_memory(
    env: &Env,
    db: Option<Unknown>,
    prefix: &str,
) -> napi::Result<(DbSlot, Option<JsRef>)> {
    let db = super::js::optional_instance::<WorkflowDatabase>(
        env,
        db,
        prefix,
        "db must be a WorkflowDatabase (or absent, for a private in-memory database)",
    )?;
    match db {
        Some(db) => Ok((db.slot(), Some(JsRef::new(env.raw(), db.value)?))),
        None => WorkflowDatabase::memory_slot()
            .map(|slot| (slot, None))
            .map_err(|e| {
                napi::Error::new(
                    napi::Status::GenericFailure,
                    format!("Failed to open in-memory database: {}", e.message),
                )
            }),
    }
}

/// A repository's `db` member: its `WorkflowDatabase`, or null.
pub fn db_member<'e>(env: &'e Env, db: &Option<JsRef>) -> napi::Result<Unknown<'e>> {
    let v = match db {
        Some(db) => db.get(env.raw())?,
        None => super::js::value(env.raw(), &crate::core::value::Value::Null)?,
    };
    // SAFETY: `v` is a live value of this env, fetched or made just now.
    Ok(unsafe { Unknown::from_raw_unchecked(env.raw(), v) })
}

/// The repositories' synchronous `toSnakeCase(str)`: a string that is not one throws
/// `ERR_VALIDATION`.
pub fn snake_case(env: &Env, str: Unknown) -> napi::Result<String> {
    match super::input::input(env.raw(), napi::JsValue::raw(&str)) {
        crate::core::input::Input::Text(s) => Ok(crate::core::repo::executions::to_snake_case(&s)),
        other => Err(super::js::throw(
            env.raw(),
            "Failed to convert to snake case",
            &Error::validation(format!("str must be a string, not {}", other.type_name())),
        )),
    }
}
