//! The one error type of the core. Every failure carries a stable code; the binding turns it into
//! a JS `Error` with `code`, a `Failed to …:` message and, where there is one, a `cause`.
//! Raw database text goes to `tracing`; what reaches the caller never holds SQL, parameter values
//! or credentials.

use std::fmt;

/// Stable error codes, the same on every backend.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ErrorCode {
    Validation,
    Conflict,
    DbUnavailable,
    /// The server answered and refused: no such database, authentication failed, TLS required,
    /// refused or unverified, no permission. A configuration error, never an outage.
    DbRefused,
    Db,
    Closed,
    Migration,
    Timeout,
    /// More calls in flight on the database than its `maxInFlight`: refused at once, nothing
    /// written.
    Overloaded,
    Internal,
    /// The call's `AbortSignal` fired before the call took effect: nothing was written. The
    /// binding rejects with the signal's reason instead, so this code is never a caller's (not
    /// in [`ErrorCode::ALL`]), and the metrics count such a call as no error.
    Aborted,
}

impl ErrorCode {
    /// All codes, in the order they are documented.
    pub const ALL: [ErrorCode; 10] = [
        ErrorCode::Validation,
        ErrorCode::Conflict,
        ErrorCode::DbUnavailable,
        ErrorCode::DbRefused,
        ErrorCode::Db,
        ErrorCode::Closed,
        ErrorCode::Migration,
        ErrorCode::Timeout,
        ErrorCode::Overloaded,
        ErrorCode::Internal,
    ];

    /// Whether the same call may succeed if made again later: the database was unreachable,
    /// a lock or a connection was not had in time (a deadlock retried to the end included), or
    /// too many calls were in flight.
    pub const fn retryable(self) -> bool {
        matches!(
            self,
            ErrorCode::DbUnavailable | ErrorCode::Timeout | ErrorCode::Overloaded
        )
    }

    pub const fn as_str(self) -> &'static str {
        match self {
            ErrorCode::Validation => "ERR_VALIDATION",
            ErrorCode::Conflict => "ERR_CONFLICT",
            ErrorCode::DbUnavailable => "ERR_DB_UNAVAILABLE",
            ErrorCode::DbRefused => "ERR_DB_REFUSED",
            ErrorCode::Db => "ERR_DB",
            ErrorCode::Closed => "ERR_CLOSED",
            ErrorCode::Migration => "ERR_MIGRATION",
            ErrorCode::Timeout => "ERR_TIMEOUT",
            ErrorCode::Overloaded => "ERR_OVERLOADED",
            ErrorCode::Internal => "ERR_INTERNAL",
            ErrorCode::Aborted => "ERR_ABORTED",
        }
    }
}

/// The underlying error, reduced to what is safe to show: a message and the driver's own code
/// (a PostgreSQL SQLSTATE or an SQLite result code name).
#[derive(Debug, Clone, PartialEq)]
pub struct Cause {
    pub message: String,
    pub code: Option<String>,
}

/// A core failure: a code, a message (without the `Failed to …:` prefix, which the binding adds
/// once) and an optional cause.
#[derive(Debug, Clone, PartialEq)]
pub struct Error {
    pub code: ErrorCode,
    pub message: String,
    pub cause: Option<Cause>,
    /// What is known of what failed, beyond the message (boxed: most errors have none, and a
    /// `Result` stays small).
    pub meta: Option<Box<Meta>>,
}

/// What an error is about, where it is known: the table, column and constraint a database
/// named, and the argument a validation refused (`updates.status`). Names of the package's own
/// schema and of its API, never a caller's value.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Meta {
    pub table: Option<String>,
    pub column: Option<String>,
    pub constraint: Option<String>,
    pub argument: Option<String>,
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} ({})", self.message, self.code.as_str())
    }
}

impl std::error::Error for Error {}

