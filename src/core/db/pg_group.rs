//! PostgreSQL group commit: writes that arrive while others are running are committed together.
//!
//! A write that finds no other in progress runs at once, alone. Otherwise it queues: a
//! dispatcher task takes every queued write, up to [`MAX_GROUP`], and runs them on one pooled
//! connection in one transaction, at most [`LANES`] groups at a time. Single-statement
//! `INSERT … VALUES` writes of the same shape ([`Merge`]) — metrics, mostly — become one
//! multi-row INSERT. Every write's result is sent only after its group committed. If a
//! statement fails, the group is rolled back and each of its writes runs again alone, so one bad
//! write fails alone; a failed COMMIT is reported to every write of the group (it may or may not
//! have landed, so nothing is retried).

use std::collections::HashMap;
use std::sync::Arc;

use sqlx::postgres::PgPool;
use sqlx::{Acquire, PgConnection};
use tokio::sync::{mpsc, oneshot, Semaphore};

use super::super::error::{Error, Result};
use super::super::value::Value;
use super::postgres::run_one;
use super::{Merge, Statement, StmtResult};

/// The most writes in one group.
const MAX_GROUP: usize = 256;
/// Groups running at once (each on its own connection).
const LANES: usize = 4;
/// The most rows in one merged INSERT.
const MAX_MERGED_ROWS: usize = 1000;

struct Job {
    statements: Vec<Statement>,
    done: oneshot::Sender<Result<Vec<StmtResult>>>,
}

/// The queue in front of the pool.
pub struct Grouper {
    queue: mpsc::UnboundedSender<Job>,
    pool: PgPool,
    /// Writes in progress: a write that finds none runs at once, without the queue's hop.
    busy: Arc<std::sync::atomic::AtomicUsize>,
}

impl Grouper {
    /// Starts the dispatcher on the current runtime.
    pub fn start(pool: PgPool) -> Grouper {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Job>();
        let dispatcher_pool = pool.clone();
        tokio::spawn(async move {
            let lanes = Arc::new(Semaphore::new(LANES));
            while let Some(first) = jobs.recv().await {
                // Waiting for a lane is what lets the next group fill up.
                let Ok(lane) = lanes.clone().acquire_owned().await else {
                    return;
                };
                let mut group = vec![first];
                while group.len() < MAX_GROUP {
                    match jobs.try_recv() {
                        Ok(job) => group.push(job),
                        Err(_) => break,
                    }
                }
                let pool = dispatcher_pool.clone();
                tokio::spawn(async move {
                    run_group(&pool, group).await;
                    drop(lane);
                });
            }
        });
        Grouper {
            queue,
            pool,
            busy: Arc::default(),
        }
    }

    /// Runs `statements` in one transaction (alone or with others), returning what each produced.
    pub async fn write(&self, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
        use std::sync::atomic::Ordering;
        struct Busy<'a>(&'a std::sync::atomic::AtomicUsize);
        impl Drop for Busy<'_> {
            fn drop(&mut self) {
                self.0.fetch_sub(1, Ordering::AcqRel);
            }
        }
        let alone_now = self.busy.fetch_add(1, Ordering::AcqRel) == 0;
        let _busy = Busy(&self.busy);
        if alone_now {
            return alone(&self.pool, &statements).await;
        }
        let (done, result) = oneshot::channel();
        self.queue
            .send(Job { statements, done })
            .map_err(|_| Error::closed())?;
        result.await.map_err(|_| Error::closed())?
    }
}

async fn run_group(pool: &PgPool, group: Vec<Job>) {
    if group.len() == 1 {
        let job = group.into_iter().next().expect("one job");
        let _ = job.done.send(alone(pool, &job.statements).await);
        return;
    }
    match together(pool, &group).await {
        Ok(results) => {
            for (job, result) in group.into_iter().zip(results) {
                let _ = job.done.send(Ok(result));
            }
        }
        Err(Failure::Commit(e)) => {
            for job in group {
                let _ = job.done.send(Err(e.clone()));
            }
        }
        Err(Failure::Statement) => {
            // Each write again on its own, concurrently: only the bad ones fail.
            let mut runs = tokio::task::JoinSet::new();
            for job in group {
                let pool = pool.clone();
                runs.spawn(async move {
                    let _ = job.done.send(alone(&pool, &job.statements).await);
                });
            }
            while runs.join_next().await.is_some() {}
        }
    }
}

/// One write, in its own transaction (a single statement runs without BEGIN/COMMIT).
pub async fn alone(pool: &PgPool, statements: &[Statement]) -> Result<Vec<StmtResult>> {
    let mut conn = pool.acquire().await?;
    if statements.len() == 1 {
        return Ok(vec![run_one(&mut conn, &statements[0]).await?]);
    }
    let mut tx = conn.begin().await?;
    let results = run_in_order(&mut tx, statements).await?;
    tx.commit().await?;
    Ok(results)
}

