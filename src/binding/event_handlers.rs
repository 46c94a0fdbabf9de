//! `WorkflowEventHandlers(workflowRepository, eventBus, logger?)`: subscribes the 14 planned
//! handlers (and PIDEA's colon-style names) to any object with `subscribe(type, fn)`. Each
//! event's writes are one transaction (`core::events`); a handler never rejects — failures are
//! logged — and publishes the planned follow-up events on the same bus once its writes
//! committed. `dispose()` unsubscribes.

use std::sync::Arc;

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::events::{promise_static, resolved};
use super::input::input;
use super::js::{string, undefined, value, JsResult};
use super::jsref::{call, function, method, JsRef, Level, Logger};
use super::repository::{open_db, run_then, DbSlot};
use super::workflow::{cleanup_counts, WorkflowRepository};
use crate::core::error::Result;
use crate::core::events::{self, FollowUp};
use crate::core::input::Input;
use crate::core::repo::{Dialect, Output};
use crate::core::value::{millis_to_iso, now_millis, Value};

/// What every handler function shares.
#[derive(Clone)]
struct Shared {
    db: DbSlot,
    bus: Arc<JsRef>,
    logger: Logger,
}

/// The workflow event handlers, as planned.
#[napi]
pub struct WorkflowEventHandlers {
    shared: Shared,
    subscribed: Vec<(String, JsRef)>,
    initialized: bool,
}

