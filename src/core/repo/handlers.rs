//! `HandlerRegistryRepository`: `handler_registry` and `handler_usage_history`.

pub(crate) use super::handler_columns::list_options;
pub use super::handler_columns::COLUMNS;
pub use super::handler_lists::{active, all, defaults, performance_summary};
use crate::core::db::Statement;
use crate::core::db::{Call, Shape, Touch};
use crate::core::error::{Error, Result};
use crate::core::input::{self, Fields, Input};
use crate::core::value::{now_millis, Value};

#[derive(Clone, Copy)]
enum Kind {
    Text(usize),
    Json,
    Bool,
    Priority,
}

/// Columns `updateHandler` may set (camelCase key, column, kind). Counters change only through
/// `updateHandlerStatistics` / `recordHandlerUsage`.
const UPDATABLE: [(&str, &str, Kind); 12] = [
    ("handlerName", "handler_name", Kind::Text(255)),
    ("handlerClass", "handler_class", Kind::Text(255)),
    ("handlerPath", "handler_path", Kind::Text(500)),
    ("version", "version", Kind::Text(50)),
    ("description", "description", Kind::Text(input::MAX_TEXT)),
    ("capabilities", "capabilities", Kind::Json),
    ("configuration", "configuration", Kind::Json),
    ("dependencies", "dependencies", Kind::Json),
    ("metadata", "metadata", Kind::Json),
    ("isActive", "is_active", Kind::Bool),
    ("isDefault", "is_default", Kind::Bool),
    ("priority", "priority", Kind::Priority),
];

/// The outcomes a handler run may record.
pub const USAGE_STATUSES: [&str; 4] = ["success", "failure", "timeout", "error"];

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

pub(crate) fn handler_type(t: &Input) -> Result<Value> {
    Ok(Value::Text(input::required_text(t, "handlerType", 255)?))
}

/// The cache entries a write to handler `t` changes.
pub(crate) fn touch_handler(t: &Value) -> Touch {
    Touch::Handler(t.as_str().unwrap_or_default().to_string())
}

fn json_or(f: &Fields<'_>, key: &str, default: serde_json::Value) -> Result<Value> {
    Ok(Value::Json(
        f.json(key)?.filter(|j| !j.is_null()).unwrap_or(default),
    ))
}

/// `registerHandler(handler)`: an upsert on `handler_type` that overwrites the description
/// columns and keeps `id`, `registered_at` and every counter.
pub fn register(handler: &Input) -> Result<Call> {
    let f = Fields::of(handler, "handler")?;
    let now = Value::Timestamp(now_millis());
    let t = f.required_text("handlerType", 255)?;
    let touch = Touch::Handler(t.clone());
    let params = vec![
        t.into(),
        f.required_text("handlerName", 255)?.into(),
        f.text("handlerClass", 255)?.into(),
        f.text("handlerPath", 500)?.into(),
        f.text("version", 50)?
            .unwrap_or_else(|| "1.0.0".into())
            .into(),
        f.text("description", input::MAX_TEXT)?.into(),
        json_or(&f, "capabilities", serde_json::json!({}))?,
        json_or(&f, "configuration", serde_json::json!({}))?,
        json_or(&f, "dependencies", serde_json::json!([]))?,
        json_or(&f, "metadata", serde_json::json!({}))?,
        // Active unless exactly false, as planned.
        Value::Bool(f.boolean("isActive")? != Some(false)),
        Value::Bool(f.boolean("isDefault")?.unwrap_or(false)),
        f.integer("priority", -1_000_000, 1_000_000)?
            .unwrap_or(1)
            .into(),
        now,
        // Drawn here rather than by the table, so that a replay of the fallback's journal makes
        // the same row.
        Value::Uuid(crate::core::stamp::new_uuid()),
    ];
    let sql = format!(
        "INSERT INTO handler_registry (handler_type, handler_name, handler_class, handler_path, version, description, \
         capabilities, configuration, dependencies, metadata, is_active, is_default, priority, registered_at, updated_at, id) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $14, $15) \
         ON CONFLICT (handler_type) DO UPDATE SET handler_name = excluded.handler_name, \
         handler_class = excluded.handler_class, handler_path = excluded.handler_path, version = excluded.version, \
         description = excluded.description, capabilities = excluded.capabilities, \
         configuration = excluded.configuration, dependencies = excluded.dependencies, metadata = excluded.metadata, \
         is_active = excluded.is_active, is_default = excluded.is_default, priority = excluded.priority, \
         updated_at = excluded.updated_at RETURNING {COLUMNS}"
    );
    Ok(Call::write(vec![Statement::new(sql, params)], Shape::Row).touching(touch))
}

/// `getHandlerByType(handlerType)`: the row or null.
pub fn by_type(t: &Input) -> Result<Call> {
    Ok(Call::read(
        Statement::new(BY_TYPE_SQL.as_str(), vec![handler_type(t)?]),
        Shape::RowOrNull,
    ))
}

