//! WAL checkpoints off the JS thread. SQLite's own auto-checkpoint runs in the connection that
//! commits, and a lone write commits on the JS thread (see
//! [`Writer::now`](super::writer::Writer::now)); a checkpoint copies pages into the file and
//! syncs it. So the writer connection only reports its WAL's size after each commit ([`watch`]
//! switches the auto-checkpoint off), and once the WAL holds [`PAGES`] pages ([`due`]) the
//! writer thread runs a PASSIVE checkpoint ([`run`]) between groups. On the writer connection,
//! with no write in between, the checkpoint catches up with the whole WAL, so the next write
//! starts it over from its beginning, as with SQLite's own auto-checkpoint.

use std::cell::Cell;

use rusqlite::hooks::Wal;
use rusqlite::Connection;

/// The WAL size that calls for a checkpoint: SQLite's own auto-checkpoint interval.
pub const PAGES: i32 = 1000;

thread_local! {
    /// The WAL's size in pages after the last commit on this thread (0 once read).
    static WAL_PAGES: Cell<i32> = const { Cell::new(0) };
}

fn record_pages(_: &Wal, pages: std::ffi::c_int) -> rusqlite::Result<()> {
    WAL_PAGES.with(|p| p.set(pages));
    Ok(())
}

/// Has `conn` report its WAL's size after each commit, in place of checkpointing itself.
pub fn watch(conn: &Connection) {
    conn.wal_hook(Some(record_pages));
}

/// Whether the last commit on this thread left the WAL at [`PAGES`] pages or more.
pub fn due() -> bool {
    WAL_PAGES.with(|p| p.replace(0)) >= PAGES
}

/// Copies the WAL into the file, as far as readers allow, waiting for no one. A failure (a
/// full disk) leaves the WAL as it is; the next commit asks again.
pub fn run(conn: &Connection) {
    let _ = conn.execute_batch("PRAGMA wal_checkpoint(PASSIVE)");
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::core::db::sqlite::writer::Writer;
    use std::path::Path;
    use std::sync::{Arc, Mutex};

    fn open(path: &Path) -> Connection {
        let conn = Connection::open(path).unwrap();
        conn.pragma_update(None, "journal_mode", "WAL").unwrap();
        conn.execute_batch("CREATE TABLE t (v BLOB)").unwrap();
        conn
    }

    fn wal_pages(path: &Path) -> u64 {
        let mut wal = path.as_os_str().to_owned();
        wal.push("-wal");
        std::fs::metadata(wal).map_or(0, |m| m.len()) / 4096
    }

    /// Writes about 3,000 pages (a page per row), one transaction each, on this thread.
    fn fill(conn: &Connection) {
        for _ in 0..3000 {
            conn.execute("INSERT INTO t (v) VALUES (zeroblob(3000))", [])
                .unwrap();
        }
    }

    #[test]
    fn a_watched_connection_never_checkpoints_itself() {
        let dir = std::env::temp_dir().join(format!("checkpoint-a-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (plain, watched) = (dir.join("plain.db"), dir.join("watched.db"));
        let conn = open(&plain);
        fill(&conn);
        assert!(wal_pages(&plain) < 2 * PAGES as u64, "auto-checkpointed");
        let conn = open(&watched);
        watch(&conn);
        fill(&conn);
        assert!(wal_pages(&watched) > 2 * PAGES as u64, "the WAL only grew");
        assert!(due());
        assert!(!due(), "read once");
        let _ = std::fs::remove_dir_all(dir);
    }

    #[test]
    fn writes_run_at_once_leave_the_checkpoints_to_the_writer_thread() {
        let dir = std::env::temp_dir().join(format!("checkpoint-b-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join("a.db");
        let conn = open(&path);
        watch(&conn);
        let writer = Writer::start(Arc::new(Mutex::new(conn))).unwrap();
        let mut at_once = 0;
        for _ in 0..3000 {
            let wrote = writer.now(|c| {
                c.execute("INSERT INTO t (v) VALUES (zeroblob(3000))", [])?;
                Ok(())
            });
            match wrote {
                Some(r) => {
                    r.unwrap();
                    at_once += 1;
                }
                // The writer thread is checkpointing: queue it, as the executor does.
                None => writer.write(
                    |c| Ok(c.execute("INSERT INTO t (v) VALUES (zeroblob(3000))", [])?),
                    |r: crate::core::error::Result<usize>| {
                        r.unwrap();
                    },
                ),
            }
        }
        writer.close();
        assert!(at_once > 0);
        assert!(
            wal_pages(&path) < 2 * PAGES as u64,
            "the writer thread checkpointed, and the WAL started over"
        );
        let _ = std::fs::remove_dir_all(dir);
    }
}
