//! What the store keeps: keys as JS compares them, entries with their lifetime and metadata,
//! and the counters.

use std::hash::{Hash, Hasher};

use crate::core::error::{Error, Result};
use crate::core::input::Input;

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
