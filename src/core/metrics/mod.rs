//! The package's own metrics: calls, errors by code, latency histograms by operation, pool and
//! write-queue depths, commit-group sizes, reconnections and events, as a snapshot
//! ([`Snapshot`], `db.getMetrics()`) and as Prometheus text exposition (`db.toPrometheus()`).
//! Counting costs a few atomic additions a call; nothing is locked on the way, except a read
//! lock to find an operation's counters.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Instant;

use super::error::{ErrorCode, Result};

mod text;

/// Latency bucket bounds, in nanoseconds (50 µs to 5 s).
const LATENCY_NS: &[u64] = &[
    50_000,
    100_000,
    250_000,
    500_000,
    1_000_000,
    2_500_000,
    5_000_000,
    10_000_000,
    25_000_000,
    50_000_000,
    100_000_000,
    250_000_000,
    500_000_000,
    1_000_000_000,
    2_500_000_000,
    5_000_000_000,
];
/// Commit-group size bucket bounds, in writes.
const GROUP_SIZES: &[u64] = &[1, 2, 4, 8, 16, 32, 64, 128, 256, 512];

/// A cumulative histogram over fixed bounds; `scale` turns its unit into the exported one.
pub struct Histogram {
    bounds: &'static [u64],
    scale: f64,
    counts: Box<[AtomicU64]>,
    sum: AtomicU64,
}

impl Histogram {
    fn new(bounds: &'static [u64], scale: f64) -> Histogram {
        Histogram {
            bounds,
            scale,
            counts: (0..=bounds.len()).map(|_| AtomicU64::new(0)).collect(),
            sum: AtomicU64::new(0),
        }
    }

    /// Durations, exported in seconds.
    pub fn latency() -> Histogram {
        Histogram::new(LATENCY_NS, 1e9)
    }

    /// Writes committed together.
    pub fn group_sizes() -> Histogram {
        Histogram::new(GROUP_SIZES, 1.0)
    }

    pub fn observe(&self, value: u64) {
        let at = self.bounds.partition_point(|&b| b < value);
        self.counts[at].fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(value, Ordering::Relaxed);
    }

    pub fn snapshot(&self) -> HistogramSnapshot {
        let mut total = 0;
        let mut buckets = Vec::with_capacity(self.counts.len());
        for (i, count) in self.counts.iter().enumerate() {
            total += count.load(Ordering::Relaxed);
            let le = self.bounds.get(i).map(|&b| b as f64 / self.scale);
            buckets.push((le, total));
        }
        HistogramSnapshot {
            count: total,
            sum: self.sum.load(Ordering::Relaxed) as f64 / self.scale,
            buckets,
        }
    }
}

/// A histogram as read: cumulative counts by upper bound (`None` is `+Inf`).
#[derive(Debug, Clone, PartialEq)]
pub struct HistogramSnapshot {
    pub count: u64,
    pub sum: f64,
    pub buckets: Vec<(Option<f64>, u64)>,
}

/// The write path's own figures: writes queued or running, and the size of each commit group.
pub struct WriteStats {
    pub queued: AtomicUsize,
    pub groups: Histogram,
}

impl Default for WriteStats {
    fn default() -> Self {
        WriteStats {
            queued: AtomicUsize::new(0),
            groups: Histogram::group_sizes(),
        }
    }
}

struct Operation {
    calls: AtomicU64,
    errors: AtomicU64,
    latency: Histogram,
}

/// The counters of one open database.
pub struct Metrics {
    started: Instant,
    operations: RwLock<BTreeMap<&'static str, Arc<Operation>>>,
    errors: [AtomicU64; ErrorCode::ALL.len()],
    in_flight: AtomicU64,
    pub reconnects: AtomicU64,
    pub events_published: AtomicU64,
    pub events_delivered: AtomicU64,
    pub events_publish_failed: AtomicU64,
    pub events_gaps: AtomicU64,
}

impl Default for Metrics {
    fn default() -> Self {
        Metrics {
            started: Instant::now(),
            operations: RwLock::default(),
            errors: Default::default(),
            in_flight: AtomicU64::new(0),
            reconnects: AtomicU64::new(0),
            events_published: AtomicU64::new(0),
            events_delivered: AtomicU64::new(0),
            events_publish_failed: AtomicU64::new(0),
            events_gaps: AtomicU64::new(0),
        }
    }
}

/// One call being timed; [`Timer::finish`] records it (a timer dropped unfinished records the
/// call as `ERR_INTERNAL`: its task ended without a result).
pub struct Timer {
    metrics: Arc<Metrics>,
    operation: Arc<Operation>,
    started: Instant,
    done: bool,
}

