//! `WorkflowEventHandlers(workflowRepository, eventBus, logger?)`: subscribes the 14 planned
//! handlers (and PIDEA's colon-style names) to any object with `subscribe(type, fn)`. Each
//! event's writes are one transaction (`core::workflow::events`); a handler never rejects — failures are
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
use super::workflow::{cleanup_counts, held, logger_member, WorkflowRepository};
use crate::core::db::{Dialect, Output};
use crate::core::error::Result;
use crate::core::input::Input;
use crate::core::value::{millis_to_iso, now_millis, Value};
use crate::core::workflow::events::{self, FollowUp};

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
    workflow_repository: JsRef,
    /// The planned `handlers` member: a JS `Map` from event type to its handler function.
    handlers: JsRef,
    /// What `registerEventHandlers()` made, in order: what `subscribeToEvents()` subscribes.
    registered: Vec<(&'static str, JsRef)>,
    /// What is subscribed on the bus (for `dispose()`).
    subscribed: Vec<(&'static str, JsRef)>,
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
        workflow_repository: Unknown,
        event_bus: Unknown,
        logger: Option<Unknown>,
    ) -> napi::Result<Self> {
        let raw = env.raw();
        let workflow_repository = super::js::instance::<WorkflowRepository>(
            env,
            workflow_repository,
            "Failed to create workflow event handlers",
            "workflowRepository must be a WorkflowRepository",
        )?;
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
            workflow_repository: JsRef::new(raw, workflow_repository.value)?,
            handlers: JsRef::new(raw, new_map(raw)?)?,
            registered: Vec::new(),
            subscribed: Vec::new(),
            initialized: false,
        })
    }

    /// The `WorkflowRepository` given to the constructor.
    #[napi(getter, ts_return_type = "WorkflowRepository")]
    pub fn workflow_repository<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.workflow_repository)
    }

    /// The event bus given to the constructor.
    #[napi(getter, ts_return_type = "EventBusLike")]
    pub fn event_bus<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.shared.bus)
    }

    /// The logger given, or one that writes to the addon's own log.
    #[napi(getter, ts_return_type = "Logger")]
    pub fn logger<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        logger_member(env, &self.shared.logger)
    }

    /// A `Map` from event type to the function `initialize()` subscribes for it (filled by
    /// `registerEventHandlers()`, emptied by `dispose()`).
    #[napi(
        getter,
        ts_return_type = "Map<string, (event: unknown) => Promise<void>>"
    )]
    pub fn handlers<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        held(env, &self.handlers)
    }

    /// Whether `initialize()` subscribed the handlers (and `dispose()` has not run since).
    #[napi(getter)]
    pub fn is_initialized(&self) -> bool {
        self.initialized
    }

    /// The event names handled: the 14 planned ones, then the colon-style aliases.
    #[napi(getter)]
    pub fn event_types(&self) -> Vec<&'static str> {
        event_types().collect()
    }

    /// Fills `handlers` with one function per event type (as planned, synchronous; it does not
    /// subscribe them).
    #[napi]
    pub fn register_event_handlers(&mut self, env: &Env) -> napi::Result<()> {
        let raw = env.raw();
        let map = self.handlers.get(raw)?;
        let set = method(raw, map, "set")?.ok_or_else(|| napi::Error::from_reason("no Map.set"))?;
        self.registered.clear();
        for name in event_types() {
            let shared = self.shared.clone();
            let handler = function(raw, name, move |ctx| {
                let env = ctx.env.raw();
                let event = if ctx.length() > 0 {
                    input(env, ctx.get::<Unknown>(0)?.raw())
                } else {
                    Input::Undefined
                };
                handle(&Env::from_raw(env), &shared, name, event)
            })?;
            call(raw, map, set, &[string(raw, name)?, handler])
                .map_err(napi::Error::from_reason)?;
            self.registered.push((name, JsRef::new(raw, handler)?));
        }
        Ok(())
    }

    /// Subscribes every registered handler to the bus; resolves when the bus accepted them
    /// all (its `subscribe` may return a promise). A refused subscription is logged.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn subscribe_to_events<'env>(
        &mut self,
        env: &'env Env,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let raw = env.raw();
        let bus = self.shared.bus.get(raw)?;
        let subscribe = method(raw, bus, "subscribe")?
            .ok_or_else(|| napi::Error::from_reason("eventBus.subscribe is missing"))?;
        let mut results = Vec::new();
        for (name, handler) in &self.registered {
            let handler = handler.get(raw)?;
            match call(raw, bus, subscribe, &[string(raw, name)?, handler]) {
                Ok(r) => results.push(r),
                Err(message) => self.shared.logger.log(
                    raw,
                    Level::Error,
                    "WorkflowEventHandlers: Failed to subscribe",
                    json!({"eventType": name, "error": message}),
                ),
            }
            self.subscribed.push((name, JsRef::new(raw, handler)?));
        }
        let all = promise_static(raw, "all", &results)?;
        let then = method(raw, all, "then")?.ok_or_else(|| napi::Error::from_reason("no then"))?;
        let done = function(raw, "subscribed", |ctx| undefined(ctx.env.raw()))?;
        let p = call(raw, all, then, &[done]).map_err(napi::Error::from_reason)?;
        Ok(PromiseRaw::new(raw, p))
    }

    /// Registers and subscribes every handler (once; later calls do nothing). Resolves when
    /// the bus accepted them all.
    #[napi(ts_return_type = "Promise<void>")]
    pub fn initialize<'env>(&mut self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        if self.initialized {
            return Ok(PromiseRaw::new(env.raw(), resolved(env.raw())?));
        }
        self.register_event_handlers(env)?;
        let subscribed = self.subscribe_to_events(env)?;
        self.initialized = true;
        Ok(subscribed)
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
        event_type: Unknown,
        event: Unknown,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let event = input(env.raw(), event.raw());
        let name = match input(env.raw(), event_type.raw()) {
            Input::Text(t) => events::canonical(&t).ok_or(json!({"eventType": t})),
            other => Err(json!({"eventType": format!("(not a string: {})", other.type_name())})),
        };
        let name = match name {
            Ok(name) => name,
            Err(meta) => {
                self.shared.logger.log(
                    env.raw(),
                    Level::Warn,
                    "WorkflowEventHandlers: Unknown event type",
                    meta,
                );
                return Ok(PromiseRaw::new(env.raw(), resolved(env.raw())?));
            }
        };
        Ok(PromiseRaw::new(
            env.raw(),
            handle(env, &self.shared, name, event)?,
        ))
    }

    /// Unsubscribes every handler from the bus (with its `unsubscribe`, when it has one) and
    /// empties `handlers`.
    #[napi]
    pub fn dispose(&mut self, env: &Env) -> napi::Result<()> {
        let raw = env.raw();
        let bus = self.shared.bus.get(raw)?;
        let unsubscribe = method(raw, bus, "unsubscribe")?;
        for (name, handler) in self.subscribed.drain(..) {
            if let Some(f) = unsubscribe {
                let args = [string(raw, name)?, handler.get(raw)?];
                let _ = call(raw, bus, f, &args);
            }
        }
        self.registered.clear();
        let map = self.handlers.get(raw)?;
        if let Some(clear) = method(raw, map, "clear")? {
            let _ = call(raw, map, clear, &[]);
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

/// The 14 planned event names, then the colon-style aliases.
fn event_types() -> impl Iterator<Item = &'static str> {
    events::EVENTS
        .iter()
        .copied()
        .chain(events::ALIASES.iter().map(|(alias, _)| *alias))
}

/// `new Map()`.
fn new_map(env: sys::napi_env) -> JsResult {
    let mut global = std::ptr::null_mut();
    napi::check_status!(unsafe { sys::napi_get_global(env, &mut global) })?;
    let mut constructor = std::ptr::null_mut();
    napi::check_status!(unsafe {
        sys::napi_get_named_property(env, global, c"Map".as_ptr(), &mut constructor)
    })?;
    let mut map = std::ptr::null_mut();
    napi::check_status!(unsafe {
        sys::napi_new_instance(env, constructor, 0, std::ptr::null(), &mut map)
    })?;
    Ok(map)
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
