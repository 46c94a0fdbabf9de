//! `WorkflowEventService(db?, options)`: an EventBus with PIDEA's API — `subscribe`/`on`,
//! `unsubscribe`, `publish`/`emit` resolving once every subscriber ran (called in order; one
//! that throws or rejects is logged and the others still run). With `distributed: true` on
//! PostgreSQL, events also reach the services of every process on the same database.
//!
//! Subscribers are JS functions, so they live on the JS thread: in a thread-local table keyed by
//! the service's id, which is all an event arriving from another process carries to that thread.

use std::cell::RefCell;
use std::collections::HashMap;
use std::rc::Rc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use napi::bindgen_prelude::{PromiseRaw, Unknown};
use napi::{sys, Env, JsValue};
use napi_derive::napi;
use serde_json::json;

use super::database::WorkflowDatabase;
use super::database::{open_db, DbSlot};
use super::node::convert::{throw, value};
use super::node::deliver::all_settled;
use super::node::input::{input, optional};
use super::node::logger::{Level, Logger};
use super::node::raw::{is_promise, undefined, JsResult};
use super::node::reference::{call, is_function, JsRef};
use super::node::settle::{self, Settler};
use crate::core::db::postgres::broadcast::{self, Broadcast, Forward};
use crate::core::error::{Error, Result};
use crate::core::input::{Fields, Input};
use crate::core::value::Value;

type Subscribers = Vec<(String, Rc<JsRef>)>;

/// One service's subscriptions, and the caller's event ids it delivered lately.
#[derive(Default)]
struct Bus {
    subs: Subscribers,
    delivered: RecentIds,
}

/// How many of a service's latest caller event ids it remembers (a retry with one of them is
/// not delivered again).
const RECENT_IDS: usize = 10_000;

/// The caller event ids a service delivered, the latest [`RECENT_IDS`].
#[derive(Default)]
struct RecentIds {
    order: std::collections::VecDeque<String>,
    known: std::collections::HashSet<String>,
}

impl RecentIds {
    /// Notes `id`; false when it was already known.
    fn note(&mut self, id: &str) -> bool {
        if self.known.contains(id) {
            return false;
        }
        if self.order.len() == RECENT_IDS {
            if let Some(oldest) = self.order.pop_front() {
                self.known.remove(&oldest);
            }
        }
        self.order.push_back(id.to_string());
        self.known.insert(id.to_string());
        true
    }
}

thread_local! {
    static BUSES: RefCell<HashMap<u64, Bus>> = RefCell::new(HashMap::new());
}

/// Notes that service `id` delivers the event with the caller's `event_id`; false when it did
/// already (or the service is gone).
fn first_delivery(id: u64, event_id: Option<&str>) -> bool {
    let Some(event_id) = event_id else {
        return true;
    };
    BUSES.with(|b| {
        b.borrow_mut()
            .get_mut(&id)
            .is_some_and(|bus| bus.delivered.note(event_id))
    })
}
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The event a distributed service's subscribers receive when events were removed from the
/// outbox before this process read them (it was away longer than 10 minutes): `{fromId, toId}`.
#[napi(skip_typescript)]
pub const GAP_EVENT: &str = crate::core::db::postgres::notify::GAP_EVENT;

/// An EventBus-compatible event service.
#[napi]
pub struct WorkflowEventService {
    id: u64,
    logger: Logger,
    db: Option<DbSlot>,
    /// The `WorkflowDatabase` it was built on (the `db` member), if any.
    member: Option<JsRef>,
    /// The distributed side: started in the background; `ready()` waits for it.
    remote: Option<Arc<Broadcast>>,
}

