//! `WorkflowExecutionRepository`: the `workflow_executions` table.

use crate::core::db::Statement;
use crate::core::db::{Call, Shape, Touch};
use crate::core::error::{Error, Result};
use crate::core::input::{self, Fields, Input};
use crate::core::page::Page;
pub use crate::core::value::to_snake_case;
use crate::core::value::{now_millis, Value};

pub const STATUSES: [&str; 5] = ["pending", "running", "completed", "failed", "cancelled"];
/// Statuses `cleanupOldExecutions` may remove.
pub const FINISHED: [&str; 3] = ["completed", "failed", "cancelled"];

/// Every column, in table order: the keys of every execution row.
pub const COLUMNS: &str = "id, execution_id, workflow_id, workflow_name, workflow_version, task_id, user_id, status, \
    strategy, priority, estimated_duration, actual_duration, start_time, end_time, result_data, error_data, metadata, \
    created_at, updated_at";

/// How a writable column takes its value.
#[derive(Clone, Copy)]
pub(crate) enum Kind {
    Text(usize),
    Status,
    Priority,
    Millis,
    Time,
    Json,
}

/// Columns `update` may set: (camelCase key, column, kind). `id`, `execution_id`, `created_at`
/// and `updated_at` are not among them (the trigger stamps `updated_at`).
pub(crate) const UPDATABLE: [(&str, &str, Kind); 14] = [
    ("workflowId", "workflow_id", Kind::Text(255)),
    ("workflowName", "workflow_name", Kind::Text(255)),
    ("workflowVersion", "workflow_version", Kind::Text(50)),
    ("taskId", "task_id", Kind::Text(255)),
    ("userId", "user_id", Kind::Text(255)),
    ("status", "status", Kind::Status),
    ("strategy", "strategy", Kind::Text(100)),
    ("priority", "priority", Kind::Priority),
    ("estimatedDuration", "estimated_duration", Kind::Millis),
    ("actualDuration", "actual_duration", Kind::Millis),
    ("startTime", "start_time", Kind::Time),
    ("endTime", "end_time", Kind::Time),
    ("resultData", "result_data", Kind::Json),
    ("errorData", "error_data", Kind::Json),
];

/// `metadata` is updatable too (JSON); kept apart so the array above stays the scalar columns.
const METADATA: (&str, &str, Kind) = ("metadata", "metadata", Kind::Json);

fn value_of(input: &Input, field: &str, kind: Kind, required_not_null: bool) -> Result<Value> {
    let v = match kind {
        Kind::Text(max) if required_not_null => {
            Value::Text(input::required_text(input, field, max)?)
        }
        Kind::Text(max) => input::text(input, field, max)?.into(),
        Kind::Status => match input::one_of(input, field, &STATUSES)? {
            Some(s) => Value::Text(s),
            None => {
                return Err(Error::validation(format!(
                    "{field} must be one of: {}",
                    STATUSES.join(", ")
                )))
            }
        },
        Kind::Priority => input::integer(input, field, -1_000_000, 1_000_000)?.into(),
        Kind::Millis => input::millis(input, field)?.into(),
        Kind::Time => input::timestamp(input, field)?.map_or(Value::Null, Value::Timestamp),
        Kind::Json => match input {
            Input::Undefined | Input::Null => Value::Null,
            v => Value::Json(v.to_json(field)?),
        },
    };
    Ok(v)
}

/// `create(execution)`: inserts and resolves the row.
pub fn create(execution: &Input) -> Result<Call> {
    Ok(Call::write(
        vec![insert(execution, now_millis())?],
        Shape::Row,
    ))
}

/// `bulkCreate(executions)`: every row in one transaction.
pub fn create_many(executions: &Input) -> Result<Vec<Statement>> {
    let Input::Array(items) = executions else {
        return Err(Error::validation("executions must be an array"));
    };
    let now = now_millis();
    items.iter().map(|e| insert(e, now)).collect()
}