impl Error {
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        Error {
            code,
            message: message.into(),
            cause: None,
            meta: None,
        }
    }

    /// The error, with `meta` as what it is about.
    pub fn with_meta(mut self, meta: Meta) -> Self {
        self.meta = (meta != Meta::default()).then(|| Box::new(meta));
        self
    }

    /// What it is about (all unknown when nothing is).
    pub fn meta(&self) -> &Meta {
        static NONE: Meta = Meta {
            table: None,
            column: None,
            constraint: None,
            argument: None,
        };
        self.meta.as_deref().unwrap_or(&NONE)
    }

    pub fn with_cause(mut self, message: impl Into<String>, code: Option<String>) -> Self {
        self.cause = Some(Cause {
            message: message.into(),
            code,
        });
        self
    }

    /// Bad input. `meta.argument` is the argument the message starts with (`updates.status
    /// must be …`), when it does.
    pub fn validation(message: impl Into<String>) -> Self {
        let message = message.into();
        let argument = argument_of(&message);
        Error::new(ErrorCode::Validation, message).with_meta(Meta {
            argument,
            ..Meta::default()
        })
    }

    pub fn closed() -> Self {
        Error::new(ErrorCode::Closed, "the database is closed")
    }

    /// A call refused because `limit` calls are already in flight on the database.
    pub fn overloaded(limit: u64) -> Self {
        Error::new(
            ErrorCode::Overloaded,
            format!("{limit} calls are already in flight on this database (its maxInFlight); retry once some have finished"),
        )
    }

    /// The call's signal fired before it took effect.
    pub fn aborted() -> Self {
        Error::new(
            ErrorCode::Aborted,
            "the call was aborted before it took effect: nothing was written",
        )
    }

    pub fn internal(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Internal, message)
    }

    pub fn migration(message: impl Into<String>) -> Self {
        Error::new(ErrorCode::Migration, message)
    }
}

/// The argument a validation message starts with: a name or dotted path (`options.limit`,
/// `executions[3].status`) followed by what it must be.
fn argument_of(message: &str) -> Option<String> {
    let (first, rest) = message.split_once(' ')?;
    let verb = ["must ", "is ", "has ", "needs ", "cannot ", "(", "out of "]
        .iter()
        .any(|v| rest.starts_with(v));
    let mut chars = first.chars();
    let path = chars.next().is_some_and(|c| c.is_ascii_alphabetic())
        && chars.all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '[' | ']'));
    const WORDS: [&str; 6] = ["the", "each", "a", "an", "this", "invalid"];
    (verb && path && !WORDS.contains(&first)).then(|| first.to_string())
}

// ---- PostgreSQL (sqlx) -------------------------------------------------------------------------

impl From<sqlx::Error> for Error {
    fn from(err: sqlx::Error) -> Self {
        tracing::debug!(error = %err, "postgresql error");
        match &err {
            sqlx::Error::Database(db) => {
                let sqlstate = db.code().map(|c| c.to_string()).unwrap_or_default();
                let pg = db.try_downcast_ref::<sqlx::postgres::PgDatabaseError>();
                let what = pg.and_then(|pg| {
                    constraint_subject(&sqlstate, pg.table(), pg.column(), pg.constraint())
                });
                let (code, message) = classify_sqlstate(&sqlstate, what.as_deref());
                // Class 22 messages quote the offending input value, and syntax errors the SQL
                // around the error: keep only the SQLSTATE.
                let cause = if sqlstate.starts_with("22") {
                    format!("invalid input value (SQLSTATE {sqlstate})")
                } else if sqlstate == "42601" {
                    format!("a statement could not be parsed (SQLSTATE {sqlstate})")
                } else if code == ErrorCode::DbRefused {
                    // The reason ("no pg_hba.conf entry …, no encryption") stays; the names it
                    // quotes (user, database, host) came from the caller's configuration.
                    unquoted(db.message())
                } else {
                    db.message().to_string()
                };
                let meta = pg.map(|pg| pg_meta(&sqlstate, pg)).unwrap_or_default();
                Error::new(code, message)
                    .with_cause(cause, Some(sqlstate))
                    .with_meta(meta)
            }
            sqlx::Error::PoolTimedOut => Error::new(
                ErrorCode::Timeout,
                "timed out waiting for a PostgreSQL connection",
            ),
            sqlx::Error::PoolClosed => Error::closed(),
            // rustls reports a certificate that fails verification as invalid data on the
            // socket: the server answered, so it is refused, never unreachable.
            sqlx::Error::Io(io) if io.kind() == std::io::ErrorKind::InvalidData => Error::new(
                ErrorCode::DbRefused,
                "TLS with PostgreSQL failed (the certificate, or TLS itself, was refused)",
            )
            .with_cause(io.to_string(), None),
            sqlx::Error::Io(io) => {
                Error::new(ErrorCode::DbUnavailable, "PostgreSQL is unreachable")
                    .with_cause(io.to_string(), io_code(io.kind()).map(str::to_string))
            }
            // The server answered: a certificate that fails verification, or TLS that one
            // side requires and the other refuses, is a configuration (or security) matter.
            sqlx::Error::Tls(tls) => Error::new(
                ErrorCode::DbRefused,
                "TLS with PostgreSQL failed (the certificate, or TLS itself, was refused)",
            )
            .with_cause(tls.to_string(), None),
            sqlx::Error::Protocol(_) | sqlx::Error::WorkerCrashed => {
                Error::new(ErrorCode::DbUnavailable, "the PostgreSQL connection broke")
            }
            sqlx::Error::Configuration(c) => Error::validation("invalid PostgreSQL configuration")
                .with_cause(c.to_string(), None),
            sqlx::Error::ColumnDecode { .. }
            | sqlx::Error::Decode(_)
            | sqlx::Error::ColumnNotFound(_) => {
                // These name the column and the types involved, never a value.
                Error::internal("could not decode a PostgreSQL row")
                    .with_cause(err.to_string(), None)
            }
            _ => Error::new(ErrorCode::Db, "PostgreSQL query failed"),
        }
    }
}

