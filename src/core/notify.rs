//! News from other processes on the same PostgreSQL database, through LISTEN/NOTIFY: cache
//! invalidations (sent by triggers, migration 005, so any writer's changes count) and the
//! events of distributed event services. One listening connection per database, started when
//! the first cache service or distributed event service needs it.
//!
//! NOTIFY is a hint, not a log: a listener that loses its connection may miss news, so every
//! cache is flushed when the connection drops and again once it is back.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use super::db::lock;
use super::error::{Error, Result};
use super::invalidate::Watchers;
use super::repo::Touch;

/// The channel the invalidation triggers notify on (tables in `public`).
pub const CACHE_CHANNEL: &str = "workflow_infra_cache";
/// The channel distributed events travel on (tables in `public`).
pub const EVENT_CHANNEL: &str = "workflow_infra_events";

/// The channels of the package's tables in one schema: the names above for `public`, and
/// `<name>.<schema>` elsewhere (migration 006 gives the triggers the same rule), so that two
/// schemas of one database hear neither each other's invalidations nor each other's events.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Channels {
    pub cache: String,
    pub events: String,
}

impl Channels {
    pub fn of_schema(schema: &str) -> Channels {
        let suffix = match schema {
            "public" => String::new(),
            other => format!(".{other}"),
        };
        Channels {
            cache: format!("{CACHE_CHANNEL}{suffix}"),
            events: format!("{EVENT_CHANNEL}{suffix}"),
        }
    }
}
/// Payloads longer than this go through the `workflow_infra_events` table (NOTIFY's limit is
/// 8000 bytes).
pub const NOTIFY_MAX: usize = 7000;

/// An event from another event service: its origin, type and JSON data.
#[derive(Debug, Clone)]
pub struct RemoteEvent {
    pub origin: String,
    pub event_type: String,
    pub data: serde_json::Value,
}

type EventSink = Arc<dyn Fn(RemoteEvent) + Send + Sync>;

/// The listening side of one database.
pub struct Hub {
    channels: Channels,
    connected: AtomicBool,
    /// Set by [`Hub::stop`] (the database is closing): the end of the connection is then no
    /// news, and caches keep what they hold.
    stopped: AtomicBool,
    sinks: Mutex<Vec<(u64, EventSink)>>,
    next_sink: AtomicU64,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
}

impl Hub {
    /// Connects the listener (LISTEN on both channels) and starts its task.
    pub async fn start(
        pool: PgPool,
        channels: Channels,
        watchers: Arc<Watchers>,
    ) -> Result<Arc<Hub>> {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener
            .listen_all([channels.cache.as_str(), channels.events.as_str()])
            .await?;
        let hub = Arc::new(Hub {
            channels,
            connected: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
            sinks: Mutex::new(Vec::new()),
            next_sink: AtomicU64::new(1),
            task: Mutex::new(None),
        });
        let task = tokio::spawn(listen(listener, pool, Arc::downgrade(&hub), watchers));
        *lock(&hub.task) = Some(task);
        Ok(hub)
    }

    /// Whether news is flowing: caches keep nothing while it is not.
    pub fn connected(&self) -> bool {
        self.connected.load(Ordering::Acquire)
    }

    /// Registers a receiver of remote events; returns its id for [`Hub::remove_sink`].
    pub fn add_sink(&self, sink: EventSink) -> u64 {
        let id = self.next_sink.fetch_add(1, Ordering::Relaxed);
        lock(&self.sinks).push((id, sink));
        id
    }

    pub fn remove_sink(&self, id: u64) {
        lock(&self.sinks).retain(|(i, _)| *i != id);
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        self.connected.store(false, Ordering::Release);
    }

    fn deliver(&self, event: RemoteEvent) {
        let sinks: Vec<EventSink> = lock(&self.sinks).iter().map(|(_, s)| s.clone()).collect();
        for sink in sinks {
            sink(event.clone());
        }
    }
}

impl Drop for Hub {
    fn drop(&mut self) {
        self.stop();
    }
}

