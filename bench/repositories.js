'use strict'
// Single repository operations and 1,000-row metric batches: this addon against the JavaScript a
// user would otherwise write (node-postgres on PostgreSQL; better-sqlite3 and sqlite3 on SQLite),
// on the same schema, the same statements and the same pragmas, in one run.
//
//   npm run build && (cd bench && npm install) && node bench/repositories.js [--n 2000] [--batches 20] [--read-passes 10]
//
// Prints ops/s, µs per op (wall) and CPU µs per op (user + system of the whole process, every
// thread included), and the addon's ratio to each baseline. The addon and its main baseline run
// twice, in the order addon, baseline, baseline, addon, each figure over both rounds. Release
// build required.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const addon = require('..')
const Database = require('better-sqlite3')
const sqlite3 = require('sqlite3')
const pg = require('pg')
const { arg, pgReachable, freshPgDatabase, dropPgDatabase, plannedSchema, plannedSchemaPg, plannedSchemaSqlite } = require('./common')

const N = arg('n', 2000)
const BATCHES = arg('batches', 20)
// Reads cycle over the N rows this many times: 2,000 SQLite reads take 12 ms, short enough for
// one collection or timer to move the figure by a quarter.
const READ_PASSES = arg('read-passes', 10)

// ---- measurement ------------------------------------------------------------------------------

async function measure(ops, fn) {
  for (let i = 0; i < Math.min(200, ops); i++) await fn(i, true) // warm-up (statement caches, JIT)
  const cpu0 = process.cpuUsage()
  const t0 = process.hrtime.bigint()
  for (let i = 0; i < ops; i++) await fn(i, false)
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000
  const cpu = process.cpuUsage(cpu0)
  return { ops, opsPerSec: (ops / wallUs) * 1e6, usPerOp: wallUs / ops, cpuUsPerOp: (cpu.user + cpu.system) / ops }
}

/** Runs two contenders in the order A B B A and merges each one's two rounds (total time over
 * total calls): a drift of the machine during the run (a checkpoint, another tenant) then weighs
 * on both alike. */
async function abba(runA, runB) {
  const a1 = await runA()
  const b1 = await runB()
  const b2 = await runB()
  const a2 = await runA()
  return [merge(a1, a2), merge(b1, b2)]
}

function merge(x, y) {
  const out = {}
  for (const op of Object.keys(x)) {
    const [p, q] = [x[op], y[op]]
    const ops = p.ops + q.ops
    const usPerOp = (p.usPerOp * p.ops + q.usPerOp * q.ops) / ops
    out[op] = { ops, opsPerSec: 1e6 / usPerOp, usPerOp, cpuUsPerOp: (p.cpuUsPerOp * p.ops + q.cpuUsPerOp * q.ops) / ops }
  }
  return out
}

// ---- statements (the planned SQL, as a user would run it) --------------------------------------

const SQL = {
  create: `INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, workflow_version, status, priority, start_time, metadata, created_at, updated_at)
           VALUES ($1, $2, $3, '1.0.0', 'pending', 1, $4, $5, $4, $4) RETURNING *`,
  find: 'SELECT * FROM workflow_executions WHERE execution_id = $1',
  update: 'UPDATE workflow_executions SET status = $2, actual_duration = $3, updated_at = $4 WHERE execution_id = $1 RETURNING *',
  metric: `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at)
           VALUES ($1, $2, $3, 'milliseconds', 'performance', 'timing', $4, $5) RETURNING *`,
  unnest: `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at)
           SELECT * FROM UNNEST($1::varchar[], $2::varchar[], $3::float8[], $4::varchar[], $5::varchar[], $6::varchar[], $7::jsonb[], $8::timestamptz[])`,
}
// SQLite baselines bind plain `?` placeholders in order (better-sqlite3 has no numbered ones).
const SQLITE = {
  create: SQL.create.replace(/\$4, \$5, \$4, \$4/, '?, ?, ?, ?').replace(/\$\d+/g, '?'),
  find: SQL.find.replace(/\$\d+/g, '?'),
  update: 'UPDATE workflow_executions SET status = ?, actual_duration = ?, updated_at = ? WHERE execution_id = ? RETURNING *',
  metric: SQL.metric.replace(/\$\d+/g, '?'),
}

const execution = (prefix, i) => ({ executionId: `${prefix}_${i}`, workflowId: 'bench_wf', workflowName: 'Bench Workflow', metadata: { i } })
const metric = (prefix, i) => ({ executionId: `${prefix}_${i % N}`, metricName: 'step_duration', metricValue: i * 1.5, metricUnit: 'milliseconds', metricType: 'performance', metricCategory: 'timing', metadata: { i } })

// ---- the addon --------------------------------------------------------------------------------

