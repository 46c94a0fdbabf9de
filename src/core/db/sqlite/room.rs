//! Room kept free beside an SQLite file, so that deletes still work when the disk is full.
//!
//! In WAL mode even a delete appends pages to the WAL, and a WAL whose pages are not yet in the
//! database file cannot be reset until a checkpoint copies them there, which may grow the file.
//! On a full disk neither can happen, and nothing could be deleted to make room. So an open file
//! keeps a reserve, `<file>-reserve` ([`RESERVE_BYTES`]). When a write meets a full disk, the
//! writer gives the reserve back, checkpoints the WAL into the file and truncates it, and
//! retries the write once if it only deletes. Until the disk has room for the reserve again,
//! writes that only delete go ahead and any other write is refused with "the disk is full"
//! (nothing written), so the room freed is kept for deleting.

use std::fs::File;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use super::exec::run_statements;
use super::writer::Writer;
use crate::core::abort::{self, Abort};
use crate::core::db::statement::{Statement, StmtResult};
use crate::core::error::{Error, Result};

/// The room kept: enough for a checkpoint of a full auto-checkpoint interval (1000 pages of
/// 4 KiB) into the file, and then some.
pub const RESERVE_BYTES: usize = 8 << 20;

/// What the reserve file's name adds to the database file's.
pub const SUFFIX: &str = "-reserve";

/// The reserve file of `database`.
pub fn reserve_path(database: &Path) -> PathBuf {
    let mut name = database.as_os_str().to_owned();
    name.push(SUFFIX);
    PathBuf::from(name)
}

/// The reserve of one open file (none for a database in memory).
pub struct Reserve {
    path: Option<PathBuf>,
    held: AtomicBool,
}

impl Reserve {
    /// No reserve: a database in memory never meets a full disk.
    pub fn none() -> Reserve {
        Reserve {
            path: None,
            held: AtomicBool::new(true),
        }
    }

    /// The reserve beside `database`, taken now if the disk has room for it.
    pub fn beside(database: &Path) -> Reserve {
        let reserve = Reserve {
            path: Some(reserve_path(database)),
            held: AtomicBool::new(false),
        };
        reserve.ensure();
        reserve
    }

    /// Whether the reserve is in place (without trying to take it back).
    pub fn held(&self) -> bool {
        self.held.load(Ordering::Acquire)
    }

    /// Whether the reserve is in place; if not, tries to take it back.
    pub fn ensure(&self) -> bool {
        if self.held.load(Ordering::Acquire) {
            return true;
        }
        let Some(path) = &self.path else {
            return true;
        };
        let taken = take(path);
        self.held.store(taken, Ordering::Release);
        taken
    }

    /// Gives the reserve back to the disk.
    pub fn release(&self) {
        if let Some(path) = &self.path {
            self.held.store(false, Ordering::Release);
            let _ = std::fs::remove_file(path);
        }
    }
}

/// Writes the reserve file in full; removes what was written when the disk has no room for all
/// of it. (No fsync: a file system reports a full disk when the write is made.)
fn take(path: &Path) -> bool {
    if std::fs::metadata(path).is_ok_and(|m| m.len() >= RESERVE_BYTES as u64) {
        return true;
    }
    let written = File::create(path).and_then(|mut file| {
        let chunk = noise();
        (0..RESERVE_BYTES / chunk.len()).try_for_each(|_| file.write_all(chunk))
    });
    if written.is_err() {
        let _ = std::fs::remove_file(path);
    }
    written.is_ok()
}

/// 64 KiB of bytes that no file system compresses or deduplicates away (xorshift).
fn noise() -> &'static [u8] {
    static NOISE: std::sync::OnceLock<Vec<u8>> = std::sync::OnceLock::new();
    NOISE.get_or_init(|| {
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut chunk = vec![0u8; 64 << 10];
        for bytes in chunk.chunks_mut(8) {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            bytes.copy_from_slice(&state.to_le_bytes());
        }
        chunk
    })
}

/// The error of a write refused because the disk is full: the one SQLite's own `SQLITE_FULL`
/// becomes.
pub fn disk_full() -> Error {
    Error::from(rusqlite::Error::SqliteFailure(
        rusqlite::ffi::Error::new(rusqlite::ffi::SQLITE_FULL),
        None,
    ))
}

