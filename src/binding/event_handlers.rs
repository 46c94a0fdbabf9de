//! `WorkflowEventHandlers(workflowRepository, eventBus, logger?)`: subscribes the 14 planned
//! handlers (and PIDEA's colon-style names) to any object with `subscribe(type, fn)`. Each
//! event's writes are one transaction (`core::workflow::events`); a handler never rejects —
//! failures are logged — and publishes the planned follow-up events on the same bus once its writes
//! committed. `dispose()` unsubscribes.

use std::sync::Arc;

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::database::{open_db, DbSlot};
use super::node::convert::{instance, throw};
use super::node::deliver::{self, promise_static, Delivery};
use super::node::input::input;
use super::node::logger::{Level, Logger};
use super::node::raw::{construct, resolved, string, undefined, JsResult};
use super::node::reference::{call, function, method, JsRef};
use super::workflow::{held, logger_member, WorkflowRepository};
use crate::core::db::journal::Entry;
use crate::core::db::Dialect;
use crate::core::exec::{Plan, Report, Request};
use crate::core::input::Input;
use crate::core::stamp::Stamp;
use crate::core::workflow::events::{self, EventKind, Handled};

/// What every handler function shares: where the writes go, the bus, the logger.
#[derive(Clone)]
struct Handlers {
    db: DbSlot,
    bus: Arc<JsRef>,
    logger: Logger,
}

/// The workflow event handlers, as planned.
#[napi]
pub struct WorkflowEventHandlers {
    shared: Handlers,
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
        let workflow_repository = instance::<WorkflowRepository>(
            env,
            workflow_repository,
            "Failed to create workflow event handlers",
            "workflowRepository must be a WorkflowRepository",
        )?;
        if method(raw, event_bus.raw(), "subscribe")?.is_none() {
            return Err(throw(
                raw,
                "Failed to create workflow event handlers",
                &crate::core::error::Error::validation(
                    "eventBus must have a subscribe(eventName, handler) method",
                ),
            ));
        }
        Ok(WorkflowEventHandlers {
            shared: Handlers {
                db: workflow_repository.db.clone(),
                bus: Arc::new(JsRef::new(raw, event_bus.raw())?),
                logger: Logger::from_arg(raw, logger.map(|l| l.raw()))?,
            },
            workflow_repository: JsRef::new(raw, workflow_repository.value)?,
            handlers: JsRef::new(raw, construct(raw, c"Map")?)?,
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
        EventKind::names().collect()
    }

    /// Fills `handlers` with one function per event type (as planned, synchronous; it does not
    /// subscribe them).
    #[napi]
    pub fn register_event_handlers(&mut self, env: &Env) -> napi::Result<()> {
        let raw = env.raw();
        let map = self.handlers.get(raw)?;
        let set = method(raw, map, "set")?.ok_or_else(|| napi::Error::from_reason("no Map.set"))?;
        self.registered.clear();
        for name in EventKind::names() {
            let shared = self.shared.clone();
            let handler = function(raw, name, move |ctx| {
                let env = ctx.env.raw();
                let event = if ctx.length() > 0 {
                    input(env, ctx.get::<Unknown>(0)?.raw())
                } else {
                    Input::Undefined
                };
                let kind = EventKind::from_name(name).expect("a handled name");
                handle(&Env::from_raw(env), &shared, kind, event)
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
        let event_type = input(env.raw(), event_type.raw());
        let kind = match &event_type {
            Input::Text(t) => EventKind::from_name(t),
            _ => None,
        };
        let Some(kind) = kind else {
            let record = events::conclude::unknown_type(&event_type);
            self.shared.logger.write(env.raw(), vec![record]);
            return Ok(PromiseRaw::new(env.raw(), resolved(env.raw())?));
        };
        Ok(PromiseRaw::new(
            env.raw(),
            handle(env, &self.shared, kind, event)?,
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

/// Runs the event and returns the handler's promise: it resolves (never rejects) once the writes
/// committed and the follow-up events were published.
fn handle(env: &Env, shared: &Handlers, kind: EventKind, event: Input) -> JsResult {
    let raw = env.raw();
    // On the fallback the event is journaled (its name and payload, the plan made under a
    // stamp) to be replayed onto the primary.
    let planned = open_db(&shared.db).and_then(|db| {
        let dialect = Dialect::of(&db);
        let (plan, journal) = if db.journaling() {
            let stamp = Stamp::fresh();
            let plan = stamp.apply(|| events::plan_event(&dialect, kind, &event))?;
            let entry = Entry::new(journal_name(kind), vec![event.clone()], stamp);
            (plan, Some(entry))
        } else {
            (events::plan_event(&dialect, kind, &event)?, None)
        };
        Ok((db, plan, journal))
    });
    let (db, plan, journal) = match planned {
        Ok(planned) => planned,
        Err(e) => {
            let refused = Handled::refused(kind).conclude(Err(e));
            shared.logger.write(raw, refused.logs);
            return resolved(raw);
        }
    };
    let request = Request {
        operation: "Failed to handle event",
        source: "WorkflowEventHandlers",
        audience: shared.logger.audience(),
        plan,
        journal,
    };
    let delivery = Delivery {
        prefix: "Failed to handle event",
        logger: shared.logger.clone(),
        bus: Some(shared.bus.clone()),
    };
    Ok(deliver::submit(env, &db, request, delivery)?.raw())
}

/// The journal's name of an event's handling: `WorkflowEventHandlers.<event name>`.
fn journal_name(kind: EventKind) -> String {
    format!("{JOURNAL_PREFIX}{}", kind.name())
}

const JOURNAL_PREFIX: &str = "WorkflowEventHandlers.";

/// The plan of a journaled event's handling (see [`journal_name`]).
pub(crate) fn replan_event(method: &str, d: &Dialect, args: Vec<Input>) -> Option<Plan> {
    let kind = EventKind::from_name(method.strip_prefix(JOURNAL_PREFIX)?)?;
    let event = args.into_iter().next().unwrap_or(Input::Undefined);
    Some(events::plan_event(d, kind, &event).unwrap_or_else(|e| Plan::new(Err(e), Report::Quiet)))
}