impl Timer {
    /// Records the call; an aborted one counts as a call and not as an error (the caller
    /// chose to stop it).
    pub fn finish<T>(mut self, result: &Result<T>) {
        let failed = result.as_ref().err().map(|e| e.code);
        self.record(failed.filter(|code| *code != ErrorCode::Aborted));
    }

    fn record(&mut self, failed: Option<ErrorCode>) {
        self.done = true;
        let elapsed = self.started.elapsed().as_nanos().min(u64::MAX as u128) as u64;
        self.operation.latency.observe(elapsed);
        self.metrics.in_flight.fetch_sub(1, Ordering::Relaxed);
        if let Some(code) = failed {
            self.operation.errors.fetch_add(1, Ordering::Relaxed);
            let at = ErrorCode::ALL.iter().position(|c| *c == code).unwrap_or(0);
            self.metrics.errors[at].fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        if !self.done {
            self.record(Some(ErrorCode::Internal));
        }
    }
}

impl Metrics {
    /// Calls started and not finished.
    pub fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// Starts timing a call of `operation` (a `Failed to …` prefix or a plain name).
    pub fn start(self: &Arc<Self>, operation: &'static str) -> Timer {
        let found = self
            .operations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .get(operation)
            .cloned();
        let op = found.unwrap_or_else(|| {
            let mut all = self.operations.write().unwrap_or_else(|e| e.into_inner());
            all.entry(operation)
                .or_insert_with(|| {
                    Arc::new(Operation {
                        calls: AtomicU64::new(0),
                        errors: AtomicU64::new(0),
                        latency: Histogram::latency(),
                    })
                })
                .clone()
        });
        op.calls.fetch_add(1, Ordering::Relaxed);
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        Timer {
            metrics: self.clone(),
            operation: op,
            started: Instant::now(),
            done: false,
        }
    }

    /// The counters as read now; `backend` adds what the open backend knows.
    pub fn snapshot(&self, backend: BackendFigures) -> Snapshot {
        let operations: Vec<OperationSnapshot> = self
            .operations
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(name, op)| OperationSnapshot {
                name: operation_name(name),
                calls: op.calls.load(Ordering::Relaxed),
                errors: op.errors.load(Ordering::Relaxed),
                latency: op.latency.snapshot(),
            })
            .collect();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Snapshot {
            uptime_seconds: self.started.elapsed().as_secs_f64(),
            calls: operations.iter().map(|o| o.calls).sum(),
            in_flight: load(&self.in_flight),
            errors: ErrorCode::ALL
                .iter()
                .zip(&self.errors)
                .map(|(code, n)| (code.as_str(), load(n)))
                .collect(),
            operations,
            reconnects: load(&self.reconnects) + backend.breaker_recoveries,
            log_records_dropped: dropped_log_records(),
            events_published: load(&self.events_published),
            events_delivered: load(&self.events_delivered),
            events_publish_failed: load(&self.events_publish_failed),
            events_gaps: load(&self.events_gaps),
            backend,
            fallback_active: false,
            journal_pending: 0,
            journal_replayed: 0,
            journal_conflicts: 0,
        }
    }
}

/// `Failed to create workflow execution` → `create_workflow_execution`.
fn operation_name(prefix: &str) -> String {
    let plain = prefix.strip_prefix("Failed to ").unwrap_or(prefix);
    plain
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() {
                c.to_ascii_lowercase()
            } else {
                '_'
            }
        })
        .collect()
}

/// What the open backend reports for a snapshot.
#[derive(Debug, Clone)]
pub struct BackendFigures {
    pub kind: &'static str,
    /// PostgreSQL's pool: connections open, idle, and the most it opens.
    pub pool: Option<PoolFigures>,
    /// Writes queued or running (the SQLite writer thread, PostgreSQL's group commit).
    pub write_queue: u64,
    pub groups: HistogramSnapshot,
    /// PostgreSQL: whether calls are being refused because the server is known to be down.
    pub breaker_open: bool,
    pub breaker_recoveries: u64,
}

#[derive(Debug, Clone, Copy)]
pub struct PoolFigures {
    pub size: u64,
    pub idle: u64,
    pub max: u64,
}

#[derive(Debug, Clone)]
pub struct OperationSnapshot {
    pub name: String,
    pub calls: u64,
    pub errors: u64,
    pub latency: HistogramSnapshot,
}