/// `updateHandler(handlerType, updates)`: allow-listed columns only; null for a missing handler,
/// the current row for an empty update.
pub fn update(t: &Input, updates: &Input) -> Result<Call> {
    let t = handler_type(t)?;
    let f = Fields::of(updates, "updates")?;
    let mut sets = Vec::new();
    let mut params = vec![t.clone()];
    for (key, value) in f.entries() {
        if matches!(value, Input::Undefined) {
            continue;
        }
        let Some((camel, column, kind)) = UPDATABLE
            .iter()
            .find(|(c, s, _)| c == key || s == key)
            .copied()
        else {
            let allowed: Vec<_> = UPDATABLE.iter().map(|u| u.0).collect();
            return Err(Error::validation(format!(
                "unknown key '{}' in updates (allowed: {})",
                input::printable(key),
                allowed.join(", ")
            )));
        };
        let field = format!("updates.{camel}");
        params.push(match kind {
            Kind::Text(max) if column == "handler_name" => {
                Value::Text(input::required_text(value, &field, max)?)
            }
            Kind::Text(max) => input::text(value, &field, max)?.into(),
            Kind::Json if value.is_absent() => Value::Null,
            Kind::Json => Value::Json(value.to_json(&field)?),
            Kind::Bool => match value {
                Input::Bool(b) => Value::Bool(*b),
                _ => return Err(Error::validation(format!("{field} must be a boolean"))),
            },
            Kind::Priority => input::integer(value, &field, -1_000_000, 1_000_000)?.into(),
        });
        sets.push(format!("{column} = ${}", params.len()));
    }
    if sets.is_empty() {
        return by_type(&Input::Text(t.as_str().unwrap_or_default().to_string()));
    }
    params.push(Value::Timestamp(now_millis()));
    sets.push(format!("updated_at = ${}", params.len()));
    Ok(Call::write(
        vec![Statement::new(
            format!(
                "UPDATE handler_registry SET {} WHERE handler_type = $1 RETURNING {COLUMNS}",
                sets.join(", ")
            ),
            params,
        )],
        Shape::RowOrNull,
    )
    .touching(touch_handler(&t)))
}

/// `getBestHandler(handlerType)`: the active handler of that type, or null (default first, then
/// priority, success rate and average time).
pub fn best(t: &Input) -> Result<Call> {
    Ok(Call::read(
        Statement::new(
            format!(
                "SELECT {COLUMNS} FROM handler_registry WHERE handler_type = $1 AND is_active = true \
                 ORDER BY is_default DESC, priority DESC, \
                 CASE WHEN usage_count > 0 THEN success_count * 1.0 / usage_count ELSE 0 END DESC, \
                 average_execution_time ASC LIMIT 1"
            ),
            vec![handler_type(t)?],
        ),
        Shape::RowOrNull,
    ))
}

/// The counter update of one handler run: one statement, so concurrent runs never lose an
/// increment. A missing execution time leaves the average as it is.
pub(crate) fn statistics_statement(
    t: Value,
    status: &str,
    execution_time: Option<f64>,
    now: i64,
) -> Statement {
    let success = (status == "success") as i64;
    Statement::new(
        STATISTICS_SQL.as_str(),
        vec![
            t,
            Value::Int(success),
            Value::Int(1 - success),
            execution_time.into(),
            Value::Timestamp(now),
        ],
    )
}

/// `updateHandlerStatistics(handlerType, {executionTime, status})`: the updated row, or null.
pub fn update_statistics(t: &Input, statistics: &Input) -> Result<Call> {
    let t = handler_type(t)?;
    let f = Fields::of(statistics, "statistics")?;
    let status = usage_status(&f)?;
    let touch = touch_handler(&t);
    Ok(Call::write(
        vec![statistics_statement(
            t,
            &status,
            execution_time(&f)?,
            now_millis(),
        )],
        Shape::RowOrNull,
    )
    .touching(touch))
}

/// `deleteHandler(handlerType)`: true when a handler was removed.
pub fn delete(t: &Input) -> Result<Call> {
    let t = handler_type(t)?;
    let touch = touch_handler(&t);
    Ok(Call::write(
        vec![Statement::new(
            "DELETE FROM handler_registry WHERE handler_type = $1",
            vec![t],
        )],
        Shape::Touched(0),
    )
    .touching(touch))
}

static BY_TYPE_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM handler_registry WHERE handler_type = $1")
});

static STATISTICS_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
            "UPDATE handler_registry SET usage_count = usage_count + 1, success_count = success_count + $2, \
             failure_count = failure_count + $3, \
             average_execution_time = CASE WHEN CAST($4 AS DOUBLE PRECISION) IS NULL THEN average_execution_time \
               WHEN timed_count = 0 OR average_execution_time IS NULL THEN CAST($4 AS DOUBLE PRECISION) \
               ELSE (average_execution_time * timed_count + CAST($4 AS DOUBLE PRECISION)) / (timed_count + 1) END, \
             timed_count = timed_count + CASE WHEN CAST($4 AS DOUBLE PRECISION) IS NULL THEN 0 ELSE 1 END, \
             last_used_at = $5, updated_at = $5 WHERE handler_type = $1 RETURNING {COLUMNS}"
        )
});
