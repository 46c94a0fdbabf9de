//! News from other processes on the same PostgreSQL database, through LISTEN/NOTIFY: cache
//! invalidations (sent by triggers, migration 005, so any writer's changes count) and the
//! events of distributed event services. One listening connection per database, started when
//! the first cache service or distributed event service needs it.
//!
//! NOTIFY is a hint, not a log: a listener that loses its connection may miss news. Caches are
//! flushed when the connection drops and again once it is back. Events are kept in the
//! `workflow_infra_events` table (an outbox, [`RETENTION`] long), and NOTIFY only wakes the
//! listeners: each reads what it has not seen yet after every wake-up and after every
//! reconnection, so an event published while a listener was reconnecting still reaches it,
//! once.
//!
//! What "not seen yet" means does not depend on time. Ids are taken when a row is inserted, but
//! rows become visible when their transaction commits, which can be any time later (a publisher
//! paused by a GC, a VM steal, SIGSTOP). Each row records its transaction (`tx_id`, migration
//! 009), and each read notes, from its snapshot, the transactions still in progress and the
//! first one not yet started (see [`Cursor`]): the next read takes the rows above the highest id
//! read, plus the rows of exactly those transactions. A row is read once, whenever it commits.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::postgres::{PgListener, PgPool};

use crate::core::backlog::Backlog;
use crate::core::db::invalidate::{Touch, Watchers};
use crate::core::db::sync::lock;
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
/// The event a listener's subscribers receive when it was away longer than [`RETENTION`] and
/// events it had not read were removed: `{fromId, toId}`, the outbox ids it may have missed.
pub const GAP_EVENT: &str = "workflow-infra:gap";
/// Events from other processes waiting for a service's JS thread, at most. The hub reads the
/// outbox no further while a service's queue is half full, and one read takes at most the other
/// half, so a listener back from a long absence (or a JS thread slower than the events)
/// catches up at the pace its subscribers take them, without dropping any.
pub const WAITING_MAX: usize = 10_000;
/// The most rows one query of the outbox takes.
const PAGE: i64 = 1000;
/// The most pages one read takes: half of [`WAITING_MAX`].
const PAGES_PER_READ: usize = WAITING_MAX / 2 / PAGE as usize;

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
    sinks: Mutex<Vec<(u64, EventSink, Backlog)>>,
    next_sink: AtomicU64,
    /// Where this process is in the outbox.
    cursor: tokio::sync::Mutex<Cursor>,
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
        // Events committed before this process listened are not its own to deliver; those of
        // transactions still in progress are.
        let cursor = Cursor::start(&pool).await?;
        let hub = Arc::new(Hub {
            cursor: tokio::sync::Mutex::new(cursor),
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

    /// Registers a receiver of remote events, whose `backlog` counts what it holds and has not
    /// handed on; returns its id for [`Hub::remove_sink`].
    pub fn add_sink(&self, backlog: Backlog, sink: EventSink) -> u64 {
        let id = self.next_sink.fetch_add(1, Ordering::Relaxed);
        lock(&self.sinks).push((id, sink, backlog));
        id
    }

    pub fn remove_sink(&self, id: u64) {
        lock(&self.sinks).retain(|(i, _, _)| *i != id);
    }

    /// Waits until every receiver holds at most half of [`WAITING_MAX`] (or the hub stopped).
    async fn room(&self) {
        let full = || {
            lock(&self.sinks)
                .iter()
                .any(|(_, _, backlog)| backlog.len() > WAITING_MAX / 2)
        };
        while full() && !self.stopped.load(Ordering::Acquire) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    pub fn stop(&self) {
        self.stopped.store(true, Ordering::Release);
        if let Some(task) = lock(&self.task).take() {
            task.abort();
        }
        self.connected.store(false, Ordering::Release);
    }

    fn deliver(&self, event: RemoteEvent) {
        let sinks: Vec<EventSink> = lock(&self.sinks)
            .iter()
            .map(|(_, s, _)| s.clone())
            .collect();
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

/// Where a listener is in the outbox, as of its last read: the highest id it read, and the
/// transactions that could still add rows below it — those in progress when it read
/// (`pending`) and those that had not started (`tx_id >= xmax`). Both come from the snapshot of
/// the read itself, so nothing commits between what it saw and what it noted.
#[derive(Debug, Clone, Default, PartialEq)]
struct Cursor {
    max_id: i64,
    xmax: i64,
    pending: Vec<i64>,
    /// The retention horizon already reported as a gap.
    gap_reported: i64,
}

/// One read of the outbox: the rows it found (in the order to deliver them), the cursor after
/// it, and the range removed by the retention before it was read, if any.
struct Read {
    rows: Vec<Stored>,
    next: Cursor,
    gap: Option<(i64, i64)>,
    /// Rows above `next.max_id` were left for the next read.
    more: bool,
}

type Stored = (i64, String, Option<String>, Option<String>);

impl Cursor {
    /// The cursor of a listener that starts now: past every committed row.
    async fn start(pool: &PgPool) -> Result<Cursor> {
        let mut tx = snapshot_transaction(pool).await?;
        let (xmax, pending, pruned) = snapshot(&mut tx).await?;
        let max_id: i64 =
            sqlx::query_scalar("SELECT COALESCE(max(id), 0) FROM workflow_infra_events")
                .fetch_one(&mut *tx)
                .await?;
        tx.commit().await?;
        Ok(Cursor {
            max_id,
            xmax,
            pending,
            gap_reported: pruned,
        })
    }

    /// Reads what committed since the cursor's read, in one snapshot.
    async fn read(&self, pool: &PgPool) -> Result<Read> {
        let mut tx = snapshot_transaction(pool).await?;
        let (xmax, pending, pruned) = snapshot(&mut tx).await?;
        // Rows below the highest id read that committed since (few: late commits).
        let mut rows: Vec<Stored> = sqlx::query_as(
            "SELECT id, payload, origin, event_type FROM workflow_infra_events \
             WHERE id <= $1 AND (tx_id >= $2 OR tx_id = ANY($3)) ORDER BY id",
        )
        .bind(self.max_id)
        .bind(self.xmax)
        .bind(&self.pending)
        .fetch_all(&mut *tx)
        .await?;
        // Then the rows above it, page by page.
        let mut max_id = self.max_id;
        let mut more = false;
        for page_number in 1..=PAGES_PER_READ {
            let page: Vec<Stored> = sqlx::query_as(
                "SELECT id, payload, origin, event_type FROM workflow_infra_events \
                 WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(max_id)
            .bind(PAGE)
            .fetch_all(&mut *tx)
            .await?;
            let full = page.len() as i64 == PAGE;
            if let Some(last) = page.last() {
                max_id = last.0;
            }
            rows.extend(page);
            if !full {
                break;
            }
            more = page_number == PAGES_PER_READ;
        }
        tx.commit().await?;
        let gap = (pruned > self.max_id && pruned > self.gap_reported)
            .then(|| (self.max_id.max(self.gap_reported) + 1, pruned));
        Ok(Read {
            rows,
            next: Cursor {
                max_id,
                xmax,
                pending,
                gap_reported: self.gap_reported.max(pruned),
            },
            gap,
            more,
        })
    }
}

/// A read-only transaction whose every statement sees the one snapshot its first one takes.
async fn snapshot_transaction(pool: &PgPool) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
    Ok(pool
        .begin_with("BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY")
        .await?)
}

/// The transaction's snapshot — the first transaction not yet started, those in progress — and
/// the retention horizon, read in it.
async fn snapshot(
    tx: &mut sqlx::Transaction<'static, sqlx::Postgres>,
) -> Result<(i64, Vec<i64>, i64)> {
    Ok(sqlx::query_as(
        "SELECT pg_snapshot_xmax(s)::text::bigint, \
                ARRAY(SELECT x::text::bigint FROM pg_snapshot_xip(s) AS x), \
                (SELECT COALESCE(max(up_to), 0) FROM workflow_infra_events_pruned) \
         FROM pg_current_snapshot() AS s",
    )
    .fetch_one(&mut **tx)
    .await?)
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

/// Delivers every stored event committed since the last read (see [`Cursor`]), once; reports
/// a gap when the retention removed rows this process had not read. One catch-up at a time.
async fn catch_up(pool: &PgPool, hub: &Hub) {
    let mut cursor = hub.cursor.lock().await;
    loop {
        hub.room().await;
        let read = match cursor.read(pool).await {
            Ok(read) => read,
            Err(e) => {
                tracing::warn!(error = %e.message, "could not read the distributed events");
                return;
            }
        };
        if let Some((from, to)) = read.gap {
            tracing::warn!(
                from_id = from,
                to_id = to,
                "distributed events were removed before this process read them (it was away longer than {RETENTION})"
            );
            hub.metrics.events_gaps.fetch_add(1, Ordering::Relaxed);
            hub.deliver(RemoteEvent {
                origin: String::new(),
                event_type: GAP_EVENT.to_string(),
                data: serde_json::json!({ "fromId": from, "toId": to }),
            });
        }
        for (_, payload, origin, event_type) in read.rows {
            // A row without a type came from an earlier version: its notification delivers it.
            let (Some(origin), Some(event_type)) = (origin, event_type) else {
                continue;
            };
            match serde_json::from_str(&payload) {
                Ok(data) => hub.deliver(RemoteEvent {
                    origin,
                    event_type,
                    data,
                }),
                Err(e) => tracing::warn!(error = %e, "could not read a distributed event"),
            }
        }
        *cursor = read.next;
        if !read.more {
            return;
        }
    }
}

/// Sends an event to every process listening on the database: it is stored in the outbox
/// (`workflow_infra_events`, kept [`RETENTION`]) and NOTIFY wakes the listeners, in the same
/// transaction, so a listener hears of it only once it can read it. With an `event_id` already
/// in the outbox (a retry of a publish that landed) nothing is sent again: false.
pub async fn publish(pool: &PgPool, channels: &Channels, event: &Outgoing<'_>) -> Result<bool> {
    let mut tx = pool.begin().await?;
    let id: Option<i64> = sqlx::query_scalar(
        "INSERT INTO workflow_infra_events (payload, origin, event_type, event_id) \
         VALUES ($1, $2, $3, $4) ON CONFLICT (event_id) WHERE event_id IS NOT NULL DO NOTHING \
         RETURNING id",
    )
    .bind(event.data.to_string())
    .bind(event.origin)
    .bind(event.event_type)
    .bind(event.event_id)
    .fetch_optional(&mut *tx)
    .await?;
    let Some(id) = id else {
        tx.commit().await?;
        return Ok(false);
    };
    // Retention, on the way: one in a hundred publishes removes what expired, and notes the
    // highest id it removed (listeners that had not read that far report a gap).
    if id % 100 == 0 {
        prune(&mut tx).await?;
    }
    // The wake-up names the row as earlier versions of the package did (they read it by id);
    // `v` tells this version's listeners to go straight to the catch-up.
    sqlx::query("SELECT pg_notify($1, $2)")
        .bind(&channels.events)
        .bind(
            serde_json::json!({"o": event.origin, "t": event.event_type, "p": id, "v": 2})
                .to_string(),
        )
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    Ok(true)
}

/// Removes the events older than [`RETENTION`] and notes the highest id removed.
pub async fn prune(conn: &mut sqlx::PgConnection) -> Result<()> {
    sqlx::query(sqlx::AssertSqlSafe(format!(
        "WITH gone AS (DELETE FROM workflow_infra_events \
                       WHERE created_at < now() - interval '{RETENTION}' RETURNING id) \
         UPDATE workflow_infra_events_pruned SET up_to = GREATEST(up_to, m) \
         FROM (SELECT max(id) AS m FROM gone) AS removed WHERE m IS NOT NULL"
    )))
    .execute(conn)
    .await?;
    Ok(())
}

/// An event on its way out: who sends it, its type and data, and the sender's own id for it.
pub struct Outgoing<'a> {
    pub origin: &'a str,
    pub event_type: &'a str,
    pub data: &'a serde_json::Value,
    pub event_id: Option<&'a str>,
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