/// What a constraint error is about, named as SQLite names it (`table.column` for unique and
/// not-null violations, the constraint for checks, nothing for foreign keys), so that messages
/// are the same on both backends.
fn constraint_subject(
    sqlstate: &str,
    table: Option<&str>,
    column: Option<&str>,
    constraint: Option<&str>,
) -> Option<String> {
    match sqlstate {
        "23505" => {
            let (table, constraint) = (table?, constraint?);
            let column = constraint.strip_prefix(table)?.strip_prefix('_')?;
            let column = column
                .strip_suffix("_key")
                .or_else(|| column.strip_suffix("_pkey"))
                .unwrap_or(column);
            Some(format!("{table}.{column}"))
        }
        "23502" => Some(format!("{}.{}", table?, column?)),
        "23514" => constraint.map(str::to_string),
        _ => None,
    }
}

/// The table, column and constraint PostgreSQL named (for a unique violation, the column from the
/// constraint's name, as [`constraint_subject`] reads it).
fn pg_meta(sqlstate: &str, pg: &sqlx::postgres::PgDatabaseError) -> Meta {
    let column = pg.column().map(str::to_string).or_else(|| {
        let subject = constraint_subject(sqlstate, pg.table(), None, pg.constraint())?;
        subject.split_once('.').map(|(_, c)| c.to_string())
    });
    Meta {
        table: pg.table().map(str::to_string),
        column: column.filter(|_| sqlstate.starts_with("23")),
        constraint: pg.constraint().map(str::to_string),
        argument: None,
    }
}

/// Node's names for the socket errors a connection attempt meets.
fn io_code(kind: std::io::ErrorKind) -> Option<&'static str> {
    use std::io::ErrorKind as K;
    Some(match kind {
        K::ConnectionRefused => "ECONNREFUSED",
        K::ConnectionReset => "ECONNRESET",
        K::ConnectionAborted => "ECONNABORTED",
        K::TimedOut => "ETIMEDOUT",
        K::HostUnreachable => "EHOSTUNREACH",
        K::NetworkUnreachable => "ENETUNREACH",
        K::NotFound => "ENOTFOUND",
        K::UnexpectedEof | K::BrokenPipe => "EPIPE",
        _ => return None,
    })
}

/// `text` with every double-quoted name replaced by `"…"`.
fn unquoted(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut inside = false;
    for c in text.chars() {
        if c == '"' {
            if !inside {
                out.push_str("\"…\"");
            }
            inside = !inside;
        } else if !inside {
            out.push(c);
        }
    }
    out
}

