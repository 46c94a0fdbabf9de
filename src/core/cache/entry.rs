//! What the store keeps: keys as JS compares them, entries with their lifetime and metadata,
//! and the counters.

use std::hash::{Hash, Hasher};

use crate::core::error::{Error, Result};
use crate::core::input::{Fields, Input};

/// A cache key: JS strings and numbers (kept apart, as a `Map` keeps them). A string is kept
/// as its UTF-16 code units, which is how JS compares strings (and how V8 copies them fastest).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Key {
    Text(Box<[u16]>),
    /// A number's bits (`-0` normalised to `0`).
    Number(u64),
}

/// A key borrowed from the caller: how lookups are made, so a read allocates nothing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyRef<'a> {
    Text(&'a [u16]),
    Number(u64),
}

impl Key {
    /// A number key (`-0` and `0` are one key, as in a `Map`).
    pub fn number(n: f64) -> Key {
        KeyRef::number(n).to_owned()
    }

    /// The key, borrowed.
    pub fn as_ref(&self) -> KeyRef<'_> {
        match self {
            Key::Text(s) => KeyRef::Text(s),
            Key::Number(bits) => KeyRef::Number(*bits),
        }
    }
}

impl KeyRef<'_> {
    /// A number key (`-0` and `0` are one key, as in a `Map`).
    pub fn number(n: f64) -> KeyRef<'static> {
        KeyRef::Number(if n == 0.0 { 0.0f64 } else { n }.to_bits())
    }

    /// The key, owned (as the store keeps it).
    pub fn to_owned(self) -> Key {
        match self {
            KeyRef::Text(s) => Key::Text(s.into()),
            KeyRef::Number(bits) => Key::Number(bits),
        }
    }
}

impl Hash for KeyRef<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        match self {
            KeyRef::Text(s) => {
                state.write_u8(0);
                s.hash(state);
            }
            KeyRef::Number(bits) => {
                state.write_u8(1);
                bits.hash(state);
            }
        }
    }
}

/// How long an entry lives.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lifetime {
    /// This many milliseconds from when it is set.
    Millis(i64),
    Forever,
}

impl Lifetime {
    /// When an entry set at `now` expires (None: never).
    pub fn expiry(self, now: i64) -> Option<i64> {
        match self {
            Lifetime::Millis(ms) => Some(now.saturating_add(ms)),
            Lifetime::Forever => None,
        }
    }

    /// A TTL argument: None when absent, else a lifetime (0 or Infinity: forever).
    pub fn argument(v: &Input, field: &str) -> Result<Option<Lifetime>> {
        match v {
            Input::Undefined | Input::Null => Ok(None),
            Input::Number(n) if *n == f64::INFINITY || *n == 0.0 => Ok(Some(Lifetime::Forever)),
            Input::Number(n) if n.is_finite() && *n > 0.0 => {
                Ok(Some(Lifetime::Millis(n.ceil() as i64)))
            }
            _ => Err(Error::validation(format!(
                "{field} must be a positive number of milliseconds (0 or Infinity: no expiry)"
            ))),
        }
    }
}

/// One entry as `entries()` and `getMetadata()` show it.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry<V> {
    pub key: Key,
    pub value: V,
    /// Epoch ms of the last `set`.
    pub timestamp: i64,
    /// Epoch ms after which it is gone (None: never).
    pub expires_at: Option<i64>,
    pub metadata: Input,
}

/// Counters; every entry that leaves is counted once, as a delete, an eviction or an expiry.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub sets: u64,
    pub deletes: u64,
    pub evictions: u64,
    pub expirations: u64,
}

/// `WorkflowCache`'s default `maxSize`.
pub const DEFAULT_MAX_SIZE: usize = 1000;
/// `WorkflowCache`'s default `ttl`: five minutes.
pub const DEFAULT_TTL: Lifetime = Lifetime::Millis(300_000);

/// `maxSize` (an integer ≥ 1), `ttl` (ms; 0 or Infinity: no expiry).
pub fn limits(f: &Fields<'_>) -> Result<(Option<usize>, Option<Lifetime>)> {
    let max = f
        .integer("maxSize", 1, u32::MAX as i64)?
        .map(|n| n as usize);
    Ok((max, Lifetime::argument(f.get("ttl"), "options.ttl")?))
}

/// `set`'s options: the entry's TTL (None: the cache's) and its metadata (`{}` by default).
pub fn set_options(options: &Input) -> Result<(Option<Lifetime>, Input)> {
    if options.is_absent() {
        return Ok((None, Input::Object(Vec::new())));
    }
    let f = Fields::of(options, "options")?;
    let ttl = Lifetime::argument(f.get("ttl"), "options.ttl")?;
    let metadata = match f.get("metadata") {
        Input::Undefined | Input::Null => Input::Object(Vec::new()),
        m => m.clone(),
    };
    Ok((ttl, metadata))
}

/// What in a value cannot be kept as data, if anything.
pub fn unstorable(v: &Input) -> Option<&'static str> {
    match v {
        Input::Unsupported(what) => Some(what),
        Input::Array(items) => items.iter().find_map(unstorable),
        Input::Object(fields) => fields.iter().find_map(|(_, v)| unstorable(v)),
        _ => None,
    }
}
