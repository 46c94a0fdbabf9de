//! The SQLite writer: one dedicated thread (no tokio) that owns the write connection and commits
//! in groups. Every write queued while the previous group was committing joins the next group:
//! one `BEGIN IMMEDIATE … COMMIT` for all of them, each in its own savepoint so that one failing
//! write rolls back alone. A write's completion runs only after its group committed.
//!
//! A write that finds the writer idle (nothing queued, the connection free) runs at once on the
//! caller's thread instead ([`Writer::now`]): a lone `await repo.create(…)` then pays no thread
//! hop, as a lone write on PostgreSQL goes out at once. Checkpoints run on the writer thread
//! only, between groups (see [`checkpoint`]).

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::sync::mpsc::{self, Receiver, Sender};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use std::time::{Duration, Instant};

use rusqlite::Connection;

use super::{checkpoint, exec};
use crate::core::db::distinct::Fold;
use crate::core::db::sync::lock;
use crate::core::error::{Error, Result};
use crate::core::metrics::WriteStats;

/// How long a connection waits for another process's lock (not on the caller's thread: see
/// [`Writer::now`]).
pub const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(5);

/// The most writes committed together; bounds the latency a large burst adds to its first write.
const MAX_GROUP: usize = 512;

/// How often the writer folds the pending execution ids into their sketches (migration 012):
/// every `getMetricsStatistics` call folds first; this keeps them few in a process that writes
/// and never reads.
const FOLD_EVERY: Duration = Duration::from_secs(1);

/// The most transactions of pending ids one fold between groups takes (a bulk load is left to
/// the next ones, or to the first read).
const FOLD_ROUNDS: usize = 10;

type Finish = Box<dyn FnOnce(Result<()>) + Send>;

type GroupedFn = Box<dyn FnOnce(Option<&Connection>) -> (bool, Finish) + Send>;
type ExclusiveFn = Box<dyn FnOnce(&mut Connection) + Send>;

enum Job {
    /// Runs inside the group transaction, in its own savepoint.
    Grouped(GroupedFn),
    /// Runs alone between groups and manages its own transactions (migrations, seeding).
    Exclusive(ExclusiveFn),
}

/// Handle to the writer thread.
pub struct Writer {
    conn: Arc<Mutex<Connection>>,
    sender: Mutex<Option<Sender<Job>>>,
    thread: Mutex<Option<JoinHandle<()>>>,
    /// `queued`: jobs sent and not yet finished; `groups`: writes committed together.
    stats: Arc<WriteStats>,
    folds: Arc<FoldClock>,
}

/// When the writer last folded pending execution ids.
struct FoldClock(Mutex<Instant>);

impl FoldClock {
    /// Whether a fold is due; if so, it counts as done now.
    fn due(&self) -> bool {
        let mut last = lock(&self.0);
        let due = last.elapsed() >= FOLD_EVERY;
        if due {
            *last = Instant::now();
        }
        due
    }
}

/// Folds pending execution ids into their sketches, at most `rounds` transactions of them; a
/// failure (the schema not migrated yet, a full disk) leaves them to the next fold.
fn fold_distinct(conn: &mut Connection, rounds: usize) {
    for _ in 0..rounds {
        match exec::transact(conn, Fold::new(false)) {
            Ok(fold) if fold.more() => {}
            Ok(_) => return,
            Err(e) => {
                tracing::debug!(reason = %e, "folding the pending execution ids failed");
                return;
            }
        }
    }
}

impl Writer {
    /// Starts the thread on `conn`, which it locks while it writes.
    pub fn start(conn: Arc<Mutex<Connection>>) -> Result<Writer> {
        let (sender, receiver) = mpsc::channel();
        let stats = Arc::new(WriteStats::default());
        let folds = Arc::new(FoldClock(Mutex::new(Instant::now())));
        let (thread_stats, thread_folds) = (stats.clone(), folds.clone());
        let thread_conn = conn.clone();
        let thread = std::thread::Builder::new()
            .name("workflow-infra-sqlite-writer".into())
            .spawn(move || run(thread_conn, receiver, &thread_stats, &thread_folds))
            .map_err(|e| Error::internal(format!("cannot start the SQLite writer thread: {e}")))?;
        Ok(Writer {
            conn,
            sender: Mutex::new(Some(sender)),
            thread: Mutex::new(Some(thread)),
            stats,
            folds,
        })
    }