fn is_disk_full(e: &Error) -> bool {
    e.cause
        .as_ref()
        .is_some_and(|c| c.code.as_deref() == Some("SQLITE_FULL"))
}

type Done = Box<dyn FnOnce(Result<Vec<StmtResult>>) + Send>;

/// Queues `statements` on `writer`, with the reserve's rules (see the module's text).
pub fn write(writer: &Arc<Writer>, reserve: &Arc<Reserve>, statements: Vec<Statement>, done: Done) {
    let only_deletes = statements.iter().all(Statement::only_deletes);
    submit(
        writer.clone(),
        reserve.clone(),
        Arc::new(statements),
        Queued {
            only_deletes,
            may_retry: true,
            abort: abort::current(),
        },
        done,
    );
}

/// How a queued write runs: whether it only deletes (it may use the reserve's room), whether a
/// full disk is retried once (after a checkpoint), and its caller's abort: checked when the
/// write starts and again before its savepoint is released (an abort rolls it back).
struct Queued {
    only_deletes: bool,
    may_retry: bool,
    abort: Option<Abort>,
}

/// Runs `statements` at once on the calling thread when the writer is idle and the reserve is
/// in place; `None` (nothing written) when they are to be queued with [`write`], which also
/// handles a full disk met on the way.
pub fn write_now(
    writer: &Writer,
    reserve: &Reserve,
    statements: &[Statement],
) -> Option<Result<Vec<StmtResult>>> {
    if !reserve.held() {
        return None;
    }
    match writer.now(|conn| run_statements(conn, statements))? {
        Err(e) if is_disk_full(&e) => None,
        result => Some(result),
    }
}

fn submit(
    writer: Arc<Writer>,
    reserve: Arc<Reserve>,
    statements: Arc<Vec<Statement>>,
    how: Queued,
    done: Done,
) {
    let (room, to_run) = (reserve.clone(), statements.clone());
    let Queued {
        only_deletes,
        may_retry,
        abort,
    } = how;
    let check = abort.clone();
    let check = move || check.as_ref().map_or(Ok(()), Abort::check);
    let queue = writer.clone();
    queue.write(
        move |conn| {
            check()?;
            if !only_deletes && !room.ensure() {
                return Err(disk_full());
            }
            let results = run_statements(conn, &to_run)?;
            check()?;
            Ok(results)
        },
        move |result| match result {
            Err(e) if may_retry && is_disk_full(&e) => {
                reserve.release();
                let again = writer.clone();
                writer.exclusive(
                    |conn| Ok(conn.execute_batch("PRAGMA wal_checkpoint(TRUNCATE)")?),
                    move |_: Result<()>| {
                        if only_deletes {
                            let how = Queued {
                                only_deletes: true,
                                may_retry: false,
                                abort,
                            };
                            submit(again, reserve, statements, how, done);
                        } else {
                            done(Err(e));
                        }
                    },
                );
            }
            other => done(other),
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::error::ErrorCode;

    #[test]
    fn a_reserve_is_taken_given_back_and_taken_again() {
        let dir = std::env::temp_dir().join(format!("room-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let db = dir.join("a.db");
        let file = dir.join("a.db-reserve");
        let reserve = Reserve::beside(&db);
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            RESERVE_BYTES as u64
        );
        reserve.release();
        assert!(!file.exists());
        assert!(reserve.ensure());
        assert_eq!(
            std::fs::metadata(&file).unwrap().len(),
            RESERVE_BYTES as u64
        );
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn without_a_file_there_is_nothing_to_give_back() {
        let reserve = Reserve::none();
        reserve.release();
        assert!(reserve.ensure());
    }

    #[test]
    fn only_statements_that_delete_count_as_deletes() {
        let only = |sql: &'static str| Statement::new(sql, vec![]).only_deletes();
        assert!(only("DELETE FROM t WHERE id = $1"));
        assert!(only("  delete from t"));
        assert!(!only("INSERT INTO t (v) VALUES ($1)"));
        assert!(!only("DELETED"));
        assert!(!only("UPDATE t SET v = 1"));
    }

    #[test]
    fn only_a_full_disk_is_recognised_as_one() {
        assert!(is_disk_full(&disk_full()));
        assert!(!is_disk_full(&Error::new(
            ErrorCode::Db,
            "the disk is full"
        )));
    }
}
