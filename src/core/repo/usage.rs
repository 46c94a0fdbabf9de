//! `HandlerRegistryRepository`'s usage history: one row per handler run, written together with
//! the run's count on the handler (one transaction), so history and counters never diverge.

use super::handlers::{handler_type, list_options, statistics_statement, touch_handler};
use super::{Call, Shape, Touch};
use crate::core::db::Statement;
use crate::core::error::{Error, Result};
use crate::core::input::{self, Fields, Input, Page};
use crate::core::value::{now_millis, Value};

pub const USAGE_STATUSES: [&str; 4] = ["success", "failure", "timeout", "error"];

pub const USAGE_COLUMNS: &str =
    "id, handler_type, execution_id, status, execution_time, error_message, metadata, created_at";

static USAGE_SELECT_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {USAGE_COLUMNS} FROM handler_usage_history"));

static USAGE_INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
            "INSERT INTO handler_usage_history (handler_type, execution_id, status, execution_time, error_message, \
             metadata, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {USAGE_COLUMNS}"
        )
});

pub(crate) fn execution_time(f: &Fields<'_>) -> Result<Option<f64>> {
    match f.number("executionTime")? {
        Some(t) if t < 0.0 => Err(Error::validation("executionTime must be ≥ 0")),
        t => Ok(t),
    }
}

pub(crate) fn usage_status(f: &Fields<'_>) -> Result<String> {
    f.one_of("status", &USAGE_STATUSES)?.ok_or_else(|| {
        Error::validation(format!(
            "status is required (one of: {})",
            USAGE_STATUSES.join(", ")
        ))
    })
}

/// The usage row and the counter update of one handler run (one transaction with the others).
pub fn usage_statements(usage: &Input, now: i64) -> Result<[Statement; 2]> {
    let f = Fields::of(usage, "usage")?;
    let t = Value::Text(f.required_text("handlerType", 255)?);
    let status = usage_status(&f)?;
    let time = execution_time(&f)?;
    let insert = Statement::new(
        USAGE_INSERT_SQL.as_str(),
        vec![
            t.clone(),
            f.text("executionId", 255)?.into(),
            Value::Text(status.clone()),
            time.map(|t| t.round() as i64).into(),
            f.text("errorMessage", input::MAX_TEXT)?.into(),
            Value::Json(
                f.json("metadata")?
                    .filter(|m| !m.is_null())
                    .unwrap_or_else(|| serde_json::json!({})),
            ),
            Value::Timestamp(now),
        ],
    );
    Ok([insert, statistics_statement(t, &status, time, now)])
}

/// `recordHandlerUsage(usage)`: the usage row plus the handler's counters, in one transaction;
/// resolves the usage row.
pub fn record_usage(usage: &Input) -> Result<Call> {
    let statements = usage_statements(usage, now_millis())?;
    let touch = touch_handler(&statements[1].params[0]);
    Ok(Call::write(statements.into(), Shape::RowAt(0)).touching(touch))
}

/// `recordHandlerUsages(usages)`: every usage row and counter update in one transaction;
/// resolves the usage rows.
pub fn record_usages(usages: &Input) -> Result<Call> {
    let Input::Array(items) = usages else {
        return Err(Error::validation("usages must be an array"));
    };
    let now = now_millis();
    let mut statements = Vec::with_capacity(items.len() * 2);
    for usage in items {
        statements.extend(usage_statements(usage, now)?);
    }
    Ok(Call::write(statements, Shape::FirstRows { step: 2 }).touching(Touch::Handlers))
}

/// `getHandlerUsageHistory(handlerType, {limit = 100, offset = 0, status, after})`, newest first.
pub fn usage_history(t: &Input, opts: &Input) -> Result<Call> {
    let f = list_options(opts)?;
    let mut filters = vec![("handler_type", handler_type(t)?)];
    if let Some(s) = f.one_of("status", &USAGE_STATUSES)? {
        filters.push(("status", s.into()));
    }
    super::newest_first(
        &USAGE_SELECT_SQL,
        &["created_at"],
        filters,
        Page::from(&f, 100)?,
    )
}

/// `cleanupOldUsageHistory(daysOld = 30)`: resolves how many usage rows were removed.
pub fn cleanup_usage(days_old: &Input) -> Result<Call> {
    super::delete_older_than(
        "DELETE FROM handler_usage_history WHERE created_at < $1",
        days_old,
    )
}
