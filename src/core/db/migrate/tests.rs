//! Unit tests of `migrate`.

use super::*;

#[test]
fn the_relations_each_migration_creates() {
    let of = |known: &Migrator| -> Vec<(i64, Vec<String>)> {
        known
            .iter()
            .map(|m| (m.version, created_relations(m.sql.as_str())))
            .collect()
    };
    let tables = |names: &[&str]| names.iter().map(|n| n.to_string()).collect::<Vec<_>>();
    let common = [
        (2, tables(&["workflow_executions"])),
        (3, tables(&["workflow_metrics", "workflow_metrics_summary"])),
        (
            4,
            tables(&[
                "handler_registry",
                "handler_usage_history",
                "handler_performance_summary",
            ]),
        ),
    ];
    let mut pg = common.to_vec();
    pg.push((5, tables(&["workflow_infra_events"])));
    pg.push((6, vec![]));
    pg.push((7, vec![]));
    pg.push((8, vec![]));
    pg.push((9, tables(&["workflow_infra_events_pruned"])));
    let rollups = [
        "workflow_rollup_control",
        "workflow_metric_rollups",
        "workflow_metric_bins",
        "workflow_execution_rollups",
        "workflow_execution_bins",
        "workflow_rollup_backfill",
    ];
    pg.push((10, tables(&rollups)));
    pg.push((
        11,
        tables(&["workflow_metric_pending", "workflow_execution_pending"]),
    ));
    let mut sqlite = common.to_vec();
    sqlite.push((5, vec![]));
    sqlite.push((6, vec![]));
    sqlite.push((7, vec![]));
    sqlite.push((8, vec![]));
    sqlite.push((9, vec![]));
    sqlite.push((10, tables(&rollups)));
    let executions = tables(&[
        "workflow_metric_executions",
        "workflow_metric_execution_pending",
        "workflow_metric_execution_dirty",
    ]);
    pg.push((12, executions.clone()));
    sqlite.push((12, executions));
    assert_eq!(of(&POSTGRES), pg);
    assert_eq!(of(&SQLITE), sqlite);
}

#[test]
fn created_relations_reads_the_forms_sql_uses() {
    let sql = "-- CREATE TABLE commented_out (\n\
               create table if not exists a(x int);\n\
               CREATE OR REPLACE VIEW b AS SELECT 1;\n\
               CREATE INDEX c ON a(x); CREATE TEMP TABLE d (y int);";
    assert_eq!(created_relations(sql), ["a", "b"]);
}

#[test]
fn a_foreign_table_refuses_the_file_and_names_it() {
    let conn = Connection::open_in_memory().unwrap();
    refuse_foreign_sqlite(&conn).unwrap();
    conn.execute_batch("CREATE TABLE workflow_executions (id TEXT PRIMARY KEY)")
        .unwrap();
    let err = refuse_foreign_sqlite(&conn).unwrap_err();
    assert_eq!(err.code, ErrorCode::Migration);
    assert!(
        err.message
            .contains("table workflow_executions already exists"),
        "{}",
        err.message
    );
    assert!(
        err.message.contains("SQLite file of its own"),
        "{}",
        err.message
    );
    let mut conn = conn;
    let err = migrate_sqlite(&mut conn).unwrap_err();
    assert_eq!(err.code, ErrorCode::Migration);
    assert!(!sqlite_exists(&conn, MIGRATIONS_TABLE).unwrap());
}

#[test]
fn applied_migrations_must_be_known_complete_and_unchanged() {
    let first = SQLITE.iter().next().unwrap();
    let ok: Applied = [(first.version, (first.checksum.to_vec(), true))].into();
    check_applied(&SQLITE, &ok).unwrap();
    let unknown: Applied = [(999, (vec![], true))].into();
    assert!(check_applied(&SQLITE, &unknown)
        .unwrap_err()
        .message
        .contains("unknown"));
    let dirty: Applied = [(first.version, (first.checksum.to_vec(), false))].into();
    assert!(check_applied(&SQLITE, &dirty)
        .unwrap_err()
        .message
        .contains("partially"));
    let changed: Applied = [(first.version, (vec![0], true))].into();
    assert!(check_applied(&SQLITE, &changed)
        .unwrap_err()
        .message
        .contains("changed"));
}

#[test]
fn a_failing_first_migration_leaves_no_bookkeeping() {
    let mut conn = Connection::open_in_memory().unwrap();
    // An index of the same name as one of 002's, on a table of someone else's.
    conn.execute_batch(
        "CREATE TABLE other (x TEXT); CREATE INDEX idx_workflow_executions_status ON other(x);",
    )
    .unwrap();
    let err = migrate_sqlite(&mut conn).unwrap_err();
    assert_eq!(err.code, ErrorCode::Migration);
    assert!(
        err.message.starts_with("migration 2 failed"),
        "{}",
        err.message
    );
    let cause = err.cause.unwrap().message;
    assert!(!cause.contains("CREATE"), "no SQL in the cause: {cause}");
    for name in [MIGRATIONS_TABLE, "workflow_executions"] {
        assert!(
            !sqlite_exists(&conn, name).unwrap(),
            "{name} was left behind"
        );
    }
}
