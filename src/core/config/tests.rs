//! Unit tests of `config`.

use super::*;

fn cfg(raw: RawConfig) -> Result<ConnectConfig> {
    ConnectConfig::from_raw(raw, None)
}

#[test]
fn defaults_to_the_embedded_sqlite_file() {
    let c = cfg(RawConfig::default()).unwrap();
    assert!(matches!(c.primary, Target::Sqlite(ref p) if p == &PathBuf::from(DEFAULT_SQLITE_PATH)));
    assert_eq!(c.migrate, Migrate::Apply);
    assert_eq!(c.pool_size, 10);
    assert_eq!(c.connect_timeout, Duration::from_millis(2000));
    assert_eq!(c.acquire_timeout, Duration::from_millis(5000));
}

#[test]
fn env_url_is_used_without_config() {
    let c = ConnectConfig::from_raw(RawConfig::default(), Some("sqlite::memory:".into())).unwrap();
    assert!(matches!(c.primary, Target::Memory));
}

#[test]
fn pidea_shape_with_string_port_and_fallback() {
    let c = cfg(RawConfig {
        kind: Some("postgresql".into()),
        host: Some("db.internal".into()),
        port: Some("6543".into()),
        database: Some("pidea".into()),
        username: Some("u".into()),
        password: Some("s3cret".into()),
        fallback: Some(RawFallback {
            kind: Some("sqlite".into()),
            database: Some("x.db".into()),
        }),
        ..Default::default()
    })
    .unwrap();
    match &c.primary {
        Target::Postgres(o) => {
            assert_eq!(o.get_host(), "db.internal");
            assert_eq!(o.get_port(), 6543);
            assert_eq!(o.get_database(), Some("pidea"));
        }
        other => panic!("{other:?}"),
    }
    assert!(!format!("{:?}", c).contains("s3cret"));
    assert!(matches!(c.fallback, Some(Target::Sqlite(_))));
}

#[test]
fn refuses_bad_values() {
    let unknown_fallback = cfg(RawConfig {
        kind: Some("memory".into()),
        fallback: Some(RawFallback {
            kind: Some("redis".into()),
            database: None,
        }),
        ..Default::default()
    });
    assert_eq!(
        unknown_fallback.unwrap_err().code,
        super::super::error::ErrorCode::Validation
    );
    assert!(cfg(RawConfig {
        kind: Some("mysql".into()),
        ..Default::default()
    })
    .is_err());
    assert!(cfg(RawConfig {
        kind: Some("postgresql".into()),
        port: Some("x".into()),
        ..Default::default()
    })
    .is_err());
    assert!(cfg(RawConfig {
        connect_timeout_ms: Some(f64::NAN),
        ..Default::default()
    })
    .is_err());
    assert!(cfg(RawConfig {
        pool_size: Some(0.0),
        ..Default::default()
    })
    .is_err());
    assert!(parse_url("mysql://x").is_err());
    assert!(parse_url("sqlite://").is_err());
}

#[test]
fn a_schema_sets_the_search_path_of_postgresql_only() {
    let with = |url: &str, schema: &str| {
        cfg(RawConfig {
            url: Some(url.into()),
            schema: Some(schema.into()),
            ..Default::default()
        })
    };
    let c = with("postgres://u@h/db", "workflow_infra").unwrap();
    assert_eq!(c.schema.as_deref(), Some("workflow_infra"));
    match &c.primary {
        Target::Postgres(o) => assert!(
            format!("{:?}", o).contains("search_path"),
            "the options carry the search_path"
        ),
        other => panic!("{other:?}"),
    }
    assert_eq!(
        with("sqlite::memory:", "workflow_infra").unwrap().schema,
        None
    );
    for bad in [
        "",
        "Upper",
        "1abc",
        "pg_temp",
        "pg_catalog",
        "information_schema",
        "a-b",
        "a;b",
        &"x".repeat(41),
    ] {
        let err = with("postgres://u@h/db", bad).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::Validation);
        if !bad.is_empty() {
            assert!(!err.message.contains(bad), "the value is not echoed");
        }
    }
}

