//! PostgreSQL backend: a sqlx pool (no ping before each acquire, statements prepared and cached
//! per connection) and the conversions between our [`Value`] and PostgreSQL types.

pub mod breaker;
pub mod broadcast;
pub mod exec;
pub mod fold;
pub mod group;
pub mod notify;

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use sqlx::postgres::{PgArguments, PgConnectOptions, PgPool, PgPoolOptions};
use sqlx::{Arguments, AssertSqlSafe, ConnectOptions, Connection, PgConnection};

use self::breaker::Breaker;
use self::exec::run_one;
use self::fold::Folder;
use self::group::Grouper;
use self::notify::Channels;
use crate::core::db::migrate;
use crate::core::db::statement::{Bulk, BulkType, Statement, StmtResult};
use crate::core::db::store::{Steps, Store};
use crate::core::error::{Error, ErrorCode, Result};
use crate::core::metrics::{BackendFigures, PoolFigures};
use crate::core::value::{Row, Value};

/// An open PostgreSQL pool.
pub struct PgDb {
    pool: PgPool,
    options: PgConnectOptions,
    /// The schema the package's objects live in (`search_path` of every connection), if set.
    schema: Option<String>,
    /// The notification channels of that schema.
    channels: Channels,
    group: Grouper,
    /// Fails calls fast while the server is known to be down.
    breaker: Breaker,
    /// Folds the statistics' pending changes into their rollups.
    _folder: Folder,
}

