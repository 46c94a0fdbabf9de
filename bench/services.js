'use strict'
// The services side by side with the JavaScript a user would otherwise run (bench/planned.js:
// the planned design, one query per call), in one run:
//
//   1. the event-driven lifecycle — create, started, 5 steps, 3 handler runs, completed — for
//      --workflows (1,000) workflows, --in-flight (32) at a time, every event persisted;
//      PostgreSQL (node-postgres) and SQLite (better-sqlite3), against this addon's
//      WorkflowEventHandlers on its WorkflowEventService;
//   2. WorkflowCache get/set against the planned JavaScript cache and lru-cache, each in a
//      process of its own (best of three rounds);
//   3. a cached getExecution (WorkflowCacheService hit) against a database read.
//
//   npm run build && (cd bench && npm install) && node bench/services.js
//
// Release build required. Prints ops/s, µs/op and CPU µs/op (user + system of the process,
// every thread included), on PostgreSQL the server processes' CPU µs/op (from /proc), and the
// addon's ratio to each baseline.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { execFileSync } = require('node:child_process')

const addon = require('..')
const BetterSqlite = require('better-sqlite3')
const pg = require('pg')
const { arg, pgReachable, freshPgDatabase, dropPgDatabase, plannedSchemaPg, plannedSchemaSqlite } = require('./common')
const { LRUCache } = require('lru-cache')
const planned = require('./planned')

const WORKFLOWS = arg('workflows', 1000)
const IN_FLIGHT = arg('in-flight', 32)
const CACHE_OPS = arg('cache-ops', 200000)
const READS = arg('reads', 20000)
const STEPS = 5
const HANDLER_RUNS = 3
/** Events per workflow: started, 5 × (step started, completed), 3 × (handler started, completed), completed. */
const EVENTS_PER_WORKFLOW = 1 + 2 * STEPS + 2 * HANDLER_RUNS + 1

const rows = []

async function timed(ops, fn) {
  const server0 = serverCpuUs()
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  await fn()
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  const server1 = serverCpuUs()
  return {
    ops,
    opsPerSec: (ops / wallUs) * 1e6,
    usPerOp: wallUs / ops,
    cpuUsPerOp: (cpu.user + cpu.system) / ops,
    serverCpuUsPerOp: server0 === undefined || server1 === undefined ? undefined : (server1 - server0) / ops,
  }
}

/** CPU time (user + system, µs) of every PostgreSQL server process on this machine so far, from
 * /proc (Linux; undefined elsewhere): what the database spent on a run, beside this process. */
const TICK_US = (() => {
  try {
    return 1e6 / Number(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim())
  } catch {
    return undefined
  }
})()
function serverCpuUs() {
  if (TICK_US === undefined || !fs.existsSync('/proc/self/stat')) return undefined
  let ticks = 0
  for (const pid of fs.readdirSync('/proc')) {
    if (!/^\d+$/.test(pid)) continue
    let stat
    try {
      stat = fs.readFileSync(`/proc/${pid}/stat`, 'utf8')
    } catch {
      continue // gone meanwhile
    }
    const close = stat.lastIndexOf(')')
    if (!stat.slice(stat.indexOf('(') + 1, close).startsWith('postgres')) continue
    const fields = stat.slice(close + 2).split(' ')
    ticks += Number(fields[11]) + Number(fields[12]) // utime, stime
  }
  return ticks * TICK_US
}

// ---- 1. lifecycle -------------------------------------------------------------------------------

/** Drives one workflow through `bus` (create through `save`). */
async function lifecycle(save, bus, tag, i) {
  const executionId = `${tag}_${i}`
  await save({ executionId, workflowId: 'bench_wf', workflowName: 'Bench', taskId: `task_${tag}_${i}` })
  await bus.publish('workflow.execution.started', { executionId, workflowId: 'bench_wf' })
  for (let s = 0; s < STEPS; s++) {
    const stepId = `step_${s}`
    await bus.publish('workflow.step.started', { executionId, stepId, stepName: `Step ${s}` })
    if (s < HANDLER_RUNS) {
      await bus.publish('handler.execution.started', { executionId, handlerType: `h${s}` })
      await bus.publish('handler.execution.completed', { executionId, handlerType: `h${s}`, duration: 5 + s })
    }
    await bus.publish('workflow.step.completed', { executionId, stepId, stepName: `Step ${s}`, duration: 10 + s })
  }
  await bus.publish('workflow.execution.completed', { executionId, workflowId: 'bench_wf', result: { ok: true } })
}

