'use strict'
// What the fault experiments share: child processes, a throwaway PostgreSQL server of their own
// (initdb/pg_ctl on a spare port, never the shared one), scratch directories, a seeded random
// generator, and the documented error codes.
const { execFileSync, spawn } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const ROOT = path.join(__dirname, '..')
const ADDON = ROOT
const CODES = ['ERR_VALIDATION', 'ERR_CONFLICT', 'ERR_DB_UNAVAILABLE', 'ERR_DB_REFUSED', 'ERR_DB', 'ERR_CLOSED', 'ERR_MIGRATION', 'ERR_TIMEOUT', 'ERR_OVERLOADED', 'ERR_INTERNAL']

const scratch = []
function tempDir(prefix) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wfi_chaos_${prefix}_`))
  scratch.push(dir)
  return dir
}
function cleanupScratch() {
  while (scratch.length) fs.rmSync(scratch.pop(), { recursive: true, force: true })
}

/** mulberry32: a small seeded generator, so that a run can be repeated exactly. */
function random(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** Runs a Node script; resolves {code, signal, stdout, stderr}. `kill(child)` may end it early. */
function node(script, { env = {}, args = [], onSpawn } = {}) {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, [...args, '-e', script], {
      cwd: ROOT,
      env: { ...process.env, WORKFLOW_INFRA_LOG: 'error', ...env },
    })
    let stdout = ''
    let stderr = ''
    child.stdout.on('data', (d) => (stdout += d))
    child.stderr.on('data', (d) => (stderr += d))
    child.on('exit', (code, signal) => resolve({ code, signal, stdout, stderr }))
    if (onSpawn) onSpawn(child)
  })
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

/** Waits until `predicate()` (sync or async) holds, checking every 20 ms; the time it took (ms). */
async function until(what, predicate, ms = 30000) {
  const start = Date.now()
  while (!(await predicate())) {
    if (Date.now() - start > ms) throw new Error(`timed out waiting for ${what}`)
    await sleep(20)
  }
  return Date.now() - start
}

/** The PostgreSQL binaries of this machine (Debian keeps them out of PATH). */
function pgBin(name) {
  const base = '/usr/lib/postgresql'
  const versions = fs.existsSync(base) ? fs.readdirSync(base).sort((a, b) => Number(b) - Number(a)) : []
  for (const v of versions) {
    const file = path.join(base, v, 'bin', name)
    if (fs.existsSync(file)) return file
  }
  return name
}

/**
 * A PostgreSQL server of the experiment's own, on a spare port, run as the `postgres` user
 * (initdb refuses root). Its URL, restart() (immediate shutdown: a crash) and stop().
 */
class OwnServer {
  constructor(port) {
    this.port = port
    this.dir = tempDir('pg')
    fs.chmodSync(this.dir, 0o777)
    this.data = path.join(this.dir, 'data')
    this.log = path.join(this.dir, 'log')
    this.url = `postgres://postgres@127.0.0.1:${port}/postgres`
  }

  as(cmd, args) {
    const asPostgres = process.getuid && process.getuid() === 0
    const [file, argv] = asPostgres ? ['runuser', ['-u', 'postgres', '--', cmd, ...args]] : [cmd, args]
    return execFileSync(file, argv, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] })
  }

  /**
   * Creates the cluster and starts it. `ssl: 'required'`: TLS on with a self-signed certificate
   * (made here with openssl), and pg_hba.conf admitting TLS connections only.
   */
  init({ ssl } = {}) {
    this.as(pgBin('initdb'), ['-D', this.data, '-U', 'postgres', '--auth=trust', '-E', 'UTF8'])
    if (ssl === 'required') {
      const cert = path.join(this.data, 'server.crt')
      const key = path.join(this.data, 'server.key')
      this.as('openssl', ['req', '-new', '-x509', '-days', '2', '-nodes', '-subj', '/CN=localhost', '-keyout', key, '-out', cert])
      fs.chmodSync(key, 0o600)
      fs.appendFileSync(path.join(this.data, 'postgresql.conf'), "\nssl = on\nssl_cert_file = 'server.crt'\nssl_key_file = 'server.key'\n")
      fs.writeFileSync(path.join(this.data, 'pg_hba.conf'), 'local all all trust\nhostssl all all 127.0.0.1/32 trust\n')
    }
    return this.start()
  }

  start() {
    this.as(pgBin('pg_ctl'), ['-D', this.data, '-l', this.log, '-w', '-o', `-p ${this.port} -k ${this.dir} -c listen_addresses=127.0.0.1`, 'start'])
    return this
  }

  /** Creates the (empty) database `name` on this server; returns its URL. */
  database(name) {
    execFileSync('psql', [this.url, '-qc', `CREATE DATABASE ${name}`], { stdio: 'ignore' })
    return this.url.replace(/\/postgres$/, `/${name}`)
  }

  /** An immediate shutdown (no checkpoint, clients cut: a crash), then start again. */
  crash() {
    this.as(pgBin('pg_ctl'), ['-D', this.data, '-m', 'immediate', '-w', 'stop'])
  }

  stop() {
    try {
      this.as(pgBin('pg_ctl'), ['-D', this.data, '-m', 'fast', '-w', 'stop'])
    } catch {
      // already stopped
    }
  }
}

/** Whether this machine can run a server of the experiment's own. */
function canRunOwnServer() {
  try {
    execFileSync(pgBin('initdb'), ['--version'], { stdio: 'ignore' })
    return true
  } catch {
    return false
  }
}

module.exports = { ADDON, CODES, OwnServer, canRunOwnServer, cleanupScratch, node, random, sleep, tempDir, until }