impl PgDb {
    /// Checks that the server answers (one direct connection, within `timeout`), then opens the
    /// pool, which connects lazily. The direct check fails fast with the real reason (refused,
    /// unknown host, bad credentials) where the pool would only report a timeout.
    pub async fn connect(
        options: PgConnectOptions,
        pool_size: u32,
        timeout: Duration,
        acquire_timeout: Duration,
        schema: Option<String>,
    ) -> Result<PgDb> {
        // Statements carry SQL: every statement at trace, a slow one (over 1 s) at debug, never
        // at the default levels (sqlx's own default logs slow statements at warn).
        let options = options
            .log_statements(tracing::log::LevelFilter::Trace)
            .log_slow_statements(tracing::log::LevelFilter::Debug, Duration::from_secs(1));
        let default_schema =
            match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
                Ok(Ok(mut conn)) => {
                    // Where the migrations create the tables, so where their triggers notify from.
                    let current: Option<String> =
                        sqlx::query_scalar("SELECT current_schema()::text")
                            .fetch_one(&mut conn)
                            .await
                            .unwrap_or(None);
                    let _ = conn.close().await;
                    current
                }
                Ok(Err(e)) => {
                    let err = Error::from(e);
                    return Err(match err.code {
                        ErrorCode::Timeout | ErrorCode::Db => Error {
                            code: ErrorCode::DbUnavailable,
                            ..err
                        },
                        _ => err,
                    });
                }
                Err(_) => {
                    return Err(Error::new(
                        ErrorCode::DbUnavailable,
                        format!(
                            "PostgreSQL did not answer within {} ms",
                            timeout.as_millis()
                        ),
                    ))
                }
            };
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .min_connections(0)
            .acquire_timeout(acquire_timeout)
            .test_before_acquire(false)
            .connect_lazy_with(options.clone());
        let group = Grouper::start(pool.clone());
        let folder = Folder::start(pool.clone());
        let channels = Channels::of_schema(
            schema
                .as_deref()
                .or(default_schema.as_deref())
                .unwrap_or("public"),
        );
        Ok(PgDb {
            pool,
            options,
            schema,
            channels,
            group,
            breaker: Default::default(),
            _folder: folder,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    /// The `schema` option, if one was given.
    pub fn schema(&self) -> Option<&str> {
        self.schema.as_deref()
    }

    /// The channels this database's triggers and event services notify on.
    pub fn channels(&self) -> &Channels {
        &self.channels
    }

    /// A connection of its own, outside the pool (migrations hold a session-level lock on it).
    pub async fn dedicated(&self) -> Result<PgConnection> {
        Ok(PgConnection::connect_with(&self.options).await?)
    }

    /// Runs `work`, which reaches the server on its own (an event's publish, the listener's
    /// start), behind the breaker: refused at once while the server is known to be down, and
    /// learnt from.
    pub async fn guarded<T>(
        &self,
        work: impl std::future::Future<Output = Result<T>>,
    ) -> Result<T> {
        self.breaker.run(work).await
    }
}

impl Store for PgDb {
    /// A single statement runs without BEGIN/COMMIT; concurrent writes are committed in groups
    /// (see [`group`]).
    async fn write(&self, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
        self.breaker.run(self.group.write(statements)).await
    }

    /// On a pooled connection.
    async fn fetch(&self, statement: Statement) -> Result<Vec<Row>> {
        self.breaker
            .run(async {
                let mut conn = self.pool.acquire().await?;
                Ok(run_one(&mut conn, &statement).await?.rows)
            })
            .await
    }

    /// One `INSERT … SELECT FROM UNNEST` (see [`PgDb::insert_bulk`]).
    async fn append(
        &self,
        bulk: &'static Bulk,
        statements: Vec<Statement>,
    ) -> Result<Vec<StmtResult>> {
        self.insert_bulk(bulk, statements).await
    }

    /// On a pooled connection, behind the breaker.
    async fn transact<S: Steps + 'static>(&self, steps: S) -> Result<S> {
        self.breaker.run(exec::transact(&self.pool, steps)).await
    }

    /// On a connection of its own, under a session-level advisory lock.
    async fn migrate(&self) -> Result<()> {
        let mut conn = self.dedicated().await?;
        let outcome = migrate::migrate_postgres(&mut conn, self.schema()).await;
        let _ = Connection::close(conn).await;
        outcome
    }

    /// `SELECT 1` through the pool.
    async fn probe(&self) -> Result<()> {
        self.fetch(Statement::new("SELECT 1 AS one", Vec::new()))
            .await
            .map(|_| ())
    }

    /// Every write is committed before its call returns.
    async fn settle(&self) {}

    /// Folds the statistics' pending changes first (within a second), unless the server is
    /// known to be down.
    async fn close(&self) {
        if !self.failing_fast() && !self.pool.is_closed() {
            fold::fold_now(&self.pool, Duration::from_secs(1)).await;
        }
        self.pool.close().await;
    }

    fn figures(&self, kind: &'static str) -> BackendFigures {
        BackendFigures {
            kind,
            pool: Some(PoolFigures {
                size: u64::from(self.pool.size()),
                idle: self.pool.num_idle() as u64,
                max: u64::from(self.pool.options().get_max_connections()),
            }),
            write_queue: self.group.stats().queued.load(Ordering::Relaxed) as u64,
            groups: self.group.stats().groups.snapshot(),
            breaker_open: self.failing_fast(),
            breaker_recoveries: self.breaker.recoveries(),
        }
    }

    fn describe(&self, out: &mut Vec<(&'static str, Value)>) {
        let o = &self.options;
        out.push(("host", Value::from(o.get_host())));
        out.push(("port", Value::Int(o.get_port().into())));
        out.push((
            "database",
            Value::from(o.get_database().map(str::to_string)),
        ));
        if let Some(schema) = self.schema() {
            out.push(("schema", Value::from(schema)));
        }
    }

    fn failing_fast(&self) -> bool {
        self.breaker.is_open()
    }

    /// PostgreSQL has no writer thread (see [`Store::has_writer`]).
    fn write_with(
        &self,
        statements: Vec<Statement>,
        done: impl FnOnce(Result<Vec<StmtResult>>) + Send + 'static,
    ) {
        drop(statements);
        done(Err(Error::internal("PostgreSQL has no writer thread")))
    }
}

impl PgDb {
    /// Appends the rows of single-row INSERTs (their parameters) with one
    /// `INSERT … SELECT FROM UNNEST(…)`: one array parameter per column, one statement, one round
    /// trip (atomic: all rows or none); each result is one row as sent. (Binary `COPY` was measured slower here: sqlx sends its end-of-data message as a
    /// separate small write, which Nagle's algorithm holds for the server's delayed ACK, ~40 ms.)
    pub async fn insert_bulk(
        &self,
        bulk: &Bulk,
        statements: Vec<Statement>,
    ) -> Result<Vec<StmtResult>> {
        if statements.is_empty() {
            return Ok(Vec::new());
        }
        let rows: Vec<Vec<Value>> = statements.into_iter().map(|s| s.params).collect();
        let names: Vec<&str> = bulk.columns.iter().map(|(n, _)| *n).collect();
        let mut args = PgArguments::default();
        let mut casts = Vec::with_capacity(bulk.columns.len());
        for (c, (name, ty)) in bulk.columns.iter().enumerate() {
            let bad = |v: &Value| {
                Error::internal(format!("cannot send {v:?} as {ty:?} for column {name}"))
            };
            let added = match ty {
                BulkType::Uuid => args.add(
                    array(&rows, c, |v| match v {
                        Value::Uuid(u) => Some(*u),
                        _ => None,
                    })
                    .map_err(bad)?,
                ),
                BulkType::Text | BulkType::Jsonb => args.add(
                    array(&rows, c, |v| match v {
                        Value::Text(t) => Some(t.clone()),
                        Value::Json(j) => Some(j.to_string()),
                        _ => None,
                    })
                    .map_err(bad)?,
                ),
                BulkType::Float8 => args.add(
                    array(&rows, c, |v| match v {
                        Value::Float(f) => Some(*f),
                        Value::Int(i) => Some(*i as f64),
                        _ => None,
                    })
                    .map_err(bad)?,
                ),
                BulkType::Timestamptz => args.add(
                    array(&rows, c, |v| match v {
                        Value::Timestamp(ms) => chrono::DateTime::from_timestamp_millis(*ms),
                        _ => None,
                    })
                    .map_err(bad)?,
                ),
            };
            added.map_err(|e| Error::internal(format!("cannot bind column {name}: {e}")))?;
            casts.push(format!(
                "${}::{}",
                c + 1,
                match ty {
                    BulkType::Uuid => "uuid[]",
                    BulkType::Text => "text[]",
                    BulkType::Float8 => "float8[]",
                    BulkType::Jsonb => "text[]::jsonb[]",
                    BulkType::Timestamptz => "timestamptz[]",
                }
            ));
        }
        let sql = format!(
            "INSERT INTO {} ({}) SELECT * FROM UNNEST({})",
            bulk.table,
            names.join(", "),
            casts.join(", ")
        );
        self.breaker
            .run(async {
                let mut conn = self.pool.acquire().await?;
                sqlx::query_with(AssertSqlSafe(sql), args)
                    .execute(&mut *conn)
                    .await?;
                Ok(())
            })
            .await?;
        let columns: Arc<[String]> = names.iter().map(|n| n.to_string()).collect();
        Ok(rows
            .into_iter()
            .map(|values| StmtResult {
                rows: vec![Row {
                    columns: columns.clone(),
                    values,
                }],
                affected: 1,
            })
            .collect())
    }
}

/// Column `c` of `rows` as the elements of a PostgreSQL array: SQL NULL as NULL, every other value
/// through `cell`; the first value `cell` cannot send is the error.
fn array<T>(
    rows: &[Vec<Value>],
    c: usize,
    cell: impl Fn(&Value) -> Option<T>,
) -> std::result::Result<Vec<Option<T>>, &Value> {
    rows.iter()
        .map(|r| match r.get(c).unwrap_or(&Value::Null) {
            Value::Null => Ok(None),
            v => cell(v).map(Some).ok_or(v),
        })
        .collect()
}
