//! Connection configuration: PIDEA's DatabaseConnection shape, a URL, or the environment, turned
//! into one validated [`ConnectConfig`] before anything is opened.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::error::{Error, Result};
use super::input::{Fields, Input};

/// The environment variable read when `connect()` gets no configuration.
pub const DATABASE_URL_ENV: &str = "WORKFLOW_DATABASE_URL";
/// The embedded default when there is neither a configuration nor `WORKFLOW_DATABASE_URL`.
pub const DEFAULT_SQLITE_PATH: &str = "./data/workflow.db";
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_POOL_SIZE: u32 = 10;

/// The configuration as it arrives from JavaScript, before validation. Every field is optional.
#[derive(Debug, Default, Clone)]
pub struct RawConfig {
    pub kind: Option<String>,
    pub url: Option<String>,
    pub host: Option<String>,
    pub port: Option<String>,
    pub database: Option<String>,
    pub username: Option<String>,
    pub password: Option<String>,
    pub ssl: Option<bool>,
    pub fallback: Option<RawFallback>,
    pub connect_timeout_ms: Option<f64>,
    pub acquire_timeout_ms: Option<f64>,
    pub migrate: Option<bool>,
    pub pool_size: Option<f64>,
    /// PostgreSQL: the schema that holds everything the package creates.
    pub schema: Option<String>,
}

impl RawConfig {
    /// The configuration as JavaScript passed it (any value). A key of the wrong type is named
    /// with the type it has, never its value: the value may be a secret (a password, a URL
    /// with credentials). Keys the package does not read (PIDEA's `logging`…) are ignored.
    pub fn from_input(config: &Input) -> Result<RawConfig> {
        let f = Fields::of_optional(config, "config")?;
        let port = match f.get("port") {
            Input::Undefined | Input::Null => None,
            Input::Number(n) if n.fract() == 0.0 && *n >= 0.0 => Some(format!("{n}")),
            Input::Number(_) => Some("invalid".to_string()),
            Input::Text(s) => Some(s.clone()),
            other => {
                return Err(Error::validation(format!(
                    "config.port must be a number or a string, not {}",
                    other.type_name()
                )))
            }
        };
        let fallback = match f.get("fallback") {
            Input::Undefined | Input::Null => None,
            value => {
                let fb = Fields::of(value, "config.fallback")?;
                Some(RawFallback {
                    kind: fb.text("type", 64)?,
                    database: fb.text("database", 4096)?,
                })
            }
        };
        Ok(RawConfig {
            kind: f.text("type", 64)?,
            url: f.text("url", 4096)?,
            host: f.text("host", 255)?,
            port,
            database: f.text("database", 4096)?,
            username: f.text("username", 255)?,
            password: f.text("password", 1024)?,
            ssl: f.boolean("ssl")?,
            fallback,
            connect_timeout_ms: f.number("connectTimeoutMs")?,
            acquire_timeout_ms: f.number("acquireTimeoutMs")?,
            migrate: f.boolean("migrate")?,
            pool_size: f.number("poolSize")?,
            schema: f.text("schema", 64)?,
        })
    }
}

/// `fallback: {type, database}` as PIDEA writes it.
#[derive(Debug, Default, Clone)]
pub struct RawFallback {
    pub kind: Option<String>,
    pub database: Option<String>,
}

/// Where the data lives.
#[derive(Clone)]
pub enum Target {
    Postgres(Box<PgConnectOptions>),
    Sqlite(PathBuf),
    Memory,
}

impl Target {
    pub fn kind(&self) -> &'static str {
        match self {
            Target::Postgres(_) => "postgresql",
            Target::Sqlite(_) => "sqlite",
            Target::Memory => "memory",
        }
    }
}

// The PostgreSQL options hold the password: never print them.
impl fmt::Debug for Target {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Target::Postgres(o) => write!(
                f,
                "Postgres({}:{}/{})",
                o.get_host(),
                o.get_port(),
                o.get_database().unwrap_or("")
            ),
            Target::Sqlite(p) => write!(f, "Sqlite({})", p.display()),
            Target::Memory => write!(f, "Memory"),
        }
    }
}

