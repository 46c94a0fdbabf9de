//! A snapshot as data for JavaScript (`getMetrics()`) and as Prometheus text exposition
//! (`toPrometheus()`).

use std::fmt::Write;

use serde_json::{json, Map, Value};

use super::{HistogramSnapshot, OperationSnapshot, Snapshot};

impl HistogramSnapshot {
    /// `{count, sum, bounds: [upper bound, …], counts: [cumulative count, …, count]}`: `counts`
    /// has one more entry than `bounds`, the last one for `+Inf`.
    fn to_json(&self) -> Value {
        let bounds: Vec<f64> = self.buckets.iter().filter_map(|(le, _)| *le).collect();
        let counts: Vec<u64> = self.buckets.iter().map(|(_, n)| *n).collect();
        json!({ "count": self.count, "sum": self.sum, "bounds": bounds, "counts": counts })
    }
}

fn le_text(le: Option<f64>) -> String {
    le.map_or("+Inf".to_string(), |v| v.to_string())
}

impl Snapshot {
    /// What `getMetrics()` returns (the shape `Metrics` in index.d.ts states).
    pub fn to_json(&self) -> Value {
        let operations: Map<String, Value> = self
            .operations
            .iter()
            .map(|op| {
                let figures = json!({
                    "calls": op.calls,
                    "errors": op.errors,
                    "latency": op.latency.to_json(),
                });
                (op.name.clone(), figures)
            })
            .collect();
        let errors: Map<String, Value> = self
            .errors
            .iter()
            .map(|(code, n)| (code.to_string(), json!(n)))
            .collect();
        let pool = self.backend.pool.map(|p| {
            json!({
                "size": p.size,
                "idle": p.idle,
                "inUse": p.size.saturating_sub(p.idle),
                "max": p.max,
            })
        });
        json!({
            "backend": self.backend.kind,
            "uptimeSeconds": self.uptime_seconds,
            "calls": self.calls,
            "inFlight": self.in_flight,
            "errors": errors,
            "operations": operations,
            "pool": pool,
            "writeQueue": self.backend.write_queue,
            "groupSizes": self.backend.groups.to_json(),
            "reconnects": self.reconnects,
            "logRecordsDropped": self.log_records_dropped,
            "breakerOpen": self.backend.breaker_open,
            "fallbackActive": self.fallback_active,
            "journal": {
                "pending": self.journal_pending,
                "replayed": self.journal_replayed,
                "conflicts": self.journal_conflicts,
            },
            "events": {
                "published": self.events_published,
                "delivered": self.events_delivered,
                "publishFailed": self.events_publish_failed,
                "gaps": self.events_gaps,
            },
        })
    }
    /// Prometheus text exposition (version 0.0.4): every name starts `workflow_infra_` and every
    /// sample is labelled with the backend, so it can follow prom-client's `register.metrics()`.
    pub fn to_prometheus(&self) -> String {
        let mut t = Text {
            out: String::with_capacity(4096),
            backend: format!("backend=\"{}\"", self.backend.kind),
        };
        t.family("calls_total", "counter", "Calls made, by operation.");
        for op in &self.operations {
            t.sample("calls_total", &op_label(op), op.calls);
        }
        t.family(
            "errors_total",
            "counter",
            "Calls that failed, by error code.",
        );
        for (code, n) in &self.errors {
            t.sample("errors_total", &format!("code=\"{code}\""), n);
        }
        t.family(
            "call_duration_seconds",
            "histogram",
            "Time from a call to its result, by operation.",
        );
        for op in &self.operations {
            t.histogram("call_duration_seconds", &op_label(op), &op.latency);
        }
        t.family(
            "calls_in_flight",
            "gauge",
            "Calls made and not yet settled.",
        );
        t.sample("calls_in_flight", "", self.in_flight);
        t.family("write_queue_depth", "gauge", "Writes queued or running.");
        t.sample("write_queue_depth", "", self.backend.write_queue);
        t.family(
            "group_size",
            "histogram",
            "Writes committed together in one transaction.",
        );
        t.histogram("group_size", "", &self.backend.groups);
        t.family(
            "reconnects_total",
            "counter",
            "Connections to the server lost and made again.",
        );
        t.sample("reconnects_total", "", self.reconnects);
        t.family(
            "log_records_dropped_total",
            "counter",
            "Log records dropped (in this process) because a logger was slower than the calls.",
        );
        t.sample("log_records_dropped_total", "", self.log_records_dropped);
        t.family(
            "events_published_total",
            "counter",
            "Events published through this database.",
        );
        t.sample("events_published_total", "", self.events_published);
        t.family(
            "events_delivered_total",
            "counter",
            "Events delivered to this process's subscribers.",
        );
        t.sample("events_delivered_total", "", self.events_delivered);
        t.family(
            "events_publish_failed_total",
            "counter",
            "Distributed publishes that failed (no subscriber ran).",
        );
        t.sample(
            "events_publish_failed_total",
            "",
            self.events_publish_failed,
        );
        t.family(
            "events_gaps_total",
            "counter",
            "Times a listener found events removed by the retention before it read them.",
        );
        t.sample("events_gaps_total", "", self.events_gaps);
        t.family(
            "breaker_open",
            "gauge",
            "1 while calls are refused because the server is known to be down.",
        );
        t.sample("breaker_open", "", u8::from(self.backend.breaker_open));
        t.family(
            "fallback_active",
            "gauge",
            "1 while the fallback serves the calls (the primary was unreachable at connect).",
        );
        t.sample("fallback_active", "", u8::from(self.fallback_active));
        t.family(
            "journal_pending",
            "gauge",
            "Write calls made on the fallback and not yet replayed onto the primary.",
        );
        t.sample("journal_pending", "", self.journal_pending);
        t.family(
            "journal_replayed_total",
            "counter",
            "Journaled write calls replayed onto the primary.",
        );
        t.sample("journal_replayed_total", "", self.journal_replayed);
        t.family(
            "journal_conflicts_total",
            "counter",
            "Journaled write calls set aside as conflicts (never overwriting the primary).",
        );
        t.sample("journal_conflicts_total", "", self.journal_conflicts);
        t.family(
            "uptime_seconds",
            "gauge",
            "Seconds since the database was opened.",
        );
        t.sample("uptime_seconds", "", self.uptime_seconds);
        // The families are the same on every backend (a registry that holds several databases
        // registers each once); PostgreSQL's pool is their only sample.
        let pool = self.backend.pool;
        t.family("pool_connections", "gauge", "Pooled connections, by state.");
        if let Some(pool) = pool {
            t.sample("pool_connections", "state=\"idle\"", pool.idle);
            let in_use = pool.size.saturating_sub(pool.idle);
            t.sample("pool_connections", "state=\"in_use\"", in_use);
        }
        t.family(
            "pool_max_connections",
            "gauge",
            "The most connections the pool opens.",
        );
        if let Some(pool) = pool {
            t.sample("pool_max_connections", "", pool.max);
        }
        t.out
    }
}

fn op_label(op: &OperationSnapshot) -> String {
    format!("operation=\"{}\"", op.name)
}

/// The exposition being written.
struct Text {
    out: String,
    backend: String,
}

impl Text {
    fn family(&mut self, name: &str, kind: &str, help: &str) {
        let _ = writeln!(self.out, "# HELP workflow_infra_{name} {help}");
        let _ = writeln!(self.out, "# TYPE workflow_infra_{name} {kind}");
    }

    fn sample(&mut self, name: &str, labels: &str, value: impl std::fmt::Display) {
        let sep = if labels.is_empty() { "" } else { "," };
        let _ = writeln!(
            self.out,
            "workflow_infra_{name}{{{}{sep}{labels}}} {value}",
            self.backend
        );
    }

    fn histogram(&mut self, name: &str, labels: &str, h: &HistogramSnapshot) {
        let sep = if labels.is_empty() { "" } else { "," };
        for (le, count) in &h.buckets {
            let le = le_text(*le);
            self.sample(
                &format!("{name}_bucket"),
                &format!("{labels}{sep}le=\"{le}\""),
                count,
            );
        }
        self.sample(&format!("{name}_sum"), labels, h.sum);
        self.sample(&format!("{name}_count"), labels, h.count);
    }
}
