//! Distinct executions without a scan (migration 012): a sketch of the execution ids per UTC day
//! and metric key, one per key for the rows without a time, and one per key for all time, which
//! `getMetricsStatistics` merges to count `unique_executions`.
//!
//! A sketch is the set of the ids' 64-bit hashes while it holds at most [`SET_MAX`] of them (its
//! count is exact, but for a hash collision: odds about n²/2⁶⁵), then HyperLogLog registers of
//! precision 14 (16,384 one-byte registers), counted with Ertl's improved raw estimator
//! ("New cardinality estimation algorithms for HyperLogLog sketches", 2017): a relative standard
//! error of 1.04/√16384 = 0.81 % at every cardinality, with no bias-correction tables. Merging
//! sketches is exact (the union of the sets, the maximum of the registers) and idempotent.
//!
//! The triggers only append the ids a write adds (`workflow_metric_execution_pending`) and mark
//! the keys an update or a delete removed ids from (`workflow_metric_execution_dirty`); a
//! [`Fold`] moves them into the sketches, in a transaction of its own serialized with every other
//! fold ([`Store::transact`](super::store::Store::transact)). A marked sketch is rebuilt from the
//! raw rows (a sketch cannot subtract) and the ids of the rows a cleanup removed that the rollups
//! keep counting (each day keeps a second sketch of those), and its key's all-time sketch from the
//! key's day sketches.

use std::collections::{BTreeMap, BTreeSet};

use base64::engine::general_purpose::STANDARD_NO_PAD as BASE64;
use base64::Engine;

use super::statement::{Statement, StmtResult};
use super::store::Steps;
use crate::core::error::{Error, Result};
use crate::core::value::{Row, Value};

/// The day of the all-time sketches (the rollups' all-time day).
pub const ALL_TIME: i64 = -2_147_483_648;

/// The day of the sketches of rows without a time.
pub const UNDATED: i64 = -2_147_483_647;

const DAY_MS: i64 = 86_400_000;

/// Register index bits.
const P: u32 = 14;

/// Registers.
const M: usize = 1 << P;

/// Hash bits left for a register's value.
const Q: u32 = 64 - P;

/// The most hashes a sketch keeps as a set (8 bytes each: half the registers' size).
pub const SET_MAX: usize = 1024;

/// Pending ids a fold takes per transaction.
const TAKE_IDS: usize = 20_000;

/// Marked keys a fold takes per transaction.
const TAKE_DIRTY: usize = 200;

