//! `HandlerRegistryRepository`'s usage history: one row per handler run, written together with
//! the run's count on the handler (one transaction), so history and counters never diverge.

use super::handlers::{
    execution_time, handler_type, list_options, statistics_statement, touch_handler, usage_status,
    USAGE_STATUSES,
};
use crate::core::db::Statement;
use crate::core::db::{Call, Shape, Touch};
use crate::core::error::{Error, Result};
use crate::core::input::{self, Fields, Input};
use crate::core::page::Page;
use crate::core::value::{now_millis, Value};

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

/// A retried usage counts once: with an `id` (a UUID the caller chose), the row is inserted
/// only if that id is new, the counters move only when it was, and the stored row is read back.
static USAGE_INSERT_ONCE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
            "INSERT INTO handler_usage_history (id, handler_type, execution_id, status, execution_time, \
             error_message, metadata, created_at) VALUES ($8, $1, $2, $3, $4, $5, $6, $7) \
             ON CONFLICT (id) DO NOTHING RETURNING {USAGE_COLUMNS}"
        )
});

static USAGE_BY_ID_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("{} WHERE id = $1", USAGE_SELECT_SQL.as_str()));

/// The statements of one handler run (one transaction with the others), starting at index
/// `at` of the call: the usage row and the counter update; with `keyed`, the row is inserted
/// once per `id` (one is generated when the usage has none) and read back by a third statement.
fn usage_statements(usage: &Input, now: i64, keyed: bool, at: usize) -> Result<Vec<Statement>> {
    let f = Fields::of(usage, "usage")?;
    let t = Value::Text(f.required_text("handlerType", 255)?);
    let status = usage_status(&f)?;
    let time = execution_time(&f)?;
    let mut params = vec![
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
    ];
    let counters = statistics_statement(t, &status, time, now);
    if !keyed {
        return Ok(vec![
            Statement::new(USAGE_INSERT_SQL.as_str(), params),
            counters,
        ]);
    }
    let id = match f.text("id", 36)? {
        Some(id) => Value::Uuid(
            uuid::Uuid::parse_str(&id).map_err(|_| Error::validation("usage.id must be a UUID"))?,
        ),
        None => Value::Uuid(crate::core::stamp::new_uuid()),
    };
    params.push(id.clone());
    Ok(vec![
        Statement::new(USAGE_INSERT_ONCE_SQL.as_str(), params),
        counters.only_if(at),
        Statement::new(USAGE_BY_ID_SQL.as_str(), vec![id]),
    ])
}

/// Whether a usage names its own `id` (then a retry of it counts once).
fn keyed(usage: &Input) -> bool {
    Fields::of(usage, "usage").is_ok_and(|f| !f.get("id").is_absent())
}

/// `recordHandlerUsage(usage)`: the usage row plus the handler's counters, in one transaction;
/// resolves the usage row. With `usage.id`, a retried call (after `ERR_DB_UNAVAILABLE`, say)
/// counts once and resolves the stored row.
pub fn record_usage(usage: &Input) -> Result<Call> {
    let keyed = keyed(usage);
    let statements = usage_statements(usage, now_millis(), keyed, 0)?;
    let touch = touch_handler(&statements[1].params[0]);
    let shape = if keyed {
        Shape::RowAt(2)
    } else {
        Shape::RowAt(0)
    };
    Ok(Call::write(statements, shape).touching(touch))
}

/// `recordHandlerUsages(usages)`: every usage row and counter update in one transaction;
/// resolves the usage rows. When any usage has an `id`, each counts once per id.
pub fn record_usages(usages: &Input) -> Result<Call> {
    let Input::Array(items) = usages else {
        return Err(Error::validation("usages must be an array"));
    };
    let now = now_millis();
    let keyed = items.iter().any(keyed);
    let step = if keyed { 3 } else { 2 };
    let mut statements = Vec::with_capacity(items.len() * step);
    for usage in items {
        let at = statements.len();
        statements.extend(usage_statements(usage, now, keyed, at)?);
    }
    let from = if keyed { 2 } else { 0 };
    Ok(Call::write(statements, Shape::FirstRows { step, from }).touching(Touch::Handlers))
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
