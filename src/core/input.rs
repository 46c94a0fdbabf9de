//! Input from JavaScript, as a plain tree walked once by the binding, and the validators every
//! repository uses. All bad input is refused here with `ERR_VALIDATION`, before anything is
//! written, with a message that names the field and never echoes its value.

use super::error::{Error, Result};

/// A JavaScript value, as far as inputs go.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    Undefined,
    Null,
    Bool(bool),
    Number(f64),
    Text(String),
    /// Epoch milliseconds (NaN for an invalid Date).
    Date(f64),
    Array(Vec<Input>),
    Object(Vec<(String, Input)>),
    /// Something that has no place in a row (function, symbol, bigint, a value nested too deep).
    Unsupported(&'static str),
}

/// The longest text accepted where a column has no declared size.
pub const MAX_TEXT: usize = 1_000_000;
/// The deepest JSON accepted (deeper input is also how cycles show up).
pub const MAX_DEPTH: usize = 64;

impl Input {
    pub fn is_absent(&self) -> bool {
        matches!(self, Input::Undefined | Input::Null)
    }

    /// What kind of value this is, for messages (never the value itself).
    pub fn type_name(&self) -> &'static str {
        match self {
            Input::Undefined => "undefined",
            Input::Null => "null",
            Input::Bool(_) => "boolean",
            Input::Number(_) => "number",
            Input::Text(_) => "string",
            Input::Date(_) => "Date",
            Input::Array(_) => "array",
            Input::Object(_) => "object",
            Input::Unsupported(t) => t,
        }
    }

    /// Converts to JSON, refusing what JSON cannot hold (NaN, Infinity, functions, invalid
    /// dates, `__proto__` keys). `undefined` members are dropped, as `JSON.stringify` does.
    pub fn to_json(&self, field: &str) -> Result<serde_json::Value> {
        self.to_json_at(field, 0)
    }

    fn to_json_at(&self, field: &str, depth: usize) -> Result<serde_json::Value> {
        use serde_json::Value as J;
        if depth > MAX_DEPTH {
            return Err(Error::validation(format!(
                "{field} is nested deeper than {MAX_DEPTH} levels (or is circular)"
            )));
        }
        Ok(match self {
            Input::Undefined | Input::Null => J::Null,
            Input::Bool(b) => J::Bool(*b),
            Input::Number(n) => {
                if !n.is_finite() {
                    return Err(Error::validation(format!(
                        "{field} contains NaN or Infinity, which JSON cannot hold"
                    )));
                }
                J::Number(json_number(*n))
            }
            // PostgreSQL's jsonb refuses the NUL character: refused here, on every backend.
            Input::Text(s) if s.contains('\0') => {
                return Err(Error::validation(format!(
                    "{field} contains a NUL character"
                )))
            }
            Input::Text(s) => J::String(s.clone()),
            Input::Date(ms) => J::String(date_to_iso(*ms, field)?),
            Input::Array(items) => J::Array(
                items
                    .iter()
                    .map(|i| i.to_json_at(field, depth + 1))
                    .collect::<Result<_>>()?,
            ),
            Input::Object(members) => {
                let mut map = serde_json::Map::new();
                for (k, v) in members {
                    check_key(k, field)?;
                    if k.contains('\0') {
                        return Err(Error::validation(format!(
                            "{field} contains a NUL character"
                        )));
                    }
                    if !matches!(v, Input::Undefined) {
                        map.insert(k.clone(), v.to_json_at(field, depth + 1)?);
                    }
                }
                J::Object(map)
            }
            Input::Unsupported(t) => {
                return Err(Error::validation(format!(
                    "{field} contains a {t}, which JSON cannot hold"
                )))
            }
        })
    }
}

fn check_key(key: &str, field: &str) -> Result<()> {
    if key == "__proto__" || key == "constructor" || key == "prototype" {
        return Err(Error::validation(format!(
            "{field} must not contain the key '{key}'"
        )));
    }
    Ok(())
}

