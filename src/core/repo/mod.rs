//! The three repositories, written once over the backend seam. Each method validates its input
//! and returns a [`Call`]: the statements to run and how to shape what they return. The binding
//! (or a test) hands the call to [`Database::call`](crate::core::db::Database::call).

pub mod executions;
pub mod handler_columns;
pub mod handler_lists;
pub mod handlers;
pub mod metrics;
pub mod rollups;
pub mod sketch;
pub mod statistics;
pub mod usage;

use super::db::{Call, Shape, Statement};
use super::error::Result;
use super::input::{self, Input};
use super::page::Page;
use super::value::{now_millis, Value};

/// A page of rows newest first by the time column `sort[0]` (ties by `id`), matching `filters`
/// (column = value): the list shape of executions, metrics and usage history.
pub(crate) fn newest_first(
    select: &str,
    sort: &'static [&'static str],
    filters: Vec<(&'static str, Value)>,
    page: Page,
) -> Result<Call> {
    let time = sort[0];
    let mut clauses = Vec::new();
    let mut params = Vec::new();
    for (column, value) in filters {
        params.push(value);
        clauses.push(format!("{column} = ${}", params.len()));
    }
    if let Some(after) = &page.after {
        params.push(after.key()?.clone());
        params.push(cursor_id(&after.id));
        clauses.push(format!(
            "({time}, id) < (${}, ${})",
            params.len() - 1,
            params.len()
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let tail = limit_offset(&page, &mut params);
    Ok(Call::scan(
        Statement::new(
            format!("{select} {filter} ORDER BY {time} DESC, id DESC {tail}"),
            params,
        ),
        Shape::Rows {
            limit: Some(page.limit),
            sort,
            id: "id",
        },
    ))
}

/// `LIMIT $n OFFSET $m` of a page, its values bound into `params`.
pub(crate) fn limit_offset(page: &Page, params: &mut Vec<Value>) -> String {
    params.push(Value::Int(page.limit));
    params.push(Value::Int(page.offset));
    format!("LIMIT ${} OFFSET ${}", params.len() - 1, params.len())
}

/// Row ids are UUIDs: bound as such so PostgreSQL compares them as its own type.
pub(crate) fn cursor_id(id: &str) -> Value {
    uuid::Uuid::parse_str(id)
        .map(Value::Uuid)
        .unwrap_or_else(|_| Value::Text(id.to_string()))
}

/// `DELETE … WHERE <time> < $1` with the cutoff `daysOld` (default 30) days ago.
fn older_than(delete: &'static str, days_old: &Input) -> Result<Statement> {
    let cutoff = now_millis() - input::days_old(days_old)? * 86_400_000;
    Ok(Statement::new(delete, vec![Value::Timestamp(cutoff)]))
}

/// [`older_than`] as a call that resolves the number of rows removed.
pub(crate) fn delete_older_than(delete: &'static str, days_old: &Input) -> Result<Call> {
    Ok(Call::write(
        vec![older_than(delete, days_old)?],
        Shape::Count(0),
    ))
}

/// [`delete_older_than`] for a table the statistics roll up: the rollups keep the rows removed.
pub(crate) fn delete_older_than_keeping_rollups(
    delete: &'static str,
    days_old: &Input,
) -> Result<Call> {
    Ok(Call::write(
        rollups::keeping_rollups(vec![older_than(delete, days_old)?]),
        Shape::Count(1),
    ))
}

/// The keyset condition "after this row" for `ORDER BY t1 d1, t2 d2, …` (the last term
/// unique), with any mix of directions: `t1 ≷ v1 OR (t1 = v1 AND (t2 ≷ v2 OR …))`. Each term is
/// `(expression, descending)`; the values are bound into `params`.
pub fn keyset(terms: &[(String, bool)], values: Vec<Value>, params: &mut Vec<Value>) -> String {
    let mut placeholders = Vec::new();
    for v in values {
        params.push(v);
        placeholders.push(format!("${}", params.len()));
    }
    let mut clause = String::new();
    for (i, ((expr, desc), p)) in terms.iter().zip(&placeholders).enumerate().rev() {
        let op = if *desc { "<" } else { ">" };
        clause = if i == terms.len() - 1 {
            format!("{expr} {op} {p}")
        } else {
            format!("({expr} {op} {p} OR ({expr} = {p} AND {clause}))")
        };
    }
    format!("({clause})")
}