fn classify_sqlstate(sqlstate: &str, constraint: Option<&str>) -> (ErrorCode, String) {
    let on = |what: &str| match constraint {
        Some(c) => format!("{what} ({c})"),
        None => what.to_string(),
    };
    match sqlstate {
        "23505" => (
            ErrorCode::Conflict,
            on("a row with the same key already exists"),
        ),
        "23503" => (
            ErrorCode::Conflict,
            "a referenced row does not exist".into(),
        ),
        "23514" | "23502" => (
            ErrorCode::Validation,
            on("a value was refused by the table"),
        ),
        "28P01" => (
            ErrorCode::DbRefused,
            "PostgreSQL refused the credentials".into(),
        ),
        // pg_hba.conf has no line for this connection: the user, the database, or TLS on or off.
        "28000" => (
            ErrorCode::DbRefused,
            "PostgreSQL refused the connection (authorization; see the cause)".into(),
        ),
        "3D000" => (
            ErrorCode::DbRefused,
            "the PostgreSQL database does not exist".into(),
        ),
        "42501" => (
            ErrorCode::DbRefused,
            "PostgreSQL refused: permission denied".into(),
        ),
        "25006" => (
            ErrorCode::DbRefused,
            "the database is open read-only: writes are refused".into(),
        ),
        "3F000" => (
            ErrorCode::DbRefused,
            "the PostgreSQL schema does not exist".into(),
        ),
        "57014" => (ErrorCode::Timeout, "the statement was cancelled".into()),
        // Retried inside the package first (postgres/group.rs): what reaches the caller kept conflicting.
        "40001" | "40P01" => (
            ErrorCode::Timeout,
            "the transaction kept conflicting with others (deadlock or serialization failure)"
                .into(),
        ),
        "53100" => (ErrorCode::Db, "PostgreSQL is out of disk space".into()),
        s if s.starts_with("08") || s.starts_with("57P") || s.starts_with("53") => {
            (ErrorCode::DbUnavailable, "PostgreSQL is unavailable".into())
        }
        s if s.starts_with("22") => (
            ErrorCode::Validation,
            "a value has the wrong type or range".into(),
        ),
        _ => (ErrorCode::Db, "PostgreSQL query failed".into()),
    }
}

// ---- SQLite (rusqlite) ---------------------------------------------------------------------------

impl From<rusqlite::Error> for Error {
    fn from(err: rusqlite::Error) -> Self {
        tracing::debug!(error = %err, "sqlite error");
        use rusqlite::ffi;
        // A statement SQLite could not parse: its message quotes the SQL around the error.
        let failure = match &err {
            rusqlite::Error::SqliteFailure(e, msg) => Some((e, msg.clone())),
            rusqlite::Error::SqlInputError { error, .. } => {
                Some((error, Some("a statement could not be parsed".to_string())))
            }
            _ => None,
        };
        match failure {
            Some((e, msg)) => {
                let name = sqlite_code_name(e.extended_code).to_string();
                let detail = msg
                    .filter(|m| !m.contains("syntax error"))
                    .unwrap_or_else(|| e.to_string());
                let code = match e.extended_code {
                    ffi::SQLITE_CONSTRAINT_UNIQUE | ffi::SQLITE_CONSTRAINT_PRIMARYKEY => {
                        ErrorCode::Conflict
                    }
                    ffi::SQLITE_CONSTRAINT_FOREIGNKEY => ErrorCode::Conflict,
                    ffi::SQLITE_CONSTRAINT_CHECK | ffi::SQLITE_CONSTRAINT_NOTNULL => {
                        ErrorCode::Validation
                    }
                    _ => match e.code {
                        rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked => {
                            ErrorCode::Timeout
                        }
                        rusqlite::ErrorCode::CannotOpen
                        | rusqlite::ErrorCode::NotADatabase
                        | rusqlite::ErrorCode::ReadOnly
                        | rusqlite::ErrorCode::PermissionDenied => ErrorCode::DbUnavailable,
                        _ => ErrorCode::Db,
                    },
                };
                let message = match code {
                    ErrorCode::Conflict => {
                        constraint_message(&detail, "a row with the same key already exists")
                    }
                    ErrorCode::Validation => {
                        constraint_message(&detail, "a value was refused by the table")
                    }
                    ErrorCode::Timeout => "the SQLite database stayed locked".to_string(),
                    ErrorCode::DbUnavailable => {
                        "the SQLite database cannot be opened for writing".to_string()
                    }
                    _ if e.code == rusqlite::ErrorCode::DiskFull => "the disk is full".to_string(),
                    _ => "SQLite query failed".to_string(),
                };
                let meta = sqlite_meta(&detail);
                Error::new(code, message)
                    .with_cause(detail, Some(name))
                    .with_meta(meta)
            }
            // Other variants name types, columns or indexes, never SQL or values.
            None => {
                Error::new(ErrorCode::Db, "SQLite query failed").with_cause(err.to_string(), None)
            }
        }
    }
}