async fn run_in_order(
    conn: &mut PgConnection,
    statements: &[Statement],
) -> Result<Vec<StmtResult>> {
    let mut out = Vec::with_capacity(statements.len());
    for statement in statements {
        let result = if statement.skipped(&out) {
            StmtResult::default()
        } else {
            run_one(conn, statement).await?
        };
        out.push(result);
    }
    Ok(out)
}

enum Failure {
    /// A statement failed: nothing was committed.
    Statement,
    /// COMMIT failed: the outcome is unknown.
    Commit(Error),
}

/// The group in one transaction: first the writes that cannot merge, in order, then each
/// merged INSERT. Returns every write's results.
async fn together(
    pool: &PgPool,
    group: &[Job],
) -> std::result::Result<Vec<Vec<StmtResult>>, Failure> {
    if let Some(results) = one_statement(pool, group).await? {
        return Ok(results);
    }
    let mut conn = pool.acquire().await.map_err(|_| Failure::Statement)?;
    let mut tx = conn.begin().await.map_err(|_| Failure::Statement)?;
    let mut results: Vec<Option<Vec<StmtResult>>> = vec![None; group.len()];
    // Keyed by the shape's address: every shape is a `static`.
    let mut merges: HashMap<usize, Vec<usize>> = HashMap::new();
    let mut merge_order = Vec::new();
    for (i, job) in group.iter().enumerate() {
        match mergeable(&job.statements) {
            Some(merge) => {
                let key = merge as *const Merge as usize;
                if !merges.contains_key(&key) {
                    merge_order.push((key, merge));
                }
                merges.entry(key).or_default().push(i);
            }
            None => {
                let r = run_in_order(&mut tx, &job.statements)
                    .await
                    .map_err(|_| Failure::Statement)?;
                results[i] = Some(r);
            }
        }
    }
    let merged_writes: usize = merges.values().map(Vec::len).sum();
    for (key, merge) in merge_order {
        let members = &merges[&key];
        for chunk in chunks(group, members) {
            let statement = merged(merge, chunk.iter().map(|&i| &group[i].statements[0]));
            let out = run_one(&mut tx, &statement)
                .await
                .map_err(|_| Failure::Statement)?;
            for (i, r) in share(merge, group, chunk, out) {
                results[i] = Some(vec![r]);
            }
        }
    }
    tx.commit().await.map_err(|e| Failure::Commit(e.into()))?;
    tracing::debug!(
        writes = group.len(),
        merged = merged_writes,
        "group committed"
    );
    Ok(results.into_iter().map(Option::unwrap_or_default).collect())
}

/// A group that merges into one INSERT of at most [`MAX_MERGED_ROWS`] rows runs as that one
/// statement, without BEGIN/COMMIT (a statement is atomic): one round trip for the whole group.
async fn one_statement(
    pool: &PgPool,
    group: &[Job],
) -> std::result::Result<Option<Vec<Vec<StmtResult>>>, Failure> {
    let Some(merge) = mergeable(&group[0].statements) else {
        return Ok(None);
    };
    let same = group
        .iter()
        .all(|j| mergeable(&j.statements).is_some_and(|m| std::ptr::eq(m, merge)));
    let members: Vec<usize> = (0..group.len()).collect();
    if !same || chunks(group, &members).len() != 1 {
        return Ok(None);
    }
    let statement = merged(merge, group.iter().map(|j| &j.statements[0]));
    let mut conn = pool.acquire().await.map_err(|_| Failure::Statement)?;
    let out = match run_one(&mut conn, &statement).await {
        Ok(out) => out,
        // A refused statement wrote nothing: retried write by write. A lost connection leaves
        // the outcome unknown: reported, not retried.
        Err(e) if e.code == super::super::error::ErrorCode::DbUnavailable => {
            return Err(Failure::Commit(e))
        }
        Err(_) => return Err(Failure::Statement),
    };
    let mut results = vec![Vec::new(); group.len()];
    for (i, r) in share(merge, group, &members, out) {
        results[i] = vec![r];
    }
    tracing::debug!(writes = group.len(), "group written as one statement");
    Ok(Some(results))
}

/// The shape a single-statement write can merge under.
fn mergeable(statements: &[Statement]) -> Option<&'static Merge> {
    match statements {
        [s] if s.only_if.is_none() => s.merge,
        _ => None,
    }
}

/// Members split so that no merged INSERT exceeds [`MAX_MERGED_ROWS`].
fn chunks<'a>(group: &[Job], members: &'a [usize]) -> Vec<&'a [usize]> {
    let mut out = Vec::new();
    let (mut start, mut rows) = (0, 0);
    for (n, &i) in members.iter().enumerate() {
        let s = &group[i].statements[0];
        let these = s.params.len() / s.merge.map_or(1, |m| m.width).max(1);
        if rows + these > MAX_MERGED_ROWS && n > start {
            out.push(&members[start..n]);
            start = n;
            rows = 0;
        }
        rows += these;
    }
    if start < members.len() {
        out.push(&members[start..]);
    }
    out
}

