'use strict'
// The command line reaches the data and touches nothing it should not: --version, --schema on
// the schema registerWorkflowServices uses, read-only status and stats (no file, folder or table
// created), exit codes, JSON errors, strict options with a suggestion.

const { execFile } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const { addon, cleanup, freshDir, freshPgDatabase, freshSqlitePath, pgAvailable, psql } = require('./helpers')
const { LifecycleContainer, Registry, pideaLike } = require('./standins')

const CLI = path.join(__dirname, '..', 'bin', 'workflow-infra.js')
const { version } = require('../package.json')

afterAll(cleanup)

const emptyDir = () => freshDir('wfi_cli_')

/** Runs the CLI in `cwd` with no database in the environment; resolves {code, stdout, stderr}. */
function run(args, { cwd = emptyDir(), env = {} } = {}) {
  const clean = { ...process.env, WORKFLOW_INFRA_LOG: 'error', ...env }
  if (!('WORKFLOW_DATABASE_URL' in env)) delete clean.WORKFLOW_DATABASE_URL
  if (!('WORKFLOW_DATABASE_SCHEMA' in env)) delete clean.WORKFLOW_DATABASE_SCHEMA
  return new Promise((resolve) => {
    execFile(process.execPath, [CLI, ...args], { cwd, env: clean }, (err, stdout, stderr) => resolve({ code: err ? err.code : 0, stdout, stderr }))
  })
}

const publicTables = (database) => psql("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'", database)

test('--version and -v print the package version', async () => {
  for (const flag of ['--version', '-v']) expect(await run([flag])).toEqual({ code: 0, stdout: `${version}\n`, stderr: '' })
})

test('options are strict: an unknown one exits 2 with a suggestion; a missing value exits 2', async () => {
  const typo = await run(['status', '--databse-url', 'sqlite::memory:'])
  expect(typo.code).toBe(2)
  expect(typo.stderr).toContain("unknown option '--databse-url'; did you mean '--database-url'?")
  const command = await run(['stauts'])
  expect(command.code).toBe(2)
  expect(command.stderr).toMatch(/unknown command 'stauts'; did you mean 'stat(u)?s'\?/)
  for (const args of [['status', '--database-url'], ['status', '--schema'], ['cleanup', '--days', 'x']]) {
    const r = await run(args)
    expect([args, r.code]).toEqual([args, 2])
    expect(r.stdout).toBe('')
  }
})

test('with --json an error is one JSON object on stderr, and the exit is non-zero', async () => {
  const r = await run(['status', '--json', '--bogus'])
  expect(r.code).toBe(2)
  expect(JSON.parse(r.stderr)).toEqual({ code: 'ERR_USAGE', message: expect.stringContaining("'--bogus'") })
  const missing = await run(['stats', '--json'])
  expect(missing.code).toBe(1)
  expect(JSON.parse(missing.stderr)).toEqual({ code: 'ERR_DB_UNAVAILABLE', message: expect.stringContaining('the SQLite file does not exist') })
})

test('status and stats on a missing SQLite file exit 1 and create nothing', async () => {
  const cwd = emptyDir()
  for (const args of [['status'], ['stats'], ['status', '--database-url', 'sqlite://srv/typo/wf.db'], ['stats', '--database-url', 'sqlite://srv/typo/wf.db']]) {
    const r = await run(args, { cwd })
    expect([args, r.code]).toEqual([args, 1])
    expect(r.stderr).toContain('the SQLite file does not exist')
  }
  expect(fs.readdirSync(cwd)).toEqual([])
})

test('status exits 1 while migrations are pending, 0 once applied; stats reads without writing', async () => {
  const file = freshSqlitePath()
  const url = `sqlite://${file}`
  await (await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file, migrate: false })).close()
  const pending = await run(['status', '--database-url', url])
  expect(pending.code).toBe(1)
  expect(pending.stdout).toMatch(/002 create workflow executions +pending/)
  expect((await run(['migrate', '--database-url', url])).code).toBe(0)
  const applied = await run(['status', '--json', '--database-url', url])
  expect(applied.code).toBe(0)
  expect(JSON.parse(applied.stdout).status.migrations.every((m) => m.applied)).toBe(true)
  const before = fs.readdirSync(path.dirname(file)).sort()
  expect((await run(['stats', '--database-url', url])).code).toBe(0)
  expect(fs.readdirSync(path.dirname(file)).sort()).toEqual(before)
})

