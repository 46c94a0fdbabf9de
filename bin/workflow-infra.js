#!/usr/bin/env node
'use strict'

// workflow-infra: migrate, inspect, seed, clean up and demonstrate the workflow database.
// The database comes from --database-url, else WORKFLOW_DATABASE_URL, else ./data/workflow.db;
// the PostgreSQL schema from --schema, else WORKFLOW_DATABASE_SCHEMA. `status` and `stats` only
// read: they open an existing database read-only and create nothing.

const path = require('node:path')
const util = require('node:util')
const { WorkflowDatabase, WorkflowRepository, WorkflowExecutionRepository, WorkflowMetricsRepository } = require(
  path.join(__dirname, '..'),
)
const summary = require(path.join(__dirname, '..', 'lib', 'summary.js'))
const demo = require(path.join(__dirname, '..', 'lib', 'demo.js'))
const { version } = require(path.join(__dirname, '..', 'package.json'))

const USAGE = `Usage: workflow-infra <command> [--database-url URL] [--schema NAME] [--json]

Commands:
  migrate   apply pending migrations, then backfill the statistics' rollups of older rows
            (one UTC day per transaction, showing progress; resumable if interrupted)
  status    backend, migrations, and tables with their row counts (read-only; exits 1 when
            migrations are pending)
  seed      write the deterministic seed fixture (replaces a previous seed)
  stats     executions by status, duration percentiles, top handlers, metric aggregates
            (read-only)
  cleanup   remove finished executions and metrics older than --days N (default 30),
            in chunks of --batch N (default 5000), showing progress on a terminal
  demo      run a simulated load through the event handlers and print the summary
  journal   a fallback file's journal: the write calls made on it and not replayed onto
            PostgreSQL (pending ones and conflicts); with --replay-to URL, replays them there

Options:
  --database-url URL   postgres://user:pass@host:5432/db, sqlite://path/to/file.db or sqlite::memory:
                       (default: WORKFLOW_DATABASE_URL, else ./data/workflow.db)
  --schema NAME        PostgreSQL: the schema of the package's tables
                       (default: WORKFLOW_DATABASE_SCHEMA, else the connection's own)
  --days N             cleanup: age in days (default 30)
  --batch N            cleanup: rows per transaction (default 5000)
  --workflows N        demo: workflows to run (default 200)
  --replay-to URL      journal: the PostgreSQL database to replay the journal onto (with
                       --schema for its schema)
  --json               print JSON instead of text (errors too, on stderr)
  -v, --version        print the version
  -h, --help           show this help

Exit codes: 0 done, 1 failed (or status found pending migrations), 2 bad usage.
`

const COMMANDS = ['migrate', 'status', 'seed', 'stats', 'cleanup', 'demo', 'journal']
const OPTIONS = {
  'database-url': { type: 'string' },
  schema: { type: 'string' },
  days: { type: 'string' },
  batch: { type: 'string' },
  workflows: { type: 'string' },
  'replay-to': { type: 'string' },
  json: { type: 'boolean' },
  version: { type: 'boolean', short: 'v' },
  help: { type: 'boolean', short: 'h' },
}

/** The closest of `names` to `word` (edit distance at most 3), for "did you mean". */
function closest(word, names) {
  const distance = (a, b) => {
    const row = Array.from({ length: b.length + 1 }, (_, j) => j)
    for (let i = 1; i <= a.length; i++) {
      let previous = row[0]
      row[0] = i
      for (let j = 1; j <= b.length; j++) {
        const next = row[j]
        row[j] = Math.min(row[j] + 1, row[j - 1] + 1, previous + (a[i - 1] === b[j - 1] ? 0 : 1))
        previous = next
      }
    }
    return row[b.length]
  }
  const [best] = names.map((n) => [n, distance(word, n)]).sort((x, y) => x[1] - y[1])
  return best && best[1] <= 3 ? best[0] : undefined
}