fn date_to_iso(ms: f64, field: &str) -> Result<String> {
    if !ms.is_finite() || !(TIMESTAMP_MIN_MS..=TIMESTAMP_MAX_MS).contains(&ms) {
        return Err(Error::validation(format!(
            "{field} holds a Date outside years 1 to 9999"
        )));
    }
    Ok(super::value::millis_to_iso(ms as i64))
}

/// Field access on an input object, with the checks every repository needs.
pub struct Fields<'a> {
    what: &'a str,
    members: &'a [(String, Input)],
}

impl<'a> Fields<'a> {
    /// `input` must be an object; `what` names it in messages ("execution", "updates").
    pub fn of(input: &'a Input, what: &'a str) -> Result<Fields<'a>> {
        match input {
            Input::Object(members) => {
                for (k, _) in members {
                    check_key(k, what)?;
                }
                Ok(Fields { what, members })
            }
            other => Err(Error::validation(format!(
                "{what} must be an object, not {}",
                other.type_name()
            ))),
        }
    }

    /// An optional object (undefined/null become an empty one).
    pub fn of_optional(input: &'a Input, what: &'a str) -> Result<Fields<'a>> {
        static EMPTY: [(String, Input); 0] = [];
        if input.is_absent() {
            return Ok(Fields {
                what,
                members: &EMPTY,
            });
        }
        Self::of(input, what)
    }

    pub fn keys(&self) -> impl Iterator<Item = &'a str> {
        self.members.iter().map(|(k, _)| k.as_str())
    }

    pub fn entries(&self) -> &'a [(String, Input)] {
        self.members
    }

    pub fn get(&self, key: &str) -> &'a Input {
        self.members
            .iter()
            .rev()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v)
            .unwrap_or(&Input::Undefined)
    }

    pub fn name(&self, key: &str) -> String {
        format!("{}.{key}", self.what)
    }

    /// Refuses keys outside `allowed`, listing the allowed ones.
    pub fn only(&self, allowed: &[&str]) -> Result<()> {
        for (k, v) in self.members {
            if !allowed.contains(&k.as_str()) && !matches!(v, Input::Undefined) {
                return Err(Error::validation(format!(
                    "unknown key '{}' in {} (allowed: {})",
                    printable(k),
                    self.what,
                    allowed.join(", ")
                )));
            }
        }
        Ok(())
    }

    pub fn text(&self, key: &str, max: usize) -> Result<Option<String>> {
        text(self.get(key), &self.name(key), max)
    }

    pub fn required_text(&self, key: &str, max: usize) -> Result<String> {
        self.text(key, max)?
            .filter(|s| !s.is_empty())
            .ok_or_else(|| {
                Error::validation(format!(
                    "{} is required (a non-empty string)",
                    self.name(key)
                ))
            })
    }

    pub fn integer(&self, key: &str, min: i64, max: i64) -> Result<Option<i64>> {
        integer(self.get(key), &self.name(key), min, max)
    }

    /// Milliseconds: a finite number ≥ 0, fractions rounded.
    pub fn millis(&self, key: &str) -> Result<Option<i64>> {
        millis(self.get(key), &self.name(key))
    }

    pub fn number(&self, key: &str) -> Result<Option<f64>> {
        number(self.get(key), &self.name(key))
    }

    pub fn boolean(&self, key: &str) -> Result<Option<bool>> {
        match self.get(key) {
            Input::Undefined | Input::Null => Ok(None),
            Input::Bool(b) => Ok(Some(*b)),
            other => Err(Error::validation(format!(
                "{} must be a boolean, not {}",
                self.name(key),
                other.type_name()
            ))),
        }
    }

    pub fn timestamp(&self, key: &str) -> Result<Option<i64>> {
        timestamp(self.get(key), &self.name(key))
    }

    pub fn json(&self, key: &str) -> Result<Option<serde_json::Value>> {
        match self.get(key) {
            Input::Undefined => Ok(None),
            v => v.to_json(&self.name(key)).map(Some),
        }
    }

    /// One of `allowed`, or None when absent.
    pub fn one_of(&self, key: &str, allowed: &[&str]) -> Result<Option<String>> {
        one_of(self.get(key), &self.name(key), allowed)
    }
}