test('migrate backfills the rollups of rows older than them, with progress', async () => {
  const file = freshSqlitePath()
  const db = await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file })
  const now = Date.now()
  const rows = Array.from({ length: 50 }, (_, i) => ({ metricName: 'm', metricValue: i, recordedAt: new Date(now - (i % 5) * 86_400_000) }))
  await new addon.WorkflowMetricsRepository(db).recordMetrics(rows)
  await db.close()
  // As a database from before the rollups: none kept, the backfill pending over five days.
  const first = Math.floor((now - 4 * 86_400_000) / 86_400_000)
  require('node:child_process').execFileSync('sqlite3', [
    file,
    `DELETE FROM workflow_metric_rollups; DELETE FROM workflow_metric_bins; UPDATE workflow_rollup_backfill SET done = 0, next_day = ${first}, last_day = ${first + 4}`,
  ])
  const r = await run(['migrate', '--database-url', `sqlite://${file}`])
  expect(r.code).toBe(0)
  expect(r.stderr).toMatch(/^backfill +1\/5 days \(20 %\)$/m) // a pipe gets one line a day
  expect(r.stderr).toMatch(/^backfill +5\/5 days \(100 %\)$/m)
  expect(r.stdout).toMatch(/^rollups +complete$/m)
  const again = await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file })
  expect(await again.backfillRollups()).toMatchObject({ done: true, daysLeft: 0 })
  const stats = await new addon.WorkflowMetricsRepository(again).getMetricsStatistics()
  expect(stats).toMatchObject({ total_metrics: 50, min_metric_value: 0, max_metric_value: 49 })
  await again.close()
})

const withPg = pgAvailable() ? test : test.skip

withPg('--schema (and WORKFLOW_DATABASE_SCHEMA) reach the data registerWorkflowServices keeps in workflow_infra', async () => {
  const url = freshPgDatabase()
  const name = new URL(url).pathname.slice(1)
  const connection = { config: { type: 'postgresql', host: new URL(url).hostname, port: new URL(url).port, database: name, username: 'postgres' }, getType: () => 'postgresql' }
  const db = await addon.registerWorkflowServices(new Registry(pideaLike(LifecycleContainer, connection)))
  const executions = new addon.WorkflowExecutionRepository(db)
  for (let i = 0; i < 3; i++) await executions.create({ workflowId: 'w', workflowName: 'W' })
  await db.close()

  const viaFlag = await run(['stats', '--json', '--database-url', url, '--schema', 'workflow_infra'])
  expect(viaFlag.code).toBe(0)
  expect(JSON.parse(viaFlag.stdout).statistics.total_executions).toBe(3)
  const viaEnv = await run(['status', '--json'], { env: { WORKFLOW_DATABASE_URL: url, WORKFLOW_DATABASE_SCHEMA: 'workflow_infra' } })
  expect(viaEnv.code).toBe(0)
  expect(JSON.parse(viaEnv.stdout).status.tables.find((t) => t.name === 'workflow_executions').rows).toBe(3)

  // Without the schema the tables are not found: a clear failure, and nothing created in public.
  for (const command of ['stats', 'status']) {
    const r = await run([command, '--database-url', url])
    expect([command, r.code]).toEqual([command, 1])
  }
  expect((await run(['stats', '--database-url', url])).stderr).toContain('the workflow tables are missing here')
  expect(publicTables(name)).toBe('0')
})

withPg('status and stats on a PostgreSQL database that does not exist exit 1, naming why', async () => {
  const url = freshPgDatabase().replace(/\/[^/]+$/, '/wfi_cli_no_such_db')
  for (const command of ['status', 'stats']) {
    const r = await run([command, '--json', '--database-url', url])
    expect(r.code).toBe(1)
    expect(JSON.parse(r.stderr)).toEqual({ code: 'ERR_DB_REFUSED', message: 'Failed to connect to database: the PostgreSQL database does not exist' })
  }
})

test('cleanup writes no carriage returns into a pipe', async () => {
  const url = `sqlite://${freshSqlitePath()}`
  expect((await run(['seed', '--database-url', url])).code).toBe(0)
  const r = await run(['cleanup', '--days', '0', '--batch', '50', '--database-url', url])
  expect(r.code).toBe(0)
  expect(r.stdout + r.stderr).not.toContain('\r')
  expect(r.stdout).toMatch(/^removed {5}\d+ executions, \d+ metrics \(\d+ chunks\)\n$/)
})
