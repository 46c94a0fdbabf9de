'use strict'
// Memory: RSS after --ops (1,000,000) mixed operations against RSS after the first 10 % of them,
// on an SQLite file (create, recordMetric, update, findByExecutionId, delete — the tables stay
// small, so growth would be the addon's own), 32 in flight.
//
//   npm run build && node --expose-gc bench/memory.js

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const addon = require('..')

const args = process.argv.slice(2)
const OPS = (() => {
  const i = args.indexOf('--ops')
  return i >= 0 ? Number(args[i + 1]) : 1000000
})()
const IN_FLIGHT = 32

async function main() {
  const dir = path.join(os.tmpdir(), `wfi-bench-memory-${process.pid}`)
  const db = await addon.WorkflowDatabase.connect({ type: 'sqlite', database: path.join(dir, 'bench.db') })
  const executions = new addon.WorkflowExecutionRepository(db)
  const metrics = new addon.WorkflowMetricsRepository(db)
  const rss = () => {
    if (global.gc) global.gc()
    return process.memoryUsage().rss / 2 ** 20
  }
  let done = 0
  const samples = []
  const started = Date.now()
  // One cycle is five operations.
  async function cycle(n) {
    const executionId = `m_${n}`
    await executions.create({ workflowId: 'mem', workflowName: 'Memory', executionId, metadata: { n } })
    await metrics.recordMetric({ executionId, metricName: 'm', metricValue: n, metadata: { n } })
    await executions.update(executionId, { status: 'completed', actualDuration: n % 1000 })
    await executions.findByExecutionId(executionId)
    await executions.delete(executionId)
    done += 5
  }
  let next = 0
  let mark = OPS / 10
  await Promise.all(
    Array.from({ length: IN_FLIGHT }, async () => {
      while (next * 5 < OPS) {
        await cycle(next++)
        if (done >= mark) {
          samples.push({ ops: done, rssMiB: rss() })
          mark += OPS / 10
        }
      }
    }),
  )
  await db.close()
  fs.rmSync(dir, { recursive: true, force: true })
  const first = samples[0]
  const last = samples[samples.length - 1]
  console.log(`\nMemory: ${done} mixed operations (SQLite file, ${IN_FLIGHT} in flight) in ${((Date.now() - started) / 1000).toFixed(1)} s${global.gc ? ', gc before each sample' : ''}.`)
  for (const s of samples) console.log(`  after ${String(s.ops).padStart(8)} ops: RSS ${s.rssMiB.toFixed(1)} MiB`)
  const growth = (last.rssMiB / first.rssMiB - 1) * 100
  console.log(`RSS growth from ${first.ops} to ${last.ops} ops: ${growth.toFixed(1)} %`)
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ samples, growthPercent: growth }, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