#[napi]
impl WorkflowEventHandlers {
    /// Writes through `workflowRepository`'s database; subscribes to `eventBus` (PIDEA's
    /// EventBus, a `WorkflowEventService`, or any object with `subscribe(type, fn)`).
    #[napi(
        constructor,
        ts_args_type = "workflowRepository: WorkflowRepository, eventBus: EventBusLike, logger?: Logger"
    )]
    pub fn new(
        env: &Env,
        workflow_repository: &WorkflowRepository,
        event_bus: Unknown,
        logger: Option<Unknown>,
    ) -> napi::Result<Self> {
        let raw = env.raw();
        if method(raw, event_bus.raw(), "subscribe")?.is_none() {
            return Err(super::js::throw(
                raw,
                "Failed to create workflow event handlers",
                &crate::core::error::Error::validation(
                    "eventBus must have a subscribe(eventName, handler) method",
                ),
            ));
        }
        Ok(WorkflowEventHandlers {
            shared: Shared {
                db: workflow_repository.facade.db.clone(),
                bus: Arc::new(JsRef::new(raw, event_bus.raw())?),
                logger: Logger::from_arg(raw, logger.map(|l| l.raw()))?,
            },
            subscribed: Vec::new(),
            initialized: false,
        })
    }

    /// Whether `initialize()` subscribed the handlers (and `dispose()` has not run since).
    #[napi(getter)]
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// The event names handled: the 14 planned ones, then the colon-style aliases.
    #[napi(getter)]
    pub fn event_types(&self) -> Vec<&'static str> {
        events::EVENTS
            .iter()
            .copied()
            .chain(events::ALIASES.iter().map(|(alias, _)| *alias))
            .collect()
    }

    /// Subscribes every handler (once; later calls do nothing). Resolves when the bus accepted
    /// them all (its `subscribe` may return a promise).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn initialize<'env>(&mut self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        let raw = env.raw();
        if self.initialized {
            return Ok(PromiseRaw::new(raw, resolved(raw)?));
        }
        let bus = self.shared.bus.get(raw)?;
        let subscribe = method(raw, bus, "subscribe")?
            .ok_or_else(|| napi::Error::from_reason("eventBus.subscribe is missing"))?;
        let mut results = Vec::new();
        for name in self.event_types() {
            let shared = self.shared.clone();
            let handler = function(raw, name, move |ctx| {
                let env = ctx.env.raw();
                let event = if ctx.length() > 0 {
                    input(env, ctx.get::<Unknown>(0)?.raw())
                } else {
                    Input::Undefined
                };
                let e = Env::from_raw(env);
                handle(&e, &shared, name, event)
            })?;
            let args = [string(raw, name)?, handler];
            match call(raw, bus, subscribe, &args) {
                Ok(r) => results.push(r),
                Err(message) => self.shared.logger.log(
                    raw,
                    Level::Error,
                    "WorkflowEventHandlers: Failed to subscribe",
                    json!({"eventType": name, "error": message}),
                ),
            }
            self.subscribed
                .push((name.to_string(), JsRef::new(raw, handler)?));
        }
        self.initialized = true;
        let all = promise_static(raw, "all", &results)?;
        let then = method(raw, all, "then")?.ok_or_else(|| napi::Error::from_reason("no then"))?;
        let done = function(raw, "initialized", |ctx| undefined(ctx.env.raw()))?;
        let p = call(raw, all, then, &[done]).map_err(napi::Error::from_reason)?;
        Ok(PromiseRaw::new(raw, p))
    }

    /// Handles one event as the subscribed handler would (`eventType` may be a colon alias);
    /// never rejects.
    #[napi(
        ts_args_type = "eventType: string, event: Record<string, unknown>",
        ts_return_type = "Promise<void>"
    )]
    pub fn handle<'env>(
        &self,
        env: &'env Env,
        event_type: String,
        event: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let event = input(env.raw(), event.raw());
        let name = events::canonical(&event_type).unwrap_or("unknown");
        if name == "unknown" {
            self.shared.logger.log(
                env.raw(),
                Level::Warn,
                "WorkflowEventHandlers: Unknown event type",
                json!({"eventType": event_type}),
            );
            return Ok(PromiseRaw::new(env.raw(), resolved(env.raw())?));
        }
        Ok(PromiseRaw::new(
            env.raw(),
            handle(env, &self.shared, name, event)?,
        ))
    }

    /// Unsubscribes every handler from the bus (with its `unsubscribe`, when it has one).
    #[napi]
    pub fn dispose(&mut self, env: &Env) -> napi::Result<()> {
        let raw = env.raw();
        let bus = self.shared.bus.get(raw)?;
        let unsubscribe = method(raw, bus, "unsubscribe")?;
        for (name, handler) in self.subscribed.drain(..) {
            if let Some(f) = unsubscribe {
                let args = [string(raw, &name)?, handler.get(raw)?];
                let _ = call(raw, bus, f, &args);
            }
        }
        self.initialized = false;
        Ok(())
    }

    /// Sends this object's log lines to `logger` (null: back to `tracing`). Handlers already
    /// subscribed keep the logger they were created with until the next `initialize()`.
    #[napi(ts_args_type = "logger: Logger | null")]
    pub fn set_logger(&mut self, env: &Env, logger: Option<Unknown>) -> napi::Result<()> {
        self.shared.logger = Logger::from_arg(env.raw(), logger.map(|l| l.raw()))?;
        Ok(())
    }
}

/// Runs event `name` (canonical) and returns the handler's promise: it resolves (never rejects)
/// once the writes committed and the follow-up events were published.
fn handle(env: &Env, shared: &Shared, name: &'static str, event: Input) -> JsResult {
    let raw = env.raw();
    let planned = open_db(&shared.db).and_then(|db| events::plan(&Dialect::of(&db), name, &event));
    let work = match planned {
        Ok(w) => w,
        Err(e) => {
            failed(raw, &shared.logger, name, &e);
            return resolved(raw);
        }
    };
    let (logger, bus, subject) = (shared.logger.clone(), shared.bus.clone(), work.subject);
    let follow_up = work.follow_up;
    let then: super::settle::Then<Output> = Box::new(move |env, r| {
        finish(env, &logger, &bus, name, subject, follow_up, r)
            .or_else(|_| undefined(env))
            .map_err(|e| crate::core::error::Error::internal(e.to_string()))
    });
    let promise = match work.call {
        Some(call) => run_then(
            env,
            &shared.db,
            "Failed to handle event",
            move |_| Ok(call),
            then,
        )?,
        None => super::settle::settled_then(env, "Failed to handle event", Ok(Output::Null), then)?,
    };
    Ok(promise.raw())
}