    /// Jobs queued or running, and the sizes of the groups committed.
    pub fn stats(&self) -> &WriteStats {
        &self.stats
    }

    /// Queues `work` for the next group; `done` gets its result once the group committed
    /// (or the error that stopped it). Runs `done` at once with `ERR_CLOSED` after `close()`.
    pub fn write<T, W, D>(&self, work: W, done: D)
    where
        T: Send + 'static,
        W: FnOnce(&Connection) -> Result<T> + Send + 'static,
        D: FnOnce(Result<T>) + Send + 'static,
    {
        let job: GroupedFn = Box::new(move |conn: Option<&Connection>| {
            let result = conn.map(|c| guarded(|| work(c)));
            let ok = matches!(result, Some(Ok(_)));
            let finish: Finish = Box::new(move |outcome: Result<()>| {
                done(match (result, outcome) {
                    (Some(Err(e)), _) | (_, Err(e)) => Err(e),
                    (Some(Ok(v)), Ok(())) => Ok(v),
                    (None, Ok(())) => Err(Error::internal("the write did not run")),
                })
            });
            (ok, finish)
        });
        self.send(Job::Grouped(job), |job| {
            if let Job::Grouped(f) = job {
                let (_, finish) = f(None);
                finish(Err(Error::closed()));
            }
        });
    }

    /// Runs `work` at once on the calling thread, in a transaction of its own, when the writer
    /// is idle: nothing queued or running, and its connection free. `None` (nothing ran) when it
    /// is not, or when another process holds the file's write lock: the write is then queued,
    /// so the calling thread never waits for a lock. (Always in `BEGIN IMMEDIATE … COMMIT`, even
    /// for one statement: a statement left to SQLite's own transaction commits when it is reset,
    /// so a panic between its steps would keep what it wrote.)
    pub fn now<T>(&self, work: impl FnOnce(&Connection) -> Result<T>) -> Option<Result<T>> {
        if self.stats.queued.load(Ordering::Acquire) != 0 || lock(&self.sender).is_none() {
            return None;
        }
        let conn = self.conn.try_lock().ok()?;
        conn.busy_timeout(std::time::Duration::ZERO).ok()?;
        let begun = control(&conn, "BEGIN IMMEDIATE");
        let _ = conn.busy_timeout(BUSY_TIMEOUT);
        begun.ok()?;
        let result = guarded(|| work(&conn)).and_then(|value| {
            control(&conn, "COMMIT")?;
            Ok(value)
        });
        if result.is_err() && !conn.is_autocommit() {
            let _ = control(&conn, "ROLLBACK");
        }
        self.stats.groups.observe(1);
        drop(conn);
        if checkpoint::due() {
            // Not here, on the caller's thread: on the writer's, before the writes queued next.
            self.exclusive(
                |conn| {
                    checkpoint::run(conn);
                    Ok(())
                },
                |_: Result<()>| {},
            );
        }
        if self.folds.due() {
            self.exclusive(
                |conn| {
                    fold_distinct(conn, FOLD_ROUNDS);
                    Ok(())
                },
                |_: Result<()>| {},
            );
        }
        Some(result)
    }

    /// Runs `work` alone on the writer connection (it opens its own transactions).
    pub fn exclusive<T, W, D>(&self, work: W, done: D)
    where
        T: Send + 'static,
        W: FnOnce(&mut Connection) -> Result<T> + Send + 'static,
        D: FnOnce(Result<T>) + Send + 'static,
    {
        let done = Arc::new(Mutex::new(Some(done)));
        let on_closed = done.clone();
        let job: ExclusiveFn = Box::new(move |conn: &mut Connection| {
            let result = guarded(|| work(conn));
            if let Some(done) = lock(&done).take() {
                done(result);
            }
        });
        self.send(Job::Exclusive(job), move |_| {
            if let Some(done) = lock(&on_closed).take() {
                done(Err(Error::closed()));
            }
        });
    }

