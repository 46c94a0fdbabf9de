//! Values that cross the seam between the backends and the binding: one representation for both
//! databases, so rows look the same whatever stored them.

use std::sync::Arc;

use chrono::{DateTime, SecondsFormat, Utc};

/// One column value.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Null,
    Bool(bool),
    Int(i64),
    Float(f64),
    Text(String),
    /// A parsed JSON document (JSONB on PostgreSQL, text on SQLite).
    Json(serde_json::Value),
    /// Milliseconds since the Unix epoch, UTC.
    Timestamp(i64),
    /// A UUID (native on PostgreSQL, text on SQLite).
    Uuid(uuid::Uuid),
}

impl Value {
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Int(i) => Some(*i),
            Value::Float(f) if f.fract() == 0.0 => Some(*f as i64),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(i) => Some(*i as f64),
            Value::Float(f) => Some(*f),
            _ => None,
        }
    }

    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(s) => Some(s),
            _ => None,
        }
    }
}

impl From<&str> for Value {
    fn from(s: &str) -> Self {
        Value::Text(s.to_string())
    }
}
impl From<String> for Value {
    fn from(s: String) -> Self {
        Value::Text(s)
    }
}
impl From<i64> for Value {
    fn from(i: i64) -> Self {
        Value::Int(i)
    }
}
impl From<f64> for Value {
    fn from(f: f64) -> Self {
        Value::Float(f)
    }
}
impl From<bool> for Value {
    fn from(b: bool) -> Self {
        Value::Bool(b)
    }
}
impl From<serde_json::Value> for Value {
    fn from(j: serde_json::Value) -> Self {
        Value::Json(j)
    }
}
impl<T: Into<Value>> From<Option<T>> for Value {
    fn from(o: Option<T>) -> Self {
        o.map_or(Value::Null, Into::into)
    }
}

/// One result row: column names (shared by every row of a result) and values in column order.
#[derive(Debug, Clone, PartialEq)]
pub struct Row {
    pub columns: Arc<[String]>,
    pub values: Vec<Value>,
}

impl Row {
    pub fn new(columns: Vec<String>, values: Vec<Value>) -> Row {
        Row {
            columns: columns.into(),
            values,
        }
    }

    pub fn get(&self, column: &str) -> Option<&Value> {
        self.columns
            .iter()
            .position(|c| c == column)
            .map(|i| &self.values[i])
    }
}

/// UTC ISO-8601 with milliseconds, the form timestamps take in SQLite.
pub fn millis_to_iso(ms: i64) -> String {
    DateTime::<Utc>::from_timestamp_millis(ms)
        .unwrap_or_default()
        .to_rfc3339_opts(SecondsFormat::Millis, true)
}

/// Parses the timestamp forms SQLite may hold: our ISO-8601 text, or `YYYY-MM-DD HH:MM:SS[.fff]`
/// (SQLite's own `CURRENT_TIMESTAMP`), both UTC.
pub fn iso_to_millis(text: &str) -> Option<i64> {
    if let Ok(dt) = DateTime::parse_from_rfc3339(text) {
        return Some(dt.timestamp_millis());
    }
    chrono::NaiveDateTime::parse_from_str(text, "%Y-%m-%d %H:%M:%S%.f")
        .ok()
        .map(|n| n.and_utc().timestamp_millis())
}

/// Now, in epoch milliseconds (a call's stamp's time under one: see [`stamp`](super::stamp)).
pub fn now_millis() -> i64 {
    super::stamp::now_millis()
}

/// `toSnakeCase(str)`, as planned: `_` + lowercase in place of each uppercase ASCII letter.
pub fn to_snake_case(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 4);
    for c in s.chars() {
        if c.is_ascii_uppercase() {
            out.push('_');
            out.push(c.to_ascii_lowercase());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trip_keeps_milliseconds() {
        let ms = 1_767_225_600_123;
        let iso = millis_to_iso(ms);
        assert_eq!(iso, "2026-01-01T00:00:00.123Z");
        assert_eq!(iso_to_millis(&iso), Some(ms));
        assert_eq!(
            iso_to_millis("2026-01-01 00:00:00"),
            Some(1_767_225_600_000)
        );
        assert_eq!(iso_to_millis("not a date"), None);
    }

    #[test]
    fn conversions_and_accessors() {
        assert_eq!(Value::from(Some(3i64)).as_i64(), Some(3));
        assert_eq!(Value::from(None::<i64>), Value::Null);
        assert_eq!(Value::Float(2.0).as_i64(), Some(2));
        assert_eq!(Value::Float(2.5).as_i64(), None);
        assert_eq!(Value::Int(2).as_f64(), Some(2.0));
        assert_eq!(Value::from("x").as_str(), Some("x"));
        let row = Row {
            columns: vec!["a".to_string()].into(),
            values: vec![Value::Int(1)],
        };
        assert_eq!(row.get("a"), Some(&Value::Int(1)));
        assert_eq!(row.get("b"), None);
    }
}
