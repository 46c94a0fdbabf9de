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

module.exports = { arg, pgReachable, freshPgDatabase, dropPgDatabase }