/// A validated configuration.
#[derive(Debug, Clone)]
pub struct ConnectConfig {
    pub primary: Target,
    pub fallback: Option<Target>,
    pub connect_timeout: Duration,
    /// How long a PostgreSQL call waits for a pooled connection (`ERR_TIMEOUT` after it).
    pub acquire_timeout: Duration,
    pub migrate: bool,
    pub pool_size: u32,
    /// PostgreSQL: the schema of the package's tables, functions, triggers, bookkeeping and
    /// notification channels (created if missing). `None`: the connection's default schema.
    pub schema: Option<String>,
}

impl ConnectConfig {
    /// Validates `raw`. With no target in it, `env_url` (the value of `WORKFLOW_DATABASE_URL`)
    /// is used, and without that the SQLite file `./data/workflow.db`.
    pub fn from_raw(raw: RawConfig, env_url: Option<String>) -> Result<Self> {
        let acquire_timeout_ms = match raw.acquire_timeout_ms {
            None => DEFAULT_ACQUIRE_TIMEOUT_MS,
            Some(ms) => whole_number(ms, "acquireTimeoutMs", 1.0, 600_000.0)?,
        };
        let connect_timeout_ms = match raw.connect_timeout_ms {
            None => DEFAULT_CONNECT_TIMEOUT_MS,
            Some(ms) => whole_number(ms, "connectTimeoutMs", 1.0, 600_000.0)?,
        };
        let pool_size = match raw.pool_size {
            None => DEFAULT_POOL_SIZE,
            Some(n) => whole_number(n, "poolSize", 1.0, 1000.0)? as u32,
        };
        let fallback = raw.fallback.as_ref().map(parse_fallback).transpose()?;
        let schema = raw.schema.as_deref().map(check_schema).transpose()?;
        let primary = match (parse_primary(&raw, env_url)?, &schema) {
            (Target::Postgres(options), Some(schema)) => Target::Postgres(Box::new(
                options.options([("search_path", schema.as_str())]),
            )),
            (target, Some(_)) => {
                tracing::debug!("schema ignored: the database is not PostgreSQL");
                target
            }
            (target, None) => target,
        };
        if let (Some(fb), Target::Sqlite(_) | Target::Memory) = (&fallback, &primary) {
            tracing::debug!(fallback = ?fb, "fallback ignored: the primary is embedded");
        }
        Ok(ConnectConfig {
            fallback,
            connect_timeout: Duration::from_millis(connect_timeout_ms),
            acquire_timeout: Duration::from_millis(acquire_timeout_ms),
            migrate: raw.migrate.unwrap_or(true),
            pool_size,
            schema: schema.filter(|_| matches!(primary, Target::Postgres(_))),
            primary,
        })
    }
}

/// The longest schema name: the notification channels append it to their own names, and a
/// channel name is an identifier (at most 63 bytes).
pub const SCHEMA_MAX_LEN: usize = 40;

/// A schema name the package can use unquoted everywhere: lowercase letters, digits and
/// underscores, not starting with a digit or `pg_` (reserved by PostgreSQL).
fn check_schema(schema: &str) -> Result<String> {
    let ok = !schema.is_empty()
        && schema.len() <= SCHEMA_MAX_LEN
        && !schema.starts_with("pg_")
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(Error::validation(format!(
            "schema must be 1 to {SCHEMA_MAX_LEN} lowercase letters, digits or underscores, \
             not starting with a digit or pg_"
        )));
    }
    Ok(schema.to_string())
}

fn whole_number(value: f64, name: &str, min: f64, max: f64) -> Result<u64> {
    if !value.is_finite() || value.fract() != 0.0 || value < min || value > max {
        return Err(Error::validation(format!(
            "{name} must be a whole number from {min} to {max}"
        )));
    }
    Ok(value as u64)
}