/// Everything `getMetrics()` returns.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub uptime_seconds: f64,
    pub calls: u64,
    pub in_flight: u64,
    pub errors: Vec<(&'static str, u64)>,
    pub operations: Vec<OperationSnapshot>,
    pub reconnects: u64,
    /// Log records this process dropped because a logger was slower than the calls.
    pub log_records_dropped: u64,
    pub events_published: u64,
    pub events_delivered: u64,
    pub events_publish_failed: u64,
    pub events_gaps: u64,
    pub backend: BackendFigures,
    /// The fallback serves the calls: the primary was unreachable at connect.
    pub fallback_active: bool,
    /// The fallback's journal: operations waiting to be replayed onto the primary, replayed,
    /// and set aside as conflicts.
    pub journal_pending: u64,
    pub journal_replayed: u64,
    pub journal_conflicts: u64,
}

/// Log records dropped because a logger was slower than the calls (`getMetrics()`'s
/// `logRecordsDropped`), in this process.
static DROPPED_LOG_RECORDS: AtomicU64 = AtomicU64::new(0);

/// Counts `n` log records dropped.
pub fn count_dropped_log_records(n: u64) {
    DROPPED_LOG_RECORDS.fetch_add(n, Ordering::Relaxed);
}

/// Log records dropped so far in this process.
pub fn dropped_log_records() -> u64 {
    DROPPED_LOG_RECORDS.load(Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::Error;

    fn figures() -> BackendFigures {
        BackendFigures {
            kind: "sqlite",
            pool: Some(PoolFigures {
                size: 3,
                idle: 2,
                max: 10,
            }),
            write_queue: 4,
            groups: Histogram::group_sizes().snapshot(),
            breaker_open: true,
            breaker_recoveries: 2,
        }
    }

    #[test]
    fn a_histogram_counts_each_observation_in_its_bucket_and_cumulates() {
        let h = Histogram::group_sizes();
        for v in [1, 1, 3, 600] {
            h.observe(v);
        }
        let s = h.snapshot();
        assert_eq!((s.count, s.sum), (4, 605.0));
        assert_eq!(s.buckets[0], (Some(1.0), 2));
        assert_eq!(s.buckets[2], (Some(4.0), 3));
        assert_eq!(s.buckets.last(), Some(&(None, 4)));
    }

    #[test]
    fn calls_are_counted_by_operation_and_code_and_an_unfinished_one_as_internal() {
        let m = Arc::new(Metrics::default());
        m.start("Failed to create workflow execution")
            .finish(&Ok::<_, Error>(()));
        m.start("Failed to create workflow execution")
            .finish(&Err::<(), _>(Error::validation("x")));
        drop(m.start("Failed to seed database"));
        let s = m.snapshot(figures());
        assert_eq!((s.calls, s.in_flight, s.reconnects), (3, 0, 2));
        let create = &s.operations[0];
        assert_eq!(create.name, "create_workflow_execution");
        assert_eq!(
            (create.calls, create.errors, create.latency.count),
            (2, 1, 2)
        );
        assert_eq!(s.operations[1].name, "seed_database");
        let code = |c: &str| s.errors.iter().find(|(k, _)| *k == c).unwrap().1;
        assert_eq!((code("ERR_VALIDATION"), code("ERR_INTERNAL")), (1, 1));
    }

    #[test]
    fn the_exposition_has_every_family_once_and_the_values_of_the_snapshot() {
        let m = Arc::new(Metrics::default());
        m.start("Failed to create workflow execution")
            .finish(&Ok::<_, Error>(()));
        m.events_published.fetch_add(5, Ordering::Relaxed);
        let text = m.snapshot(figures()).to_prometheus();
        let types: Vec<&str> = text.lines().filter(|l| l.starts_with("# TYPE")).collect();
        let mut unique = types.clone();
        unique.dedup();
        assert_eq!(types, unique);
        for line in [
            "workflow_infra_calls_total{backend=\"sqlite\",operation=\"create_workflow_execution\"} 1",
            "workflow_infra_events_published_total{backend=\"sqlite\"} 5",
            "workflow_infra_write_queue_depth{backend=\"sqlite\"} 4",
            "workflow_infra_breaker_open{backend=\"sqlite\"} 1",
            "workflow_infra_pool_connections{backend=\"sqlite\",state=\"in_use\"} 1",
            "workflow_infra_group_size_bucket{backend=\"sqlite\",le=\"+Inf\"} 0",
        ] {
            assert!(text.lines().any(|l| l == line), "missing {line}");
        }
        let json = m.snapshot(figures()).to_json();
        assert_eq!(json["pool"]["inUse"], 1);
        assert_eq!(json["operations"]["create_workflow_execution"]["calls"], 1);
        assert_eq!(json["events"]["published"], 5);
    }
}