fn failed(env: sys::napi_env, logger: &Logger, name: &str, e: &crate::core::error::Error) {
    logger.log(
        env,
        Level::Error,
        &format!("WorkflowEventHandlers: Failed to handle {name}"),
        json!({"error": e.message, "code": e.code.as_str()}),
    );
}

/// On the JS thread after the writes: logs, then publishes the follow-up events; the value the
/// handler's promise resolves with (a promise for the publishes, or undefined).
fn finish(
    env: sys::napi_env,
    logger: &Logger,
    bus: &JsRef,
    name: &'static str,
    subject: Option<String>,
    follow_up: FollowUp,
    r: Result<Output>,
) -> JsResult {
    let out = match r {
        Ok(out) => out,
        Err(e) => {
            failed(env, logger, name, &e);
            return undefined(env);
        }
    };
    if matches!(out, Output::Null | Output::Bool(false)) && name.starts_with("workflow.execution.")
    {
        logger.log(
            env,
            Level::Warn,
            "WorkflowEventHandlers: execution not found, or already finished",
            json!({"eventType": name, "executionId": subject}),
        );
    } else {
        logger.log(
            env,
            Level::Debug,
            &format!("WorkflowEventHandlers: handled {name}"),
            json!({"executionId": subject}),
        );
    }
    let timestamp = || millis_to_iso(now_millis());
    let cleaned = |days: i64| {
        let (executions, metrics) = cleanup_counts(&out);
        logger.log(
            env,
            Level::Info,
            "WorkflowEventHandlers: cleanup finished",
            json!({"deletedExecutions": executions, "deletedMetrics": metrics, "daysOld": days}),
        );
        (
            "workflow.cleanup.completed",
            json!({"deletedCount": executions, "metricsDeletedCount": metrics, "daysOld": days, "timestamp": timestamp()}),
        )
    };
    let mut publish = Vec::new();
    match follow_up {
        FollowUp::None => {}
        FollowUp::Alert(payload) => {
            logger.log(
                env,
                Level::Warn,
                "WorkflowEventHandlers: Performance alert",
                payload.clone(),
            );
            publish.push(("workflow.alert.performance", payload));
        }
        FollowUp::CleanupCompleted { days_old } => publish.push(cleaned(days_old)),
        FollowUp::Maintenance { kind, cleanup } => {
            match (kind.as_str(), cleanup) {
                (_, Some(days)) => publish.push(cleaned(days)),
                ("optimize", None) => logger.log(
                    env,
                    Level::Info,
                    "WorkflowEventHandlers: optimize maintenance requested",
                    json!({}),
                ),
                _ => logger.log(
                    env,
                    Level::Warn,
                    "WorkflowEventHandlers: Unknown maintenance type",
                    json!({"maintenanceType": kind}),
                ),
            }
            publish.push((
                "workflow.maintenance.completed",
                json!({"maintenanceType": kind, "timestamp": timestamp()}),
            ));
        }
    }
    if publish.is_empty() {
        return undefined(env);
    }
    let bus_obj = bus.get(env)?;
    let Some(f) = method(env, bus_obj, "publish")?.or(method(env, bus_obj, "emit")?) else {
        return undefined(env);
    };
    let mut results = Vec::new();
    for (event, payload) in publish {
        let args = [string(env, event)?, value(env, &Value::Json(payload))?];
        match call(env, bus_obj, f, &args) {
            Ok(r) => results.push(r),
            Err(message) => logger.log(
                env,
                Level::Error,
                "WorkflowEventHandlers: Failed to publish",
                json!({"eventType": event, "error": message}),
            ),
        }
    }
    // Waits for the publishes; a rejected publish is the bus's to report.
    let settled = promise_static(env, "allSettled", &results)?;
    let then = method(env, settled, "then")?.ok_or_else(|| napi::Error::from_reason("no then"))?;
    let done = function(env, "published", |ctx| undefined(ctx.env.raw()))?;
    call(env, settled, then, &[done]).map_err(napi::Error::from_reason)
}
