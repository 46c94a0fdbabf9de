//! Paging: `limit`, `offset`, and the keyset cursor that continues a list after its last row.

use crate::core::error::{Error, Result};
use crate::core::input::Fields;
use crate::core::value::Value;

/// Paging options shared by every list method.
#[derive(Debug, Clone, PartialEq)]
pub struct Page {
    pub limit: i64,
    pub offset: i64,
    /// Keyset cursor: continue after this one (see `cursor`).
    pub after: Option<Cursor>,
}

/// Keyset position: the sort values and the unique id of the last row of a page.
#[derive(Debug, Clone, PartialEq)]
pub struct Cursor {
    pub keys: Vec<Value>,
    pub id: String,
}

impl Page {
    pub fn from(options: &Fields<'_>, default_limit: i64) -> Result<Page> {
        let limit = options
            .integer("limit", 0, 100_000)?
            .unwrap_or(default_limit);
        let offset = options.integer("offset", 0, i64::MAX / 2)?.unwrap_or(0);
        let after = match options.text("after", 1024)? {
            None => None,
            Some(c) => Some(Cursor::decode(&c)?),
        };
        Ok(Page {
            limit,
            offset,
            after,
        })
    }
}

fn escape(s: &str) -> String {
    s.replace('%', "%25").replace(':', "%3A")
}

fn unescape(s: &str) -> String {
    s.replace("%3A", ":").replace("%25", "%")
}

impl Cursor {
    /// An opaque string: `<key>:…:<id>`, each key one of `t<ms>` (timestamp), `n<number>`,
    /// `s<text>` or `z` (null).
    pub fn encode(keys: &[&Value], id: &str) -> String {
        let mut parts: Vec<String> = keys
            .iter()
            .map(|k| match k {
                Value::Timestamp(ms) => format!("t{ms}"),
                Value::Int(i) => format!("n{i}"),
                Value::Float(f) => format!("n{f}"),
                Value::Text(s) => format!("s{}", escape(s)),
                _ => "z".to_string(),
            })
            .collect();
        parts.push(escape(id));
        parts.join(":")
    }

    pub fn decode(text: &str) -> Result<Cursor> {
        let bad = || Error::validation("after is not a cursor returned by this package");
        let mut parts: Vec<&str> = text.split(':').collect();
        let id = unescape(parts.pop().ok_or_else(bad)?);
        if parts.is_empty() || id.is_empty() || id.len() > 512 {
            return Err(bad());
        }
        let keys = parts
            .iter()
            .map(|p| {
                let (kind, rest) = p.split_at(p.len().min(1));
                Ok(match kind {
                    "t" => Value::Timestamp(rest.parse().map_err(|_| bad())?),
                    "n" => match rest.parse::<i64>() {
                        Ok(i) => Value::Int(i),
                        Err(_) => Value::Float(rest.parse().map_err(|_| bad())?),
                    },
                    "s" => Value::Text(unescape(rest)),
                    "z" if rest.is_empty() => Value::Null,
                    _ => return Err(bad()),
                })
            })
            .collect::<Result<Vec<_>>>()?;
        Ok(Cursor { keys, id })
    }

    /// The single sort value of a one-key cursor.
    pub fn key(&self) -> Result<&Value> {
        match self.keys.as_slice() {
            [k] => Ok(k),
            _ => Err(Error::validation("after is a cursor of another list")),
        }
    }
}