#[test]
fn a_secret_of_the_wrong_type_is_named_never_shown() {
    let secret = "postgres://user:S3cretPW@db/x";
    let object = |k: &str, v: Input| Input::Object(vec![(k.to_string(), v)]);
    for (key, value) in [
        ("url", Input::Array(vec![Input::Text(secret.into())])),
        (
            "password",
            Input::Object(vec![("0".into(), Input::Text(secret.into()))]),
        ),
        ("password", Input::Number(12345.0)),
        ("port", Input::Array(vec![])),
        ("fallback", Input::Text(secret.into())),
    ] {
        let err = RawConfig::from_input(&object(key, value)).unwrap_err();
        assert_eq!(err.code, super::super::error::ErrorCode::Validation);
        assert!(
            err.message.contains(&format!("config.{key}")),
            "{}",
            err.message
        );
        assert!(!err.message.contains("S3cret") && !err.message.contains("12345"));
    }
    let ok = RawConfig::from_input(&Input::Object(vec![
        ("type".into(), Input::Text("postgresql".into())),
        ("port".into(), Input::Number(5433.0)),
        (
            "fallback".into(),
            object("type", Input::Text("memory".into())),
        ),
    ]))
    .unwrap();
    assert_eq!(ok.port.as_deref(), Some("5433"));
    assert_eq!(ok.fallback.unwrap().kind.as_deref(), Some("memory"));
    assert!(RawConfig::from_input(&Input::Undefined)
        .unwrap()
        .kind
        .is_none());
}

#[test]
fn urls() {
    assert!(matches!(
        parse_url("sqlite::memory:").unwrap(),
        Target::Memory
    ));
    assert!(
        matches!(parse_url("sqlite://data/a.db").unwrap(), Target::Sqlite(p) if p == std::path::Path::new("data/a.db"))
    );
    assert!(matches!(
        parse_url("postgres://u:p@localhost:5432/db").unwrap(),
        Target::Postgres(_)
    ));
}

#[test]
fn a_url_uses_tls_only_when_asked() {
    let mode = |url: &str, ssl: Option<bool>| match cfg(RawConfig {
        url: Some(url.into()),
        ssl: ssl.map(|on| if on { Ssl::Require } else { Ssl::Off }),
        ..Default::default()
    })
    .unwrap()
    .primary
    {
        Target::Postgres(o) => format!("{:?}", o.get_ssl_mode()),
        _ => "not postgres".into(),
    };
    assert_eq!(mode("postgres://u@h/db", None), "Disable");
    assert_eq!(mode("postgres://u@h/db", Some(true)), "Require");
    assert_eq!(
        mode("postgres://u@h/db?application_name=x", Some(false)),
        "Disable"
    );
    // The URL's own sslmode wins.
    assert_eq!(mode("postgres://u@h/db?sslmode=prefer", None), "Prefer");
    assert_eq!(
        mode("postgresql://u@h/db?x=1&sslmode=require", Some(false)),
        "Require"
    );
    let env = ConnectConfig::from_raw(RawConfig::default(), Some("postgres://u@h/db".into()));
    assert!(
        matches!(env.unwrap().primary, Target::Postgres(o) if format!("{:?}", o.get_ssl_mode()) == "Disable")
    );
}

fn refused(config: Input) -> String {
    let err = RawConfig::from_input(&config)
        .and_then(|raw| ConnectConfig::from_raw(raw, None))
        .unwrap_err();
    assert_eq!(err.code, super::super::error::ErrorCode::Validation);
    err.message
}

