//! Connection configuration: PIDEA's DatabaseConnection shape, a URL, or the environment, turned
//! into one validated [`ConnectConfig`] before anything is opened.

use std::fmt;
use std::path::PathBuf;
use std::str::FromStr;
use std::time::Duration;

use sqlx::postgres::{PgConnectOptions, PgSslMode};

use super::error::{Error, Result};
use super::input::{printable, Fields, Input};

/// The environment variable read when `connect()` gets no configuration.
pub const DATABASE_URL_ENV: &str = "WORKFLOW_DATABASE_URL";
/// The embedded default when there is neither a configuration nor `WORKFLOW_DATABASE_URL`.
pub const DEFAULT_SQLITE_PATH: &str = "./data/workflow.db";
pub const DEFAULT_CONNECT_TIMEOUT_MS: u64 = 2000;
pub const DEFAULT_ACQUIRE_TIMEOUT_MS: u64 = 5000;
pub const DEFAULT_POOL_SIZE: u32 = 10;
/// The default `maxInFlight`: about 25 MB of calls in flight (2 to 3 KB each, JS included).
pub const DEFAULT_MAX_IN_FLIGHT: u64 = 10_000;

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
    pub ssl: Option<Ssl>,
    pub fallback: Option<RawFallback>,
    pub connect_timeout_ms: Option<f64>,
    pub acquire_timeout_ms: Option<f64>,
    pub migrate: Option<Migrate>,
    pub pool_size: Option<f64>,
    /// PostgreSQL: the schema that holds everything the package creates.
    pub schema: Option<String>,
    pub read_only: Option<bool>,
    pub max_in_flight: Option<f64>,
}

/// What `connect` does with pending migrations.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Migrate {
    /// Apply them (`migrate: true`, the default: PIDEA migrates on connect).
    #[default]
    Apply,
    /// Leave them (`migrate: false`).
    Skip,
    /// Refuse to open a database that has pending migrations (`migrate: 'check'`), for
    /// deployments that migrate once, as a separate step.
    Check,
}

/// TLS to PostgreSQL, as the `ssl` option asks for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ssl {
    /// `ssl: false`: no TLS.
    Off,
    /// `ssl: true` or `{rejectUnauthorized: false}`: TLS, the certificate not verified.
    Require,
    /// `ssl: {}` or `{rejectUnauthorized: true, ca?}`: TLS, the certificate verified against the
    /// system's roots or `ca` (PEM), and the host name checked.
    Verify { ca: Option<String> },
}

/// The keys of each level of the configuration.
const CONFIG_KEYS: &[&str] = &[
    "type",
    "url",
    "host",
    "port",
    "database",
    "username",
    "password",
    "ssl",
    "fallback",
    "connectTimeoutMs",
    "acquireTimeoutMs",
    "migrate",
    "poolSize",
    "schema",
    "readOnly",
    "maxInFlight",
];
const FALLBACK_KEYS: &[&str] = &["type", "database"];
const SSL_KEYS: &[&str] = &["rejectUnauthorized", "ca"];

/// Names other libraries use (better-sqlite3, Knex, Prisma, node-postgres, TypeORM) or common
/// typos, with the key this package reads for them.
const ALIASES: &[(&str, &str)] = &[
    ("path", "database"),
    ("filename", "database"),
    ("file", "database"),
    ("filepath", "database"),
    ("storage", "database"),
    ("dbname", "database"),
    ("db", "database"),
    ("name", "database"),
    ("user", "username"),
    ("userName", "username"),
    ("pass", "password"),
    ("pwd", "password"),
    ("hostname", "host"),
    ("server", "host"),
    ("typ", "type"),
    ("kind", "type"),
    ("client", "type"),
    ("dialect", "type"),
    ("driver", "type"),
    ("provider", "type"),
    ("uri", "url"),
    ("connectionString", "url"),
    ("connectionUrl", "url"),
    ("databaseUrl", "url"),
    ("tls", "ssl"),
    ("searchPath", "schema"),
    ("search_path", "schema"),
    ("connectTimeout", "connectTimeoutMs"),
    ("connectionTimeoutMillis", "connectTimeoutMs"),
    ("timeout", "connectTimeoutMs"),
    ("acquireTimeout", "acquireTimeoutMs"),
    ("max", "poolSize"),
    ("pool", "poolSize"),
    ("connectionLimit", "poolSize"),
    ("migrations", "migrate"),
    ("readonly", "readOnly"),
    ("read_only", "readOnly"),
    ("rejectUnauthorised", "rejectUnauthorized"),
];

