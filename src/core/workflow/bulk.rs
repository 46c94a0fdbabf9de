//! The bulk writes of `WorkflowPersistenceService`: every valid item in one transaction, the
//! others reported per item.

use super::writes::{started_metric, update_execution};
use crate::core::db::{Database, Op, Output, Statement, StmtResult};
use crate::core::error::{Error, Result};
use crate::core::input::Input;
use crate::core::repo::executions::{self};
use crate::core::value::{now_millis, Value};

/// `bulkCreateWorkflowExecutions(executions)`: the valid items, each with its metric, in one
/// transaction; an item whose `executionId` already exists is reported, not fatal.
pub async fn bulk_create(db: &Database, executions: &Input) -> Result<Output> {
    let Input::Array(items) = executions else {
        return Err(Error::validation("executions must be an array"));
    };
    let now = now_millis();
    let mut errors = Vec::new();
    let mut statements = Vec::new();
    let mut written = Vec::new();
    for item in items {
        match executions::insert(item, now) {
            Ok(mut insert) => {
                insert.sql = INSERT_IF_NEW.as_str().into();
                let id = insert.params[0].clone();
                written.push((item, statements.len()));
                let guard = statements.len();
                statements.push(insert);
                statements.push(started_metric().statement(id, now).only_if(guard));
            }
            Err(e) => errors.push(item_error("executionData", item, &e.message)),
        }
    }
    let results = run_all(db, statements).await?;
    let mut created = Vec::new();
    for (item, at) in written {
        match results[at].rows.first() {
            Some(row) => created.push(Output::Row(row.clone())),
            None => errors.push(item_error(
                "executionData",
                item,
                "an execution with this executionId already exists",
            )),
        }
    }
    Ok(summary("created", created, errors, items.len()))
}

/// `bulkUpdateWorkflowExecutions(updates)`: each `{executionId, ...updates}` with its metrics,
/// in one transaction; invalid items and missing executions are reported per item.
pub async fn bulk_update(db: &Database, updates: &Input) -> Result<Output> {
    let Input::Array(items) = updates else {
        return Err(Error::validation("updates must be an array"));
    };
    let mut errors = Vec::new();
    let mut statements = Vec::new();
    let mut written = Vec::new();
    let mut touches = Vec::new();
    for item in items {
        let call = match item {
            Input::Object(fields) => {
                let id = item_field(item, "executionId");
                let rest = Input::Object(
                    fields
                        .iter()
                        .filter(|(k, _)| k != "executionId")
                        .cloned()
                        .collect(),
                );
                update_execution(id, &rest)
            }
            _ => Err(Error::validation("each update must be an object")),
        };
        match call {
            Ok(call) => {
                touches.extend(call.touches);
                let mut own = match call.op {
                    Op::Write(s) | Op::Batch { statements: s, .. } => s,
                    Op::Read(s) | Op::Scan(s) => vec![s],
                };
                let base = statements.len();
                for s in &mut own {
                    s.only_if = s.only_if.map(|n| n + base);
                }
                written.push((item, base));
                statements.extend(own);
            }
            Err(e) => errors.push(item_error("update", item, &e.message)),
        }
    }
    let results = run_all(db, statements).await;
    db.invalidate(&touches);
    let results = results?;
    let mut updated = Vec::new();
    for (item, at) in written {
        match results[at].rows.first() {
            Some(row) => updated.push(Output::Row(row.clone())),
            None => errors.push(item_error(
                "update",
                item,
                "no execution with this executionId",
            )),
        }
    }
    Ok(summary("updated", updated, errors, items.len()))
}

async fn run_all(db: &Database, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
    if statements.is_empty() {
        return Ok(Vec::new());
    }
    db.write(statements).await
}

fn item_field<'a>(item: &'a Input, key: &str) -> &'a Input {
    match item {
        Input::Object(fields) => fields
            .iter()
            .find(|(k, _)| k == key)
            .map_or(&Input::Undefined, |(_, v)| v),
        _ => &Input::Undefined,
    }
}

/// `{<what>: item, error: message}`, the item as JSON (Dates become ISO text).
fn item_error(what: &str, item: &Input, message: &str) -> Output {
    let data = item.to_json(what).unwrap_or(serde_json::Value::Null);
    Output::Object(vec![
        (what.to_string(), Output::Value(Value::Json(data))),
        ("error".into(), Output::Value(Value::from(message))),
    ])
}

fn summary(done: &str, ok: Vec<Output>, errors: Vec<Output>, total: usize) -> Output {
    let (n_ok, n_err) = (ok.len() as i64, errors.len() as i64);
    Output::Object(vec![
        (done.to_string(), Output::List(ok)),
        ("errors".into(), Output::List(errors)),
        (
            "summary".into(),
            Output::Object(vec![
                ("total".into(), Output::Value(Value::Int(total as i64))),
                (done.to_string(), Output::Value(Value::Int(n_ok))),
                ("failed".into(), Output::Value(Value::Int(n_err))),
            ]),
        ),
    ])
}

/// The execution INSERT that skips an existing `executionId` (no row comes back for it).
static INSERT_IF_NEW: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
    executions::INSERT_SQL.replacen(
        " RETURNING",
        " ON CONFLICT (execution_id) DO NOTHING RETURNING",
        1,
    )
});
