'use strict'
// Writes with many in flight, and what they cost the event loop: --writes (20,000) recordMetric
// calls, --in-flight (64) at a time, on SQLite (the addon's writer thread against better-sqlite3
// on the event loop) and PostgreSQL (the addon against node-postgres). Reports writes/s, the
// event loop's busy time per write (perf_hooks eventLoopUtilization) and its stalls
// (monitorEventLoopDelay: p99 and max, ms, beyond its 1 ms timer interval; for better-sqlite3
// also its longest calls, which block the loop whole). An idle loop, monitored for as long as the
// addon's SQLite run took, shows the machine's own floor.
//
//   npm run build && (cd bench && npm install) && node bench/eventloop.js

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { performance, monitorEventLoopDelay } = require('node:perf_hooks')

const addon = require('..')
const BetterSqlite = require('better-sqlite3')
const pg = require('pg')
const { arg, pgReachable, freshPgDatabase, dropPgDatabase, plannedSchemaPg, plannedSchemaSqlite } = require('./common')

const WRITES = arg('writes', 20000)
const IN_FLIGHT = arg('in-flight', 64)
const rows = []

const metric = (i) => ({ executionId: 'bench_e', metricName: 'step_duration', metricValue: i, metricUnit: 'ms', metricCategory: 'timing', metadata: { i } })
const SQL = `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at)
  VALUES ($1, $2, $3, $4, 'performance', $5, $6, $7) RETURNING *`

/** Longest single blocking call seen, for synchronous drivers (a call blocks the loop for its
 * whole duration, and the delay monitor cannot sample a loop that never yields to timers). */
const blocking = []

async function measure(write) {
  for (let i = 0; i < 200; i++) await write(i) // warm-up
  blocking.length = 0
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  const elu0 = performance.eventLoopUtilization()
  delay.enable()
  const t0 = process.hrtime.bigint()
  let next = 0
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next < WRITES) await write(next++)
    }),
  )
  const wallUs = Number(process.hrtime.bigint() - t0) / 1000
  delay.disable()
  const elu = performance.eventLoopUtilization(elu0)
  blocking.sort((a, b) => a - b)
  const callP99 = blocking.length ? blocking[Math.floor(blocking.length * 0.99)] : 0
  const callMax = blocking.length ? blocking[blocking.length - 1] : 0
  return {
    opsPerSec: (WRITES / wallUs) * 1e6,
    usPerOp: wallUs / WRITES,
    loopUsPerOp: (elu.active * 1000) / WRITES,
    stallP99Ms: Math.max(lateMs(delay.percentile(99)), callP99),
    stallMaxMs: Math.max(lateMs(delay.max), callMax),
  }
}

/** The delay monitor records the whole time between two runs of its RESOLUTION_MS timer; a stall
 * is what exceeds that interval. */
const RESOLUTION_MS = 1
const lateMs = (ns) => Math.max(0, ns / 1e6 - RESOLUTION_MS)

/** The same monitor on a loop with nothing to do, for `ms`: the machine's own floor (a VM's
 * stolen time and the kernel's scheduling show up here). */
async function idle(ms) {
  const delay = monitorEventLoopDelay({ resolution: RESOLUTION_MS })
  delay.enable()
  await new Promise((resolve) => setTimeout(resolve, ms))
  delay.disable()
  return { opsPerSec: 0, usPerOp: 0, loopUsPerOp: 0, stallP99Ms: lateMs(delay.percentile(99)), stallMaxMs: lateMs(delay.max) }
}

async function addonRun(config) {
  const db = await addon.WorkflowDatabase.connect(config)
  await new addon.WorkflowExecutionRepository(db).create({ workflowId: 'w', workflowName: 'W', executionId: 'bench_e' })
  const metrics = new addon.WorkflowMetricsRepository(db)
  const r = await measure((i) => metrics.recordMetric(metric(i)))
  await db.close()
  return r
}

async function main() {
  const dir = path.join(os.tmpdir(), `wfi-bench-loop-${process.pid}`)
  const fresh = async (name) => {
    const file = path.join(dir, name, 'bench.db')
    await (await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file })).close()
    return file
  }
  const ours = await addonRun({ type: 'sqlite', database: await fresh('addon') })
  rows.push({ backend: '-', subject: 'idle loop', ...(await idle(Math.max(1000, (ours.usPerOp * WRITES) / 1000))) })
  const db = new BetterSqlite(await fresh('better'))
  plannedSchemaSqlite(db) // the baseline's schema: the planned one, without the addon's rollups
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  db.prepare(`INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name) VALUES ('bench_e', 'w', 'W')`).run()
  const st = db.prepare(SQL.replace(/\$\d+/g, '?'))
  const theirs = await measure(async (i) => {
    const m = metric(i)
    const t = process.hrtime.bigint()
    const row = st.get(m.executionId, m.metricName, m.metricValue, m.metricUnit, m.metricCategory, JSON.stringify(m.metadata), new Date().toISOString())
    blocking.push(Number(process.hrtime.bigint() - t) / 1e6)
    return row
  })
  db.close()
  rows.push({ backend: 'sqlite', subject: 'addon', ...ours }, { backend: 'sqlite', subject: 'better-sqlite3', ...theirs, ratio: ours.opsPerSec / theirs.opsPerSec })
  fs.rmSync(dir, { recursive: true, force: true })

  if (pgReachable()) {
    const { name, url } = freshPgDatabase('loop')
    try {
      const pgOurs = await addonRun({ url })
      const pool = new pg.Pool({ connectionString: url, max: 10 })
      await pool.query(`DELETE FROM workflow_metrics`)
      plannedSchemaPg(url) // the baseline's schema: the planned one, without the addon's rollups
      const pgTheirs = await measure((i) => {
        const m = metric(i)
        return pool.query(SQL, [m.executionId, m.metricName, m.metricValue, m.metricUnit, m.metricCategory, JSON.stringify(m.metadata), new Date()])
      })
      await pool.end()
      rows.push({ backend: 'postgresql', subject: 'addon', ...pgOurs }, { backend: 'postgresql', subject: 'node-postgres', ...pgTheirs, ratio: pgOurs.opsPerSec / pgTheirs.opsPerSec })
    } finally {
      dropPgDatabase(name)
    }
  }

  const f = (x, d = 1) => x.toFixed(d).padStart(10)
  console.log(`\nrecordMetric, ${WRITES} writes, ${IN_FLIGHT} in flight. Node ${process.version}, ${os.cpus().length} cores.`)
  console.log('backend     implementation        writes/s     µs/op  loop µs/op  stall p99 ms  stall max ms   addon ×')
  console.log('-'.repeat(102))
  for (const r of rows) {
    console.log(`${r.backend.padEnd(11)} ${r.subject.padEnd(18)} ${f(r.opsPerSec, 0)} ${f(r.usPerOp)} ${f(r.loopUsPerOp)} ${f(r.stallP99Ms, 2).padStart(13)} ${f(r.stallMaxMs, 2).padStart(13)} ${r.ratio === undefined ? '' : f(r.ratio, 2)}`)
  }
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(rows, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