/// The INSERT of one execution (defaults as planned: `exec_<uuid>`, version 1.0.0, pending,
/// priority 1, start time now, metadata `{}`).
pub fn insert(execution: &Input, now: i64) -> Result<Statement> {
    let f = Fields::of(execution, "execution")?;
    let execution_id = f
        .text("executionId", 255)?
        .unwrap_or_else(|| format!("exec_{}", crate::core::stamp::new_uuid()));
    if execution_id.is_empty() {
        return Err(Error::validation("execution.executionId must not be empty"));
    }
    let status = f
        .one_of("status", &STATUSES)?
        .unwrap_or_else(|| "pending".into());
    let params = vec![
        Value::Text(execution_id),
        f.required_text("workflowId", 255)?.into(),
        f.required_text("workflowName", 255)?.into(),
        f.text("workflowVersion", 50)?
            .unwrap_or_else(|| "1.0.0".into())
            .into(),
        f.text("taskId", 255)?.into(),
        f.text("userId", 255)?.into(),
        status.into(),
        f.text("strategy", 100)?.into(),
        f.integer("priority", -1_000_000, 1_000_000)?
            .unwrap_or(1)
            .into(),
        // `estimatedTime` is the name PIDEA's later code uses for the same value.
        f.millis("estimatedDuration")?
            .or(f.millis("estimatedTime")?)
            .into(),
        f.millis("actualDuration")?.into(),
        Value::Timestamp(f.timestamp("startTime")?.unwrap_or(now)),
        f.timestamp("endTime")?
            .map_or(Value::Null, Value::Timestamp),
        value_of(
            f.get("resultData"),
            "execution.resultData",
            Kind::Json,
            false,
        )?,
        value_of(f.get("errorData"), "execution.errorData", Kind::Json, false)?,
        Value::Json(
            f.json("metadata")?
                .filter(|m| !m.is_null())
                .unwrap_or_else(|| serde_json::json!({})),
        ),
        Value::Timestamp(now),
        // Drawn here rather than by the table, so that a replay of the fallback's journal makes
        // the same row.
        Value::Uuid(crate::core::stamp::new_uuid()),
    ];
    Ok(Statement::new(INSERT_SQL.as_str(), params))
}

pub(crate) fn execution_id(id: &Input) -> Result<Value> {
    Ok(Value::Text(input::required_text(id, "executionId", 255)?))
}

/// `findByExecutionId(executionId)`: the row or null.
pub fn find_by_execution_id(id: &Input) -> Result<Call> {
    Ok(Call::read(
        Statement::new(FIND_SQL.as_str(), vec![execution_id(id)?]),
        Shape::RowOrNull,
    ))
}

/// The camelCase (or snake_case) key of an update, as its column.
pub(crate) fn updatable(key: &str) -> Option<(&'static str, &'static str, Kind)> {
    UPDATABLE
        .iter()
        .chain(std::iter::once(&METADATA))
        .find(|(camel, column, _)| *camel == key || *column == key)
        .copied()
}

/// `update(executionId, updates)`: only the updatable columns; resolves the updated row, null
/// when there is no such execution, and the current row for an empty update.
pub fn update(id: &Input, updates: &Input) -> Result<Call> {
    let id = execution_id(id)?;
    let f = Fields::of(updates, "updates")?;
    let mut sets = Vec::new();
    let mut params = vec![id.clone()];
    for (key, value) in f.entries() {
        if matches!(value, Input::Undefined) {
            continue;
        }
        let Some((camel, column, kind)) = updatable(key) else {
            let allowed: Vec<_> = UPDATABLE
                .iter()
                .map(|u| u.0)
                .chain(std::iter::once(METADATA.0))
                .collect();
            return Err(Error::validation(format!(
                "unknown key '{}' in updates (allowed: {})",
                input::printable(key),
                allowed.join(", ")
            )));
        };
        let not_null = matches!(column, "workflow_id" | "workflow_name");
        params.push(value_of(
            value,
            &format!("updates.{camel}"),
            kind,
            not_null,
        )?);
        sets.push(format!("{column} = ${}", params.len()));
    }
    if sets.is_empty() {
        return Ok(Call::read(
            Statement::new(
                format!("SELECT {COLUMNS} FROM workflow_executions WHERE execution_id = $1"),
                vec![id],
            ),
            Shape::RowOrNull,
        ));
    }
    params.push(Value::Timestamp(now_millis()));
    sets.push(format!("updated_at = ${}", params.len()));
    Ok(Call::write(
        vec![Statement::new(
            format!(
                "UPDATE workflow_executions SET {} WHERE execution_id = $1 RETURNING {COLUMNS}",
                sets.join(", ")
            ),
            params,
        )],
        Shape::RowOrNull,
    )
    .touching(touch_execution(&id)))
}

