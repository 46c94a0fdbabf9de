//! News from other processes on the same PostgreSQL database, through LISTEN/NOTIFY: cache
//! invalidations (sent by triggers, migration 005, so any writer's changes count) and the
//! events of distributed event services. One listening connection per database, started when
//! the first cache service or distributed event service needs it.
//!
//! NOTIFY is a hint, not a log: a listener that loses its connection may miss news. Caches are
//! flushed when the connection drops and again once it is back. Events are kept in the
//! `workflow_infra_events` table (an outbox, [`RETENTION`] long), and NOTIFY only wakes the
//! listeners: each reads what it has not seen yet, by id, after every wake-up and after every
//! reconnection, so an event published while a listener was reconnecting still reaches it,
//! once.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use super::invalidate::{Touch, Watchers};
use super::sync::lock;
use crate::core::error::{Error, Result};
use crate::core::metrics::Metrics;

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
/// How long published events are kept for listeners that were away (reconnecting).
pub const RETENTION: &str = "10 minutes";
/// A gap in the event ids (a publish that rolled back, or one not yet committed) is waited for
/// this long before the listener moves past it.
const GAP_WAIT_SECS: f64 = 30.0;

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
    /// Which events this process has delivered.
    seen: tokio::sync::Mutex<Seen>,
    task: Mutex<Option<tokio::task::JoinHandle<()>>>,
    /// Where reconnections are counted.
    metrics: Arc<Metrics>,
}