/// SQLite's own name of a result code (its primary code: `SQLITE_BUSY`, `SQLITE_FULL`, …), as
/// `sqlite3.h` spells it.
pub fn sqlite_code_name(extended_code: std::os::raw::c_int) -> &'static str {
    use rusqlite::ffi;
    match extended_code & 0xff {
        ffi::SQLITE_ERROR => "SQLITE_ERROR",
        ffi::SQLITE_INTERNAL => "SQLITE_INTERNAL",
        ffi::SQLITE_PERM => "SQLITE_PERM",
        ffi::SQLITE_ABORT => "SQLITE_ABORT",
        ffi::SQLITE_BUSY => "SQLITE_BUSY",
        ffi::SQLITE_LOCKED => "SQLITE_LOCKED",
        ffi::SQLITE_NOMEM => "SQLITE_NOMEM",
        ffi::SQLITE_READONLY => "SQLITE_READONLY",
        ffi::SQLITE_INTERRUPT => "SQLITE_INTERRUPT",
        ffi::SQLITE_IOERR => "SQLITE_IOERR",
        ffi::SQLITE_CORRUPT => "SQLITE_CORRUPT",
        ffi::SQLITE_NOTFOUND => "SQLITE_NOTFOUND",
        ffi::SQLITE_FULL => "SQLITE_FULL",
        ffi::SQLITE_CANTOPEN => "SQLITE_CANTOPEN",
        ffi::SQLITE_PROTOCOL => "SQLITE_PROTOCOL",
        ffi::SQLITE_EMPTY => "SQLITE_EMPTY",
        ffi::SQLITE_SCHEMA => "SQLITE_SCHEMA",
        ffi::SQLITE_TOOBIG => "SQLITE_TOOBIG",
        ffi::SQLITE_CONSTRAINT => "SQLITE_CONSTRAINT",
        ffi::SQLITE_MISMATCH => "SQLITE_MISMATCH",
        ffi::SQLITE_MISUSE => "SQLITE_MISUSE",
        ffi::SQLITE_NOLFS => "SQLITE_NOLFS",
        ffi::SQLITE_AUTH => "SQLITE_AUTH",
        ffi::SQLITE_FORMAT => "SQLITE_FORMAT",
        ffi::SQLITE_RANGE => "SQLITE_RANGE",
        ffi::SQLITE_NOTADB => "SQLITE_NOTADB",
        ffi::SQLITE_NOTICE => "SQLITE_NOTICE",
        ffi::SQLITE_WARNING => "SQLITE_WARNING",
        _ => "SQLITE_ERROR",
    }
}

/// What SQLite named in a constraint failure: `table.column` (unique, not null; the first of
/// several columns) or a CHECK constraint's name.
fn sqlite_meta(detail: &str) -> Meta {
    let Some((kind, what)) = detail.split_once(" constraint failed: ") else {
        return Meta::default();
    };
    if kind == "CHECK" {
        return Meta {
            constraint: Some(what.to_string()),
            ..Meta::default()
        };
    }
    let first = what.split(", ").next().unwrap_or(what);
    match first.split_once('.') {
        Some((table, column)) => Meta {
            table: Some(table.to_string()),
            column: Some(column.to_string()),
            ..Meta::default()
        },
        None => Meta::default(),
    }
}