function parseArgs(argv) {
  let parsed
  try {
    parsed = util.parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true })
  } catch (err) {
    const unknown = /^Unknown option '(-{1,2})([^']*)'/.exec(err.message)
    const hint = unknown && closest(unknown[2], Object.keys(OPTIONS))
    throw usageError(hint ? `unknown option '${unknown[1]}${unknown[2]}'; did you mean '--${hint}'?` : err.message)
  }
  const { values, positionals } = parsed
  const count = (name, fallback) => {
    if (values[name] === undefined) return fallback
    const n = Number(values[name])
    if (values[name] === '' || !Number.isInteger(n) || n < 0 || (name !== 'days' && n === 0)) throw usageError(`--${name} needs a whole number`)
    return n
  }
  if (positionals.length > 1) throw usageError(`unexpected argument '${positionals[1]}'`)
  const command = values.help ? 'help' : values.version ? 'version' : (positionals[0] ?? null)
  if (command && !['help', 'version', ...COMMANDS].includes(command)) {
    const hint = closest(command, COMMANDS)
    throw usageError(`unknown command '${command}'${hint ? `; did you mean '${hint}'?` : ''}`)
  }
  for (const name of ['database-url', 'schema', 'replay-to']) if (values[name] === '') throw usageError(`--${name} needs a value`)
  if (values['replay-to'] !== undefined && command !== 'journal') throw usageError('--replay-to goes with the journal command')
  return {
    command,
    url: values['database-url'] ?? process.env.WORKFLOW_DATABASE_URL ?? undefined,
    schema: values.schema ?? (process.env.WORKFLOW_DATABASE_SCHEMA || undefined),
    json: values.json === true,
    days: count('days', 30),
    batch: count('batch', 5000),
    workflows: count('workflows', 200),
    replayTo: values['replay-to'],
  }
}

function usageError(message) {
  const err = new Error(message)
  err.code = 'ERR_USAGE'
  return err
}

/** The connect() configuration for `args`: read-only for the commands that only read. */
function configFor(args) {
  const target = args.url ? { url: args.url } : { type: 'sqlite', database: './data/workflow.db' }
  const readOnly = args.command === 'status' || args.command === 'stats' || args.command === 'journal'
  return { ...target, ...(args.schema ? { schema: args.schema } : {}), ...(readOnly ? { readOnly: true } : {}) }
}

/** Progress that rewrites its line on a terminal; elsewhere (pipes, log files) none. */
function progress(text) {
  if (process.stderr.isTTY) process.stderr.write(`\r${text}`)
}

const fmtDate = (d) => (d ? d.toISOString() : '-')

function printStatus(status) {
  const c = status.connection
  const where = c.type === 'postgresql' ? `${c.host}:${c.port}/${c.database}` : c.database
  console.log(`backend     ${c.type} (${where})`)
  console.log('migrations')
  for (const m of status.migrations) {
    const state = m.applied ? `applied ${fmtDate(m.appliedAt)}${m.checksumOk ? '' : '  CHECKSUM MISMATCH'}` : 'pending'
    console.log(`  ${String(m.version).padStart(3, '0')} ${m.description.padEnd(32)} ${state}`)
  }
  console.log('tables')
  for (const t of status.tables) {
    console.log(`  ${t.name.padEnd(24)} ${t.rows === null ? 'missing' : `${t.rows} rows`}`)
  }
}

async function main(argv) {
  const args = parseArgs(argv)
  if (!args.command || args.command === 'help') {
    process.stdout.write(USAGE)
    return args.command === 'help' ? 0 : 2
  }
  if (args.command === 'version') {
    console.log(args.json ? JSON.stringify({ version }) : version)
    return 0
  }

  if (args.command === 'journal' && args.replayTo) return await replayJournal(args)
  const db = await WorkflowDatabase.connect(configFor(args))
  try {
    if (args.command === 'journal') return await listJournal(db, args)
    if (args.command === 'stats') return await stats(db, args)
    if (args.command === 'cleanup') return await cleanup(db, args)
    if (args.command === 'demo') return await runDemo(db, args)
    const out = {}
    if (args.command === 'seed') out.seeded = await db.seed()
    if (args.command === 'migrate') {
      out.rollups = await backfillRollups(db, args)
      out.migrations = await db.migrationStatus()
    }
    if (args.command !== 'migrate' && args.command !== 'seed') out.status = await db.status()
    if (args.json) {
      console.log(JSON.stringify(out, null, 2))
    } else {
      if (out.seeded) {
        const s = out.seeded
        console.log(`seeded      ${s.executions} executions, ${s.metrics} metrics, ${s.handlers} handlers, ${s.usageHistory} usage rows`)
      }
      if (out.rollups) console.log(`rollups     ${out.rollups.done ? 'complete' : 'pending'}`)
      if (out.migrations) {
        for (const m of out.migrations) console.log(`${String(m.version).padStart(3, '0')} ${m.description}: ${m.applied ? 'applied' : 'pending'}`)
      }
      if (out.status) printStatus(out.status)
    }
    // Like `prisma migrate status`: pending migrations are a non-zero exit.
    if (out.status && out.status.migrations.some((m) => !m.applied)) return 1
    return 0
  } finally {
    await db.close()
  }
}

/** Backfills the statistics' rollups a day at a time, printing where it stands (on stderr, so
 * --json output stays one document); resolves the final state. */
async function backfillRollups(db, args) {
  let state = await db.backfillRollups({ maxDays: 0 })
  const total = state.daysLeft
  while (!state.done) {
    state = await db.backfillRollups({ maxDays: 1 })
    if (!args.json && total > 0) {
      const done = total - state.daysLeft
      const end = state.done || !process.stderr.isTTY ? '\n' : '\r'
      process.stderr.write(`backfill    ${done}/${total} days (${Math.floor((100 * done) / total)} %)${end}`)
    }
  }
  return state
}