async function benchAddon(backend, config) {
  const db = await addon.WorkflowDatabase.connect(config)
  const ex = new addon.WorkflowExecutionRepository(db)
  const me = new addon.WorkflowMetricsRepository(db)
  const p = `a${Date.now()}`
  const out = {}
  out.create = await measure(N, (i, warm) => ex.create(execution(warm ? `${p}w` : p, i)))
  out.find = await measure(N * READ_PASSES, (r) => ex.findByExecutionId(`${p}_${r % N}`))
  out.update = await measure(N, (i) => ex.update(`${p}_${i}`, { status: 'completed', actualDuration: i }))
  out.recordMetric = await measure(N, (i) => me.recordMetric(metric(p, i)))
  out.batch = await measure(BATCHES, (b) => me.recordMetrics(Array.from({ length: 1000 }, (_, i) => metric(p, b * 1000 + i))))
  await db.close()
  return out
}

// ---- node-postgres ------------------------------------------------------------------------------

async function benchPg(url) {
  const pool = new pg.Pool({ connectionString: url, max: 10 })
  const p = `pg${Date.now()}`
  const now = () => new Date()
  const out = {}
  out.create = await measure(N, (i, warm) => {
    const e = execution(warm ? `${p}w` : p, i)
    return pool.query(SQL.create, [e.executionId, e.workflowId, e.workflowName, now(), JSON.stringify(e.metadata)]).then((r) => r.rows[0])
  })
  out.find = await measure(N * READ_PASSES, (r) => pool.query(SQL.find, [`${p}_${r % N}`]).then((res) => res.rows[0] || null))
  out.update = await measure(N, (i) => pool.query(SQL.update, [`${p}_${i}`, 'completed', i, now()]).then((r) => r.rows[0]))
  out.recordMetric = await measure(N, (i) => {
    const m = metric(p, i)
    return pool.query(SQL.metric, [m.executionId, m.metricName, m.metricValue, JSON.stringify(m.metadata), now()]).then((r) => r.rows[0])
  })
  out.batch = await measure(BATCHES, (b) => {
    const ms = Array.from({ length: 1000 }, (_, i) => metric(p, b * 1000 + i))
    const col = (f) => ms.map(f)
    const t = now()
    return pool.query(SQL.unnest, [col((m) => m.executionId), col((m) => m.metricName), col((m) => m.metricValue), col((m) => m.metricUnit), col((m) => m.metricType), col((m) => m.metricCategory), col((m) => JSON.stringify(m.metadata)), col(() => t)])
  })
  await pool.end()
  return out
}

// ---- better-sqlite3 (synchronous, on the event loop; a file, or ':memory:' for the memory rows) --

function openBetter(file) {
  const db = new Database(file)
  if (file === ':memory:') {
    // The same schema the addon migrates, from its own SQLite migration files.
    const dir = path.join(__dirname, '..', 'migrations', 'sqlite')
    for (const f of fs.readdirSync(dir).sort()) db.exec(fs.readFileSync(path.join(dir, f), 'utf8'))
    plannedSchemaSqlite(db)
    db.pragma('foreign_keys = ON')
    return db
  }
  plannedSchemaSqlite(db)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.pragma('busy_timeout = 5000')
  return db
}

async function benchBetter(file) {
  const db = openBetter(file)
  const st = { create: db.prepare(SQLITE.create), find: db.prepare(SQLITE.find), update: db.prepare(SQLITE.update), metric: db.prepare(SQLITE.metric) }
  const p = `b${Date.now()}`
  const iso = () => new Date().toISOString()
  const out = {}
  out.create = await measure(N, (i, warm) => {
    const e = execution(warm ? `${p}w` : p, i)
    const t = iso()
    return st.create.get(e.executionId, e.workflowId, e.workflowName, t, JSON.stringify(e.metadata), t, t)
  })
  out.find = await measure(N * READ_PASSES, (r) => st.find.get(`${p}_${r % N}`) || null)
  out.update = await measure(N, (i) => st.update.get('completed', i, iso(), `${p}_${i}`))
  out.recordMetric = await measure(N, (i) => {
    const m = metric(p, i)
    return st.metric.get(m.executionId, m.metricName, m.metricValue, JSON.stringify(m.metadata), iso())
  })
  const insertMany = db.transaction((ms) => ms.map((m) => st.metric.get(m.executionId, m.metricName, m.metricValue, JSON.stringify(m.metadata), iso())))
  out.batch = await measure(BATCHES, (b) => insertMany(Array.from({ length: 1000 }, (_, i) => metric(p, b * 1000 + i))))
  db.close()
  return out
}

// ---- sqlite3 (asynchronous, libuv thread pool) ---------------------------------------------------

