#!/usr/bin/env node
'use strict'

// workflow-infra: migrate, inspect and seed the workflow database from the command line.
// The database comes from --database-url, else WORKFLOW_DATABASE_URL, else ./data/workflow.db.

const path = require('node:path')
const { WorkflowDatabase } = require(path.join(__dirname, '..'))

const USAGE = `Usage: workflow-infra <command> [--database-url URL] [--json]

Commands:
  migrate   apply pending migrations
  status    backend, migrations, and tables with their row counts
  seed      write the deterministic seed fixture (replaces a previous seed)
  demo      seed the embedded default and show its status

Options:
  --database-url URL   postgres://user:pass@host:5432/db, sqlite://path/to/file.db or sqlite::memory:
                       (default: WORKFLOW_DATABASE_URL, else ./data/workflow.db)
  --json               print JSON instead of text
  -h, --help           show this help
`

function parseArgs(argv) {
  const args = { command: null, url: undefined, json: false }
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i]
    if (a === '--json') args.json = true
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
  const commands = ['migrate', 'status', 'seed', 'demo']
  if (!commands.includes(args.command)) throw usageError(`unknown command '${args.command}'`)

  const config = args.url ? { url: args.url } : undefined
  // `status` reports pending migrations rather than applying them.
  const db = await WorkflowDatabase.connect({ ...config, migrate: args.command !== 'status' })
  try {
    const out = {}
    if (args.command === 'seed' || args.command === 'demo') out.seeded = await db.seed()
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