/// The 64-bit hash of an execution id: FNV-1a, then MurmurHash3's finalizer (FNV alone leaves
/// the high bits of short keys poorly mixed). Stored in the sketches: never change it.
pub fn hash(id: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in id.as_bytes() {
        h ^= u64::from(*b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

/// A sketch of distinct ids.
#[derive(Debug, Clone, PartialEq)]
pub enum Distinct {
    Set(BTreeSet<u64>),
    Registers(Box<[u8]>),
}

impl Default for Distinct {
    fn default() -> Distinct {
        Distinct::Set(BTreeSet::new())
    }
}

/// The register of a hash and the value it offers it (the position of the first 1 bit after the
/// index bits, Q + 1 when there is none).
fn register(h: u64) -> (usize, u8) {
    let rest = h & ((1u64 << Q) - 1);
    let rank = if rest == 0 {
        Q + 1
    } else {
        rest.leading_zeros() - P + 1
    };
    ((h >> Q) as usize, rank as u8)
}

impl Distinct {
    pub fn add(&mut self, h: u64) {
        match self {
            Distinct::Set(set) => {
                set.insert(h);
                if set.len() > SET_MAX {
                    let set = std::mem::take(set);
                    *self = Distinct::Registers(vec![0; M].into_boxed_slice());
                    set.into_iter().for_each(|h| self.add(h));
                }
            }
            Distinct::Registers(r) => {
                let (i, rank) = register(h);
                r[i] = r[i].max(rank);
            }
        }
    }

    pub fn add_id(&mut self, id: &str) {
        self.add(hash(id));
    }

    pub fn merge(&mut self, other: &Distinct) {
        match (&mut *self, other) {
            (Distinct::Registers(a), Distinct::Registers(b)) => {
                a.iter_mut()
                    .zip(b.iter())
                    .for_each(|(x, y)| *x = (*x).max(*y));
            }
            (_, Distinct::Set(set)) => set.iter().for_each(|h| self.add(*h)),
            (Distinct::Set(set), Distinct::Registers(b)) => {
                let set = std::mem::take(set);
                *self = Distinct::Registers(b.clone());
                set.into_iter().for_each(|h| self.add(h));
            }
        }
    }

    pub fn is_empty(&self) -> bool {
        matches!(self, Distinct::Set(set) if set.is_empty())
    }

    /// The distinct ids counted: exact for a set, estimated from registers.
    pub fn count(&self) -> i64 {
        match self {
            Distinct::Set(set) => set.len() as i64,
            Distinct::Registers(r) => estimate(r).round() as i64,
        }
    }

    /// As stored: `s` and the hashes (little-endian), or `r` and the registers, in base64.
    pub fn encode(&self) -> String {
        match self {
            Distinct::Set(set) => {
                let bytes: Vec<u8> = set.iter().flat_map(|h| h.to_le_bytes()).collect();
                format!("s{}", BASE64.encode(bytes))
            }
            Distinct::Registers(r) => format!("r{}", BASE64.encode(r)),
        }
    }

    pub fn decode(text: &str) -> Result<Distinct> {
        let bad = || Error::internal("a stored sketch of distinct executions is unreadable");
        let bytes = BASE64
            .decode(text.get(1..).unwrap_or(""))
            .map_err(|_| bad())?;
        match text.as_bytes().first() {
            Some(b's') if bytes.len() % 8 == 0 => Ok(Distinct::Set(
                bytes
                    .chunks_exact(8)
                    .map(|c| u64::from_le_bytes(c.try_into().unwrap_or_default()))
                    .collect(),
            )),
            Some(b'r') if bytes.len() == M && bytes.iter().all(|&r| u32::from(r) <= Q + 1) => {
                Ok(Distinct::Registers(bytes.into_boxed_slice()))
            }
            _ => Err(bad()),
        }
    }
}

/// Ertl's improved raw estimate from the registers' histogram.
fn estimate(registers: &[u8]) -> f64 {
    let mut c = [0u32; (Q + 2) as usize];
    for &r in registers {
        c[usize::from(r)] += 1;
    }
    let m = M as f64;
    let mut z = m * tau(1.0 - f64::from(c[(Q + 1) as usize]) / m);
    for k in (1..=Q as usize).rev() {
        z = 0.5 * (z + f64::from(c[k]));
    }
    z += m * sigma(f64::from(c[0]) / m);
    m * m / (2.0 * std::f64::consts::LN_2) / z
}

fn sigma(x: f64) -> f64 {
    if x == 1.0 {
        return f64::INFINITY;
    }
    let (mut x, mut y, mut z) = (x, 1.0, x);
    loop {
        x *= x;
        let before = z;
        z += x * y;
        y += y;
        if z == before {
            return z;
        }
    }
}

fn tau(x: f64) -> f64 {
    if x == 0.0 || x == 1.0 {
        return 0.0;
    }
    let (mut x, mut y, mut z) = (x, 1.0, 1.0 - x);
    loop {
        x = x.sqrt();
        let before = z;
        y *= 0.5;
        z -= (1.0 - x) * (1.0 - x) * y;
        if z == before {
            return z / 3.0;
        }
    }
}

/// A metric key as the rollups store it: name, type key, category key.
type Key = (String, String, String);

/// A sketch's day and key.
type Target = (i64, Key);

/// What a statement of the read step answers.
enum Read {
    /// The stored sketch of a target.
    Sketch(Target),
    /// The execution ids of a target's raw rows.
    Raw(Target),
    /// The stored day (and undated) sketches of a key.
    Days(Key),
}

/// One fold of pending ids and marked keys into the sketches, as the steps of a transaction
/// (see its [`Steps::next`]).
pub struct Fold {
    row_id: &'static str,
    adds: BTreeMap<Target, Distinct>,
    /// Ids of rows a cleanup removed that the rollups keep counting, per day.
    kept: BTreeMap<Target, Distinct>,
    rebuild: BTreeSet<Target>,
    rebuild_all: BTreeSet<Key>,
    reads: Vec<Read>,
    /// The ids taken at the first step.
    taken: Vec<Row>,
    step: u8,
    more: bool,
}

impl Fold {
    pub fn new(postgres: bool) -> Fold {
        Fold {
            row_id: if postgres { "ctid" } else { "rowid" },
            adds: BTreeMap::new(),
            kept: BTreeMap::new(),
            rebuild: BTreeSet::new(),
            rebuild_all: BTreeSet::new(),
            reads: Vec::new(),
            taken: Vec::new(),
            step: 0,
            more: false,
        }
    }

    /// Whether it left pending ids or marks behind (it took as many as it takes at most).
    pub fn more(&self) -> bool {
        self.more
    }

    /// Takes pending ids, at most `limit` of them.
    fn take_ids(&self, limit: Option<usize>) -> Statement {
        let (id, limit) = (
            self.row_id,
            limit.map_or(String::new(), |n| format!(" LIMIT {n}")),
        );
        Statement::new(
            format!(
                "DELETE FROM workflow_metric_execution_pending WHERE {id} IN \
                 (SELECT {id} FROM workflow_metric_execution_pending{limit}) \
                 RETURNING day, metric_name, type_key, category_key, execution_id, kept"
            ),
            Vec::new(),
        )
    }

    fn take_marks(&self) -> Statement {
        let id = self.row_id;
        Statement::new(
            format!(
                "DELETE FROM workflow_metric_execution_dirty WHERE {id} IN \
                 (SELECT {id} FROM workflow_metric_execution_dirty LIMIT {TAKE_DIRTY}) \
                 RETURNING day, metric_name, type_key, category_key"
            ),
            Vec::new(),
        )
    }

    /// What was taken, and the statements that read what it touches (none: nothing to do). A
    /// marked sketch is rebuilt from the raw rows as they are now: the ids pending for it then
    /// only count through those rows (an id whose row was deleted since must not come back).
    fn plan(&mut self, ids: Vec<Row>, marks: Vec<Row>) -> Vec<Statement> {
        for row in &ids {
            let key = key_of(row);
            let day = row.get("day").and_then(Value::as_i64).unwrap_or(UNDATED);
            let h = hash(&text(row, "execution_id"));
            if matches!(row.get("kept"), Some(Value::Bool(true) | Value::Int(1))) {
                self.kept.entry((day, key)).or_default().add(h);
                continue;
            }
            for target in [(day, key.clone()), (ALL_TIME, key)] {
                self.adds.entry(target).or_default().add(h);
            }
        }
        for row in &marks {
            let key = key_of(row);
            let day = row.get("day").and_then(Value::as_i64).unwrap_or(UNDATED);
            if day != ALL_TIME {
                self.rebuild.insert((day, key.clone()));
            }
            self.rebuild_all.insert(key);
        }
        let mut statements = Vec::new();
        let targets: BTreeSet<&Target> = self
            .adds
            .keys()
            .chain(self.kept.keys())
            .chain(&self.rebuild)
            .collect();
        for target in targets {
            if target.0 == ALL_TIME && self.rebuild_all.contains(&target.1) {
                continue;
            }
            statements.push(sketch_of(target));
            self.reads.push(Read::Sketch(target.clone()));
        }
        for target in &self.rebuild {
            statements.push(raw_ids(target));
            self.reads.push(Read::Raw(target.clone()));
        }
        for key in &self.rebuild_all {
            statements.push(Statement::new(
                format!(
                    "SELECT day, sketch FROM workflow_metric_executions WHERE day > {ALL_TIME} \
                     AND metric_name = $1 AND type_key = $2 AND category_key = $3"
                ),
                key_params(key),
            ));
            self.reads.push(Read::Days(key.clone()));
        }
        statements
    }

    /// The sketches' new values from what was read, as the statements that store them.
    fn write(&mut self, read: Vec<StmtResult>) -> Result<Vec<Statement>> {
        let mut stored: BTreeMap<Target, Distinct> = BTreeMap::new();
        let mut stored_kept: BTreeMap<Target, Distinct> = BTreeMap::new();
        let mut raw: BTreeMap<Target, Distinct> = BTreeMap::new();
        let mut days: BTreeMap<Key, BTreeMap<i64, Distinct>> = BTreeMap::new();
        for (what, result) in std::mem::take(&mut self.reads).into_iter().zip(read) {
            match what {
                Read::Sketch(target) => {
                    if let Some(row) = result.rows.first() {
                        stored.insert(target.clone(), Distinct::decode(&text(row, "sketch"))?);
                        if let Some(Value::Text(kept)) = row.get("kept_sketch") {
                            stored_kept.insert(target, Distinct::decode(kept)?);
                        }
                    }
                }
                Read::Raw(target) => {
                    let mut d = Distinct::default();
                    result
                        .rows
                        .iter()
                        .for_each(|row| d.add_id(&text(row, "execution_id")));
                    raw.insert(target, d);
                }
                Read::Days(key) => {
                    let of_key = days.entry(key).or_default();
                    for row in &result.rows {
                        let day = row.get("day").and_then(Value::as_i64).unwrap_or(UNDATED);
                        of_key.insert(day, Distinct::decode(&text(row, "sketch"))?);
                    }
                }
            }
        }
        // Each day's (and the undated) new sketches: all ids, and those of cleaned rows.
        let mut new: BTreeMap<Target, (Distinct, Distinct)> = BTreeMap::new();
        let day_targets: BTreeSet<Target> = self
            .adds
            .keys()
            .filter(|t| t.0 != ALL_TIME)
            .chain(self.kept.keys())
            .chain(&self.rebuild)
            .cloned()
            .collect();
        for target in day_targets {
            let mut kept = stored_kept.remove(&target).unwrap_or_default();
            if let Some(add) = self.kept.get(&target) {
                kept.merge(add);
            }
            let mut sketch = match self.rebuild.contains(&target) {
                true => raw.remove(&target).unwrap_or_default(),
                false => {
                    let mut sketch = stored.remove(&target).unwrap_or_default();
                    if let Some(add) = self.adds.get(&target) {
                        sketch.merge(add);
                    }
                    sketch
                }
            };
            sketch.merge(&kept);
            new.insert(target, (sketch, kept));
        }
        // The all-time sketches of the keys that took ids or lost some (kept ids are in them
        // already).
        let keys: BTreeSet<Key> = self
            .adds
            .keys()
            .map(|(_, k)| k.clone())
            .chain(self.rebuild_all.iter().cloned())
            .collect();
        for key in keys {
            let mut all = Distinct::default();
            if let Some(mut of_key) = days.remove(&key) {
                for ((day, k), (sketch, _)) in &new {
                    if *k == key {
                        of_key.insert(*day, sketch.clone());
                    }
                }
                of_key.values().for_each(|d| all.merge(d));
            } else {
                all = stored.remove(&(ALL_TIME, key.clone())).unwrap_or_default();
                if let Some(add) = self.adds.get(&(ALL_TIME, key.clone())) {
                    all.merge(add);
                }
            }
            new.insert((ALL_TIME, key), (all, Distinct::default()));
        }
        Ok(new.iter().map(|(t, (d, kept))| store(t, d, kept)).collect())
    }
}

/// The rows of the first result.
fn rows(results: &mut Vec<StmtResult>) -> Vec<Row> {
    match results.is_empty() {
        true => Vec::new(),
        false => results.remove(0).rows,
    }
}

impl Steps for Fold {
    /// 1. Take pending ids (on PostgreSQL, after folding migration 011's pending rows, which
    ///    hands their ids over). 2. If that left none behind, take marks, then every id pending by now:
    ///    a mark taken is of a delete committed before it, so the id of the row it deleted is
    ///    taken too, and never folded in after the sketch was rebuilt without it. 3. Read what
    ///    they touch. 4. Write the new sketches.
    fn next(&mut self, mut results: Vec<StmtResult>) -> Result<Option<Vec<Statement>>> {
        self.step += 1;
        Ok(match self.step {
            1 => {
                let mut first = Vec::new();
                if self.row_id == "ctid" {
                    // PostgreSQL: a write's ids wait in migration 011's pending table with the
                    // rest of its rows, until that table's fold hands them over.
                    first.push(Statement::new(
                        "SELECT workflow_rollup_fold() AS folded",
                        Vec::new(),
                    ));
                }
                first.push(self.take_ids(Some(TAKE_IDS)));
                Some(first)
            }
            2 => {
                let ids = results.pop().map(|r| r.rows).unwrap_or_default();
                if ids.len() < TAKE_IDS {
                    self.taken = ids;
                    return Ok(Some(vec![self.take_marks(), self.take_ids(None)]));
                }
                self.more = true;
                self.step = 3;
                Some(self.plan(ids, Vec::new())).filter(|s| !s.is_empty())
            }
            3 => {
                let marks = rows(&mut results);
                let mut ids = std::mem::take(&mut self.taken);
                ids.extend(rows(&mut results));
                self.more = marks.len() >= TAKE_DIRTY;
                Some(self.plan(ids, marks)).filter(|s| !s.is_empty())
            }
            4 => Some(self.write(results)?),
            _ => None,
        })
    }
}

fn text(row: &Row, column: &str) -> String {
    match row.get(column) {
        Some(Value::Text(t)) => t.clone(),
        _ => String::new(),
    }
}

fn key_of(row: &Row) -> Key {
    (
        text(row, "metric_name"),
        text(row, "type_key"),
        text(row, "category_key"),
    )
}

fn key_params((name, metric_type, category): &Key) -> Vec<Value> {
    [name, metric_type, category]
        .map(|v| Value::Text(v.clone()))
        .to_vec()
}

fn target_params((day, key): &Target) -> Vec<Value> {
    let mut params = vec![Value::Int(*day)];
    params.extend(key_params(key));
    params
}

const TARGET: &str = "day = $1 AND metric_name = $2 AND type_key = $3 AND category_key = $4";

fn sketch_of(target: &Target) -> Statement {
    Statement::new(
        format!("SELECT sketch, kept_sketch FROM workflow_metric_executions WHERE {TARGET}"),
        target_params(target),
    )
}

/// The execution ids of a day's (or the undated) raw rows of a key.
fn raw_ids((day, key): &Target) -> Statement {
    let of_key = "metric_name = $1 AND COALESCE('=' || metric_type, '') = $2 \
                  AND COALESCE('=' || metric_category, '') = $3 AND execution_id IS NOT NULL";
    let mut params = key_params(key);
    let when = if *day == UNDATED {
        "recorded_at IS NULL".to_string()
    } else {
        params.push(Value::Timestamp(day * DAY_MS));
        params.push(Value::Timestamp((day + 1) * DAY_MS));
        "recorded_at >= $4 AND recorded_at < $5".to_string()
    };
    Statement::new(
        format!("SELECT execution_id FROM workflow_metrics WHERE {when} AND {of_key}"),
        params,
    )
}

/// Stores a sketch and that of its cleaned rows (an empty one is removed).
fn store(target: &Target, sketch: &Distinct, kept: &Distinct) -> Statement {
    if sketch.is_empty() {
        return Statement::new(
            format!("DELETE FROM workflow_metric_executions WHERE {TARGET}"),
            target_params(target),
        );
    }
    let mut params = target_params(target);
    params.push(Value::Text(sketch.encode()));
    params.push(match kept.is_empty() {
        true => Value::Null,
        false => Value::Text(kept.encode()),
    });
    Statement::new(
        "INSERT INTO workflow_metric_executions (day, metric_name, type_key, category_key, sketch, kept_sketch) \
         VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (day, metric_name, type_key, category_key) \
         DO UPDATE SET sketch = excluded.sketch, kept_sketch = excluded.kept_sketch",
        params,
    )
}

#[cfg(test)]
mod tests;