pub fn text(input: &Input, field: &str, max: usize) -> Result<Option<String>> {
    match input {
        Input::Undefined | Input::Null => Ok(None),
        Input::Text(s) if s.chars().count() > max => Err(Error::validation(format!(
            "{field} is longer than {max} characters"
        ))),
        Input::Text(s) if s.contains('\0') => Err(Error::validation(format!(
            "{field} contains a NUL character"
        ))),
        Input::Text(s) => Ok(Some(s.clone())),
        other => Err(Error::validation(format!(
            "{field} must be a string, not {}",
            other.type_name()
        ))),
    }
}

pub fn required_text(input: &Input, field: &str, max: usize) -> Result<String> {
    text(input, field, max)?
        .filter(|s| !s.is_empty())
        .ok_or_else(|| Error::validation(format!("{field} is required (a non-empty string)")))
}

pub fn number(input: &Input, field: &str) -> Result<Option<f64>> {
    match input {
        Input::Undefined | Input::Null => Ok(None),
        Input::Number(n) if n.is_finite() => Ok(Some(*n)),
        Input::Number(_) => Err(Error::validation(format!(
            "{field} must be a finite number (not NaN or Infinity)"
        ))),
        other => Err(Error::validation(format!(
            "{field} must be a number, not {}",
            other.type_name()
        ))),
    }
}

pub fn integer(input: &Input, field: &str, min: i64, max: i64) -> Result<Option<i64>> {
    match number(input, field)? {
        None => Ok(None),
        Some(n) if n.fract() != 0.0 || n < min as f64 || n > max as f64 => Err(Error::validation(
            format!("{field} must be a whole number from {min} to {max}"),
        )),
        Some(n) => Ok(Some(n as i64)),
    }
}

pub fn millis(input: &Input, field: &str) -> Result<Option<i64>> {
    match number(input, field)? {
        None => Ok(None),
        Some(n) if !(0.0..=9.0e15).contains(&n) => Err(Error::validation(format!(
            "{field} must be a number of milliseconds ≥ 0"
        ))),
        Some(n) => Ok(Some(n.round() as i64)),
    }
}

/// 0001-01-01T00:00:00.000Z: the earliest timestamp every backend keeps (SQLite holds
/// timestamps as ISO-8601 text, which sorts as time only with four-digit years).
pub const TIMESTAMP_MIN_MS: f64 = -62_135_596_800_000.0;
/// 9999-12-31T23:59:59.999Z: the latest.
pub const TIMESTAMP_MAX_MS: f64 = 253_402_300_799_999.0;

/// A Date, an ISO-8601 string, or epoch milliseconds, from year 1 to 9999.
pub fn timestamp(input: &Input, field: &str) -> Result<Option<i64>> {
    let ms = match input {
        Input::Undefined | Input::Null => return Ok(None),
        Input::Date(ms) | Input::Number(ms) => *ms,
        Input::Text(s) => match super::value::iso_to_millis(s) {
            Some(ms) => ms as f64,
            None => {
                return Err(Error::validation(format!(
                    "{field} must be a Date or an ISO-8601 timestamp"
                )))
            }
        },
        other => {
            return Err(Error::validation(format!(
                "{field} must be a Date, not {}",
                other.type_name()
            )))
        }
    };
    if !ms.is_finite() || !(TIMESTAMP_MIN_MS..=TIMESTAMP_MAX_MS).contains(&ms) {
        return Err(Error::validation(format!(
            "{field} must be a Date from year 1 to 9999"
        )));
    }
    Ok(Some(ms as i64))
}

pub fn one_of(input: &Input, field: &str, allowed: &[&str]) -> Result<Option<String>> {
    match text(input, field, 64)? {
        None => Ok(None),
        Some(s) if allowed.contains(&s.as_str()) => Ok(Some(s)),
        // The value is not repeated: a caller's value never appears in a message.
        Some(_) => Err(Error::validation(format!(
            "{field} must be one of: {}",
            allowed.join(", ")
        ))),
    }
}

/// `daysOld`: a whole number of days ≥ 0 (default 30).
pub fn days_old(input: &Input) -> Result<i64> {
    Ok(integer(input, "daysOld", 0, 36_500)?.unwrap_or(30))
}