async function benchSqlite3(file) {
  const db = new sqlite3.Database(file)
  const run = (sql, ...params) => new Promise((res, rej) => db.run(sql, params, (e) => (e ? rej(e) : res())))
  const get = (sql, ...params) => new Promise((res, rej) => db.get(sql, params, (e, row) => (e ? rej(e) : res(row))))
  for (const pragma of ['journal_mode = WAL', 'synchronous = NORMAL', 'foreign_keys = ON', 'busy_timeout = 5000']) await run(`PRAGMA ${pragma}`)
  for (const sql of plannedSchema('sqlite')) await run(sql)
  const p = `s${Date.now()}`
  const iso = () => new Date().toISOString()
  const out = {}
  out.create = await measure(N, (i, warm) => {
    const e = execution(warm ? `${p}w` : p, i)
    const t = iso()
    return get(SQLITE.create, e.executionId, e.workflowId, e.workflowName, t, JSON.stringify(e.metadata), t, t)
  })
  out.find = await measure(N * READ_PASSES, (r) => get(SQLITE.find, `${p}_${r % N}`))
  out.update = await measure(N, (i) => get(SQLITE.update, 'completed', i, iso(), `${p}_${i}`))
  out.recordMetric = await measure(N, (i) => {
    const m = metric(p, i)
    return get(SQLITE.metric, m.executionId, m.metricName, m.metricValue, JSON.stringify(m.metadata), iso())
  })
  out.batch = await measure(BATCHES, async (b) => {
    await run('BEGIN')
    for (let i = 0; i < 1000; i++) {
      const m = metric(p, b * 1000 + i)
      await get(SQLITE.metric, m.executionId, m.metricName, m.metricValue, JSON.stringify(m.metadata), iso())
    }
    await run('COMMIT')
  })
  await new Promise((r) => db.close(r))
  return out
}

// ---- setup and report ---------------------------------------------------------------------------

const benchDirs = []
async function freshSqliteFile(tag) {
  const dir = path.join(os.tmpdir(), `wfi-bench-${process.pid}-${tag}`)
  benchDirs.push(dir)
  const file = path.join(dir, 'bench.db')
  const db = await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file }) // same schema for every contender
  await db.close()
  return file
}

function printTable(results) {
  const fmt = (x, d = 1) => x.toFixed(d).padStart(10)
  console.log(`\nSingle operations: ${N} sequential calls each (findByExecId: ${N * READ_PASSES}, over the same ${N} rows), twice (addon, baseline, baseline, addon; sqlite3 once); batches: ${BATCHES} × recordMetrics(1,000 rows), as often. Node ${process.version}, ${os.cpus().length} cores.`)
  console.log('backend     operation       implementation          ops/s     µs/op  CPU µs/op   addon ×')
  console.log('-'.repeat(92))
  for (const { backend, op, subject, opsPerSec, usPerOp, cpuUsPerOp, ratio } of results) {
    const unit = op === 'recordMetrics×1000' ? `${fmt(opsPerSec * 1000, 0)} rows/s` : fmt(opsPerSec, 0)
    console.log(`${backend.padEnd(11)} ${op.padEnd(15)} ${subject.padEnd(18)} ${unit.padStart(10)} ${fmt(usPerOp)} ${fmt(cpuUsPerOp)} ${ratio === undefined ? '' : `${fmt(ratio, 2)}`}`)
  }
  console.log('\naddon × = the addon\'s throughput divided by that implementation\'s (above 1: the addon is faster).')
}

async function main() {
  const ops = ['create', 'find', 'update', 'recordMetric', 'batch']
  const label = { create: 'create', find: 'findByExecId', update: 'update', recordMetric: 'recordMetric', batch: 'recordMetrics×1000' }
  const table = []
  const add = (backend, contenders) => {
    const addon = contenders[0][1]
    for (const op of ops) {
      for (const [subject, r] of contenders) {
        table.push({ backend, op: label[op], subject, ...r[op], ratio: subject === 'addon' ? undefined : addon[op].opsPerSec / r[op].opsPerSec })
      }
    }
  }

  const [memoryAddon, betterMemory] = await abba(() => benchAddon('memory', { type: 'memory' }), () => benchBetter(':memory:'))
  add('memory', [['addon', memoryAddon], ['better-sqlite3', betterMemory]])

  const [addonFile, betterFile] = [await freshSqliteFile('addon'), await freshSqliteFile('better')]
  const [sqliteAddon, better] = await abba(() => benchAddon('sqlite', { type: 'sqlite', database: addonFile }), () => benchBetter(betterFile))
  const s3 = await benchSqlite3(await freshSqliteFile('sqlite3'))
  add('sqlite', [['addon', sqliteAddon], ['better-sqlite3', better], ['sqlite3', s3]])

  if (pgReachable()) {
    const a = freshPgDatabase('addon')
    const b = freshPgDatabase('pg')
    try {
      // The baseline runs on the planned schema (the addon's, without its rollups).
      await (await addon.WorkflowDatabase.connect({ url: b.url })).close()
      plannedSchemaPg(b.url)
      const [pgAddon, nodePg] = await abba(() => benchAddon('postgresql', { url: a.url }), () => benchPg(b.url))
      add('postgresql', [['addon', pgAddon], ['node-postgres', nodePg]])
    } finally {
      dropPgDatabase(a.name)
      dropPgDatabase(b.name)
    }
  }
  for (const dir of benchDirs) fs.rmSync(dir, { recursive: true, force: true })
  printTable(table)
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(table, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
