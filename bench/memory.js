'use strict'
// Memory: RSS after --ops (1,000,000) mixed operations against RSS after the first 10 % of them,
// on an SQLite file (create, recordMetric, update, findByExecutionId, delete — the tables stay
// small, so growth would be the implementation's own), 32 in flight. The addon and the same
// cycle on better-sqlite3 run in turn, each in a process of its own (node --expose-gc, gc before
// each sample). RSS is split into V8's heap (reserved and used) and the rest (native memory:
// the addon's, SQLite's and Node's, plus code and stacks). The addon runs once more with V8's
// young generation at a fixed 16 MiB from the start (--min/--max-semi-space-size), which shows
// how much of the growth is V8 sizing its heap rather than the addon's memory.
//
//   npm run build && (cd bench && npm install) && node --expose-gc bench/memory.js

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const { arg } = require('./common')

const OPS = arg('ops', 1000000)
const IN_FLIGHT = 32
const MiB = 2 ** 20

function sample(ops) {
  if (global.gc) global.gc()
  const m = process.memoryUsage()
  return { ops, rssMiB: m.rss / MiB, heapTotalMiB: m.heapTotal / MiB, heapUsedMiB: m.heapUsed / MiB, nativeMiB: (m.rss - m.heapTotal) / MiB }
}

/** The addon: one cycle is five operations. */
async function addonCycles(dir) {
  const addon = require('..')
  const db = await addon.WorkflowDatabase.connect({ type: 'sqlite', database: path.join(dir, 'bench.db') })
  const executions = new addon.WorkflowExecutionRepository(db)
  const metrics = new addon.WorkflowMetricsRepository(db)
  const cycle = async (n) => {
    const executionId = `m_${n}`
    await executions.create({ workflowId: 'mem', workflowName: 'Memory', executionId, metadata: { n } })
    await metrics.recordMetric({ executionId, metricName: 'm', metricValue: n, metadata: { n } })
    await executions.update(executionId, { status: 'completed', actualDuration: n % 1000 })
    await executions.findByExecutionId(executionId)
    await executions.delete(executionId)
  }
  return { cycle, close: () => db.close() }
}

/** The same cycle as a user would write it on better-sqlite3 (the schema migrated by the addon,
 * rows converted to the addon's shape: parsed JSON, Dates). */
async function betterCycles(dir) {
  const file = path.join(dir, 'bench.db')
  await (await require('..').WorkflowDatabase.connect({ type: 'sqlite', database: file })).close()
  const Database = require('better-sqlite3')
  const db = new Database(file)
  require('./common').plannedSchemaSqlite(db) // the planned schema, without the addon's rollups
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  db.pragma('foreign_keys = ON')
  const row = (r) => r && { ...r, metadata: JSON.parse(r.metadata), created_at: new Date(r.created_at), updated_at: new Date(r.updated_at) }
  const st = {
    create: db.prepare(`INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, metadata, created_at, updated_at) VALUES (?, ?, ?, ?, ?, ?) RETURNING *`),
    metric: db.prepare(`INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_type, metadata, recorded_at) VALUES (?, ?, ?, 'performance', ?, ?) RETURNING *`),
    update: db.prepare(`UPDATE workflow_executions SET status = ?, actual_duration = ?, updated_at = ? WHERE execution_id = ? RETURNING *`),
    find: db.prepare(`SELECT * FROM workflow_executions WHERE execution_id = ?`),
    deleteMetrics: db.prepare(`DELETE FROM workflow_metrics WHERE execution_id = ?`),
    delete: db.prepare(`DELETE FROM workflow_executions WHERE execution_id = ?`),
  }
  const remove = db.transaction((id) => {
    st.deleteMetrics.run(id)
    return st.delete.run(id).changes > 0
  })
  const now = () => new Date().toISOString()
  const cycle = async (n) => {
    const executionId = `m_${n}`
    const t = now()
    await row(st.create.get(executionId, 'mem', 'Memory', JSON.stringify({ n }), t, t))
    await st.metric.get(executionId, 'm', n, JSON.stringify({ n }), now())
    await row(st.update.get('completed', n % 1000, now(), executionId))
    await row(st.find.get(executionId))
    await remove(executionId)
  }
  return { cycle, close: async () => db.close() }
}

async function child(impl) {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), `wfi-bench-memory-${impl}-`))
  const { cycle, close } = await (impl === 'addon' ? addonCycles : betterCycles)(dir)
  const samples = []
  const started = Date.now()
  let done = 0
  let next = 0
  let mark = OPS / 10
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next * 5 < OPS) {
        await cycle(next++)
        done += 5
        if (done >= mark) {
          samples.push(sample(done))
          mark += OPS / 10
        }
      }
    }),
  )
  await close()
  fs.rmSync(dir, { recursive: true, force: true })
  const growth = (key) => (samples[samples.length - 1][key] / samples[0][key] - 1) * 100
  return { impl, seconds: (Date.now() - started) / 1000, samples, growthPercent: growth('rssMiB'), nativeGrowthPercent: growth('nativeMiB'), heapUsedGrowthPercent: growth('heapUsedMiB') }
}

const FIXED_YOUNG_GENERATION = ['--min-semi-space-size=16', '--max-semi-space-size=16']

function main() {
  const plans = [
    { impl: 'addon', label: 'addon', flags: [] },
    { impl: 'better-sqlite3', label: 'better-sqlite3', flags: [] },
    { impl: 'addon', label: 'addon, fixed V8', flags: FIXED_YOUNG_GENERATION },
  ]
  const runs = plans.map(({ impl, label, flags }) => {
    const r = spawnSync(process.execPath, ['--expose-gc', ...flags, __filename, '--child', impl, '--ops', String(OPS)], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] })
    if (r.status !== 0) throw new Error(`memory run of ${label} failed (exit ${r.status})`)
    return { ...JSON.parse(r.stdout), impl: label }
  })
  console.log(`\nMemory: ${OPS} mixed operations each (SQLite file, ${IN_FLIGHT} in flight), gc before each sample; MiB.`)
  console.log('implementation     after ops      RSS   V8 reserved   V8 used   rest (native)')
  console.log('-'.repeat(78))
  for (const run of runs) {
    for (const s of run.samples) {
      console.log(`${run.impl.padEnd(16)} ${String(s.ops).padStart(11)} ${s.rssMiB.toFixed(1).padStart(8)} ${s.heapTotalMiB.toFixed(1).padStart(13)} ${s.heapUsedMiB.toFixed(1).padStart(9)} ${s.nativeMiB.toFixed(1).padStart(15)}`)
    }
  }
  for (const run of runs) {
    const [first, last] = [run.samples[0], run.samples[run.samples.length - 1]]
    console.log(`${run.impl}: ${run.seconds.toFixed(1)} s; from ${first.ops} to ${last.ops} ops RSS ${run.growthPercent.toFixed(1)} %, V8 used heap ${run.heapUsedGrowthPercent.toFixed(1)} %, native ${run.nativeGrowthPercent.toFixed(1)} %`)
  }
  console.log(`(addon, fixed V8: ${FIXED_YOUNG_GENERATION.join(' ')})`)
  const [ours, theirs, fixed] = runs
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ ...ours, baseline: theirs, fixedYoungGeneration: fixed }, null, 2))
}

if (arg('child')) {
  child(arg('child')).then(
    (r) => process.stdout.write(JSON.stringify(r)),
    (e) => {
      console.error(e)
      process.exit(1)
    },
  )
} else {
  main()
}
