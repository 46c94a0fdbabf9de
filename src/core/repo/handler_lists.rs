//! `HandlerRegistryRepository`'s lists: all, active and default handlers sorted by an
//! allow-listed column, and the performance summary; each paged by keyset or offset.

use super::handler_columns::{list_options, COLUMNS};
use crate::core::db::{Call, Shape, Statement};
use crate::core::error::{Error, Result};
use crate::core::input::Input;
use crate::core::page::Page;
use crate::core::value::Value;

const SUMMARY_COLUMNS: &str =
    "handler_type, handler_name, version, is_active, is_default, priority, usage_count, \
    success_count, failure_count, average_execution_time, success_rate, recent_usage_count, \
    recent_avg_execution_time, last_used";

/// Columns a list may be sorted by: (camelCase key, column, what NULL sorts as). NULLs sort as
/// the lowest value on both backends (PostgreSQL and SQLite disagree by default), and the
/// stand-in keeps keyset comparisons defined.
const SORTABLE: [(&str, &str, Null); 11] = [
    ("handlerType", "handler_type", Null::Text),
    ("handlerName", "handler_name", Null::Text),
    ("version", "version", Null::Text),
    ("priority", "priority", Null::Number),
    ("registeredAt", "registered_at", Null::Time),
    ("updatedAt", "updated_at", Null::Time),
    ("lastUsedAt", "last_used_at", Null::Time),
    ("usageCount", "usage_count", Null::Number),
    ("successCount", "success_count", Null::Number),
    ("failureCount", "failure_count", Null::Number),
    (
        "averageExecutionTime",
        "average_execution_time",
        Null::Number,
    ),
];

#[derive(Clone, Copy)]
enum Null {
    Text,
    Number,
    Time,
}

impl Null {
    fn stand_in(self) -> Value {
        match self {
            Null::Text => Value::Text(String::new()),
            Null::Number => Value::Float(-1.0e300),
            Null::Time => Value::Timestamp(-62_135_596_800_000), // 0001-01-01
        }
    }
}

/// A validated `sortBy`.
struct Sort {
    column: &'static str,
    null: Null,
    descending: bool,
}

/// `sortBy` from the allow-list: a column (camelCase or snake_case), optionally `ASC`/`DESC`.
fn sort_by(sort: Option<String>, default: &str) -> Result<Sort> {
    let sort = sort.unwrap_or_else(|| default.to_string());
    let mut words = sort.split_whitespace();
    let (Some(column), direction, None) = (words.next(), words.next(), words.next()) else {
        return Err(Error::validation(
            "sortBy must be a column name, optionally followed by ASC or DESC",
        ));
    };
    let Some((_, column, null)) = SORTABLE
        .iter()
        .find(|(c, s, _)| *c == column || *s == column)
    else {
        let allowed: Vec<_> = SORTABLE.iter().map(|s| s.1).collect();
        return Err(Error::validation(format!(
            "sortBy must be one of: {} (optionally followed by ASC or DESC)",
            allowed.join(", ")
        )));
    };
    let descending = match direction.map(str::to_ascii_uppercase).as_deref() {
        None | Some("ASC") => false,
        Some("DESC") => true,
        Some(_) => return Err(Error::validation("sortBy direction must be ASC or DESC")),
    };
    Ok(Sort {
        column,
        null: *null,
        descending,
    })
}

/// A page of handlers ordered by `sort`, ties by `handler_type` (unique) ascending, as planned.
fn list(condition: &str, sort: Sort, page: &Page) -> Result<Call> {
    let mut params = vec![sort.null.stand_in()];
    let key = format!("COALESCE({}, $1)", sort.column);
    let mut clauses: Vec<String> = (!condition.is_empty())
        .then(|| condition.to_string())
        .into_iter()
        .collect();
    if let Some(after) = &page.after {
        let value = match after.key()? {
            Value::Null => sort.null.stand_in(),
            v => v.clone(),
        };
        let terms = [
            (key.clone(), sort.descending),
            ("handler_type".to_string(), false),
        ];
        clauses.push(super::keyset(
            &terms,
            vec![value, Value::Text(after.id.clone())],
            &mut params,
        ));
    }
    let filter = if clauses.is_empty() {
        String::new()
    } else {
        format!("WHERE {}", clauses.join(" AND "))
    };
    let dir = if sort.descending { "DESC" } else { "ASC" };
    let tail = super::limit_offset(page, &mut params);
    let sql = format!("SELECT {COLUMNS} FROM handler_registry {filter} ORDER BY {key} {dir}, handler_type ASC {tail}");
    let sort_key: &'static [&'static str] = SORTABLE
        .iter()
        .find(|s| s.1 == sort.column)
        .map(|s| std::slice::from_ref(&s.1))
        .unwrap_or(&[]);
    Ok(Call::scan(
        Statement::new(sql, params),
        Shape::Rows {
            limit: Some(page.limit),
            sort: sort_key,
            id: "handler_type",
        },
    ))
}

/// `getAllHandlers({limit = 100, offset = 0, sortBy = 'handler_type', after})`.
pub fn all(opts: &Input) -> Result<Call> {
    let f = list_options(opts)?;
    list(
        "",
        sort_by(f.text("sortBy", 64)?, "handler_type")?,
        &Page::from(&f, 100)?,
    )
}

/// `getActiveHandlers({limit = 100, offset = 0, sortBy = 'priority DESC', after})`.
pub fn active(opts: &Input) -> Result<Call> {
    let f = list_options(opts)?;
    list(
        "is_active = true",
        sort_by(f.text("sortBy", 64)?, "priority DESC")?,
        &Page::from(&f, 100)?,
    )
}

/// `getDefaultHandlers({limit = 100, offset = 0, after})`: default and active, highest priority
/// first, ties by handler_type.
pub fn defaults(opts: &Input) -> Result<Call> {
    let f = list_options(opts)?;
    let sort = sort_by(None, "priority DESC")?;
    list(
        "is_default = true AND is_active = true",
        sort,
        &Page::from(&f, 100)?,
    )
}

/// `getHandlerPerformanceSummary({limit = 100, offset = 0, after})`: the view, best success rate
/// first, then fastest.
pub fn performance_summary(opts: &Input) -> Result<Call> {
    let f = list_options(opts)?;
    let page = Page::from(&f, 100)?;
    let mut params = vec![Null::Number.stand_in()];
    let average = "COALESCE(average_execution_time, $1)".to_string();
    let mut filter = String::new();
    if let Some(after) = &page.after {
        let [rate, avg] = after.keys.as_slice() else {
            return Err(Error::validation("after is a cursor of another list"));
        };
        let avg = if *avg == Value::Null {
            Null::Number.stand_in()
        } else {
            avg.clone()
        };
        let terms = [
            ("success_rate".to_string(), true),
            (average.clone(), false),
            ("handler_type".to_string(), false),
        ];
        filter = format!(
            "WHERE {}",
            super::keyset(
                &terms,
                vec![rate.clone(), avg, Value::Text(after.id.clone())],
                &mut params
            )
        );
    }
    let tail = super::limit_offset(&page, &mut params);
    Ok(Call::scan(
        Statement::new(
            format!(
                "SELECT {SUMMARY_COLUMNS} FROM handler_performance_summary {filter} \
                 ORDER BY success_rate DESC, {average} ASC, handler_type ASC {tail}"
            ),
            params,
        ),
        Shape::Rows {
            limit: Some(page.limit),
            sort: &["success_rate", "average_execution_time"],
            id: "handler_type",
        },
    ))
}
