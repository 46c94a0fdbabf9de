//! What is to be logged, as data: a record's level (named as a logger's methods are), its
//! message and fields; and the addon's own log line for one (`tracing`). The calls' outcomes
//! carry records (`core::exec::outcome`); the logging floor forwards them (`core::logging`).

use serde_json::Value as Json;

/// Log levels, named as a logger's methods are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Level {
    Error,
    Warn,
    Info,
    Debug,
}

impl Level {
    /// The logger method of this level (`logger.warn(…)`).
    pub fn method(self) -> &'static str {
        match self {
            Level::Error => "error",
            Level::Warn => "warn",
            Level::Info => "info",
            Level::Debug => "debug",
        }
    }
}

/// Writes a line to the addon's own log (`tracing`): the code, the reason and the execution as
/// fields of their own, the rest of `meta` as one JSON field.
pub fn trace(level: Level, message: &str, meta: &Json) {
    let text = |key: &str| meta.get(key).and_then(Json::as_str);
    let (code, error, execution_id) = (text("code"), text("error"), text("executionId"));
    // The rest of `meta`, formatted only if the line is written (it usually is not: most
    // records are below the level in force).
    let rest = match meta {
        Json::Object(fields) if fields.keys().any(|k| !OWN_FIELDS.contains(&k.as_str())) => {
            Some(tracing::field::display(Rest(fields)))
        }
        _ => None,
    };
    // One event, at the level's macro (tracing's levels are static).
    macro_rules! at {
        ($level:ident) => {
            tracing::$level!(
                code,
                error,
                executionId = execution_id,
                meta = rest,
                "{message}"
            )
        };
    }
    match level {
        Level::Error => at!(error),
        Level::Warn => at!(warn),
        Level::Info => at!(info),
        Level::Debug => at!(debug),
    }
}

/// The fields a line of the addon's own log has of its own.
const OWN_FIELDS: [&str; 3] = ["code", "error", "executionId"];

/// A record's fields other than [`OWN_FIELDS`], as one JSON object.
struct Rest<'a>(&'a serde_json::Map<String, Json>);

impl std::fmt::Display for Rest<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let rest: serde_json::Map<String, Json> = (self.0.iter())
            .filter(|(k, _)| !OWN_FIELDS.contains(&k.as_str()))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        write!(f, "{}", Json::Object(rest))
    }
}

/// One line for the caller's logger (or the addon's own log).
#[derive(Clone, Debug, PartialEq)]
pub struct LogRecord {
    pub level: Level,
    pub message: String,
    pub fields: Json,
}

impl LogRecord {
    pub fn new(level: Level, message: impl Into<String>, fields: Json) -> LogRecord {
        LogRecord {
            level,
            message: message.into(),
            fields,
        }
    }
}