#[napi]
impl WorkflowEventService {
    /// `options.distributed` (with a PostgreSQL `db`): deliver to every process on the database.
    /// `options.logger`: where failing subscribers are reported (default: `tracing`).
    #[napi(
        constructor,
        ts_args_type = "db?: WorkflowDatabase | null, options?: EventServiceOptions"
    )]
    pub fn new(env: &Env, db: Option<Unknown>, options: Option<Unknown>) -> napi::Result<Self> {
        let db = super::node::convert::optional_instance::<WorkflowDatabase>(
            env,
            db,
            "Failed to create event service",
            "db must be a WorkflowDatabase (or absent)",
        )?;
        let member = match &db {
            Some(d) => Some(JsRef::new(env.raw(), d.value)?),
            None => None,
        };
        let db = db.as_deref();
        let raw = optional(env.raw(), options.map(|o| o.raw()));
        let fail = |e: Error| throw(env.raw(), "Failed to create event service", &e);
        let f = Fields::of_optional(&raw, "options").map_err(fail)?;
        f.only(&["distributed", "logger"]).map_err(fail)?;
        let distributed = f.boolean("distributed").map_err(fail)?.unwrap_or(false);
        let logger = Logger::from_option(env.raw(), options.map(|o| o.raw()))?.unwrap_or_default();
        if distributed && db.is_none() {
            return Err(fail(Error::validation(
                "a distributed event service needs a PostgreSQL database",
            )));
        }
        let id = NEXT_ID.fetch_add(1, Ordering::Relaxed);
        BUSES.with(|b| b.borrow_mut().insert(id, Bus::default()));
        let mut service = WorkflowEventService {
            id,
            logger,
            db: db.map(|d| d.slot()),
            member,
            remote: None,
        };
        if distributed {
            let slot = service.db.clone().expect("checked above");
            let db = open_db(&slot).map_err(fail)?;
            let remote = Arc::new(Broadcast::on(&db).map_err(fail)?);
            service.remote = Some(remote);
            let listen = service.listen(env)?;
            napi::bindgen_prelude::spawn(async move {
                // A failure is reported by ready(); until then events stay local.
                let _ = listen.await;
            });
        }
        Ok(service)
    }

    /// The `WorkflowDatabase` it was built on, or null.
    #[napi(getter, ts_return_type = "WorkflowDatabase | null")]
    pub fn db<'e>(&self, env: &'e Env) -> napi::Result<Unknown<'e>> {
        let v = match &self.member {
            Some(member) => member.get(env.raw())?,
            None => super::node::raw::null(env.raw())?,
        };
        Ok(super::node::raw::unknown(env, v))
    }

    /// Resolves once events from other processes are being received (at once when the service
    /// is not distributed).
    #[napi(ts_return_type = "Promise<void>")]
    pub fn ready<'env>(&self, env: &'env Env) -> napi::Result<PromiseRaw<'env, ()>> {
        if self.remote.is_none() {
            return settle::settled(env, "Failed to listen for events", Ok(Value::Null));
        }
        let listen = self.listen(env)?;
        settle::spawn(env, "Failed to listen for events", async move {
            listen.await.map(|_| Value::Null)
        })
    }

    /// Adds `handler` for `eventName` (duplicates allowed, as in PIDEA's EventBus).
    #[napi(ts_args_type = "eventName: string, handler: EventHandler")]
    pub fn subscribe(&self, env: &Env, event_name: Unknown, handler: Unknown) -> napi::Result<()> {
        let raw = env.raw();
        let fail = |e: Error| throw(raw, "Failed to subscribe", &e);
        let name = broadcast::event_name(&input(raw, event_name.raw())).map_err(fail)?;
        if !is_function(raw, handler.raw()) {
            return Err(fail(Error::validation("handler must be a function")));
        }
        let handler = Rc::new(JsRef::new(raw, handler.raw())?);
        BUSES.with(|b| {
            if let Some(bus) = b.borrow_mut().get_mut(&self.id) {
                bus.subs.push((name, handler));
            }
        });
        Ok(())
    }

    /// Alias of `subscribe`.
    #[napi(ts_args_type = "eventName: string, handler: EventHandler")]
    pub fn on(&self, env: &Env, event_name: Unknown, handler: Unknown) -> napi::Result<()> {
        self.subscribe(env, event_name, handler)
    }

    /// Removes the first subscription of `handler` to `eventName`; true when there was one.
    #[napi(ts_args_type = "eventName: string, handler: EventHandler")]
    pub fn unsubscribe(
        &self,
        env: &Env,
        event_name: Unknown,
        handler: Unknown,
    ) -> napi::Result<bool> {
        let raw = env.raw();
        let name = broadcast::event_name(&input(raw, event_name.raw()))
            .map_err(|e| throw(raw, "Failed to unsubscribe", &e))?;
        Ok(BUSES.with(|b| {
            let mut b = b.borrow_mut();
            let Some(subs) = b.get_mut(&self.id).map(|bus| &mut bus.subs) else {
                return false;
            };
            match subs
                .iter()
                .position(|(n, f)| *n == name && f.is(raw, handler.raw()))
            {
                Some(i) => {
                    subs.remove(i);
                    true
                }
                None => false,
            }
        }))
    }

    /// Calls every subscriber of `eventName` with `eventData`, in subscription order; resolves
    /// once all of them finished (failures are logged, never thrown). Distributed: sends the
    /// event to the other processes first (`eventData` as JSON), and calls this process's
    /// subscribers once it was sent; a publish that rejects has run none of them.
    /// `options.eventId`: the caller's id for the event; a publish with an id delivered lately
    /// (a retry) resolves without delivering it again.
    #[napi(
        ts_args_type = "eventName: string, eventData?: unknown, options?: PublishOptions",
        ts_return_type = "Promise<void>"
    )]
    pub fn publish<'env>(
        &self,
        env: &'env Env,
        event_name: Unknown,
        event_data: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        let raw = env.raw();
        let prefix = "Failed to publish event";
        let (name, event_id) = match publish_arguments(raw, event_name, options) {
            Ok(parsed) => parsed,
            Err(e) => return settle::settled::<Value, _>(env, prefix, Err(e)),
        };
        let data = match event_data {
            Some(d) => d.raw(),
            None => value(raw, &Value::Null)?,
        };
        let (Some(remote), Some(slot)) = (&self.remote, &self.db) else {
            if !first_delivery(self.id, event_id.as_deref()) {
                return settle::settled(env, prefix, Ok(Value::Null));
            }
            let local = deliver(raw, self.id, &name, data, &self.logger)?;
            return Ok(PromiseRaw::new(raw, local));
        };
        let json = match input(raw, data).to_json("eventData") {
            Ok(j) => j,
            Err(e) => return settle::settled::<Value, _>(env, prefix, Err(e)),
        };
        // Sending does not wait for this process to listen (`ready()`).
        let (remote, slot) = (remote.clone(), slot.clone());
        let (id, logger) = (self.id, self.logger.clone());
        let data = JsRef::new(raw, data)?;
        let sent_name = name.clone();
        let sent_id = event_id.clone();
        settle::spawn_then(
            env,
            prefix,
            async move {
                let db = open_db(&slot)?;
                remote
                    .publish(&db, &sent_name, &json, sent_id.as_deref())
                    .await
            },
            move |env, r: Result<()>| {
                r?;
                let fail = |e: napi::Error| Error::internal(e.to_string());
                if !first_delivery(id, event_id.as_deref()) {
                    return undefined(env).map_err(fail);
                }
                deliver(env, id, &name, data.get(env).map_err(fail)?, &logger).map_err(fail)
            },
        )
    }

    /// Alias of `publish`.
    #[napi(
        ts_args_type = "eventName: string, eventData?: unknown, options?: PublishOptions",
        ts_return_type = "Promise<void>"
    )]
    pub fn emit<'env>(
        &self,
        env: &'env Env,
        event_name: Unknown,
        event_data: Option<Unknown>,
        options: Option<Unknown>,
    ) -> napi::Result<PromiseRaw<'env, ()>> {
        self.publish(env, event_name, event_data, options)
    }

    /// How many subscriptions `eventName` has (0 for anything but a string).
    #[napi(ts_args_type = "eventName: string")]
    pub fn get_handler_count(&self, env: &Env, event_name: Unknown) -> u32 {
        let Input::Text(event_name) = input(env.raw(), event_name.raw()) else {
            return 0;
        };
        BUSES.with(|b| {
            b.borrow().get(&self.id).map_or(0, |bus| {
                bus.subs.iter().filter(|(n, _)| *n == event_name).count() as u32
            })
        })
    }

    /// Removes every subscription.
    #[napi]
    pub fn clear(&self) {
        // `try_with`: this also runs from Drop, possibly while the thread is being torn down.
        let _ = BUSES.try_with(|b| {
            if let Some(bus) = b.borrow_mut().get_mut(&self.id) {
                bus.subs.clear();
            }
        });
    }

    /// Removes every subscription and stops receiving events from other processes.
    #[napi]
    pub fn dispose(&mut self) {
        self.clear();
        if let Some(remote) = self.remote.take() {
            remote.stop();
        }
    }
}