fn parse_primary(raw: &RawConfig, env_url: Option<String>) -> Result<Target> {
    if let Some(url) = &raw.url {
        return parse_url(url).map(|t| default_ssl(t, url, raw.ssl));
    }
    match raw.kind.as_deref() {
        Some("postgresql") | Some("postgres") => postgres_from_fields(raw),
        Some("sqlite") => Ok(Target::Sqlite(sqlite_path(raw.database.as_deref()))),
        Some("memory") => Ok(Target::Memory),
        Some(_) => Err(Error::validation(
            "type must be 'postgresql', 'sqlite' or 'memory'",
        )),
        None if raw.host.is_some() => postgres_from_fields(raw),
        None => match env_url.filter(|u| !u.is_empty()) {
            Some(url) => parse_url(&url).map(|t| default_ssl(t, &url, raw.ssl)),
            None => Ok(Target::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))),
        },
    }
}

fn parse_fallback(raw: &RawFallback) -> Result<Target> {
    match raw.kind.as_deref() {
        Some("sqlite") => Ok(Target::Sqlite(sqlite_path(raw.database.as_deref()))),
        Some("memory") => Ok(Target::Memory),
        Some(_) => Err(Error::validation(
            "fallback.type must be 'sqlite' or 'memory'",
        )),
        None => Err(Error::validation(
            "fallback.type is required ('sqlite' or 'memory')",
        )),
    }
}

fn sqlite_path(database: Option<&str>) -> PathBuf {
    match database {
        Some(":memory:") | None | Some("") => PathBuf::from(DEFAULT_SQLITE_PATH),
        Some(path) => PathBuf::from(path),
    }
}

/// Parses `postgres://…`, `postgresql://…`, `sqlite://path`, `sqlite:path` or `sqlite::memory:`.
pub fn parse_url(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::validation("the PostgreSQL URL cannot be parsed"))?;
        return Ok(Target::Postgres(Box::new(options)));
    }
    if let Some(rest) = url.strip_prefix("sqlite:") {
        if rest == ":memory:" || rest == "//:memory:" {
            return Ok(Target::Memory);
        }
        let path = rest.strip_prefix("//").unwrap_or(rest);
        let path = path.split('?').next().unwrap_or_default();
        if path.is_empty() {
            return Err(Error::validation("the SQLite URL has no path"));
        }
        return Ok(Target::Sqlite(PathBuf::from(path)));
    }
    Err(Error::validation(
        "unsupported database URL (expected postgres://, postgresql:// or sqlite:)",
    ))
}

fn postgres_from_fields(raw: &RawConfig) -> Result<Target> {
    let port = match raw.port.as_deref() {
        None | Some("") => 5432,
        Some(p) => p
            .trim()
            .parse::<u16>()
            .ok()
            .filter(|p| *p > 0)
            .ok_or_else(|| Error::validation("port must be a number from 1 to 65535"))?,
    };
    let mut options = PgConnectOptions::new_without_pgpass()
        .host(raw.host.as_deref().unwrap_or("localhost"))
        .port(port)
        .database(raw.database.as_deref().unwrap_or("postgres"))
        .username(raw.username.as_deref().unwrap_or("postgres"))
        .application_name("workflow-infra");
    if let Some(password) = &raw.password {
        options = options.password(password);
    }
    options = options.ssl_mode(if raw.ssl == Some(true) {
        PgSslMode::Require
    } else {
        PgSslMode::Disable
    });
    Ok(Target::Postgres(Box::new(options)))
}

/// A PostgreSQL URL that names no `sslmode` (nor does `PGSSLMODE`) gets the `ssl` option's: TLS
/// only when asked for, as with the fields (libpq's own default, `prefer`, would encrypt every
/// local connection whose server offers TLS, without verifying anything).
fn default_ssl(target: Target, url: &str, ssl: Option<bool>) -> Target {
    let Target::Postgres(options) = target else {
        return target;
    };
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let named = query.split('&').any(|pair| {
        // The keys sqlx reads (case matters to it).
        matches!(pair.split('=').next(), Some("sslmode" | "ssl-mode"))
    });
    let from_env = std::env::var_os("PGSSLMODE").is_some_and(|v| !v.is_empty());
    if named || from_env {
        return Target::Postgres(options);
    }
    let mode = if ssl == Some(true) {
        PgSslMode::Require
    } else {
        PgSslMode::Disable
    };
    Target::Postgres(Box::new(options.ssl_mode(mode)))
}

#[cfg(test)]
mod tests;