/// Keeps user text short and free of control characters before it goes into a message.
pub fn printable(s: &str) -> String {
    s.chars().filter(|c| !c.is_control()).take(64).collect()
}

impl From<serde_json::Value> for Input {
    /// JSON as input (for services and tests that build inputs in Rust).
    fn from(j: serde_json::Value) -> Self {
        use serde_json::Value as J;
        match j {
            J::Null => Input::Null,
            J::Bool(b) => Input::Bool(b),
            J::Number(n) => Input::Number(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Input::Text(s),
            J::Array(items) => Input::Array(items.into_iter().map(Input::from).collect()),
            J::Object(map) => {
                Input::Object(map.into_iter().map(|(k, v)| (k, Input::from(v))).collect())
            }
        }
    }
}

/// A finite JS number as JSON writes it: a whole number within the safe integers as an integer
/// (`3477`, as `JSON.stringify` prints it, not `3477.0`), anything else as a double.
fn json_number(n: f64) -> serde_json::Number {
    const SAFE: f64 = 9_007_199_254_740_991.0; // Number.MAX_SAFE_INTEGER
    if n.fract() == 0.0 && n.abs() <= SAFE {
        serde_json::Number::from(n as i64)
    } else {
        serde_json::Number::from_f64(n).expect("finite")
    }
}

#[cfg(test)]
mod tests;

/// Inputs kept as JSON, exactly: the fallback's journal stores a call's arguments this way and
/// replays them later. Plain JSON values stand for themselves; what JSON lacks is an object with
/// one `$`-key: `{"$u":0}` undefined, `{"$d":ms}` a Date, `{"$n":"NaN"}` a number JSON cannot
/// hold, `{"$x":"function"}` an unsupported value, `{"$o":[[key, value], …]}` an object (kept
/// in order, whatever its keys).
pub mod journaled {
    use super::Input;
    use serde_json::{json, Value as J};

    pub fn encode(input: &Input) -> J {
        match input {
            Input::Undefined => json!({"$u": 0}),
            Input::Null => J::Null,
            Input::Bool(b) => J::Bool(*b),
            Input::Number(n) => match serde_json::Number::from_f64(*n) {
                Some(n) => J::Number(n),
                None => json!({"$n": n.to_string()}),
            },
            Input::Text(s) => J::String(s.clone()),
            Input::Date(ms) => json!({"$d": encode(&Input::Number(*ms))}),
            Input::Array(items) => J::Array(items.iter().map(encode).collect()),
            Input::Object(members) => json!({"$o": members
                .iter()
                .map(|(k, v)| json!([k, encode(v)]))
                .collect::<Vec<_>>()}),
            Input::Unsupported(t) => json!({"$x": t}),
        }
    }

    pub fn decode(json: &J) -> Input {
        match json {
            J::Null => Input::Null,
            J::Bool(b) => Input::Bool(*b),
            J::Number(n) => Input::Number(n.as_f64().unwrap_or(f64::NAN)),
            J::String(s) => Input::Text(s.clone()),
            J::Array(items) => Input::Array(items.iter().map(decode).collect()),
            J::Object(map) => match map.iter().next() {
                Some((k, _)) if k == "$u" => Input::Undefined,
                Some((k, v)) if k == "$d" => match decode(v) {
                    Input::Number(ms) => Input::Date(ms),
                    _ => Input::Date(f64::NAN),
                },
                Some((k, v)) if k == "$n" => {
                    Input::Number(v.as_str().and_then(|s| s.parse().ok()).unwrap_or(f64::NAN))
                }
                Some((k, v)) if k == "$x" => Input::Unsupported(match v.as_str() {
                    Some("function") => "function",
                    Some("symbol") => "symbol",
                    Some("bigint") => "bigint",
                    _ => "unsupported value",
                }),
                Some((k, J::Array(members))) if k == "$o" => Input::Object(
                    members
                        .iter()
                        .filter_map(|m| match m.as_array().map(Vec::as_slice) {
                            Some([J::String(k), v]) => Some((k.clone(), decode(v))),
                            _ => None,
                        })
                        .collect(),
                ),
                _ => Input::Unsupported("unsupported value"),
            },
        }
    }
}
