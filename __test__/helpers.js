'use strict'
// Test backends: a fresh SQLite file, a private memory database, and a fresh PostgreSQL database
// per call (created with psql, dropped after the run). PostgreSQL is required when CI=true;
// elsewhere its tests are skipped with a visible message when the server is unreachable.

const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const addon = require('..')

const PG_HOST = process.env.WORKFLOW_TEST_PG_HOST || '127.0.0.1'
const PG_PORT = process.env.WORKFLOW_TEST_PG_PORT || '5432'
const PG_USER = process.env.WORKFLOW_TEST_PG_USER || 'postgres'
const CI = process.env.CI === 'true' || process.env.CI === '1'
/** The role .ci/run makes PostgreSQL check passwords for (scram-sha-256 in pg_hba.conf). */
const PASSWORD_ROLE = 'workflow_infra_pw'

function psql(sql, database = 'postgres') {
  return execFileSync('psql', ['-h', PG_HOST, '-p', PG_PORT, '-U', PG_USER, '-d', database, '-Atqc', sql], {
    encoding: 'utf8',
    stdio: ['ignore', 'pipe', 'pipe'],
  }).trim()
}

let pgState
function pgAvailable() {
  if (pgState === undefined) {
    try {
      psql('SELECT 1')
      pgState = true
    } catch (err) {
      if (CI) throw new Error(`PostgreSQL is required when CI=true but unreachable: ${err.message}`)
      console.warn(`SKIPPED: PostgreSQL tests (server unreachable at ${PG_HOST}:${PG_PORT}; set CI=true to require it)`)
      pgState = false
    }
  }
  return pgState
}

let counter = 0
const created = []
const createdDirs = []

function uniqueName(prefix) {
  return `${prefix}_${process.pid}_${Date.now()}_${counter++}`
}

/** A fresh, empty PostgreSQL database; returns its URL. */
function freshPgDatabase() {
  const name = uniqueName('wfi_jest')
  psql(`CREATE DATABASE ${name}`)
  created.push(name)
  return `postgres://${PG_USER}@${PG_HOST}:${PG_PORT}/${name}`
}

/** Drops the PostgreSQL databases and removes the SQLite directories this run created. */
function cleanup() {
  while (createdDirs.length) fs.rmSync(createdDirs.pop(), { recursive: true, force: true })
  while (created.length) {
    const name = created.pop()
    try {
      psql(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    } catch {
      // left for the next .ci/run, which starts from a fresh server database list anyway
    }
  }
}

/** A new, empty directory, removed by cleanup(). */
function freshDir(prefix = 'wfi_jest_') {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), prefix))
  createdDirs.push(dir)
  return dir
}

/** A path for a fresh SQLite file in a new directory (the directory does not exist yet). */
function freshSqlitePath() {
  const dir = path.join(os.tmpdir(), uniqueName('wfi_jest'))
  createdDirs.push(dir)
  return path.join(dir, 'nested', 'workflow.db')
}

/** The backends, each with a function giving a config for a fresh, empty database. */
function backends() {
  const list = [
    ['sqlite', () => ({ type: 'sqlite', database: freshSqlitePath() })],
    ['memory', () => ({ type: 'memory' })],
  ]
  if (pgAvailable()) list.push(['postgresql', () => ({ url: freshPgDatabase() })])
  return list
}

/** Runs a Node script in a child process; resolves {code, stdout, stderr}. */
function runNode(script, { timeoutMs = 15000, env = {}, nodeArgs = [] } = {}) {
  return runChild([...nodeArgs, '-e', script], { timeoutMs, env, cwd: path.join(__dirname, '..') })
}

/** Runs node with `args` in `cwd` (the log at `error` unless `env` says otherwise); resolves
 * {code, stdout, stderr}, or rejects with what it printed when it has not exited in time. */
function runChild(args, { timeoutMs = 15000, env = {}, cwd }) {
  const { spawn } = require('node:child_process')
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, args, { cwd, env: { ...process.env, WORKFLOW_INFRA_LOG: 'error', ...env } })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    const timer = setTimeout(() => {
      child.kill('SIGKILL')
      reject(new Error(`child did not exit within ${timeoutMs} ms; stdout: ${stdout} stderr: ${stderr}`))
    }, timeoutMs)
    child.on('exit', (code) => {
      clearTimeout(timer)
      resolve({ code, stdout, stderr })
    })
  })
}

/**
 * A PostgreSQL server of the suite's own (chaos/lib.js's OwnServer, on `basePort` + pid % 1000)
 * for the enclosing describe: started before its tests, stopped after them (then `after()`).
 * Base ports lie between 20432 and 24432, one per suite, so that no two suites meet and none lies
 * in Linux's ephemeral range (32768–60999), where a client socket of anything may hold the port.
 * Its `server` is there once the tests run.
 */
function ownServer(basePort, after = () => {}) {
  const own = { server: null }
  beforeAll(() => {
    const { OwnServer } = require('../chaos/lib.js')
    own.server = new OwnServer(basePort + (process.pid % 1000)).init()
  }, 60000)
  afterAll(() => {
    if (own.server) own.server.stop()
    after()
  })
  return own
}

module.exports = {
  addon,
  backends,
  CI,
  cleanup,
  freshDir,
  freshPgDatabase,
  freshSqlitePath,
  PASSWORD_ROLE,
  PG_HOST,
  PG_PORT,
  ownServer,
  pgAvailable,
  psql,
  runChild,
  runNode,
  fs,
}