impl Drop for WorkflowEventService {
    fn drop(&mut self) {
        self.dispose();
        let _ = BUSES.try_with(|b| b.borrow_mut().remove(&self.id));
    }
}

impl WorkflowEventService {
    /// Listening to the other processes (started once, whoever asks first): their events are
    /// delivered to this service's subscribers on the JS thread.
    fn listen(
        &self,
        env: &Env,
    ) -> napi::Result<impl std::future::Future<Output = Result<()>> + Send + 'static> {
        let settler = Settler::current(env.raw())?;
        let (id, logger) = (self.id, self.logger.clone());
        let forward: Forward = Arc::new(move |event, waiting| {
            let logger = logger.clone();
            settler.send(Box::new(move |env| {
                drop(waiting);
                if let Ok(data) = value(env, &Value::Json(event.data)) {
                    let _ = deliver(env, id, &event.event_type, data, &logger);
                }
            }));
        });
        let (remote, slot) = (self.remote.clone(), self.db.clone());
        Ok(async move {
            let (Some(remote), Some(slot)) = (remote, slot) else {
                return Ok(());
            };
            let db = open_db(&slot)?;
            remote.listen(&db, forward).await
        })
    }
}

/// A publish's event name and `options.eventId` (1 to 255 characters).
fn publish_arguments(
    env: sys::napi_env,
    event_name: Unknown,
    options: Option<Unknown>,
) -> Result<(String, Option<String>)> {
    let name = broadcast::event_name(&input(env, event_name.raw()))?;
    let options = optional(env, options.map(|o| o.raw()));
    let f = Fields::of_optional(&options, "options")?;
    f.only(&["eventId"])?;
    let event_id = f.text("eventId", 255)?;
    if event_id.as_deref() == Some("") {
        return Err(Error::validation("options.eventId must not be empty"));
    }
    Ok((name, event_id))
}

