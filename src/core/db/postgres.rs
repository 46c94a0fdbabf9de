//! PostgreSQL backend: a sqlx pool (no ping before each acquire, statements prepared and cached
//! per connection) and the conversions between our [`Value`] and PostgreSQL types.

use std::sync::Arc;
use std::time::Duration;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{
    PgArgumentBuffer, PgArguments, PgConnectOptions, PgPool, PgPoolOptions, PgRow, PgTypeInfo,
};
use sqlx::{
    Arguments, AssertSqlSafe, Column, ConnectOptions, Connection, Encode, PgConnection, Row as _,
    TypeInfo,
};

use super::super::error::{Error, ErrorCode, Result};
use super::super::value::{Row, Value};
use super::{CopyIn, CopyType, Statement, StmtResult};

/// An open PostgreSQL pool.
pub struct PgDb {
    pool: PgPool,
    options: PgConnectOptions,
    group: super::pg_group::Grouper,
}

impl PgDb {
    /// Checks that the server answers (one direct connection, within `timeout`), then opens the
    /// pool, which connects lazily. The direct check fails fast with the real reason (refused,
    /// unknown host, bad credentials) where the pool would only report a timeout.
    pub async fn connect(
        options: PgConnectOptions,
        pool_size: u32,
        timeout: Duration,
    ) -> Result<PgDb> {
        let options = options.log_statements(tracing::log::LevelFilter::Trace);
        match tokio::time::timeout(timeout, PgConnection::connect_with(&options)).await {
            Ok(Ok(conn)) => {
                let _ = conn.close().await;
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
        }
        let pool = PgPoolOptions::new()
            .max_connections(pool_size)
            .min_connections(0)
            .acquire_timeout(timeout.max(Duration::from_secs(5)))
            .test_before_acquire(false)
            .connect_lazy_with(options.clone());
        let group = super::pg_group::Grouper::start(pool.clone());
        Ok(PgDb {
            pool,
            options,
            group,
        })
    }

    pub fn pool(&self) -> &PgPool {
        &self.pool
    }

    pub fn options(&self) -> &PgConnectOptions {
        &self.options
    }

    /// A connection of its own, outside the pool (migrations hold a session-level lock on it).
    pub async fn dedicated(&self) -> Result<PgConnection> {
        Ok(PgConnection::connect_with(&self.options).await?)
    }

    /// Runs one query on the pool and returns its rows.
    pub async fn query(&self, statement: &Statement) -> Result<Vec<Row>> {
        let mut conn = self.pool.acquire().await?;
        Ok(run_one(&mut conn, statement).await?.rows)
    }

    /// Runs statements in one transaction (a single statement runs without BEGIN/COMMIT).
    /// Concurrent writes are committed in groups (see [`super::pg_group`]).
    pub async fn write(&self, statements: Vec<Statement>) -> Result<Vec<StmtResult>> {
        self.group.write(statements).await
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

/// Runs one statement on a connection, collecting rows (for SELECT / RETURNING) or the count.
pub async fn run_one(conn: &mut PgConnection, statement: &Statement) -> Result<StmtResult> {
    let mut args = PgArguments::default();
    for value in &statement.params {
        bind(&mut args, value)?;
    }
    let query = sqlx::query_with(AssertSqlSafe(typed_sql(statement)), args);
    if !statement.returns_rows() {
        let done = query.execute(&mut *conn).await?;
        return Ok(StmtResult {
            rows: Vec::new(),
            affected: done.rows_affected(),
        });
    }
    let pg_rows = query.fetch_all(&mut *conn).await?;
    let rows = decode_rows(&pg_rows)?;
    let affected = rows.len() as u64;
    Ok(StmtResult { rows, affected })
}

/// sqlx caches prepared statements by SQL text, and a prepared statement keeps the parameter
/// types of its first execution: binding a float where it first saw an integer (or a typed value
/// where it first saw an untyped NULL) would send bytes the server reads as another type. The
/// parameters' type signature, as a trailing comment, gives each combination its own statement.
fn typed_sql(statement: &Statement) -> std::borrow::Cow<'static, str> {
    if statement.params.is_empty() {
        return statement.sql.clone();
    }
    let signature: String = statement
        .params
        .iter()
        .map(|v| match v {
            Value::Null => 'n',
            Value::Bool(_) => 'b',
            Value::Int(_) => 'i',
            Value::Float(_) => 'f',
            Value::Text(_) => 't',
            Value::Json(_) => 'j',
            Value::Timestamp(_) => 'd',
            Value::Uuid(_) => 'u',
        })
        .collect();
    std::borrow::Cow::Owned(format!("{} /* {signature} */", statement.sql))
}

fn bind(args: &mut PgArguments, value: &Value) -> Result<()> {
    let added = match value {
        Value::Null => args.add(UntypedNull),
        Value::Bool(b) => args.add(*b),
        Value::Int(i) => args.add(*i),
        Value::Float(f) => args.add(*f),
        Value::Text(s) => args.add(s.as_str()),
        Value::Json(j) => args.add(sqlx::types::Json(j)),
        Value::Timestamp(ms) => {
            let ts = chrono::DateTime::<chrono::Utc>::from_timestamp_millis(*ms)
                .ok_or_else(|| Error::validation("timestamp out of range"))?;
            args.add(ts)
        }
        Value::Uuid(u) => args.add(*u),
    };
    added.map_err(|e| Error::internal(format!("cannot bind a parameter: {e}")))
}

/// A NULL sent with an unspecified type, so PostgreSQL infers it from the statement (a typed
/// text NULL would be refused by integer, UUID or JSONB columns).
struct UntypedNull;

impl sqlx::Type<sqlx::Postgres> for UntypedNull {
    fn type_info() -> PgTypeInfo {
        PgTypeInfo::with_oid(sqlx::postgres::types::Oid(0))
    }
}

impl Encode<'_, sqlx::Postgres> for UntypedNull {
    fn encode_by_ref(&self, _buf: &mut PgArgumentBuffer) -> Result<IsNull, BoxDynError> {
        Ok(IsNull::Yes)
    }
}

fn decode_rows(pg_rows: &[PgRow]) -> Result<Vec<Row>> {
    let Some(first) = pg_rows.first() else {
        return Ok(Vec::new());
    };
    let columns: Arc<[String]> = first
        .columns()
        .iter()
        .map(|c| c.name().to_string())
        .collect();
    let types: Vec<String> = first
        .columns()
        .iter()
        .map(|c| c.type_info().name().to_string())
        .collect();
    pg_rows
        .iter()
        .map(|r| {
            let values = types
                .iter()
                .enumerate()
                .map(|(i, t)| decode(r, i, t))
                .collect::<Result<_>>()?;
            Ok(Row {
                columns: columns.clone(),
                values,
            })
        })
        .collect()
}

fn decode(row: &PgRow, i: usize, type_name: &str) -> Result<Value> {
    fn get<'r, T: sqlx::Decode<'r, sqlx::Postgres> + sqlx::Type<sqlx::Postgres>>(
        row: &'r PgRow,
        i: usize,
    ) -> Result<Option<T>> {
        Ok(row.try_get::<Option<T>, _>(i)?)
    }
    Ok(match type_name {
        "BOOL" => get::<bool>(row, i)?.map(Value::Bool),
        "INT2" => get::<i16>(row, i)?.map(|v| Value::Int(v.into())),
        "INT4" => get::<i32>(row, i)?.map(|v| Value::Int(v.into())),
        "INT8" => get::<i64>(row, i)?.map(Value::Int),
        "FLOAT4" => get::<f32>(row, i)?.map(|v| Value::Float(v.into())),
        "FLOAT8" => get::<f64>(row, i)?.map(Value::Float),
        "JSON" | "JSONB" => get::<serde_json::Value>(row, i)?.map(Value::Json),
        "TIMESTAMPTZ" => get::<chrono::DateTime<chrono::Utc>>(row, i)?
            .map(|t| Value::Timestamp(t.timestamp_millis())),
        "TIMESTAMP" => get::<chrono::NaiveDateTime>(row, i)?
            .map(|t| Value::Timestamp(t.and_utc().timestamp_millis())),
        "UUID" => get::<uuid::Uuid>(row, i)?.map(|u| Value::Text(u.hyphenated().to_string())),
        "VOID" => None,
        "BYTEA" => get::<Vec<u8>>(row, i)?
            .map(|b| Value::Text(b.iter().map(|x| format!("{x:02x}")).collect())),
        _ => get::<String>(row, i)?.map(Value::Text),
    }
    .unwrap_or(Value::Null))
}

impl PgDb {
    /// Appends `copy.rows` with one binary `COPY … FROM STDIN` (atomic: all rows or none);
    /// each result is one row as sent.
    pub async fn copy_in(&self, copy: CopyIn) -> Result<Vec<StmtResult>> {
        if copy.rows.is_empty() {
            return Ok(Vec::new());
        }
        let names: Vec<&str> = copy.columns.iter().map(|(n, _)| *n).collect();
        let data = binary_copy(&copy)?;
        let mut conn = self.pool.acquire().await?;
        let mut sink = conn
            .copy_in_raw(&format!(
                "COPY {} ({}) FROM STDIN (FORMAT binary)",
                copy.table,
                names.join(", ")
            ))
            .await?;
        if let Err(e) = sink.send(data).await {
            let _ = sink.abort("send failed").await;
            return Err(e.into());
        }
        sink.finish().await?;
        let columns: Arc<[String]> = names.iter().map(|n| n.to_string()).collect();
        Ok(copy
            .rows
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

/// PostgreSQL's binary `COPY` format: a signature and header, each row as a field count and
/// length-prefixed fields (-1 for NULL), then -1.
fn binary_copy(copy: &CopyIn) -> Result<Vec<u8>> {
    const PG_EPOCH_MS: i64 = 946_684_800_000;
    let mut out = Vec::with_capacity(64 + copy.rows.len() * 160);
    out.extend_from_slice(b"PGCOPY\n\xff\r\n\0");
    out.extend_from_slice(&0i32.to_be_bytes()); // flags
    out.extend_from_slice(&0i32.to_be_bytes()); // header extension
    for row in &copy.rows {
        out.extend_from_slice(&(copy.columns.len() as i16).to_be_bytes());
        for ((name, ty), value) in copy.columns.iter().zip(row) {
            let field: Option<Vec<u8>> = match (ty, value) {
                (_, Value::Null) => None,
                (CopyType::Uuid, Value::Uuid(u)) => Some(u.as_bytes().to_vec()),
                (CopyType::Text, Value::Text(s)) => Some(s.as_bytes().to_vec()),
                (CopyType::Float8, Value::Float(f)) => Some(f.to_be_bytes().to_vec()),
                (CopyType::Float8, Value::Int(i)) => Some((*i as f64).to_be_bytes().to_vec()),
                (CopyType::Jsonb, Value::Json(j)) => {
                    let mut b = vec![1u8]; // jsonb binary format version
                    b.extend_from_slice(j.to_string().as_bytes());
                    Some(b)
                }
                (CopyType::Timestamptz, Value::Timestamp(ms)) => {
                    Some(((ms - PG_EPOCH_MS) * 1000).to_be_bytes().to_vec())
                }
                (ty, v) => {
                    return Err(Error::internal(format!(
                        "cannot send {v:?} as {ty:?} for column {name}"
                    )))
                }
            };
            match field {
                None => out.extend_from_slice(&(-1i32).to_be_bytes()),
                Some(bytes) => {
                    out.extend_from_slice(&(bytes.len() as i32).to_be_bytes());
                    out.extend_from_slice(&bytes);
                }
            }
        }
    }
    out.extend_from_slice(&(-1i16).to_be_bytes());
    Ok(out)
}