fn object(members: &[(&str, Input)]) -> Input {
    Input::Object(
        members
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

fn text(s: &str) -> Input {
    Input::Text(s.into())
}

#[test]
fn unknown_keys_are_refused_at_every_level_with_the_right_name_for_an_alias() {
    let cases: [(Input, &str); 7] = [
        (
            object(&[("type", text("sqlite")), ("path", text("/srv/secret-wf.db"))]),
            "`path` is not an option of config; the database name (PostgreSQL) or the SQLite file is `database`",
        ),
        (
            object(&[("type", text("sqlite")), ("filename", text("x.db"))]),
            "`filename` is not an option of config;",
        ),
        (
            object(&[("typ", text("postgresql")), ("host", text("h"))]),
            "`typ` is not an option of config; the kind of database is `type`",
        ),
        (
            object(&[("type", text("postgresql")), ("logging", Input::Bool(true))]),
            "`logging` is not an option of config (its options: type, url,",
        ),
        (
            object(&[
                ("type", text("postgresql")),
                (
                    "fallback",
                    object(&[("type", text("sqlite")), ("path", text("fb.db"))]),
                ),
            ]),
            "`path` is not an option of config.fallback; the database name (PostgreSQL) or the SQLite file is `database`",
        ),
        (
            object(&[
                ("type", text("postgresql")),
                (
                    "fallback",
                    object(&[("type", text("memory")), ("extra", Input::Number(1.0))]),
                ),
            ]),
            "`extra` is not an option of config.fallback (its options: type, database)",
        ),
        (
            object(&[
                ("type", text("postgresql")),
                ("ssl", object(&[("rejectUnauthorised", Input::Bool(false))])),
            ]),
            "`rejectUnauthorised` is not an option of config.ssl; the option is `rejectUnauthorized`",
        ),
    ];
    for (config, expected) in cases {
        let message = refused(config);
        assert!(message.starts_with(expected), "{message}");
        assert!(!message.contains("secret-wf"), "{message}");
    }
    // An undefined member is absent, as a spread leaves it.
    let spread = object(&[("type", text("memory")), ("path", Input::Undefined)]);
    assert!(RawConfig::from_input(&spread).is_ok());
}

#[test]
fn a_url_names_the_whole_target_and_its_forms_are_accepted() {
    let with_url = |url: &str| object(&[("url", text(url))]);
    for (url, want) in [
        ("sqlite://data/a.db", "sqlite"),
        ("sqlite:data/a.db", "sqlite"),
        ("sqlite::memory:", "memory"),
        ("file:./dev.db", "sqlite"),
        ("file::memory:", "memory"),
        ("postgres://u@h/db", "postgresql"),
        ("postgresql://u@h/db", "postgresql"),
    ] {
        let raw = RawConfig::from_input(&with_url(url)).unwrap();
        assert_eq!(cfg(raw).unwrap().primary.kind(), want, "{url}");
    }
    assert!(
        matches!(parse_url("file:./dev.db").unwrap(), Target::Sqlite(p) if p == std::path::Path::new("./dev.db"))
    );
    assert!(refused(with_url("sqlite://a.db?mode=ro")).contains("takes no parameters"));
    assert!(refused(object(&[
        ("url", text("postgres://u@h/db")),
        ("database", text("other"))
    ]))
    .contains("config.url and config.database cannot both be given"));
    assert!(refused(object(&[
        ("type", text("sqlite")),
        ("url", text("postgres://u@h/db"))
    ]))
    .contains("different kinds"));
    // `:memory:` as an SQLite file name is memory, never the default file.
    let memory = object(&[("type", text("sqlite")), ("database", text(":memory:"))]);
    assert!(matches!(
        cfg(RawConfig::from_input(&memory).unwrap())
            .unwrap()
            .primary,
        Target::Memory
    ));
}

#[test]
fn ssl_and_migrate_take_their_documented_forms() {
    let pg = |ssl: Input| {
        let raw =
            RawConfig::from_input(&object(&[("type", text("postgresql")), ("ssl", ssl)])).unwrap();
        match cfg(raw).unwrap().primary {
            Target::Postgres(o) => format!("{:?}", o.get_ssl_mode()),
            _ => unreachable!(),
        }
    };
    assert_eq!(pg(Input::Bool(true)), "Require");
    assert_eq!(pg(Input::Bool(false)), "Disable");
    assert_eq!(pg(object(&[])), "VerifyFull");
    assert_eq!(
        pg(object(&[("rejectUnauthorized", Input::Bool(false))])),
        "Require"
    );
    assert!(refused(object(&[("ssl", text("yes"))]))
        .contains("config.ssl must be a boolean or an object, not string"));
    let migrate = |m: Input| {
        RawConfig::from_input(&object(&[("migrate", m)])).map(|raw| cfg(raw).unwrap().migrate)
    };
    assert_eq!(migrate(Input::Bool(false)).unwrap(), Migrate::Skip);
    assert_eq!(migrate(text("check")).unwrap(), Migrate::Check);
    assert_eq!(migrate(Input::Undefined).unwrap(), Migrate::Apply);
    assert!(migrate(text("later")).is_err());
}