async fn listen(
    mut listener: PgListener,
    pool: PgPool,
    weak: std::sync::Weak<Hub>,
    watchers: Arc<Watchers>,
) {
    loop {
        let next = listener.try_recv().await;
        let Some(hub) = weak.upgrade() else { return };
        if hub.stopped.load(Ordering::Acquire) {
            return;
        }
        match next {
            Ok(Some(n)) if n.channel() == hub.channels.cache => {
                let touch = parse_touch(n.payload());
                watchers.each(|w| match &touch {
                    Some(t) => w.invalidate(t),
                    None => w.flush(),
                });
            }
            Ok(Some(n)) => {
                let payload = n.payload().to_string();
                let pool = pool.clone();
                let hub = hub.clone();
                tokio::spawn(async move {
                    match read_event(&pool, &payload).await {
                        Ok(event) => hub.deliver(event),
                        Err(e) => tracing::warn!(error = %e, "could not read a distributed event"),
                    }
                });
            }
            Ok(None) => {
                // The connection dropped and sqlx reconnected (and listens again): whatever was
                // sent meanwhile is lost, so nothing cached can be trusted.
                tracing::warn!("the notification connection was lost and re-established");
                watchers.each(|w| w.flush());
                hub.connected.store(true, Ordering::Release);
            }
            Err(sqlx::Error::PoolClosed) => return,
            Err(e) => {
                hub.connected.store(false, Ordering::Release);
                watchers.each(|w| w.flush());
                tracing::warn!(error = %Error::from(e).message, "the notification connection is down; retrying");
                let cache_channel = hub.channels.cache.clone();
                drop(hub);
                tokio::time::sleep(Duration::from_millis(250)).await;
                // Reconnect (sqlx listens on every channel again when it connects); LISTEN on a
                // channel already listened to changes nothing. On success the news flows again
                // and caches start afresh.
                if listener.listen(&cache_channel).await.is_ok() {
                    watchers.each(|w| w.flush());
                    if let Some(hub) = weak.upgrade() {
                        hub.connected.store(true, Ordering::Release);
                    }
                }
            }
        }
    }
}

/// `e:<execution_id>`, `h:<handler_type>`, `e:*`, `h:*`; anything else means "flush".
fn parse_touch(payload: &str) -> Option<Touch> {
    match payload.split_once(':')? {
        ("e", "*") => Some(Touch::Executions),
        ("h", "*") => Some(Touch::Handlers),
        ("e", id) => Some(Touch::Execution(id.to_string())),
        ("h", t) => Some(Touch::Handler(t.to_string())),
        _ => None,
    }
}

/// The NOTIFY payload of an event: `{"o","t","d"}` inline, or `{"o","t","p"}` pointing at the
/// row that holds `d` when it is too long.
pub fn event_payload(origin: &str, event_type: &str, data: &serde_json::Value) -> String {
    serde_json::json!({"o": origin, "t": event_type, "d": data}).to_string()
}

async fn read_event(pool: &PgPool, payload: &str) -> Result<RemoteEvent> {
    let v: serde_json::Value = serde_json::from_str(payload)
        .map_err(|e| Error::internal(format!("unreadable event payload: {e}")))?;
    let text = |k: &str| {
        v.get(k)
            .and_then(|x| x.as_str())
            .unwrap_or_default()
            .to_string()
    };
    let data = match v.get("p").and_then(|p| p.as_i64()) {
        Some(id) => {
            let (stored,): (String,) =
                sqlx::query_as("SELECT payload FROM workflow_infra_events WHERE id = $1")
                    .bind(id)
                    .fetch_one(pool)
                    .await?;
            serde_json::from_str(&stored)
                .map_err(|e| Error::internal(format!("unreadable stored event: {e}")))?
        }
        None => v.get("d").cloned().unwrap_or(serde_json::Value::Null),
    };
    Ok(RemoteEvent {
        origin: text("o"),
        event_type: text("t"),
        data,
    })
}

/// Sends an event to every process listening on the database; data too long for NOTIFY is
/// stored in `workflow_infra_events` (rows older than a minute are removed on the way).
pub async fn publish(
    pool: &PgPool,
    channels: &Channels,
    origin: &str,
    event_type: &str,
    data: &serde_json::Value,
) -> Result<()> {
    let inline = event_payload(origin, event_type, data);
    if inline.len() <= NOTIFY_MAX {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(&channels.events)
            .bind(inline)
            .execute(pool)
            .await?;
        return Ok(());
    }
    let mut tx = pool.begin().await?;
    sqlx::query("DELETE FROM workflow_infra_events WHERE created_at < now() - interval '1 minute'")
        .execute(&mut *tx)
        .await?;
    let (id,): (i64,) =
        sqlx::query_as("INSERT INTO workflow_infra_events (payload) VALUES ($1) RETURNING id")
            .bind(data.to_string())
            .fetch_one(&mut *tx)
            .await?;
    let pointer = serde_json::json!({"o": origin, "t": event_type, "p": id}).to_string();
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&channels.events)
        .bind(pointer)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn channels_of_a_schema() {
        let public = Channels::of_schema("public");
        assert_eq!(public.cache, CACHE_CHANNEL);
        assert_eq!(public.events, EVENT_CHANNEL);
        let own = Channels::of_schema("workflow_infra");
        assert_eq!(own.cache, "workflow_infra_cache.workflow_infra");
        assert_eq!(own.events, "workflow_infra_events.workflow_infra");
    }

    #[test]
    fn touches_parse_from_payloads() {
        assert_eq!(parse_touch("e:*"), Some(Touch::Executions));
        assert_eq!(parse_touch("h:*"), Some(Touch::Handlers));
        assert_eq!(
            parse_touch("e:exec_1:x"),
            Some(Touch::Execution("exec_1:x".into()))
        );
        assert_eq!(parse_touch("h:lint"), Some(Touch::Handler("lint".into())));
        assert_eq!(parse_touch("flush"), None);
    }
}
