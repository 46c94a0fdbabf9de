'use strict'
// Memory in flight: a child process makes `n` un-awaited writes (recordMetric) on the database
// at `url`, then awaits them all; its RSS growth over the burst, per call, is the memory a call
// in flight costs — the caller's promise and arguments included. Run by `npm run chaos`
// (100,000 writes), __test__/inflight.test.js (50,000) and bench/inflight.js (beside
// node-postgres' queue).

const { ADDON, node } = require('./lib')

/** The most RSS growth per call in flight the experiment accepts (KiB), JS side included. */
const BOUND_KIB = 4

/** Runs the burst in a child process; its figures: base and peak RSS, KiB per call, seconds. */
async function burst(url, n, { maxInFlight = n + 1000 } = {}) {
  const r = await node(
    `
    const w = require(${JSON.stringify(ADDON)})
    ;(async () => {
      const db = await w.WorkflowDatabase.connect({ url: ${JSON.stringify(url)}, maxInFlight: ${maxInFlight} })
      const metrics = new w.WorkflowMetricsRepository(db)
      for (let i = 0; i < 500; i++) await metrics.recordMetric({ metricName: 'warm', metricValue: i })
      global.gc()
      const base = process.memoryUsage().rss
      const started = process.hrtime.bigint()
      const calls = []
      for (let i = 0; i < ${n}; i++) calls.push(metrics.recordMetric({ metricName: 'burst', metricValue: i }))
      const settled = await Promise.allSettled(calls)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const peak = process.resourceUsage().maxRSS * 1024
      const refused = settled.filter((s) => s.status === 'rejected' && s.reason.code === 'ERR_OVERLOADED').length
      const failed = settled.filter((s) => s.status === 'rejected').length - refused
      const stored = (await metrics.getMetricsStatistics()).total_metrics - 500
      console.log(JSON.stringify({ baseMiB: base / 2 ** 20, peakMiB: peak / 2 ** 20, kibPerCall: (peak - base) / ${n} / 1024, seconds, refused, failed, stored }))
      await db.close()
    })().catch((e) => { console.error(e); process.exit(1) })`,
    { args: ['--expose-gc'] },
  )
  if (r.code !== 0) throw new Error(`the burst failed (exit ${r.code}): ${r.stderr.slice(0, 500)}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

/** The chaos experiment: `n` un-awaited writes stay within BOUND_KIB a call, every one stored. */
async function inFlightMemory(url, n) {
  const figures = await burst(url, n)
  const failures = []
  if (figures.kibPerCall > BOUND_KIB) failures.push(`${figures.kibPerCall.toFixed(2)} KiB per call in flight (bound ${BOUND_KIB})`)
  if (figures.failed || figures.refused) failures.push(`${figures.failed} calls failed, ${figures.refused} refused`)
  if (figures.stored !== n) failures.push(`${figures.stored} of ${n} writes stored`)
  return { name: `${n} un-awaited writes on PostgreSQL (memory in flight)`, figures, failures }
}

module.exports = { BOUND_KIB, burst, inFlightMemory }