async function runLoad(save, bus, tag) {
  // Warm-up: statement caches, JIT.
  for (let i = 0; i < 20; i++) await lifecycle(save, bus, `${tag}w`, i)
  return timed(WORKFLOWS, async () => {
    let next = 0
    await Promise.all(
      Array.from({ length: IN_FLIGHT }, async () => {
        while (next < WORKFLOWS) await lifecycle(save, bus, tag, next++)
      }),
    )
  })
}

async function addonLifecycle(config) {
  const db = await addon.WorkflowDatabase.connect(config)
  const repo = new addon.WorkflowRepository(new addon.WorkflowExecutionRepository(db), new addon.WorkflowMetricsRepository(db))
  const bus = new addon.WorkflowEventService()
  const handlers = new addon.WorkflowEventHandlers(repo, bus)
  await handlers.initialize()
  const r = await runLoad((e) => repo.saveExecution(e), bus, `a${Date.now()}`)
  await verify(db, r.ops)
  handlers.dispose()
  await db.close()
  return r
}

/** Every workflow finished, with the metrics the lifecycle records. */
async function verify(db, workflows) {
  const stats = await new addon.WorkflowExecutionRepository(db).getStatistics({ workflowId: 'bench_wf' })
  if (stats.completed_executions < workflows) throw new Error(`only ${stats.completed_executions} of ${workflows} workflows completed`)
}

async function plannedLifecycle(connection) {
  const repo = new planned.PlannedWorkflowRepository(new planned.PlannedExecutionRepository(connection), new planned.PlannedMetricsRepository(connection))
  const bus = new planned.PlannedEventBus()
  await new planned.PlannedEventHandlers(repo, bus).initialize()
  return runLoad((e) => repo.saveExecution(e), bus, `p${Date.now()}`)
}

// ---- 2. WorkflowCache -----------------------------------------------------------------------------

const silent = { info() {}, debug() {}, warn() {}, error() {} }

const CACHES = {
  'WorkflowCache (addon)': () => new addon.WorkflowCache({ maxSize: 2000, logger: silent }),
  'planned JS WorkflowCache': () => new planned.PlannedWorkflowCache({ maxSize: 2000, logger: silent }),
  'lru-cache': () => new LRUCache({ max: 2000, ttl: 300000 }),
}

// Each cache runs in a process of its own, three rounds in turn, and keeps its best round: in
// one process the first implementation measured would have the JIT's call sites to itself.
function cacheCases() {
  const best = {}
  for (let round = 0; round < 3; round++) {
    for (const name of Object.keys(CACHES)) {
      const child = ['--cache-child', name, '--cache-ops', String(CACHE_OPS)]
      const out = JSON.parse(execFileSync(process.execPath, [__filename, ...child], { encoding: 'utf8' }))
      for (const op of ['set', 'get']) {
        if (!best[name]?.[op] || out[op].opsPerSec > best[name][op].opsPerSec) best[name] = { ...best[name], [op]: out[op] }
      }
    }
  }
  return Object.entries(best).map(([name, r]) => ({ name, ...r }))
}

/** In a child process: set then get `--cache-ops` times over 1,000 keys, printed as JSON. */
function cacheChild(name) {
  const keys = Array.from({ length: 1000 }, (_, i) => `execution:${i}`)
  const value = { executionId: 'e', status: 'running', priority: 1, metadata: { step: 3 } }
  const cache = CACHES[name]()
  for (const k of keys) cache.set(k, value) // warm
  const set = timedSync(CACHE_OPS, (i) => cache.set(keys[i % 1000], value))
  const get = timedSync(CACHE_OPS, (i) => cache.get(keys[i % 1000]))
  cache.clear() // the planned cache's timers would keep the process alive
  console.log(JSON.stringify({ set, get }))
}

function timedSync(ops, fn) {
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) fn(i)
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { ops, opsPerSec: (ops / wallUs) * 1e6, usPerOp: wallUs / ops, cpuUsPerOp: (cpu.user + cpu.system) / ops }
}

// ---- 3. cached reads --------------------------------------------------------------------------------

