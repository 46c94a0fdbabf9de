'use strict'
// What the benchmarks share: their command-line numbers, and throwaway PostgreSQL databases on
// the local server (psql as `postgres` on 127.0.0.1; connection URLs under BENCH_PG_URL).

const { execFileSync } = require('node:child_process')

const PG_URL_BASE = process.env.BENCH_PG_URL || 'postgres://postgres@127.0.0.1:5432'

/** The value after `--name` on the command line: a number when `dflt` is one, else the text. */
function arg(name, dflt) {
  const args = process.argv.slice(2)
  const i = args.indexOf(`--${name}`)
  if (i < 0) return dflt
  return typeof dflt === 'number' ? Number(args[i + 1]) : args[i + 1]
}

const psql = (sql) => execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', 'postgres', '-qc', sql], { stdio: 'ignore' })

/** Whether PostgreSQL answers; says so once when it does not (its rows are then left out). */
function pgReachable() {
  try {
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-Atqc', 'SELECT 1'], { stdio: 'ignore' })
    return true
  } catch {
    console.warn('PostgreSQL unreachable at 127.0.0.1:5432: its rows are left out')
    return false
  }
}

/** A new, empty database `wfi_bench_<pid>_<tag>`: its name and URL. */
function freshPgDatabase(tag) {
  const name = `wfi_bench_${process.pid}_${tag}`
  psql(`DROP DATABASE IF EXISTS ${name}`)
  psql(`CREATE DATABASE ${name}`)
  return { name, url: `${PG_URL_BASE}/${name}` }
}

function dropPgDatabase(name) {
  psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
}

/**
 * The planned schema, for a baseline a user would otherwise run: the addon's migrations without
 * what it keeps for its own statistics (the rollup triggers of migration 010), and with the
 * planned indexes that migration dropped. Statements for `backend` ('postgresql' or 'sqlite').
 */
function plannedSchema(backend) {
  const triggers = [
    ['workflow_metrics', ['workflow_metric_rollups_insert', 'workflow_metric_rollups_update', 'workflow_metric_rollups_delete', 'workflow_metric_rollups_keep']],
    ['workflow_executions', ['workflow_execution_rollups_insert', 'workflow_execution_rollups_update', 'workflow_execution_rollups_delete', 'workflow_execution_rollups_keep']],
  ].flatMap(([table, names]) => names.map((n) => `DROP TRIGGER IF EXISTS ${n}${backend === 'postgresql' ? ` ON ${table}` : ''}`))
  const indexes = [
    'idx_workflow_executions_execution_id ON workflow_executions(execution_id)',
    'idx_workflow_executions_workflow_id ON workflow_executions(workflow_id)',
    'idx_workflow_executions_task_id ON workflow_executions(task_id)',
    'idx_workflow_executions_start_time ON workflow_executions(start_time)',
    'idx_workflow_executions_user_id ON workflow_executions(user_id)',
    'idx_workflow_metrics_execution_id ON workflow_metrics(execution_id)',
    'idx_workflow_metrics_metric_category ON workflow_metrics(metric_category)',
    'idx_workflow_metrics_name_type ON workflow_metrics(metric_name, metric_type)',
    'idx_workflow_metrics_category_type ON workflow_metrics(metric_category, metric_type)',
    "idx_workflow_metrics_performance ON workflow_metrics(execution_id, metric_value) WHERE metric_type = 'performance'",
    "idx_workflow_metrics_resource ON workflow_metrics(execution_id, metric_value) WHERE metric_type = 'resource'",
    "idx_workflow_metrics_quality ON workflow_metrics(execution_id, metric_value) WHERE metric_type = 'quality'",
  ].map((i) => `CREATE INDEX IF NOT EXISTS ${i}`)
  return [...triggers, ...indexes]
}

/** Gives the PostgreSQL database at `url` (migrated by the addon) the planned schema. */
function plannedSchemaPg(url) {
  const name = new URL(url).pathname.slice(1)
  for (const sql of plannedSchema('postgresql')) {
    execFileSync('psql', ['-h', '127.0.0.1', '-U', 'postgres', '-d', name, '-qc', sql], { stdio: 'ignore' })
  }
}

/** Gives an open better-sqlite3 database (migrated by the addon) the planned schema. */
function plannedSchemaSqlite(db) {
  for (const sql of plannedSchema('sqlite')) db.exec(sql)
}

module.exports = { arg, pgReachable, freshPgDatabase, dropPgDatabase, plannedSchema, plannedSchemaPg, plannedSchemaSqlite }