fn constraint_message(detail: &str, fallback: &str) -> String {
    if detail.starts_with("FOREIGN KEY") {
        return "a referenced row does not exist".to_string();
    }
    // SQLite names the constraint or column: "UNIQUE constraint failed: t.c".
    match detail.split_once(": ") {
        Some((_, what)) => format!("{fallback} ({what})"),
        None => fallback.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sqlite_causes_carry_sqlite_s_own_code_names() {
        let of = |code: i32| {
            Error::from(rusqlite::Error::SqliteFailure(
                rusqlite::ffi::Error::new(code),
                None,
            ))
        };
        let busy = of(rusqlite::ffi::SQLITE_BUSY);
        assert_eq!(busy.code, ErrorCode::Timeout);
        assert_eq!(busy.cause.unwrap().code.as_deref(), Some("SQLITE_BUSY"));
        let full = of(rusqlite::ffi::SQLITE_FULL);
        assert_eq!(full.cause.unwrap().code.as_deref(), Some("SQLITE_FULL"));
        let unique = of(rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE);
        assert_eq!(unique.code, ErrorCode::Conflict);
        assert_eq!(
            unique.cause.unwrap().code.as_deref(),
            Some("SQLITE_CONSTRAINT")
        );
        assert_eq!(
            sqlite_code_name(rusqlite::ffi::SQLITE_IOERR_WRITE),
            "SQLITE_IOERR"
        );
    }

    #[test]
    fn codes_are_stable_strings() {
        let names: Vec<_> = ErrorCode::ALL.iter().map(|c| c.as_str()).collect();
        assert_eq!(
            names,
            [
                "ERR_VALIDATION",
                "ERR_CONFLICT",
                "ERR_DB_UNAVAILABLE",
                "ERR_DB_REFUSED",
                "ERR_DB",
                "ERR_CLOSED",
                "ERR_MIGRATION",
                "ERR_TIMEOUT",
                "ERR_OVERLOADED",
                "ERR_INTERNAL"
            ]
        );
    }

    #[test]
    fn sqlite_constraint_errors_map_to_domain_codes() {
        let conn = rusqlite::Connection::open_in_memory().unwrap();
        conn.execute_batch("CREATE TABLE t (a TEXT UNIQUE, b TEXT CHECK (b IN ('x')))")
            .unwrap();
        conn.execute("INSERT INTO t(a, b) VALUES ('1', 'x')", [])
            .unwrap();
        let dup: Error = conn
            .execute("INSERT INTO t(a, b) VALUES ('1', 'x')", [])
            .unwrap_err()
            .into();
        assert_eq!(dup.code, ErrorCode::Conflict);
        assert!(dup.message.contains("t.a"), "{}", dup.message);
        let bad: Error = conn
            .execute("INSERT INTO t(a, b) VALUES ('2', 'y')", [])
            .unwrap_err()
            .into();
        assert_eq!(bad.code, ErrorCode::Validation);
        assert!(!bad.message.contains("'y'"));
        assert_eq!(
            (dup.meta().table.as_deref(), dup.meta().column.as_deref()),
            (Some("t"), Some("a"))
        );
        conn.execute_batch("CREATE TABLE c (v INT CONSTRAINT v_positive CHECK (v > 0))")
            .unwrap();
        let check: Error = conn
            .execute("INSERT INTO c(v) VALUES (-1)", [])
            .unwrap_err()
            .into();
        assert_eq!(check.meta().constraint.as_deref(), Some("v_positive"));
    }

    #[test]
    fn a_validation_names_the_argument_its_message_starts_with() {
        let argument = |m: &str| Error::validation(m).meta().argument.clone();
        assert_eq!(
            argument("updates.status must be one of: a, b").as_deref(),
            Some("updates.status")
        );
        assert_eq!(
            argument("executions[3].workflowId is required").as_deref(),
            Some("executions[3].workflowId")
        );
        assert_eq!(
            argument("after is a cursor of another list").as_deref(),
            Some("after")
        );
        for prose in [
            "the SQLite URL has no path",
            "each update must be an object",
            "event type is not one of the handled events",
            "distributed events need PostgreSQL",
        ] {
            assert_eq!(argument(prose), None, "{prose}");
        }
    }

    #[test]
    fn sqlstates_are_classified() {
        assert_eq!(classify_sqlstate("23505", Some("k")).0, ErrorCode::Conflict);
        assert_eq!(classify_sqlstate("28P01", None).0, ErrorCode::DbRefused);
        assert_eq!(classify_sqlstate("28000", None).0, ErrorCode::DbRefused);
        assert_eq!(classify_sqlstate("3D000", None).0, ErrorCode::DbRefused);
        assert_eq!(
            unquoted(
                r#"no pg_hba.conf entry for host "127.0.0.1", user "u", database "d", no encryption"#
            ),
            r#"no pg_hba.conf entry for host "…", user "…", database "…", no encryption"#
        );
        assert_eq!(classify_sqlstate("08006", None).0, ErrorCode::DbUnavailable);
        assert_eq!(classify_sqlstate("57P01", None).0, ErrorCode::DbUnavailable);
        assert_eq!(classify_sqlstate("22P02", None).0, ErrorCode::Validation);
        assert_eq!(classify_sqlstate("42601", None).0, ErrorCode::Db);
    }
}
