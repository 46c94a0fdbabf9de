#!/usr/bin/env node
'use strict'

// workflow-infra: migrate, inspect, seed, clean up and demonstrate the workflow database.
// The database comes from --database-url, else WORKFLOW_DATABASE_URL, else ./data/workflow.db.

const path = require('node:path')
const { WorkflowDatabase, WorkflowRepository, WorkflowExecutionRepository, WorkflowMetricsRepository } = require(
  path.join(__dirname, '..'),
)
const summary = require(path.join(__dirname, '..', 'lib', 'summary.js'))
const demo = require(path.join(__dirname, '..', 'lib', 'demo.js'))

const USAGE = `Usage: workflow-infra <command> [--database-url URL] [--json]

Commands:
  migrate   apply pending migrations
  status    backend, migrations, and tables with their row counts
  seed      write the deterministic seed fixture (replaces a previous seed)
  stats     executions by status, duration percentiles, top handlers, metric aggregates
  cleanup   remove finished executions and metrics older than --days N (default 30),
            in chunks of --batch N (default 5000), showing progress
  demo      run a simulated load through the event handlers and print the summary

Options:
  --database-url URL   postgres://user:pass@host:5432/db, sqlite://path/to/file.db or sqlite::memory:
                       (default: WORKFLOW_DATABASE_URL, else ./data/workflow.db)
  --days N             cleanup: age in days (default 30)
  --batch N            cleanup: rows per transaction (default 5000)
  --workflows N        demo: workflows to run (default 200)
  --json               print JSON instead of text
  -h, --help           show this help
`

function parseArgs(argv) {
  const args = { command: null, url: undefined, json: false, days: 30, batch: 5000, workflows: 200 }
  const count = (name, v) => {
    const n = Number(v)
    if (!Number.isInteger(n) || n < 0 || (name !== 'days' && n === 0)) throw usageError(`--${name} needs a whole number`)
    return n
  }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    const flag = /^--(days|batch|workflows)(?:=(.*))?$/.exec(a)
    if (flag) args[flag[1]] = count(flag[1], flag[2] ?? argv[++i])
    else if (a === '--json') args.json = true
    else if (a === '-h' || a === '--help') args.command = 'help'
    else if (a === '--database-url') args.url = argv[++i]
    else if (a.startsWith('--database-url=')) args.url = a.slice('--database-url='.length)
    else if (!args.command) args.command = a
    else throw usageError(`unexpected argument '${a}'`)
  }
  if (args.url === '') throw usageError('--database-url needs a value')
  return args
}

function usageError(message) {
  const err = new Error(message)
  err.code = 'ERR_USAGE'
  return err
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
  const commands = ['migrate', 'status', 'seed', 'stats', 'cleanup', 'demo']
  if (!commands.includes(args.command)) throw usageError(`unknown command '${args.command}'`)

  const config = args.url ? { url: args.url } : undefined
  // `status` reports pending migrations rather than applying them.
  const db = await WorkflowDatabase.connect({ ...config, migrate: args.command !== 'status' })
  try {
    if (args.command === 'stats') return await stats(db, args)
    if (args.command === 'cleanup') return await cleanup(db, args)
    if (args.command === 'demo') return await runDemo(db, args)
    const out = {}
    if (args.command === 'seed') out.seeded = await db.seed()
    if (args.command === 'migrate') out.migrations = await db.migrationStatus()
    if (args.command !== 'migrate' && args.command !== 'seed') out.status = await db.status()
    if (args.json) {
      console.log(JSON.stringify(out, null, 2))
    } else {
      if (out.seeded) {
        const s = out.seeded
        console.log(`seeded      ${s.executions} executions, ${s.metrics} metrics, ${s.handlers} handlers, ${s.usageHistory} usage rows`)
      }
      if (out.migrations) {
        for (const m of out.migrations) console.log(`${String(m.version).padStart(3, '0')} ${m.description}: ${m.applied ? 'applied' : 'pending'}`)
      }
      if (out.status) printStatus(out.status)
    }
    return 0
  } finally {
    await db.close()
  }
}

async function stats(db, args) {
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
    if (!args.json) process.stdout.write(`\rremoved ${total.executions} executions, ${total.metrics} metrics (${total.chunks} chunks)`)
    if (last.deletedExecutions < args.batch && last.deletedMetrics < args.batch) break
  }
  if (args.json) console.log(JSON.stringify({ daysOld: args.days, ...total }))
  else process.stdout.write('\n')
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

main(process.argv.slice(2)).then(
  (code) => {
    process.exitCode = code
  },
  (err) => {
    console.error(`workflow-infra: ${err.message}${err.code ? ` [${err.code}]` : ''}`)
    if (err.code === 'ERR_USAGE') process.stderr.write(USAGE)
    process.exitCode = err.code === 'ERR_USAGE' ? 2 : 1
  },
)