/// What a key holds, for the alias message ("the SQLite file is `database`").
fn meaning(key: &str) -> &'static str {
    match key {
        "database" => "the database name (PostgreSQL) or the SQLite file is",
        "username" => "the user name is",
        "password" => "the password is",
        "host" => "the server is",
        "type" => "the kind of database is",
        "url" => "a connection URL is",
        "ssl" => "TLS is",
        "schema" => "the PostgreSQL schema is",
        "connectTimeoutMs" => "the connection timeout is",
        "acquireTimeoutMs" => "the pool's acquire timeout is",
        "poolSize" => "the pool size is",
        "migrate" => "what connect does with migrations is",
        "readOnly" => "opening without writing is",
        _ => "the option is",
    }
}

/// Refuses a key `allowed` does not hold (an undefined member counts as absent, as a spread
/// leaves it), naming the key and, for a known alias, the key to use. Key names are not
/// secrets; values are never shown.
fn known_keys(fields: &Fields, what: &str, allowed: &[&str]) -> Result<()> {
    for (key, value) in fields.entries() {
        if allowed.contains(&key.as_str()) || matches!(value, Input::Undefined) {
            continue;
        }
        let shown = printable(key);
        let alias = ALIASES
            .iter()
            .find(|(alias, _)| alias == key)
            .map(|(_, to)| *to)
            .filter(|to| allowed.contains(to));
        return Err(Error::validation(match alias {
            Some(to) => format!(
                "`{shown}` is not an option of {what}; {} `{to}`",
                meaning(to)
            ),
            None => format!(
                "`{shown}` is not an option of {what} (its options: {})",
                allowed.join(", ")
            ),
        }));
    }
    Ok(())
}

