//! The fallback bridges an outage, then hands its writes back. While it serves, every write call
//! is journaled in it ([`journal`]). In the background the primary is probed (250 ms, doubling
//! up to 30 s); when it answers, the journal is replayed onto it in order, each operation in one
//! transaction with the record of its id (so that nothing is applied twice, whatever stops a
//! replay), then the calls go to the primary again: the database slot every class shares is
//! switched, the caches are flushed, and the calls made on the fallback before the switch finish
//! there and are replayed too. A process that starts on the primary with a journal left in its
//! fallback file replays it before it serves.

use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock, Weak};
use std::time::Duration;

use super::request::{Plan, Work};
use super::runtime;
use crate::core::config::{ConnectConfig, Target};
use crate::core::db::journal::{self, Entry};
use crate::core::db::{connect, Database, DbKind, Dialect};
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::input::Input;
use crate::core::stamp::Stamped;

/// A journaled method's plan from its name (`Class.method`) and arguments; None for a name it
/// does not know. The binding knows the methods, and installs this when it loads.
pub type Replanner = fn(&str, &Dialect, Vec<Input>) -> Option<Plan>;

static REPLANNER: std::sync::OnceLock<Replanner> = std::sync::OnceLock::new();

/// Installs the replanner the binding's classes replay with (once, when the addon loads).
pub fn install(replan: Replanner) {
    let _ = REPLANNER.set(replan);
}

/// The installed replanner; without one, nothing is known to replay.
pub fn replanner() -> Replanner {
    fn none(_: &str, _: &Dialect, _: Vec<Input>) -> Option<Plan> {
        None
    }
    REPLANNER.get().copied().unwrap_or(none)
}

/// The open database every class built on one `WorkflowDatabase` shares: `close()` empties it,
/// and the rejoin switches it from the fallback to the primary.
pub type DbSlot = Arc<RwLock<Option<Arc<Database>>>>;

/// The first pause between probes of the primary, and the longest.
const FIRST_PAUSE: Duration = Duration::from_millis(250);
const LONGEST_PAUSE: Duration = Duration::from_secs(30);
/// Operations read from the journal at a time.
const CHUNK: i64 = 256;

/// What a replay did.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Replayed {
    pub replayed: u64,
    pub conflicts: u64,
}

/// Opens the database as `config` says. On the primary, a journal that the fallback file still
/// holds (a process died on its fallback) is replayed first, so that this process serves every
/// write acknowledged before; if the primary fails during that replay, what is left stays in
/// the file for the next start (or `workflow-infra journal --replay-to`).
pub async fn connect(config: &ConnectConfig, replan: Replanner) -> Result<Database> {
    let db = connect::connect(config).await?;
    let Some(Target::Sqlite(path)) = &config.fallback else {
        return Ok(db);
    };
    if db.used_fallback() || db.kind() != DbKind::Postgres || config.read_only || !path.exists() {
        return Ok(db);
    }
    let primary = Arc::new(db);
    if let Err(e) = replay_file(path, &primary, replan).await {
        tracing::warn!(code = e.code.as_str(), reason = %e.message,
            "the fallback's journal could not be replayed; it stays in the file");
    }
    Arc::try_unwrap(primary).map_err(|_| Error::internal("a replay kept the database"))
}

/// Replays by hand the journal of the SQLite file `from` onto the database `to` names: what was
/// replayed, and how many operations are left pending (`to` became unreachable meanwhile).
pub async fn replay_file_onto(
    from: &Path,
    to: &ConnectConfig,
    replan: Replanner,
) -> Result<(Replayed, u64)> {
    let primary = Arc::new(connect::connect(to).await?);
    let done = replay_file(from, &primary, replan).await;
    let pending = primary.journal().figures().0;
    primary.close().await;
    Ok((done?, pending))
}