/// A list of executions matching `filters` (column = value), newest first, paged.
fn list(filters: Vec<(&'static str, Value)>, page: Page) -> Result<Call> {
    super::newest_first(&SELECT_SQL, &["created_at"], filters, page)
}

fn options<'a>(options: &'a Input) -> Result<Fields<'a>> {
    let f = Fields::of_optional(options, "options")?;
    f.only(&[
        "limit",
        "offset",
        "after",
        "status",
        "workflowId",
        "userId",
        "taskId",
    ])?;
    Ok(f)
}

/// `findByWorkflowId(workflowId, {limit = 50, offset = 0, status, after})`.
pub fn find_by_workflow_id(workflow_id: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let mut filters = vec![(
        "workflow_id",
        Value::Text(input::required_text(workflow_id, "workflowId", 255)?),
    )];
    if let Some(s) = f.one_of("status", &STATUSES)? {
        filters.push(("status", s.into()));
    }
    list(filters, Page::from(&f, 50)?)
}

/// `findByTaskId(taskId, {limit = 1000, offset = 0, after})`: the plan had no paging here.
pub fn find_by_task_id(task_id: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let filters = vec![(
        "task_id",
        Value::Text(input::required_text(task_id, "taskId", 255)?),
    )];
    list(filters, Page::from(&f, 1000)?)
}

/// `findByUserId(userId, {limit = 50, offset = 0, status, after})`.
pub fn find_by_user_id(user_id: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let mut filters = vec![(
        "user_id",
        Value::Text(input::required_text(user_id, "userId", 255)?),
    )];
    if let Some(s) = f.one_of("status", &STATUSES)? {
        filters.push(("status", s.into()));
    }
    list(filters, Page::from(&f, 50)?)
}

/// `findByStatus(status, {limit = 50, offset = 0, workflowId, after})`.
pub fn find_by_status(status: &Input, opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    let status = input::one_of(status, "status", &STATUSES)?.ok_or_else(|| {
        Error::validation(format!("status must be one of: {}", STATUSES.join(", ")))
    })?;
    let mut filters = vec![("status", Value::Text(status))];
    if let Some(w) = f.text("workflowId", 255)? {
        filters.push(("workflow_id", w.into()));
    }
    list(filters, Page::from(&f, 50)?)
}

/// `findAll({limit = 50, offset = 0, after})`: every execution, newest first.
pub fn find_all(opts: &Input) -> Result<Call> {
    let f = options(opts)?;
    list(Vec::new(), Page::from(&f, 50)?)
}

/// `delete(executionId)`: true when a row was removed (its metrics and usage rows go with it).
pub fn delete(id: &Input) -> Result<Call> {
    let id = execution_id(id)?;
    let touch = touch_execution(&id);
    Ok(Call::write(
        vec![Statement::new(
            "DELETE FROM workflow_executions WHERE execution_id = $1",
            vec![id],
        )],
        Shape::Touched(0),
    )
    .touching(touch))
}

/// `cleanupOldExecutions(daysOld = 30)`: removes finished executions created more than
/// `daysOld` days ago; resolves how many.
pub fn cleanup(days_old: &Input) -> Result<Call> {
    Ok(
        super::delete_older_than_keeping_rollups(CLEANUP_SQL, days_old)?
            .touching(Touch::Executions),
    )
}

/// Finished executions created before `$1`.
pub(crate) const CLEANUP_SQL: &str =
    "DELETE FROM workflow_executions WHERE created_at < $1 AND status IN ('completed', 'failed', 'cancelled')";

/// The cache entry a write to execution `id` changes.
pub(crate) fn touch_execution(id: &Value) -> Touch {
    Touch::Execution(id.as_str().unwrap_or_default().to_string())
}

static FIND_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!("SELECT {COLUMNS} FROM workflow_executions WHERE execution_id = $1")
});

pub(crate) static INSERT_SQL: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    format!(
            "INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, workflow_version, task_id, \
             user_id, status, strategy, priority, estimated_duration, actual_duration, start_time, end_time, \
             result_data, error_data, metadata, created_at, updated_at, id) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $17, $18) RETURNING {COLUMNS}"
        )
});

static SELECT_SQL: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| format!("SELECT {COLUMNS} FROM workflow_executions"));
