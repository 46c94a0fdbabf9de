//! The writer's tests: groups, failures within them, and its end.

use super::*;
use std::sync::mpsc::channel;

#[test]
fn the_last_reference_dropped_on_the_writer_thread_does_not_join_itself() {
    let (w, _conn) = writer();
    let shared = Arc::new(w);
    let last = shared.clone();
    let (dropped, wait) = channel::<()>();
    let (done, finished) = channel();
    shared.write(
        move |_| {
            wait.recv().ok(); // until the caller let go of its reference
            Ok(())
        },
        move |r: Result<()>| {
            drop(last); // the last one: Writer::drop runs here, on the writer thread
            done.send(r.is_ok()).unwrap();
        },
    );
    drop(shared);
    dropped.send(()).unwrap();
    assert_eq!(
        finished.recv_timeout(std::time::Duration::from_secs(5)),
        Ok(true),
        "the completion ran to its end (no panic joining the thread from itself)"
    );
}

fn writer() -> (Writer, Arc<Mutex<Connection>>) {
    let conn = Connection::open_in_memory().unwrap();
    conn.execute_batch("CREATE TABLE t (v INTEGER NOT NULL UNIQUE)")
        .unwrap();
    let conn = Arc::new(Mutex::new(conn));
    (Writer::start(conn.clone()).unwrap(), conn)
}

fn insert(conn: &Connection, values: &[i64]) -> Result<()> {
    for v in values {
        conn.execute("INSERT INTO t (v) VALUES (?1)", [v])?;
    }
    Ok(())
}

fn stored(conn: &Arc<Mutex<Connection>>) -> Vec<i64> {
    let conn = lock(conn);
    let mut st = conn.prepare("SELECT v FROM t ORDER BY v").unwrap();
    let rows = st.query_map([], |r| r.get(0)).unwrap();
    rows.map(|r| r.unwrap()).collect()
}

#[test]
fn a_lone_write_that_fails_halfway_leaves_nothing() {
    let (w, conn) = writer();
    let (tx, rx) = channel();
    let t = tx.clone();
    w.write(|c| insert(c, &[1]), move |r| t.send(r.is_ok()).unwrap());
    assert!(rx.recv().unwrap());
    // Its first row goes in, its second breaks the UNIQUE constraint: all of it is undone.
    let t = tx.clone();
    w.write(|c| insert(c, &[2, 1]), move |r| t.send(r.is_ok()).unwrap());
    assert!(!rx.recv().unwrap());
    w.write(|c| insert(c, &[3]), move |r| tx.send(r.is_ok()).unwrap());
    assert!(rx.recv().unwrap());
    w.close();
    assert_eq!(stored(&conn), vec![1, 3]);
}

#[test]
fn a_failing_write_in_a_group_fails_alone() {
    let (w, conn) = writer();
    let (tx, rx) = channel();
    // Hold the connection so the writes queue up and commit as one group.
    let held = lock(&conn);
    for values in [vec![1], vec![2, 1], vec![3], vec![4, 4], vec![5]] {
        let t = tx.clone();
        let first = values[0];
        w.write(
            move |c| insert(c, &values),
            move |r| t.send((first, r.is_ok())).unwrap(),
        );
    }
    drop(held);
    let mut outcomes: Vec<(i64, bool)> = (0..5).map(|_| rx.recv().unwrap()).collect();
    outcomes.sort();
    assert_eq!(
        outcomes,
        vec![(1, true), (2, false), (3, true), (4, false), (5, true)]
    );
    w.close();
    assert_eq!(stored(&conn), vec![1, 3, 5]);
}