async function cachedReads(backend, config) {
  const db = await addon.WorkflowDatabase.connect(config)
  const executions = new addon.WorkflowExecutionRepository(db)
  const cache = new addon.WorkflowCacheService(db)
  await cache.ready()
  const ids = []
  for (let i = 0; i < 100; i++) ids.push((await executions.create({ workflowId: 'bench_read', workflowName: 'R' })).execution_id)
  for (const id of ids) await cache.getExecution(id)
  const hit = await timed(READS, async () => {
    for (let i = 0; i < READS; i++) await cache.getExecution(ids[i % 100])
  })
  const read = await timed(READS, async () => {
    for (let i = 0; i < READS; i++) await executions.findByExecutionId(ids[i % 100])
  })
  await db.close()
  rows.push({ part: 'cached read', backend, op: 'getExecution', subject: 'WorkflowCacheService hit', ...hit, ratio: undefined })
  rows.push({ part: 'cached read', backend, op: 'getExecution', subject: 'findByExecutionId', ...read, ratio: hit.opsPerSec / read.opsPerSec })
}

// ---- 4. concurrent single writes (group commit) -----------------------------------------------------

const CONCURRENT = arg('concurrent', 64)
const WRITES = arg('writes', 4000)

/** `WRITES` calls of `write(i)`, `inFlight` at a time. */
function inFlight(n, write) {
  return timed(WRITES, async () => {
    let next = 0
    await Promise.all(
      Array.from({ length: n }, async () => {
        while (next < WRITES) await write(next++)
      }),
    )
  })
}

async function concurrentWrites(backend, addonConfig, baseline) {
  const db = await addon.WorkflowDatabase.connect(addonConfig)
  const executions = new addon.WorkflowExecutionRepository(db)
  const metrics = new addon.WorkflowMetricsRepository(db)
  await executions.create({ workflowId: 'bench_w', workflowName: 'W', executionId: 'bench_e' })
  const metric = (i) => ({ executionId: 'bench_e', metricName: 'step_duration', metricValue: i, metricUnit: 'ms', metricCategory: 'timing', metadata: { i } })
  const sequential = await inFlight(1, (i) => metrics.recordMetric(metric(i)))
  const concurrent = await inFlight(CONCURRENT, (i) => metrics.recordMetric(metric(i)))
  await db.close()
  const theirs = await baseline(metric)
  rows.push({ part: 'recordMetric', backend, op: '1 in flight', subject: 'addon', ...sequential })
  rows.push({ part: 'recordMetric', backend, op: `${CONCURRENT} in flight`, subject: 'addon', ...concurrent, ratio: concurrent.opsPerSec / sequential.opsPerSec })
  rows.push({ part: 'recordMetric', backend, op: `${CONCURRENT} in flight`, subject: theirs.name, ...theirs.r, ratio: concurrent.opsPerSec / theirs.r.opsPerSec })
}

const METRIC_SQL = `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata)
  VALUES ($1, $2, $3, $4, 'performance', $5, $6) RETURNING *`

async function pgBaseline(url, metric) {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  await pool.query(`INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name) VALUES ('bench_e', 'w', 'W')`)
  const r = await inFlight(CONCURRENT, (i) => {
    const m = metric(i)
    return pool.query(METRIC_SQL, [m.executionId, m.metricName, m.metricValue, m.metricUnit, m.metricCategory, JSON.stringify(m.metadata)])
  })
  await pool.end()
  return { name: 'node-postgres', r }
}

async function betterBaseline(file, metric) {
  const db = openBetter(file)
  db.prepare(`INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name) VALUES ('bench_e', 'w', 'W')`).run()
  const st = db.prepare(METRIC_SQL.replace(/\$\d+/g, '?'))
  const r = await inFlight(CONCURRENT, async (i) => {
    const m = metric(i)
    return st.get(m.executionId, m.metricName, m.metricValue, m.metricUnit, m.metricCategory, JSON.stringify(m.metadata))
  })
  db.close()
  return { name: 'better-sqlite3', r }
}

// ---- setup --------------------------------------------------------------------------------------------

const dirs = []
async function freshSqliteFile(tag) {
  const dir = path.join(os.tmpdir(), `wfi-bench-services-${process.pid}-${tag}`)
  dirs.push(dir)
  const file = path.join(dir, 'bench.db')
  await (await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file })).close() // same schema
  return file
}

/** A baseline's database: the planned schema (the addon's, without its rollups). */
function openBetter(file) {
  const db = new BetterSqlite(file)
  plannedSchemaSqlite(db)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  return db
}

const pgNames = []
async function freshPg(tag) {
  const { name, url } = freshPgDatabase(`services_${tag}`)
  pgNames.push(name)
  await (await addon.WorkflowDatabase.connect({ url })).close() // same schema
  return url
}

