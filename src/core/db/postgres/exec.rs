//! Running one statement on a PostgreSQL connection, and the conversions between our [`Value`]
//! and PostgreSQL's types.

use std::sync::Arc;

use sqlx::encode::IsNull;
use sqlx::error::BoxDynError;
use sqlx::postgres::{PgArgumentBuffer, PgArguments, PgPool, PgRow, PgTypeInfo};
use sqlx::{Arguments, AssertSqlSafe, Column, Encode, PgConnection, Row as _, TypeInfo};

use crate::core::db::statement::{Statement, StmtResult};
use crate::core::db::store::Steps;
use crate::core::error::{Error, Result};
use crate::core::value::{Row, Value};

/// Runs one statement on a connection, collecting rows (for SELECT / RETURNING) or the count.
/// The advisory lock that serializes [`transact`]s, from every process.
const TRANSACT_LOCK: i64 = 2_050_121_002;

/// Runs `steps` in one transaction on a connection of `pool`, under [`TRANSACT_LOCK`] (see
/// [`Store::transact`](crate::core::db::store::Store::transact)): rolled back unless they all
/// succeed.
pub async fn transact<S: Steps>(pool: &PgPool, mut steps: S) -> Result<S> {
    let mut tx = pool.begin().await?;
    sqlx::query("SELECT pg_advisory_xact_lock($1)")
        .bind(TRANSACT_LOCK)
        .execute(&mut *tx)
        .await?;
    let mut results = Vec::new();
    while let Some(statements) = steps.next(results)? {
        results = Vec::with_capacity(statements.len());
        for s in &statements {
            results.push(run_one(&mut tx, s).await?);
        }
    }
    tx.commit().await?;
    Ok(steps)
}

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

pub fn bind(args: &mut PgArguments, value: &Value) -> Result<()> {
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

pub fn decode_rows(pg_rows: &[PgRow]) -> Result<Vec<Row>> {
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