/// One INSERT with every member's rows, parameters renumbered in order.
fn merged<'a>(merge: &Merge, members: impl Iterator<Item = &'a Statement>) -> Statement {
    let mut tuples = Vec::new();
    let mut params = Vec::new();
    for s in members {
        for row in s.params.chunks(merge.width) {
            tuples.push(renumber(merge.tuple, params.len()));
            params.extend(row.iter().cloned());
        }
    }
    Statement::new(
        format!("{} VALUES {}{}", merge.head, tuples.join(", "), merge.tail),
        params,
    )
}

/// `template` with every `$n` moved up by `offset`.
pub fn renumber(template: &str, offset: usize) -> String {
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.char_indices().peekable();
    while let Some((_, c)) = chars.next() {
        if c == '$' && chars.peek().is_some_and(|(_, d)| d.is_ascii_digit()) {
            let mut n = 0usize;
            while let Some((_, d)) = chars.peek().filter(|(_, d)| d.is_ascii_digit()) {
                n = n * 10 + d.to_digit(10).unwrap_or(0) as usize;
                chars.next();
            }
            out.push('$');
            out.push_str(&(n + offset).to_string());
        } else {
            out.push(c);
        }
    }
    out
}

/// The merged statement's result, per member: its rows (matched by the key parameter when the
/// INSERT returns rows) and how many rows it added.
fn share(
    merge: &Merge,
    group: &[Job],
    members: &[usize],
    out: StmtResult,
) -> Vec<(usize, StmtResult)> {
    // PostgreSQL returns a uuid as text: compare keys as text.
    let key_of = |v: &Value| match v {
        Value::Uuid(u) => u.hyphenated().to_string(),
        Value::Text(t) => t.clone(),
        other => format!("{other:?}"),
    };
    let mut by_key: HashMap<String, super::super::value::Row> = match merge.key {
        Some(column) => out
            .rows
            .into_iter()
            .filter_map(|r| Some((key_of(r.get(column)?), r.clone())))
            .collect(),
        None => HashMap::new(),
    };
    members
        .iter()
        .map(|&i| {
            let s = &group[i].statements[0];
            let added = (s.params.len() / merge.width.max(1)) as u64;
            let rows = match merge.key {
                Some(_) => s
                    .params
                    .chunks(merge.width)
                    .filter_map(|row| by_key.remove(&key_of(&row[merge.key_param])))
                    .collect(),
                None => Vec::new(),
            };
            (
                i,
                StmtResult {
                    rows,
                    affected: added,
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    static M: Merge = Merge {
        head: "INSERT INTO t (a, b)",
        tuple: "($1, CAST($2 AS DOUBLE PRECISION))",
        tail: " RETURNING a, b",
        width: 2,
        key: Some("a"),
        key_param: 0,
    };

    #[test]
    fn returned_rows_go_back_to_the_write_that_sent_them() {
        let id = |n: u8| uuid::Uuid::from_bytes([n; 16]);
        let (done, _) = oneshot::channel();
        let (done2, _) = oneshot::channel();
        let job = |params: Vec<Value>, done| Job {
            statements: vec![Statement::new("x", params).merging(&M)],
            done,
        };
        let group = vec![
            job(vec![Value::Uuid(id(1)), Value::Int(10)], done),
            job(
                vec![
                    Value::Uuid(id(2)),
                    Value::Int(20),
                    Value::Uuid(id(3)),
                    Value::Int(30),
                ],
                done2,
            ),
        ];
        let row = |n: u8, b: i64| {
            super::super::super::value::Row::new(
                vec!["a".into(), "b".into()],
                vec![Value::Text(id(n).hyphenated().to_string()), Value::Int(b)],
            )
        };
        // Returned in another order than sent.
        let out = StmtResult {
            rows: vec![row(3, 30), row(1, 10), row(2, 20)],
            affected: 3,
        };
        let shared = share(&M, &group, &[0, 1], out);
        assert_eq!(shared[0].1.rows, vec![row(1, 10)]);
        assert_eq!(shared[1].1.rows, vec![row(2, 20), row(3, 30)]);
        assert_eq!((shared[0].1.affected, shared[1].1.affected), (1, 2));
    }

    #[test]
    fn members_merge_into_one_insert_with_renumbered_parameters() {
        assert_eq!(renumber("($1, $2, $10)", 20), "($21, $22, $30)");
        let one = Statement::new("x", vec![Value::Int(1), Value::Int(2)]);
        let two = Statement::new(
            "x",
            vec![Value::Int(3), Value::Int(4), Value::Int(5), Value::Int(6)],
        );
        let s = merged(&M, [&one, &two].into_iter());
        assert_eq!(
            s.sql,
            "INSERT INTO t (a, b) VALUES ($1, CAST($2 AS DOUBLE PRECISION)), ($3, CAST($4 AS DOUBLE PRECISION)), \
             ($5, CAST($6 AS DOUBLE PRECISION)) RETURNING a, b"
        );
        assert_eq!(s.params.len(), 6);
    }
}