    fn send(&self, job: Job, on_closed: impl FnOnce(Job)) {
        self.stats.queued.fetch_add(1, Ordering::Relaxed);
        let refused = match lock(&self.sender).as_ref() {
            Some(sender) => sender.send(job).err().map(|e| e.0),
            None => Some(job),
        };
        if let Some(job) = refused {
            self.stats.queued.fetch_sub(1, Ordering::Relaxed);
            on_closed(job);
        }
    }

    /// Stops accepting writes, lets the thread commit everything already queued, and joins it.
    /// On the writer thread itself (a completion dropped the last reference to the database,
    /// as when a worker_thread's environment is torn down mid-write) it cannot join itself:
    /// the thread then finishes its queue and ends on its own.
    pub fn close(&self) {
        lock(&self.sender).take();
        if let Some(thread) = lock(&self.thread).take() {
            if thread.thread().id() != std::thread::current().id() {
                let _ = thread.join();
            }
        }
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        self.close();
    }
}

fn guarded<T>(work: impl FnOnce() -> Result<T>) -> Result<T> {
    catch_unwind(AssertUnwindSafe(work))
        .unwrap_or_else(|_| Err(Error::internal("a write panicked; it was rolled back")))
}

fn run(
    conn: Arc<Mutex<Connection>>,
    receiver: Receiver<Job>,
    stats: &WriteStats,
    folds: &FoldClock,
) {
    while let Ok(first) = receiver.recv() {
        let mut batch = vec![first];
        while batch.len() < MAX_GROUP {
            match receiver.try_recv() {
                Ok(job) => batch.push(job),
                Err(_) => break,
            }
        }
        let mut conn = lock(&conn);
        let mut group = Group::default();
        for job in batch {
            match job {
                Job::Grouped(f) => group.run(&conn, f),
                Job::Exclusive(f) => {
                    group.commit(&conn, stats);
                    stats.queued.fetch_sub(1, Ordering::Relaxed);
                    f(&mut conn);
                }
            }
        }
        group.commit(&conn, stats);
        if checkpoint::due() {
            checkpoint::run(&conn);
        }
        if folds.due() {
            fold_distinct(&mut conn, FOLD_ROUNDS);
        }
    }
    // Closing: nothing pending is left behind.
    fold_distinct(&mut lock(&conn), usize::MAX);
}

/// The writes of one transaction and what to tell each once it ends.
#[derive(Default)]
struct Group {
    open: Option<Result<()>>,
    finishes: Vec<(Finish, Option<Error>)>,
}

/// Runs one of the writer's own statements, prepared once per connection.
fn control(conn: &Connection, sql: &str) -> Result<()> {
    conn.prepare_cached(sql)?.execute([])?;
    Ok(())
}

impl Group {
    /// Runs one write in its own savepoint.
    fn run(&mut self, conn: &Connection, f: GroupedFn) {
        let begun = self
            .open
            .get_or_insert_with(|| control(conn, "BEGIN IMMEDIATE"))
            .clone();
        if let Err(e) = begun {
            let (_, finish) = f(None);
            self.finishes.push((finish, Some(e)));
            return;
        }
        if let Err(e) = control(conn, "SAVEPOINT write") {
            let (_, finish) = f(None);
            self.finishes.push((finish, Some(e)));
            return;
        }
        let (ok, finish) = f(Some(conn));
        let ended = if ok {
            control(conn, "RELEASE write")
        } else {
            control(conn, "ROLLBACK TO write").and_then(|()| control(conn, "RELEASE write"))
        };
        self.finishes.push((finish, ended.err()));
    }

    fn commit(&mut self, conn: &Connection, stats: &WriteStats) {
        let outcome = match self.open.take() {
            None => return,
            Some(Err(e)) => Err(e),
            Some(Ok(())) => control(conn, "COMMIT").inspect_err(|_| {
                let _ = control(conn, "ROLLBACK");
            }),
        };
        // Counted out before the completions run: a caller they wake sees the queue without them.
        stats.groups.observe(self.finishes.len() as u64);
        stats
            .queued
            .fetch_sub(self.finishes.len(), Ordering::Relaxed);
        for (finish, own) in self.finishes.drain(..) {
            finish(match own {
                Some(e) => Err(e),
                None => outcome.clone(),
            });
        }
    }
}

#[cfg(test)]
mod tests;
