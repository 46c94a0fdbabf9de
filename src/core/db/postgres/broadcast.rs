//! The distributed side of a `WorkflowEventService` on PostgreSQL: an event published here is
//! sent on the database's channel, and the events other processes publish are handed to the
//! service (its own come back too, and are left out: they were delivered locally).

use std::sync::atomic::Ordering;
use std::sync::Arc;

use tokio::sync::OnceCell;

use super::notify::{self, Hub, Outgoing, RemoteEvent, WAITING_MAX};
use crate::core::backlog::{Backlog, Waiting};
use crate::core::db::database::Database;
use crate::core::error::{Error, Result};
use crate::core::input::Input;

/// The operation a distributed publish counts as in the metrics.
pub const PUBLISH_OPERATION: &str = "Failed to publish event";

/// One service's part in the database's events.
pub struct Broadcast {
    /// This service's id on the channel.
    origin: String,
    /// The hub and this service's sink on it, once started (whoever asks first starts it).
    listening: OnceCell<std::result::Result<(Arc<Hub>, u64), Error>>,
    /// Events handed over and not yet delivered.
    waiting: Backlog,
}

/// Where another process's event goes (with its place in the queue).
pub type Forward = Arc<dyn Fn(RemoteEvent, Waiting) + Send + Sync>;

impl Broadcast {
    /// A service's part on `db`, which must be PostgreSQL (SQLite is one process).
    pub fn on(db: &Database) -> Result<Broadcast> {
        if db.backend().postgres().is_none() {
            return Err(Error::validation(
                "distributed events need PostgreSQL (SQLite is one process)",
            ));
        }
        Ok(Broadcast {
            origin: uuid::Uuid::new_v4().to_string(),
            listening: OnceCell::new(),
            waiting: Backlog::default(),
        })
    }

    /// Sends an event to the other processes (it does not wait for this one to listen), behind
    /// the breaker and counted as the `Failed to publish event` operation. With an `event_id`
    /// the outbox already holds (a retry of a publish that landed), nothing is sent again.
    pub async fn publish(
        &self,
        db: &Database,
        name: &str,
        data: &serde_json::Value,
        event_id: Option<&str>,
    ) -> Result<()> {
        let Some(pg) = db.backend().postgres() else {
            return Err(Error::validation("distributed events need PostgreSQL"));
        };
        let metrics = db.metrics();
        let timer = metrics.start(PUBLISH_OPERATION);
        let event = Outgoing {
            origin: &self.origin,
            event_type: name,
            data,
            event_id,
        };
        let result = pg
            .guarded(notify::publish(pg.pool(), pg.channels(), &event))
            .await;
        timer.finish(&result);
        match result {
            Ok(sent) => {
                if sent {
                    metrics.events_published.fetch_add(1, Ordering::Relaxed);
                }
                Ok(())
            }
            Err(e) => {
                metrics
                    .events_publish_failed
                    .fetch_add(1, Ordering::Relaxed);
                Err(e)
            }
        }
    }

    /// Starts listening (once): other processes' events go to `forward`, at most
    /// [`WAITING_MAX`] waiting at a time (the hub reads no further while a service's queue is
    /// half full).
    pub async fn listen(&self, db: &Database, forward: Forward) -> Result<()> {
        let started = self
            .listening
            .get_or_init(|| async {
                let hub = db
                    .hub()
                    .await?
                    .ok_or_else(|| Error::validation("distributed events need PostgreSQL"))?;
                let (origin, waiting) = (self.origin.clone(), self.waiting.clone());
                let metrics = db.metrics().clone();
                let backlog = waiting.clone();
                let sink = hub.add_sink(backlog, Arc::new(move |event: RemoteEvent| {
                    if event.origin == origin {
                        return;
                    }
                    let Some(place) = waiting.enter(WAITING_MAX) else {
                        tracing::warn!(event = %event.event_type, "event queue full; event dropped");
                        return;
                    };
                    metrics.events_delivered.fetch_add(1, Ordering::Relaxed);
                    forward(event, place);
                }));
                Ok((hub, sink))
            })
            .await;
        started.as_ref().map(|_| ()).map_err(Clone::clone)
    }

    /// Stops listening.
    pub fn stop(&self) {
        if let Some(Ok((hub, sink))) = self.listening.get() {
            hub.remove_sink(*sink);
        }
    }
}

/// An event name: a non-empty string of at most 255 characters.
pub fn event_name(name: &Input) -> Result<String> {
    match name {
        Input::Text(s) if !s.is_empty() && s.len() <= 255 => Ok(s.clone()),
        _ => Err(Error::validation(
            "eventName must be a non-empty string of at most 255 characters",
        )),
    }
}
