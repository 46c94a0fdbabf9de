//! Logging through `tracing`. By default to stderr, filtered by `WORKFLOW_INFRA_LOG` (default
//! `warn`). A sink (the binding's `setLogger`) can take the events instead: then they go there,
//! filtered by `WORKFLOW_INFRA_LOG` or `info`, and stderr stays quiet.
//! Messages never carry credentials or parameter values.

use std::sync::{Arc, Once, RwLock};

use tracing::field::{Field, Visit};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::filter::filter_fn;
use tracing_subscriber::layer::{Context, SubscriberExt};
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

use crate::core::backlog::{Backlog, Waiting};
use crate::core::records::{Level as RecordLevel, LogRecord};

/// The environment variable that sets the log filter (`error`, `warn`, `info`, `debug`, `trace`,
/// or any `tracing` filter directive).
pub const LOG_ENV: &str = "WORKFLOW_INFRA_LOG";

/// The environment variable that makes stderr JSON lines (`json`; anything else: text).
pub const LOG_FORMAT_ENV: &str = "WORKFLOW_INFRA_LOG_FORMAT";

/// Where events go instead of stderr: `(level, message, fields)`.
pub type Sink =
    Arc<dyn Fn(Level, String, serde_json::Map<String, serde_json::Value>) + Send + Sync>;

static SINK: RwLock<Option<Sink>> = RwLock::new(None);

/// Sends the events to `sink` (None: back to stderr).
pub fn set_sink(sink: Option<Sink>) {
    *SINK.write().unwrap_or_else(|e| e.into_inner()) = sink;
}

/// At most this many log events wait for a forwarded logger.
const FORWARD_MAX: usize = 1000;

/// Sends the events to `forward` as records, each with its place in a backlog of at most
/// [`FORWARD_MAX`] (more are dropped rather than queued without bound); None: back to stderr.
pub fn forward(forward: Option<Arc<dyn Fn(LogRecord, Waiting) + Send + Sync>>) {
    let Some(forward) = forward else {
        return set_sink(None);
    };
    let backlog = Backlog::default();
    set_sink(Some(Arc::new(move |level, message, fields| {
        let Some(place) = backlog.enter(FORWARD_MAX) else {
            crate::core::metrics::count_dropped_log_records(1);
            return;
        };
        let level = match level {
            Level::ERROR => RecordLevel::Error,
            Level::WARN => RecordLevel::Warn,
            Level::INFO => RecordLevel::Info,
            _ => RecordLevel::Debug,
        };
        let fields = serde_json::Value::Object(fields);
        forward(LogRecord::new(level, message, fields), place);
    })));
}

fn sink() -> Option<Sink> {
    SINK.read().unwrap_or_else(|e| e.into_inner()).clone()
}

fn has_sink() -> bool {
    SINK.read().map(|s| s.is_some()).unwrap_or(false)
}

/// Installs the subscriber once per process. Later calls do nothing, and a subscriber another
/// library installed first is left alone.
pub fn init() {
    static ONCE: Once = Once::new();
    ONCE.call_once(|| {
        let filter = |default: &str| {
            EnvFilter::try_from_env(LOG_ENV).unwrap_or_else(|_| EnvFilter::new(default))
        };
        let json = std::env::var(LOG_FORMAT_ENV).is_ok_and(|f| f.eq_ignore_ascii_case("json"));
        // One JSON object a line (tracing-subscriber's JSON format: timestamp, level, fields
        // with the message, and the call's meta as its own fields), or text.
        let stderr = match json {
            true => tracing_subscriber::fmt::layer()
                .json()
                .flatten_event(true)
                .with_writer(std::io::stderr)
                .with_target(false)
                .boxed(),
            false => tracing_subscriber::fmt::layer()
                .with_writer(std::io::stderr)
                .with_target(false)
                .boxed(),
        };
        let stderr = stderr
            .with_filter(filter_fn(|_| !has_sink()))
            .with_filter(filter("warn"));
        let _ = tracing_subscriber::registry()
            .with(stderr)
            .with(SinkLayer.with_filter(filter("info")))
            .try_init();
    });
}

struct SinkLayer;

impl<S: Subscriber> Layer<S> for SinkLayer {
    fn on_event(&self, event: &Event<'_>, _ctx: Context<'_, S>) {
        let Some(sink) = sink() else { return };
        let mut fields = Fields::default();
        event.record(&mut fields);
        sink(*event.metadata().level(), fields.message, fields.rest);
    }
}

#[derive(Default)]
struct Fields {
    message: String,
    rest: serde_json::Map<String, serde_json::Value>,
}

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn std::fmt::Debug) {
        let text = format!("{value:?}");
        if field.name() == "message" {
            self.message = text;
        } else if let Some(serde_json::Value::Object(meta)) = (field.name() == "meta")
            .then(|| serde_json::from_str(&text).ok())
            .flatten()
        {
            // The services' structured `meta` (JSON) becomes the logger's meta object.
            self.rest.extend(meta);
        } else {
            self.rest
                .insert(field.name().to_string(), serde_json::Value::String(text));
        }
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = value.to_string();
        } else {
            self.rest
                .insert(field.name().to_string(), serde_json::Value::from(value));
        }
    }

    fn record_i64(&mut self, field: &Field, value: i64) {
        self.rest
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }

    fn record_u64(&mut self, field: &Field, value: u64) {
        self.rest
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }

    fn record_f64(&mut self, field: &Field, value: f64) {
        self.rest
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }

    fn record_bool(&mut self, field: &Field, value: bool) {
        self.rest
            .insert(field.name().to_string(), serde_json::Value::from(value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Mutex;

    #[test]
    fn a_sink_takes_the_events_with_their_fields() {
        init();
        let seen: Arc<Mutex<Vec<(Level, String, serde_json::Value)>>> = Arc::default();
        let into = seen.clone();
        set_sink(Some(Arc::new(move |level, message, fields| {
            into.lock()
                .unwrap()
                .push((level, message, serde_json::Value::Object(fields)));
        })));
        let meta = serde_json::json!({"executionId": "e1"});
        tracing::warn!(meta = %meta, "WorkflowRepository: saved");
        tracing::error!(
            count = 3_u64,
            delta = -1_i64,
            ratio = 0.5,
            ok = true,
            note = "x",
            "failed"
        );
        tracing::debug!("below the sink's level");
        set_sink(None);
        tracing::warn!("to stderr again");
        let seen = seen.lock().unwrap();
        assert_eq!(seen.len(), 2, "{seen:?}");
        assert_eq!(seen[0].0, Level::WARN);
        assert_eq!(seen[0].1, "WorkflowRepository: saved");
        assert_eq!(seen[0].2, serde_json::json!({"executionId": "e1"}));
        assert_eq!(
            seen[1].2,
            serde_json::json!({"count": 3, "delta": -1, "ratio": 0.5, "ok": true, "note": "x"})
        );
    }
}