impl Hub {
    /// Connects the listener (LISTEN on both channels) and starts its task.
    pub async fn start(
        pool: PgPool,
        channels: Channels,
        watchers: Arc<Watchers>,
        metrics: Arc<Metrics>,
    ) -> Result<Arc<Hub>> {
        let mut listener = PgListener::connect_with(&pool).await?;
        listener
            .listen_all([channels.cache.as_str(), channels.events.as_str()])
            .await?;
        // Events published before this process listened are not its own to deliver.
        let floor: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM workflow_infra_events")
                .fetch_one(&pool)
                .await?;
        let hub = Arc::new(Hub {
            seen: tokio::sync::Mutex::new(Seen {
                floor,
                above: std::collections::BTreeSet::new(),
            }),
            channels,
            connected: AtomicBool::new(true),
            stopped: AtomicBool::new(false),
            sinks: Mutex::new(Vec::new()),
            next_sink: AtomicU64::new(1),
            task: Mutex::new(None),
            metrics,
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
                match earlier_version_event(&pool, n.payload()).await {
                    Ok(Some(event)) => hub.deliver(event),
                    Ok(None) => {}
                    Err(e) => {
                        tracing::warn!(error = %e.message, "could not read a distributed event")
                    }
                }
                catch_up(&pool, &hub).await;
            }
            Ok(None) => {
                // The connection dropped and sqlx reconnected (and listens again): invalidations
                // sent meanwhile are lost, so nothing cached can be trusted; events are read
                // back from the outbox.
                tracing::warn!("the notification connection was lost and re-established");
                hub.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
                watchers.each(|w| w.flush());
                hub.connected.store(true, Ordering::Release);
                catch_up(&pool, &hub).await;
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
                        hub.metrics.reconnects.fetch_add(1, Ordering::Relaxed);
                        hub.connected.store(true, Ordering::Release);
                        catch_up(&pool, &hub).await;
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

/// The events a listener has delivered: every id up to `floor`, and the ids above it in
/// `above` (ids can commit out of order).
struct Seen {
    floor: i64,
    above: std::collections::BTreeSet<i64>,
}

/// A notification from an earlier version of the package: an event inline (`{"o","t","d"}`,
/// not stored), or one stored without its type (`{"o","t","p"}`, read by id). What this version
/// publishes (`{"o","t","p","v"}`) is read back by [`catch_up`].
async fn earlier_version_event(pool: &PgPool, payload: &str) -> Result<Option<RemoteEvent>> {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(payload) else {
        return Ok(None);
    };
    if v.get("v").is_some() {
        return Ok(None); // this version's wake-up: catch_up reads the row, no query by id
    }
    let text = |k: &str| v.get(k).and_then(|x| x.as_str()).map(str::to_string);
    let (Some(origin), Some(event_type)) = (text("o"), text("t")) else {
        return Ok(None);
    };
    if let Some(data) = v.get("d") {
        return Ok(Some(RemoteEvent {
            origin,
            event_type,
            data: data.clone(),
        }));
    }
    let Some(id) = v.get("p").and_then(|p| p.as_i64()) else {
        return Ok(None);
    };
    let stored: Option<(String, Option<String>)> =
        sqlx::query_as("SELECT payload, event_type FROM workflow_infra_events WHERE id = $1")
            .bind(id)
            .fetch_optional(pool)
            .await?;
    Ok(match stored {
        Some((payload, None)) => Some(RemoteEvent {
            origin,
            event_type,
            data: serde_json::from_str(&payload)
                .map_err(|e| Error::internal(format!("unreadable stored event: {e}")))?,
        }),
        _ => None, // this version's row: catch_up delivers it
    })
}

/// Delivers, in id order, every stored event this process has not delivered yet; then moves
/// the floor past ids delivered without a gap, and past gaps older than [`GAP_WAIT_SECS`] (a
/// publish that rolled back leaves one for good). One catch-up at a time.
async fn catch_up(pool: &PgPool, hub: &Hub) {
    let mut seen = hub.seen.lock().await;
    type Stored = (i64, String, Option<String>, Option<String>, f64);
    let rows: Vec<Stored> = match sqlx::query_as(
        "SELECT id, payload, origin, event_type, EXTRACT(EPOCH FROM now() - created_at)::float8 \
         FROM workflow_infra_events WHERE id > $1 ORDER BY id LIMIT 10000",
    )
    .bind(seen.floor)
    .fetch_all(pool)
    .await
    {
        Ok(rows) => rows,
        Err(e) => {
            tracing::warn!(error = %Error::from(e).message, "could not read the distributed events");
            return;
        }
    };
    for (id, payload, origin, event_type, _) in &rows {
        // A row without a type came from an earlier version: its notification delivers it.
        let (Some(origin), Some(event_type)) = (origin, event_type) else {
            seen.above.insert(*id);
            continue;
        };
        if seen.above.insert(*id) {
            match serde_json::from_str(payload) {
                Ok(data) => hub.deliver(RemoteEvent {
                    origin: origin.clone(),
                    event_type: event_type.clone(),
                    data,
                }),
                Err(e) => tracing::warn!(error = %e, "could not read a distributed event"),
            }
        }
    }
    for (id, _, _, _, age) in &rows {
        let next = seen.floor + 1;
        if *id == next || (*id > next && *age > GAP_WAIT_SECS) {
            seen.floor = *id;
        } else {
            break;
        }
    }
    let floor = seen.floor;
    seen.above.retain(|id| *id > floor);
}

/// Sends an event to every process listening on the database: it is stored in the outbox
/// (`workflow_infra_events`, kept [`RETENTION`]) and NOTIFY wakes the listeners, in the same
/// transaction, so a listener hears of it only once it can read it.
pub async fn publish(
    pool: &PgPool,
    channels: &Channels,
    origin: &str,
    event_type: &str,
    data: &serde_json::Value,
) -> Result<()> {
    let mut tx = pool.begin().await?;
    let (id,): (i64,) = sqlx::query_as(
        "INSERT INTO workflow_infra_events (payload, origin, event_type) VALUES ($1, $2, $3) RETURNING id",
    )
    .bind(data.to_string())
    .bind(origin)
    .bind(event_type)
    .fetch_one(&mut *tx)
    .await?;
    // Retention, on the way: one in a hundred publishes removes what expired.
    if id % 100 == 0 {
        sqlx::query(sqlx::AssertSqlSafe(format!(
            "DELETE FROM workflow_infra_events WHERE created_at < now() - interval '{RETENTION}'"
        )))
        .execute(&mut *tx)
        .await?;
    }
    // The wake-up names the row as earlier versions of the package did (they read it by id);
    // `v` tells this version's listeners to go straight to the catch-up.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&channels.events)
        .bind(serde_json::json!({"o": origin, "t": event_type, "p": id, "v": 2}).to_string())
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