/// Replays the journal of the SQLite file at `path` onto `primary`.
pub async fn replay_file(
    path: &Path,
    primary: &Arc<Database>,
    replan: Replanner,
) -> Result<Replayed> {
    if !path.is_file() {
        return Err(Error::new(
            ErrorCode::DbUnavailable,
            "the fallback's SQLite file does not exist",
        ));
    }
    let fallback = Database::open_journal_file(path).await?;
    let done = async {
        if !journal::exists(&fallback).await? {
            return Ok(Replayed::default());
        }
        let pending = journal::count(&fallback, "pending").await?;
        if pending == 0 {
            return Ok(Replayed::default());
        }
        tracing::info!(
            pending,
            "replaying the journal a fallback left onto the primary"
        );
        primary
            .journal()
            .pending
            .fetch_add(pending, Ordering::Relaxed);
        replay(&fallback, primary, replan).await
    }
    .await;
    fallback.close().await;
    done
}

/// Replays the pending operations of `fallback`'s journal onto `primary`, oldest first, until
/// none is left. Stops at the first error that is not the operation's own (the primary became
/// unreachable again), leaving the rest pending.
pub async fn replay(
    fallback: &Database,
    primary: &Arc<Database>,
    replan: Replanner,
) -> Result<Replayed> {
    replay_chunks(fallback, primary, replan, false).await
}

/// [`replay`]; with `caught_up`, it also ends after a chunk shorter than [`CHUNK`]: what the
/// fallback is still writing meanwhile is replayed after the switch (so that a steady stream of
/// writes cannot hold the switch off).
async fn replay_chunks(
    fallback: &Database,
    primary: &Arc<Database>,
    replan: Replanner,
    caught_up: bool,
) -> Result<Replayed> {
    journal::open_replayed(primary).await?;
    let mut total = Replayed::default();
    loop {
        let chunk = journal::pending(fallback, CHUNK).await?;
        let last = chunk.len() < CHUNK as usize;
        if chunk.is_empty() {
            return Ok(total);
        }
        for entry in chunk {
            let conflict = replay_one(fallback, primary, replan, entry).await?;
            let state = primary.journal();
            let _ = state
                .pending
                .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1));
            if conflict {
                total.conflicts += 1;
                state.conflicts.fetch_add(1, Ordering::Relaxed);
            } else {
                total.replayed += 1;
                state.replayed.fetch_add(1, Ordering::Relaxed);
            }
        }
        if caught_up && last {
            return Ok(total);
        }
    }
}

/// Applies one operation to the primary, exactly once, and marks it in the journal; true when it
/// was set aside as a conflict.
async fn replay_one(
    fallback: &Database,
    primary: &Arc<Database>,
    replan: Replanner,
    entry: Entry,
) -> Result<bool> {
    let Entry {
        op_id,
        method,
        args,
        stamp,
    } = entry;
    let plan = stamp.apply(|| replan(&method, &Dialect(DbKind::Postgres), args));
    let applied = match plan.map(|p| p.work) {
        None => Err(Error::internal(
            "the journal names a method this version does not have",
        )),
        Some(Err(refused)) => Err(refused),
        Some(Ok(Work::Call(mut call))) if call.writes() => {
            call.tail = Some(Box::new(journal::replayed_statement(&op_id)));
            primary.call(call).await.map(drop)
        }
        Some(Ok(Work::WriteSteps(steps))) => {
            // Several transactions: applied unless already recorded, then recorded.
            if journal::applied(primary, &op_id).await? {
                Ok(())
            } else {
                match Stamped::new(stamp, steps(primary.clone())).await {
                    Ok(_) => primary
                        .write(vec![journal::replayed_statement(&op_id)])
                        .await
                        .map(drop),
                    Err(e) => Err(e),
                }
            }
        }
        Some(Ok(_)) => Ok(()),
    };
    match applied {
        Ok(()) => {
            journal::mark(fallback, &op_id, "replayed", None).await?;
            Ok(false)
        }
        Err(e) if stops_replay(&e) => Err(e),
        Err(e) => {
            // Applied before (its record refused the second time), or a real conflict: the
            // primary holds something else. Never overwritten: kept in the journal.
            if journal::applied(primary, &op_id).await? {
                journal::mark(fallback, &op_id, "replayed", None).await?;
                return Ok(false);
            }
            tracing::warn!(op_id = %op_id, method = %method, code = e.code.as_str(), reason = %e.message,
                "a write made on the fallback conflicts with the primary; kept in the journal, not applied");
            let detail = format!("{}: {}", e.code.as_str(), e.message);
            journal::mark(fallback, &op_id, "conflict", Some(detail)).await?;
            Ok(true)
        }
    }
}