/// Calls the subscribers of `name` on service `id` with `data`, in order; returns a promise that
/// resolves once every one settled (rejections and throws are logged).
pub(crate) fn deliver(
    env: sys::napi_env,
    id: u64,
    name: &str,
    data: sys::napi_value,
    logger: &Logger,
) -> JsResult {
    let subs: Vec<Rc<JsRef>> = BUSES.with(|b| {
        b.borrow().get(&id).map_or(Vec::new(), |bus| {
            bus.subs
                .iter()
                .filter(|(n, _)| n == name)
                .map(|(_, f)| f.clone())
                .collect()
        })
    });
    let undefined = undefined(env)?;
    let mut results = Vec::with_capacity(subs.len());
    for f in subs {
        match call(env, undefined, f.get(env)?, &[data]) {
            Ok(r) if is_promise(env, r) => results.push(r),
            Ok(_) => {}
            Err(message) => subscriber_failed(env, logger, name, &message),
        }
    }
    let (logger, name) = (logger.clone(), name.to_string());
    all_settled(env, results, move |env, reason| {
        subscriber_failed(env, &logger, &name, &reason)
    })
}

fn subscriber_failed(env: sys::napi_env, logger: &Logger, name: &str, message: &str) {
    logger.log(
        env,
        Level::Error,
        "WorkflowEventService: subscriber failed",
        json!({"eventName": name, "error": message}),
    );
}