impl RawConfig {
    /// The configuration as JavaScript passed it (any value). A key of the wrong type is named
    /// with the type it has, never its value: the value may be a secret (a password, a URL
    /// with credentials). A key the package does not know is refused at every level.
    pub fn from_input(config: &Input) -> Result<RawConfig> {
        let f = Fields::of_optional(config, "config")?;
        known_keys(&f, "config", CONFIG_KEYS)?;
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
                known_keys(&fb, "config.fallback", FALLBACK_KEYS)?;
                Some(RawFallback {
                    kind: fb.text("type", 64)?,
                    database: fb.text("database", 4096)?,
                })
            }
        };
        let ssl = match f.get("ssl") {
            Input::Undefined | Input::Null => None,
            Input::Bool(true) => Some(Ssl::Require),
            Input::Bool(false) => Some(Ssl::Off),
            value @ Input::Object(_) => {
                let tls = Fields::of(value, "config.ssl")?;
                known_keys(&tls, "config.ssl", SSL_KEYS)?;
                Some(match tls.boolean("rejectUnauthorized")? {
                    Some(false) => Ssl::Require,
                    _ => Ssl::Verify {
                        ca: tls.text("ca", 1 << 20)?,
                    },
                })
            }
            other => {
                return Err(Error::validation(format!(
                    "config.ssl must be a boolean or an object, not {}",
                    other.type_name()
                )))
            }
        };
        let migrate = match f.get("migrate") {
            Input::Undefined | Input::Null => None,
            Input::Bool(true) => Some(Migrate::Apply),
            Input::Bool(false) => Some(Migrate::Skip),
            Input::Text(t) if t == "check" => Some(Migrate::Check),
            other => {
                return Err(Error::validation(format!(
                    "config.migrate must be true, false or 'check', not {}",
                    other.type_name()
                )))
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
            ssl,
            fallback,
            connect_timeout_ms: f.number("connectTimeoutMs")?,
            acquire_timeout_ms: f.number("acquireTimeoutMs")?,
            migrate,
            pool_size: f.number("poolSize")?,
            schema: f.text("schema", 64)?,
            read_only: f.boolean("readOnly")?,
            max_in_flight: f.number("maxInFlight")?,
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
    pub migrate: Migrate,
    /// Open an existing database without writing to it: nothing is created (no file, folder,
    /// reserve, schema or table), migrations are not applied, and writes are refused.
    pub read_only: bool,
    pub pool_size: u32,
    /// The most calls in flight on the database at once; beyond it a call is refused at once
    /// with `ERR_OVERLOADED` (nothing written).
    pub max_in_flight: u64,
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
        let max_in_flight = match raw.max_in_flight {
            None => DEFAULT_MAX_IN_FLIGHT,
            Some(n) => whole_number(n, "maxInFlight", 1.0, 10_000_000.0)?,
        };
        let read_only = raw.read_only.unwrap_or(false);
        let migrate = match (raw.migrate, read_only) {
            (Some(Migrate::Apply), true) => {
                return Err(Error::validation(
                    "config.readOnly cannot be combined with migrate: true",
                ))
            }
            (None, true) => Migrate::Skip,
            (m, _) => m.unwrap_or_default(),
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
        // Every transaction read-only: the server refuses a write whatever runs it.
        let primary = match primary {
            Target::Postgres(options) if read_only => Target::Postgres(Box::new(
                options.options([("default_transaction_read_only", "on")]),
            )),
            target => target,
        };
        if let (Some(fb), Target::Sqlite(_) | Target::Memory) = (&fallback, &primary) {
            tracing::debug!(fallback = ?fb, "fallback ignored: the primary is embedded");
        }
        Ok(ConnectConfig {
            fallback,
            connect_timeout: Duration::from_millis(connect_timeout_ms),
            acquire_timeout: Duration::from_millis(acquire_timeout_ms),
            migrate,
            read_only,
            pool_size,
            max_in_flight,
            schema: schema.filter(|_| matches!(primary, Target::Postgres(_))),
            primary,
        })
    }
}

/// The longest schema name: the notification channels append it to their own names, and a
/// channel name is an identifier (at most 63 bytes).
pub const SCHEMA_MAX_LEN: usize = 40;

/// A schema name the package can use unquoted everywhere: lowercase letters, digits and
/// underscores, not starting with a digit, and none PostgreSQL keeps for itself (`pg_*`, whose
/// tables pg_dump leaves out, and `information_schema`). `public` is taken as asked.
fn check_schema(schema: &str) -> Result<String> {
    if schema == "information_schema" || schema.starts_with("pg_") {
        return Err(Error::validation(
            "schema must not be one PostgreSQL keeps for itself (its catalog and the \
             information schema, which pg_dump leaves out)",
        ));
    }
    let ok = !schema.is_empty()
        && schema.len() <= SCHEMA_MAX_LEN
        && !schema.starts_with(|c: char| c.is_ascii_digit())
        && schema
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_');
    if !ok {
        return Err(Error::validation(format!(
            "schema must be 1 to {SCHEMA_MAX_LEN} lowercase letters, digits or underscores, \
             not starting with a digit"
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
        // The URL names the whole target: a field beside it would be ignored, so it is refused.
        let beside = [
            ("host", raw.host.is_some()),
            ("port", raw.port.is_some()),
            ("database", raw.database.is_some()),
            ("username", raw.username.is_some()),
            ("password", raw.password.is_some()),
        ];
        if let Some((key, _)) = beside.iter().find(|(_, given)| *given) {
            return Err(Error::validation(format!(
                "config.url and config.{key} cannot both be given: the URL names the database"
            )));
        }
        let target = parse_url(url)?;
        let agrees = matches!(
            (raw.kind.as_deref(), &target),
            (None, _)
                | (Some("postgresql" | "postgres"), Target::Postgres(_))
                | (Some("sqlite"), Target::Sqlite(_) | Target::Memory)
                | (Some("memory"), Target::Memory)
        );
        if !agrees {
            return Err(Error::validation(
                "config.type and config.url name different kinds of database",
            ));
        }
        return Ok(default_ssl(target, url, raw.ssl.as_ref()));
    }
    match raw.kind.as_deref() {
        Some("postgresql") | Some("postgres") => postgres_from_fields(raw),
        Some("sqlite") => Ok(sqlite_target(raw.database.as_deref())),
        Some("memory") => Ok(Target::Memory),
        Some(_) => Err(Error::validation(
            "type must be 'postgresql', 'sqlite' or 'memory'",
        )),
        None if raw.host.is_some() => postgres_from_fields(raw),
        None => match env_url.filter(|u| !u.is_empty()) {
            Some(url) => parse_url(&url).map(|t| default_ssl(t, &url, raw.ssl.as_ref())),
            None => Ok(Target::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH))),
        },
    }
}

fn parse_fallback(raw: &RawFallback) -> Result<Target> {
    match raw.kind.as_deref() {
        Some("sqlite") => Ok(sqlite_target(raw.database.as_deref())),
        Some("memory") => Ok(Target::Memory),
        Some(_) => Err(Error::validation(
            "fallback.type must be 'sqlite' or 'memory'",
        )),
        None => Err(Error::validation(
            "fallback.type is required ('sqlite' or 'memory')",
        )),
    }
}

/// The SQLite target of `database`: the file, `:memory:`, or the default file when none is named.
fn sqlite_target(database: Option<&str>) -> Target {
    match database {
        Some(":memory:") => Target::Memory,
        None | Some("") => Target::Sqlite(PathBuf::from(DEFAULT_SQLITE_PATH)),
        Some(path) => Target::Sqlite(PathBuf::from(path)),
    }
}

/// Parses `postgres://…`, `postgresql://…`, `sqlite://path`, `sqlite:path`, `sqlite::memory:`, or
/// Prisma's `file:path` (`file::memory:` too). An SQLite URL takes no parameters: one it would
/// ignore is refused.
pub fn parse_url(url: &str) -> Result<Target> {
    if url.starts_with("postgres://") || url.starts_with("postgresql://") {
        let options = PgConnectOptions::from_str(url)
            .map_err(|_| Error::validation("the PostgreSQL URL cannot be parsed"))?;
        return Ok(Target::Postgres(Box::new(options)));
    }
    let Some(rest) = url
        .strip_prefix("sqlite:")
        .or_else(|| url.strip_prefix("file:"))
    else {
        return Err(Error::validation(
            "unsupported database URL (expected postgres://, postgresql://, sqlite: or file:)",
        ));
    };
    if rest.contains('?') || rest.contains('#') {
        return Err(Error::validation(
            "an SQLite URL takes no parameters (the file is all it names)",
        ));
    }
    if rest == ":memory:" || rest == "//:memory:" {
        return Ok(Target::Memory);
    }
    let path = rest.strip_prefix("//").unwrap_or(rest);
    if path.is_empty() {
        return Err(Error::validation("the SQLite URL has no path"));
    }
    Ok(Target::Sqlite(PathBuf::from(path)))
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
    Ok(Target::Postgres(Box::new(with_ssl(
        options,
        raw.ssl.as_ref(),
        false,
    ))))
}

/// A PostgreSQL URL that names no `sslmode` (nor does `PGSSLMODE`) gets the `ssl` option's: TLS
/// only when asked for, as with the fields (libpq's own default, `prefer`, would encrypt every
/// local connection whose server offers TLS, without verifying anything).
fn default_ssl(target: Target, url: &str, ssl: Option<&Ssl>) -> Target {
    let Target::Postgres(options) = target else {
        return target;
    };
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let named = query.split('&').any(|pair| {
        // The keys sqlx reads (case matters to it).
        matches!(pair.split('=').next(), Some("sslmode" | "ssl-mode"))
    });
    let from_env = std::env::var_os("PGSSLMODE").is_some_and(|v| !v.is_empty());
    Target::Postgres(Box::new(with_ssl(*options, ssl, named || from_env)))
}

/// The `ssl` option applied to `options`; `keep_mode`: the URL or `PGSSLMODE` named the mode,
/// which wins (a `ca` still applies).
fn with_ssl(options: PgConnectOptions, ssl: Option<&Ssl>, keep_mode: bool) -> PgConnectOptions {
    let options = match ssl {
        Some(Ssl::Verify { ca: Some(pem) }) => {
            options.ssl_root_cert_from_pem(pem.as_bytes().to_vec())
        }
        _ => options,
    };
    if keep_mode {
        return options;
    }
    options.ssl_mode(match ssl {
        None | Some(Ssl::Off) => PgSslMode::Disable,
        Some(Ssl::Require) => PgSslMode::Require,
        Some(Ssl::Verify { .. }) => PgSslMode::VerifyFull,
    })
}

#[cfg(test)]
mod tests;