/** Refuses a database where the package's tables are missing (another schema, or never migrated). */
async function requireTables(db) {
  const status = await db.status()
  const missing = status.tables.filter((t) => t.rows === null).map((t) => t.name)
  if (missing.length === 0) return
  const where = status.connection.schema ? ` in schema ${status.connection.schema}` : ''
  const err = new Error(
    `the workflow tables are missing here${where} (${missing.join(', ')}): run 'workflow-infra migrate', or name their schema with --schema`,
  )
  err.code = 'ERR_MIGRATION'
  throw err
}

/** The SQLite file a --database-url names (the journal lives in a fallback file). */
function sqliteFile(url) {
  const file = url ? url.replace(/^(sqlite|file):(\/\/)?/, '') : './data/workflow.db'
  if (url && (file === url || file.includes(':memory:'))) throw usageError('journal: --database-url must name an SQLite file (sqlite://path)')
  return file
}

async function listJournal(db, args) {
  const entries = await db.journal()
  if (args.json) {
    console.log(JSON.stringify(entries, null, 2))
  } else {
    const conflicts = entries.filter((e) => e.state === 'conflict').length
    console.log(`journal     ${entries.length - conflicts} pending, ${conflicts} conflicts`)
    for (const e of entries) {
      console.log(`  ${String(e.seq).padStart(6)} ${e.state.padEnd(8)} ${fmtDate(e.recorded_at)} ${e.method} ${e.op_id}${e.detail ? `  ${e.detail}` : ''}`)
    }
  }
  return 0
}

async function replayJournal(args) {
  const to = { url: args.replayTo, ...(args.schema ? { schema: args.schema } : {}) }
  const result = await WorkflowDatabase.replayJournal({ from: sqliteFile(args.url), to })
  if (args.json) console.log(JSON.stringify(result))
  else console.log(`replayed    ${result.replayed} operations; ${result.conflicts} conflicts kept in the journal; ${result.pending} left pending`)
  return result.pending === 0 ? 0 : 1
}

async function stats(db, args) {
  await requireTables(db)
  const data = await summary.collect(db)
  if (args.json) console.log(JSON.stringify(data, null, 2))
  else summary.print(data)
  return 0
}

async function cleanup(db, args) {
  const repository = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
  // Each chunk reports both counts in its log line; the loop ends when neither filled a chunk.
  let last = { deletedExecutions: 0, deletedMetrics: 0 }
  const quiet = () => {}
  repository.setLogger({ info: (_m, meta) => (last = meta), debug: quiet, warn: quiet, error: quiet })
  const total = { executions: 0, metrics: 0, chunks: 0 }
  for (;;) {
    await repository.cleanupOldExecutions(args.days, { limit: args.batch })
    total.executions += last.deletedExecutions
    total.metrics += last.deletedMetrics
    total.chunks++
    if (!args.json) progress(`removed ${total.executions} executions, ${total.metrics} metrics (${total.chunks} chunks)`)
    if (last.deletedExecutions < args.batch && last.deletedMetrics < args.batch) break
  }
  if (args.json) console.log(JSON.stringify({ daysOld: args.days, ...total }))
  else {
    if (process.stderr.isTTY) process.stderr.write('\n')
    console.log(`removed     ${total.executions} executions, ${total.metrics} metrics (${total.chunks} chunks)`)
  }
  return 0
}

async function runDemo(db, args) {
  const where = db.getConnectionStatus()
  if (!args.json) console.log(`demo        ${args.workflows} workflows on ${where.type} (${where.database}), 16 in flight`)
  const run = await demo.run(db, { workflows: args.workflows })
  const data = await summary.collect(db)
  if (args.json) {
    console.log(JSON.stringify({ run, ...data }, null, 2))
    return 0
  }
  console.log(
    `ran         ${run.workflows} workflows, ${run.events} events in ${run.seconds.toFixed(2)} s ` +
      `(${Math.round(run.events / run.seconds)} events/s), ${run.alerts} performance alerts; ` +
      `handler lookups: ${run.cache.hits} cache hits, ${run.cache.misses} misses`,
  )
  summary.print(data)
  return 0
}

const json = process.argv.includes('--json')
main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    const code = err.code ?? 'ERR_INTERNAL'
    if (json) process.stderr.write(`${JSON.stringify({ code, message: err.message })}\n`)
    else {
      console.error(`workflow-infra: ${err.message} [${code}]`)
      if (code === 'ERR_USAGE') console.error("Run 'workflow-infra --help' for usage.")
    }
    process.exitCode = code === 'ERR_USAGE' ? 2 : 1
  },
)