/** A baseline's database: the planned schema (the addon's, without its rollups). */
async function freshPgPlanned(tag) {
  const url = await freshPg(tag)
  plannedSchemaPg(url)
  return url
}

function lifecycleRows(backend, ours, theirs, baseline) {
  const events = (r) => ({ ...r, eventsPerSec: r.opsPerSec * EVENTS_PER_WORKFLOW })
  rows.push({ part: 'lifecycle', backend, op: 'workflows', subject: 'addon', ...events(ours) })
  rows.push({ part: 'lifecycle', backend, op: 'workflows', subject: baseline, ...events(theirs), ratio: ours.opsPerSec / theirs.opsPerSec })
}

function print() {
  const f = (x, d = 1) => (x === undefined ? '' : x.toFixed(d)).padStart(10)
  console.log(`\nNode ${process.version}, ${os.cpus().length} cores. Lifecycle: ${WORKFLOWS} workflows, ${IN_FLIGHT} in flight, ${EVENTS_PER_WORKFLOW} events + 1 create each (µs/op and CPU µs/op per workflow). Cache: ${CACHE_OPS} ops on 1,000 keys. Reads: ${READS} sequential.`)
  console.log('part         backend     op            implementation                 ops/s      µs/op  CPU µs/op  server CPU   events/s   addon ×')
  console.log('-'.repeat(130))
  for (const r of rows) {
    console.log(
      `${r.part.padEnd(12)} ${r.backend.padEnd(11)} ${r.op.padEnd(13)} ${r.subject.padEnd(28)} ${f(r.opsPerSec, 0)} ${f(r.usPerOp, 2)} ${f(r.cpuUsPerOp, 2)} ${f(r.backend === 'postgresql' ? r.serverCpuUsPerOp : undefined, 2).padStart(11)} ${f(r.eventsPerSec, 0)} ${f(r.ratio, 2)}`,
    )
  }
  console.log("\naddon × = the addon's throughput divided by that implementation's (above 1: the addon is faster); server CPU = µs/op the PostgreSQL server processes spent meanwhile (from /proc).")
}

async function main() {
  // 1. Lifecycle.
  const sqliteOurs = await addonLifecycle({ type: 'sqlite', database: await freshSqliteFile('addon') })
  const better = openBetter(await freshSqliteFile('better'))
  const sqliteTheirs = await plannedLifecycle(planned.sqliteConnection(better))
  better.close()
  lifecycleRows('sqlite', sqliteOurs, sqliteTheirs, 'planned JS + better-sqlite3')
  if (pgReachable()) {
    const pgOurs = await addonLifecycle({ url: await freshPg('addon') })
    const pool = new pg.Pool({ connectionString: await freshPgPlanned('planned'), max: 10 })
    const pgTheirs = await plannedLifecycle(planned.pgConnection(pool))
    await pool.end()
    lifecycleRows('postgresql', pgOurs, pgTheirs, 'planned JS + node-postgres')
  }

  // 2. WorkflowCache.
  const cases = cacheCases()
  for (const op of ['get', 'set']) {
    for (const c of cases) {
      rows.push({ part: 'cache', backend: 'memory', op, subject: c.name, ...c[op], ratio: c === cases[0] ? undefined : cases[0][op].opsPerSec / c[op].opsPerSec })
    }
  }

  // 4. Concurrent single writes.
  await concurrentWrites('sqlite', { type: 'sqlite', database: await freshSqliteFile('writes') }, async (metric) => betterBaseline(await freshSqliteFile('writes-better'), metric))
  if (pgReachable()) {
    const theirs = await freshPgPlanned('writes_pg')
    await concurrentWrites('postgresql', { url: await freshPg('writes') }, (metric) => pgBaseline(theirs, metric))
  }

  // 3. Cached reads.
  await cachedReads('sqlite', { type: 'sqlite', database: await freshSqliteFile('reads') })
  if (pgReachable()) await cachedReads('postgresql', { url: await freshPg('reads') })

  for (const name of pgNames) dropPgDatabase(name)
  for (const dir of dirs) fs.rmSync(dir, { recursive: true, force: true })
  print()
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(rows, null, 2))
}

if (arg('cache-child', null)) {
  cacheChild(arg('cache-child', null))
} else {
  main().catch((e) => {
    console.error(e)
    process.exit(1)
  })
}
