//! The statistics' pending changes (migrations 011 and 012): a write on PostgreSQL only appends
//! what it changes to the rollups' pending tables, and `workflow_rollup_fold()` moves them into
//! the rollups; its execution ids go to their own pending table, which a
//! [`Fold`](crate::core::db::distinct::Fold) moves into their sketches. Every statistics read
//! folds first; this task folds about once a second besides, so that the pending tables stay
//! small in a process that writes and never reads.

use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::postgres::PgPool;
use tokio::time::MissedTickBehavior;

use super::exec::transact;
use crate::core::db::distinct::Fold;

/// How often a process folds.
pub const FOLD_EVERY: Duration = Duration::from_secs(1);

/// The most transactions of pending execution ids a tick folds (a bulk load is left to the
/// next ticks, or to the first read).
const FOLD_ROUNDS: usize = 10;

/// The size of the pending tables above which a fold is followed by a VACUUM of them.
const VACUUM_ABOVE_BYTES: i64 = 8 << 20;

/// The running fold task; dropping it stops the task at its next tick.
pub struct Folder {
    _alive: Arc<()>,
}

impl Folder {
    /// Starts the task on the current runtime. A fold that another process's fold (or a direct
    /// writer of rollups) holds up is skipped, not waited for; one that fails (the server down,
    /// the schema not migrated yet) is tried again at the next tick.
    pub fn start(pool: PgPool) -> Folder {
        let alive = Arc::new(());
        let weak: Weak<()> = Arc::downgrade(&alive);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(FOLD_EVERY);
            tick.set_missed_tick_behavior(MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                if weak.strong_count() == 0 || pool.is_closed() {
                    return;
                }
                if let Err(e) = fold(&pool).await {
                    tracing::debug!(reason = %e, "the statistics' fold failed; trying again in a second");
                }
            }
        });
        Folder { _alive: alive }
    }
}

/// One fold, waited for up to `limit` (when a process closes: what it wrote leaves nothing
/// pending behind it). Failures are the caller's to ignore.
pub async fn fold_now(pool: &PgPool, limit: Duration) {
    let fold = async {
        sqlx::query("SELECT workflow_rollup_fold()")
            .execute(pool)
            .await?;
        fold_distinct(pool, usize::MAX).await
    };
    if let Ok(Err(e)) = tokio::time::timeout(limit, fold).await {
        tracing::debug!(reason = %e, "the statistics' fold at close failed");
    }
}

/// Folds the pending execution ids into their sketches (migration 012), at most `rounds`
/// transactions of them.
async fn fold_distinct(pool: &PgPool, rounds: usize) -> crate::core::error::Result<()> {
    for _ in 0..rounds {
        if !transact(pool, Fold::new(true)).await?.more() {
            break;
        }
    }
    Ok(())
}

/// One fold, then a VACUUM of the pending tables when they have grown (a bulk load, or a read
/// that folded many rows): every fold and read starts by looking for a pending row, and until
/// autovacuum comes by, that look walks the pages of every row folded since.
async fn fold(pool: &PgPool) -> crate::core::error::Result<()> {
    sqlx::query("SELECT workflow_rollup_fold(false)")
        .execute(pool)
        .await?;
    fold_distinct(pool, FOLD_ROUNDS).await?;
    let bytes: Option<i64> = sqlx::query_scalar(
        "SELECT pg_relation_size('workflow_metric_pending') + pg_relation_size('workflow_execution_pending') \
         + pg_relation_size('workflow_metric_execution_pending')",
    )
    .fetch_one(pool)
    .await?;
    if bytes.unwrap_or(0) > VACUUM_ABOVE_BYTES {
        // Outside a transaction; without ownership of the tables PostgreSQL skips them with a
        // warning.
        sqlx::raw_sql(
            "VACUUM workflow_metric_pending, workflow_execution_pending, workflow_metric_execution_pending",
        )
        .execute(pool)
        .await?;
    }
    Ok(())
}