/// An error that stops a replay (to be tried again later) rather than ends one operation: the
/// primary is unreachable, closed, or refuses this connection (credentials, a read-only open),
/// none of which is the operation's doing.
fn stops_replay(e: &Error) -> bool {
    matches!(
        e.code,
        ErrorCode::DbUnavailable | ErrorCode::Timeout | ErrorCode::Closed | ErrorCode::DbRefused
    )
}

/// Starts probing the primary for the fallback in `slot` (on the runtime); it ends once the
/// slot serves the primary, or when the slot is closed or dropped.
pub fn start(slot: &DbSlot, config: ConnectConfig, replan: Replanner) {
    let Some(runtime) = runtime::handle().filter(|_| !config.read_only) else {
        return;
    };
    let slot = Arc::downgrade(slot);
    runtime.spawn(rejoin(slot, config, replan));
}

/// The database a slot serves now.
fn current(slot: &Weak<RwLock<Option<Arc<Database>>>>) -> Option<Arc<Database>> {
    slot.upgrade()?
        .read()
        .unwrap_or_else(|e| e.into_inner())
        .clone()
}

async fn rejoin(
    slot: Weak<RwLock<Option<Arc<Database>>>>,
    config: ConnectConfig,
    replan: Replanner,
) {
    let mut pause = FIRST_PAUSE;
    loop {
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(LONGEST_PAUSE);
        let Some(fallback) = current(&slot).filter(|db| db.used_fallback()) else {
            return;
        };
        let primary = match connect::reopen_primary(&config, &fallback).await {
            Ok(db) => Arc::new(db),
            Err(e) => {
                if !matches!(e.code, ErrorCode::DbUnavailable | ErrorCode::Timeout) {
                    tracing::warn!(code = e.code.as_str(), reason = %e.message,
                        "the primary answers but refuses; staying on the fallback");
                }
                continue;
            }
        };
        let state = fallback.journal().clone();
        state.replaying.store(true, Ordering::Release);
        tracing::info!("the primary answers again; replaying the fallback's journal");
        // While the fallback still serves.
        if let Err(e) = replay_chunks(&fallback, &primary, replan, true).await {
            tracing::warn!(code = e.code.as_str(), reason = %e.message, "the replay stopped; trying again later");
            state.replaying.store(false, Ordering::Release);
            primary.close().await;
            continue;
        }
        // The switch: new calls go to the primary.
        let switched = slot.upgrade().is_some_and(|slot| {
            let mut serving = slot.write().unwrap_or_else(|e| e.into_inner());
            let still = serving
                .as_ref()
                .is_some_and(|db| Arc::ptr_eq(db, &fallback));
            if still {
                *serving = Some(primary.clone());
            }
            still
        });
        if !switched {
            // Closed meanwhile.
            state.replaying.store(false, Ordering::Release);
            primary.close().await;
            return;
        }
        primary.flush_caches();
        if primary.watched() {
            let _ = primary.hub().await;
        }
        // Calls made on the fallback before the switch finish there, and are replayed too.
        fallback.settle().await;
        for attempt in 0..10 {
            match replay(&fallback, &primary, replan).await {
                Ok(_) => break,
                Err(e) if e.code == ErrorCode::Closed => break,
                Err(e) => {
                    tracing::warn!(attempt, code = e.code.as_str(), reason = %e.message,
                        "replaying the last calls of the fallback failed; trying again");
                    tokio::time::sleep(pause).await;
                }
            }
        }
        state.replaying.store(false, Ordering::Release);
        fallback.close().await;
        let (pending, replayed, conflicts) = state.figures();
        tracing::info!(pending, replayed, conflicts, "back on the primary");
        return;
    }
}
