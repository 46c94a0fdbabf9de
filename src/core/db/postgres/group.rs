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

use super::exec::run_one;
use crate::core::abort::{self, Abort};
use crate::core::db::merge::{chunks, mergeable, merged, one_shape, share};
use crate::core::db::statement::{Merge, Statement, StmtResult};
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::metrics::WriteStats;

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
    /// `queued`: writes in progress (a write that finds none runs at once, without the queue's
    /// hop); `groups`: the size of each transaction.
    stats: Arc<WriteStats>,
}

impl Grouper {
    /// Starts the dispatcher on the current runtime.
    pub fn start(pool: PgPool) -> Grouper {
        let (queue, mut jobs) = mpsc::unbounded_channel::<Job>();
        let dispatcher_pool = pool.clone();
        let stats = Arc::new(WriteStats::default());
        let dispatcher_stats = stats.clone();
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
                dispatcher_stats.groups.observe(group.len() as u64);
                let pool = dispatcher_pool.clone();
                tokio::spawn(async move {
                    run_group(&pool, group).await;
                    drop(lane);
                });
            }
        });
        Grouper { queue, pool, stats }
    }

    /// Writes in progress and the sizes of the groups committed.
    pub fn stats(&self) -> &WriteStats {
        &self.stats
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
        let alone_now = self.stats.queued.fetch_add(1, Ordering::AcqRel) == 0;
        let _busy = Busy(&self.stats.queued);
        // A write its caller may abort runs alone, in a transaction of its own.
        if let Some(abort) = abort::current() {
            self.stats.groups.observe(1);
            return abortable(&self.pool, &statements, &abort).await;
        }
        if alone_now {
            self.stats.groups.observe(1);
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
        Err(Failure::Commit(e)) if !retryable(&e) => {
            for job in group {
                let _ = job.done.send(Err(e.clone()));
            }
        }
        // A statement failed, or the commit was aborted for a deadlock or a serialization
        // failure (nothing was kept): each write runs alone, and so fails or retries alone.
        Err(Failure::Commit(_) | Failure::Statement) => {
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
/// How often a write that PostgreSQL aborted for a deadlock or a serialization failure is run
/// again (its transaction rolled back whole, so running it again is safe).
const RETRIES: u32 = 5;

/// Whether PostgreSQL aborted the transaction for a deadlock (40P01) or a serialization failure
/// (40001): nothing of it was kept, and the same transaction may succeed when run again.
fn retryable(err: &Error) -> bool {
    err.cause
        .as_ref()
        .and_then(|c| c.code.as_deref())
        .is_some_and(|code| code == "40001" || code == "40P01")
}

pub async fn alone(pool: &PgPool, statements: &[Statement]) -> Result<Vec<StmtResult>> {
    let mut attempt = 0;
    loop {
        match alone_once(pool, statements).await {
            Err(e) if retryable(&e) && attempt < RETRIES => {
                attempt += 1;
                // 4, 8, 16… ms, with jitter so that the transactions that collided part ways.
                let base = 2u64 << attempt;
                let jitter = u64::from(
                    std::time::SystemTime::now()
                        .duration_since(std::time::UNIX_EPOCH)
                        .map_or(0, |d| d.subsec_nanos()),
                ) % base.max(1);
                tracing::debug!(
                    attempt,
                    "retrying a write after a deadlock or serialization failure"
                );
                tokio::time::sleep(std::time::Duration::from_millis(base + jitter)).await;
            }
            other => return other,
        }
    }
}

/// One write in its own transaction (a single statement too), rolled back instead of committed
/// when its caller's signal fired meanwhile. Not retried: an aborted caller is not waiting.
async fn abortable(
    pool: &PgPool,
    statements: &[Statement],
    abort: &Abort,
) -> Result<Vec<StmtResult>> {
    abort.check()?;
    let mut conn = pool.acquire().await?;
    let mut tx = conn.begin().await?;
    let results = run_in_order(&mut tx, statements).await?;
    if let Err(e) = abort.check() {
        tx.rollback().await?;
        return Err(e);
    }
    tx.commit().await?;
    Ok(results)
}

async fn alone_once(pool: &PgPool, statements: &[Statement]) -> Result<Vec<StmtResult>> {
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
        let firsts: Vec<&Statement> = members.iter().map(|&i| &group[i].statements[0]).collect();
        for range in chunks(&firsts, MAX_MERGED_ROWS) {
            let statement = merged(merge, &firsts[range.clone()]);
            let out = run_one(&mut tx, &statement)
                .await
                .map_err(|_| Failure::Statement)?;
            for (&i, r) in members[range.clone()]
                .iter()
                .zip(share(merge, &firsts[range], out))
            {
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
    let Some(merge) = one_shape(group.iter().map(|j| j.statements.as_slice())) else {
        return Ok(None);
    };
    let firsts: Vec<&Statement> = group.iter().map(|j| &j.statements[0]).collect();
    if chunks(&firsts, MAX_MERGED_ROWS).len() != 1 {
        return Ok(None);
    }
    let statement = merged(merge, &firsts);
    let mut conn = pool.acquire().await.map_err(|_| Failure::Statement)?;
    let out = match run_one(&mut conn, &statement).await {
        Ok(out) => out,
        // A refused statement wrote nothing: retried write by write. A lost connection leaves
        // the outcome unknown: reported, not retried.
        Err(e) if e.code == ErrorCode::DbUnavailable => return Err(Failure::Commit(e)),
        Err(_) => return Err(Failure::Statement),
    };
    let results = share(merge, &firsts, out)
        .into_iter()
        .map(|r| vec![r])
        .collect();
    tracing::debug!(writes = group.len(), "group written as one statement");
    Ok(Some(results))
}
