'use strict'
// The statistics read from the rollups (migration 010), against a model of the rows: randomized
// writes, deletes (direct and by cascade), updates and cleanups, and time ranges that start on and
// inside UTC days, on every backend. Exact fields must equal the model's answer (which is the
// scan's answer while nothing was cleaned); percentiles must be within 1 % of percentile_cont.

const { addon, backends, cleanup, runNode } = require('./helpers')
const { mean, stddev } = require('./stats')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, WorkflowRepository } = addon

afterAll(cleanup)

const DAY = 86_400_000
const ACCURACY = 0.01

/** A small deterministic generator (mulberry32), so a failure can be replayed from its seed. */
function random(seed) {
  let a = seed >>> 0
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
  const int = (n) => Math.floor(next() * n)
  return { next, int, pick: (xs) => xs[int(xs.length)] }
}

const relClose = (got, want, rel, what) => {
  if (want === null || want === undefined) return expect([what, got]).toEqual([what, null])
  expect([what, Math.abs(got - want) <= rel * Math.abs(want) + 1e-9]).toEqual([what, true])
}

/** A percentile read from the rollups against percentile_cont of `xs`: within 1 % of each of the
 * two values it interpolates between (so of the result when they have the same sign). */
function percentileWithin(got, xs, p, what) {
  if (!xs.length) return expect([what, got]).toEqual([what, null])
  const s = [...xs].sort((a, b) => a - b)
  const pos = p * (s.length - 1)
  const [lo, hi] = [s[Math.floor(pos)], s[Math.ceil(pos)]]
  const want = lo + (hi - lo) * (pos - Math.floor(pos))
  const slack = ACCURACY * Math.max(Math.abs(lo), Math.abs(hi)) + 1e-9
  expect([what, Math.abs(got - want) <= slack]).toEqual([what, true])
}

const NAMES = ['duration', 'memory', 'queue_time']
const TYPES = ['performance', 'resource', null, 'quality']
const CATEGORIES = ['timing', 'host', null]

/** The model's rows that `filters` select (cleaned rows included: the rollups keep them). */
function select(model, f) {
  return model.filter(
    (m) =>
      (f.metricName === undefined || m.name === f.metricName) &&
      (f.metricType === undefined || m.type === f.metricType) &&
      (f.metricCategory === undefined || m.category === f.metricCategory) &&
      (f.timeRange === undefined || m.at >= f.since),
  )
}

/** What a `timeRange` bound means: exact, unless raw rows of its UTC day that `f` selects were
 * removed by a cleanup (kept by the rollups), then rounded down to the day. */
function since(model, f, t) {
  const day = Math.floor(t / DAY) * DAY
  const thinned = select(model, { ...f, timeRange: undefined }).some((m) => m.cleaned && m.at >= day && m.at < day + DAY)
  return thinned ? day : t
}

function checkAggregated(rows, model, f, label) {
  const groups = new Map()
  for (const m of select(model, f)) {
    const key = JSON.stringify([m.name, m.type, m.category])
    if (!groups.has(key)) groups.set(key, [])
    groups.get(key).push(m)
  }
  const order = (k) => {
    const [n, t, c] = JSON.parse(k)
    return [n, t === null ? '\uffff' : t, c === null ? '\uffff' : c]
  }
  const keys = [...groups.keys()].sort((a, b) => {
    const [x, y] = [order(a), order(b)]
    for (let i = 0; i < 3; i++) if (x[i] !== y[i]) return x[i] < y[i] ? -1 : 1
    return 0
  })
  expect([label, rows.map((r) => JSON.stringify([r.metric_name, r.metric_type, r.metric_category]))]).toEqual([label, keys])
  for (const row of rows) {
    const ms = groups.get(JSON.stringify([row.metric_name, row.metric_type, row.metric_category]))
    const xs = ms.map((m) => m.value).filter((v) => v !== null)
    const what = `${label} ${row.metric_name}/${row.metric_type}/${row.metric_category}`
    expect([what, row.count]).toEqual([what, ms.length])
    expect([what, row.min_value, row.max_value]).toEqual([what, xs.length ? Math.min(...xs) : null, xs.length ? Math.max(...xs) : null])
    relClose(row.average_value, mean(xs), 1e-9, `${what} average`)
    relClose(row.standard_deviation, stddev(xs), 1e-6, `${what} stddev`)
    for (const p of [0.5, 0.95, 0.99]) percentileWithin(row[`p${Math.round(p * 100)}_value`], xs, p, `${what} p${p}`)
  }
}

function checkStatistics(stats, model, f, label) {
  const ms = select(model, f)
  const xs = ms.map((m) => m.value).filter((v) => v !== null)
  const at = ms.map((m) => m.at)
  expect([label, stats.total_metrics, stats.unique_metric_names, stats.unique_metric_types]).toEqual([
    label,
    ms.length,
    new Set(ms.map((m) => m.name)).size,
    new Set(ms.map((m) => m.type).filter((t) => t !== null)).size,
  ])
  // unique_executions, like the rest, counts the rows a cleanup removed (their ids stay in the
  // sketches); below 1,024 ids a sketch is a set of hashes, so the count is exact here.
  const ids = new Set(ms.map((m) => m.executionId).filter((id) => id !== null))
  expect([label, stats.unique_executions]).toEqual([label, ids.size])
  expect([label, stats.min_metric_value, stats.max_metric_value]).toEqual([label, xs.length ? Math.min(...xs) : null, xs.length ? Math.max(...xs) : null])
  expect([label, stats.earliest_metric && stats.earliest_metric.getTime(), stats.latest_metric && stats.latest_metric.getTime()]).toEqual([
    label,
    at.length ? Math.min(...at) : null,
    at.length ? Math.max(...at) : null,
  ])
  relClose(stats.average_metric_value, mean(xs), 1e-9, `${label} average`)
  relClose(stats.standard_deviation, stddev(xs), 1e-6, `${label} stddev`)
  for (const p of [0.5, 0.95, 0.99]) percentileWithin(stats[`p${Math.round(p * 100)}_metric_value`], xs, p, `${label} p${p}`)
}

function checkExecutions(stats, executions, f, label) {
  const es = executions.filter((e) => (f.workflowId === undefined || e.workflowId === f.workflowId) && (f.status === undefined || e.status === f.status))
  const ds = es.map((e) => e.duration).filter((d) => d !== null)
  const est = es.map((e) => e.estimate).filter((d) => d !== null)
  const count = (s) => es.filter((e) => e.status === s).length
  expect([label, stats.total_executions, stats.completed_executions, stats.failed_executions, stats.running_executions, stats.pending_executions, stats.cancelled_executions]).toEqual([
    label,
    es.length,
    count('completed'),
    count('failed'),
    count('running'),
    count('pending'),
    count('cancelled'),
  ])
  expect([label, stats.min_duration, stats.max_duration]).toEqual([label, ds.length ? Math.min(...ds) : null, ds.length ? Math.max(...ds) : null])
  relClose(stats.average_duration, mean(ds), 1e-9, `${label} average`)
  relClose(stats.average_estimated_duration, mean(est), 1e-9, `${label} estimate`)
  for (const p of [0.5, 0.95, 0.99]) percentileWithin(stats[`p${Math.round(p * 100)}_duration`], ds, p, `${label} p${p}`)
}

const STATUSES = ['pending', 'running', 'completed', 'failed', 'cancelled']

describe.each(backends())('%s', (name, freshConfig) => {
  test.each([1, 2, 3, 4, 5, 6])('random writes, deletes, updates and cleanups keep every statistic exact (seed %i)', async (seed) => {
    const db = await WorkflowDatabase.connect(freshConfig())
    try {
      const executionsRepo = new WorkflowExecutionRepository(db)
      const metricsRepo = new WorkflowMetricsRepository(db)
      const rnd = random(seed * 7919 + name.length)
      const now = Date.now()
      const executions = [] // {id, workflowId, status, duration, estimate, cleaned}
      const model = [] // {executionId, name, type, category, value, at, cleaned}
      let next = 0
      const value = () => {
        const r = rnd.next()
        if (r < 0.05) return null
        if (r < 0.1) return 0
        if (r < 0.2) return -Math.round(rnd.next() * 5000) / 10
        return Math.round(Math.exp(rnd.next() * 12) * 100) / 100
      }
      for (let step = 0; step < 90; step++) {
        const op = rnd.next()
        if (op < 0.25) {
          const id = `e${seed}_${next++}`
          const e = { id, workflowId: rnd.pick(['w1', 'w2', 'w3']), status: rnd.pick(STATUSES), duration: rnd.next() < 0.3 ? null : rnd.int(100000), estimate: rnd.next() < 0.5 ? null : rnd.int(50000) }
          await executionsRepo.create({ executionId: id, workflowId: e.workflowId, workflowName: 'W', status: e.status, actualDuration: e.duration, estimatedDuration: e.estimate })
          executions.push(e)
        } else if (op < 0.55) {
          const batch = []
          for (let i = 0, n = 1 + rnd.int(25); i < n; i++) {
            const live = executions.filter((e) => !e.cleaned && !e.deleted)
            const stamp = rnd.next() < 0.15 // epoch milliseconds, a metric of their own: the shift keeps them exact
            const m = {
              executionId: live.length && rnd.next() < 0.8 ? rnd.pick(live).id : null,
              name: stamp ? 'started_at' : rnd.pick(NAMES),
              type: rnd.pick(TYPES) ?? 'performance', // a missing type is 'performance', as planned
              category: rnd.pick(CATEGORIES),
              value: stamp ? now + rnd.int(100000) : value(),
              // Within the last 12 days, some 40+ days old, at any millisecond of a day.
              at: rnd.next() < 0.1 ? now - 40 * DAY - rnd.int(5 * DAY) : now - rnd.int(12 * DAY),
              cleaned: false,
            }
            batch.push({ executionId: m.executionId, metricName: m.name, metricType: m.type, metricCategory: m.category, metricValue: m.value, recordedAt: new Date(m.at) })
            model.push(m)
          }
          if (batch.length === 1 && rnd.next() < 0.5) await metricsRepo.recordMetric(batch[0])
          else await metricsRepo.recordMetrics(batch)
        } else if (op < 0.65) {
          const live = executions.filter((e) => !e.cleaned && !e.deleted)
          if (!live.length) continue
          const e = rnd.pick(live)
          e.status = rnd.pick(STATUSES)
          e.duration = rnd.next() < 0.2 ? null : rnd.int(100000)
          await executionsRepo.update(e.id, { status: e.status, actualDuration: e.duration })
        } else if (op < 0.72) {
          const live = executions.filter((e) => !e.cleaned && !e.deleted)
          if (!live.length) continue
          const e = rnd.pick(live)
          await metricsRepo.deleteMetricsForExecution(e.id)
          for (let i = model.length - 1; i >= 0; i--) if (model[i].executionId === e.id && !model[i].cleaned) model.splice(i, 1)
        } else if (op < 0.78) {
          const live = executions.filter((e) => !e.cleaned && !e.deleted)
          if (!live.length) continue
          const e = rnd.pick(live)
          await executionsRepo.delete(e.id) // its metrics go by cascade
          e.deleted = true
          executions.splice(executions.indexOf(e), 1)
          for (let i = model.length - 1; i >= 0; i--) if (model[i].executionId === e.id && !model[i].cleaned) model.splice(i, 1)
        } else if (op < 0.84) {
          const days = rnd.pick([5, 8, 30, 41])
          const removed = await metricsRepo.cleanupOldMetrics(days)
          const cutoff = Date.now() - days * DAY
          const gone = model.filter((m) => !m.cleaned && m.at < cutoff)
          expect(removed).toBe(gone.length)
          for (const m of gone) m.cleaned = true
        } else if (op < 0.87) {
          // Finished executions go, with their metrics; the rollups keep both.
          await new Promise((r) => setTimeout(r, 2))
          await executionsRepo.cleanupOldExecutions(0)
          for (const e of executions) {
            if (['completed', 'failed', 'cancelled'].includes(e.status) && !e.cleaned) {
              e.cleaned = true
              for (const m of model) if (m.executionId === e.id) m.cleaned = true
            }
          }
        } else {
          // Statistics in the middle of the run, with random filters and time bounds.
          const f = {}
          if (rnd.next() < 0.4) f.metricName = rnd.pick(NAMES)
          if (rnd.next() < 0.3) f.metricType = rnd.pick(TYPES.filter(Boolean))
          if (rnd.next() < 0.2) f.metricCategory = rnd.pick(CATEGORIES.filter(Boolean))
          if (rnd.next() < 0.6) {
            const day = Math.floor((now - rnd.int(14 * DAY)) / DAY) * DAY
            const t = rnd.next() < 0.3 ? day : day + rnd.int(DAY)
            f.timeRange = new Date(t)
            f.t = t
            f.since = since(model, f, t)
          }
          const { since: _, t: __, ...filters } = f
          const label = `seed ${seed} step ${step} ${JSON.stringify(filters)}`
          checkAggregated(await metricsRepo.getAggregatedMetrics(filters), model, f, label)
          checkStatistics(await metricsRepo.getMetricsStatistics(filters), model, f, label)
          const ef = {}
          if (rnd.next() < 0.5) ef.workflowId = rnd.pick(['w1', 'w2', 'w3'])
          if (rnd.next() < 0.4) ef.status = rnd.pick(STATUSES)
          checkExecutions(await executionsRepo.getStatistics(ef), executions, ef, `${label} executions ${JSON.stringify(ef)}`)
        }
      }
      // At the end: everything, and the scan agrees while nothing was cleaned.
      checkAggregated(await metricsRepo.getAggregatedMetrics(), model, {}, `seed ${seed} end`)
      checkStatistics(await metricsRepo.getMetricsStatistics(), model, {}, `seed ${seed} end`)
      checkExecutions(await executionsRepo.getStatistics(), executions, {}, `seed ${seed} end executions`)
      if (!model.some((m) => m.cleaned)) {
        const scan = await metricsRepo.getMetricsStatistics({ exact: true })
        const rolled = await metricsRepo.getMetricsStatistics()
        expect({ ...rolled, p50_metric_value: 0, p95_metric_value: 0, p99_metric_value: 0, average_metric_value: 0, standard_deviation: 0 }).toEqual({
          ...scan,
          p50_metric_value: 0,
          p95_metric_value: 0,
          p99_metric_value: 0,
          average_metric_value: 0,
          standard_deviation: 0,
        })
      }
    } finally {
      await db.close()
    }
  }, 60000)

  test('rollupRetentionDays forgets the old days; keepRollups: false forgets what the cleanup removes', async () => {
    const db = await WorkflowDatabase.connect(freshConfig())
    try {
      const metricsRepo = new WorkflowMetricsRepository(db)
      const repo = new WorkflowRepository(new WorkflowExecutionRepository(db), metricsRepo)
      const now = Date.now()
      const rows = [
        { metricName: 'm', metricValue: 1, recordedAt: new Date(now - 100 * DAY) },
        { metricName: 'm', metricValue: 2, recordedAt: new Date(now - 50 * DAY) },
        { metricName: 'm', metricValue: 3, recordedAt: new Date(now - 1 * DAY) },
        { metricName: 'n', metricValue: 9, recordedAt: new Date(now - 60 * DAY) },
      ]
      await metricsRepo.recordMetrics(rows)
      await expect(repo.cleanupOldExecutions(30, { rollupRetentionDays: 10 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
      expect(await repo.cleanupOldExecutions(30)).toBe(0)
      // The raw rows older than 30 days are gone, the statistics keep them.
      expect((await metricsRepo.getMetricsStatistics({ exact: true })).total_metrics).toBe(1)
      expect(await metricsRepo.getMetricsStatistics()).toMatchObject({ total_metrics: 4, min_metric_value: 1, max_metric_value: 9, unique_metric_names: 2 })
      await repo.cleanupOldExecutions(30, { rollupRetentionDays: 55 })
      const after = await metricsRepo.getMetricsStatistics()
      expect(after).toMatchObject({ total_metrics: 2, min_metric_value: 2, max_metric_value: 3, unique_metric_names: 1 })
      expect((await metricsRepo.getAggregatedMetrics()).map((r) => [r.metric_name, r.count, r.min_value])).toEqual([['m', 2, 2]])
      expect((await metricsRepo.getMetricsStatistics({ timeRange: new Date(now - 200 * DAY) })).total_metrics).toBe(2)
      await metricsRepo.recordMetric({ metricName: 'm', metricValue: 5, recordedAt: new Date(now - 40 * DAY) })
      await repo.cleanupOldExecutions(30, { keepRollups: false })
      expect(await metricsRepo.getMetricsStatistics()).toMatchObject({ total_metrics: 2, min_metric_value: 2, max_metric_value: 3 })
    } finally {
      await db.close()
    }
  })
})

describe.each(backends())('%s, distinct executions', (name, freshConfig) => {
  test('unique_executions beyond 1,024 ids comes from HyperLogLog registers, within 2.5 % (3 standard errors) of the scan; deletes and cleanups keep it so', async () => {
    const db = await WorkflowDatabase.connect(freshConfig())
    try {
      const repo = new WorkflowMetricsRepository(db)
      const now = Date.now()
      const rows = []
      for (let i = 0; i < 3000; i++) {
        // Two metrics per execution over five days, the odd ones a second type.
        for (const k of [0, 1]) rows.push({ executionId: null, metricName: 'm', metricType: i % 2 ? 'resource' : 'performance', metricValue: i + k, recordedAt: new Date(now - (i % 5) * DAY - k * 1000) })
      }
      // Executions exist for the foreign key; the metrics reference them.
      const executions = new WorkflowExecutionRepository(db)
      for (let i = 0; i < 3000; i += 500) await Promise.all(Array.from({ length: 500 }, (_, j) => executions.create({ executionId: `d${i + j}`, workflowId: 'w', workflowName: 'W' })))
      rows.forEach((r, n) => (r.executionId = `d${Math.floor(n / 2)}`))
      await repo.recordMetrics(rows)
      const within = async (filters, want) => {
        const [sketched, scanned] = [await repo.getMetricsStatistics(filters), await repo.getMetricsStatistics({ ...filters, exact: true })]
        expect(scanned.unique_executions).toBe(want)
        const error = Math.abs(sketched.unique_executions - want) / want
        expect([JSON.stringify(filters), error < 0.025]).toEqual([JSON.stringify(filters), true])
      }
      await within({}, 3000)
      await within({ metricType: 'resource' }, 1500)
      await within({ timeRange: new Date(now - 2.5 * DAY) }, 1800)
      // Deletes rebuild the sketches they touch from the rows left. (Mid-range values: a delete of
      // a key's extreme recomputes it from the rows, which would only slow the test.)
      await Promise.all(Array.from({ length: 600 }, (_, i) => repo.deleteMetricsForExecution(`d${1000 + i}`)))
      await within({}, 2400)
      // A cleanup keeps counting what it removes (the rollups' rule); a delete after it rebuilds
      // from the rows left and the ids it kept.
      await repo.cleanupOldMetrics(3)
      await Promise.all(Array.from({ length: 100 }, (_, i) => repo.deleteMetricsForExecution(`d${1600 + i}`)))
      // d1600–d1699 had rows older than 3 days (cleaned, still counted) when i % 5 >= 3: 40 of
      // them stay. (A scan counts the raw rows left, without the cleaned ones.)
      const left = (await repo.getMetricsStatistics()).unique_executions
      expect(Math.abs(left - 2340) / 2340).toBeLessThan(0.025)
    } finally {
      await db.close()
    }
  }, 60000)
})

describe.each(backends().filter(([name]) => name !== 'memory'))('%s backfill', (name, freshConfig) => {
  test('rows written before the rollups existed are backfilled a day at a time, resumably', async () => {
    const config = freshConfig()
    let db = await WorkflowDatabase.connect(config)
    const metricsRepo = new WorkflowMetricsRepository(db)
    const now = Date.now()
    const rows = []
    for (let i = 0; i < 300; i++) rows.push({ metricName: `m${i % 3}`, metricType: i % 2 ? 'performance' : null, metricValue: (i * 37) % 101, recordedAt: new Date(now - (i % 6) * DAY - i * 1000) })
    await metricsRepo.recordMetrics(rows)
    const expected = await metricsRepo.getAggregatedMetrics({ exact: true })
    // Forget the rollups, as a database migrated before they existed: every statistic scans.
    await db.close()
    const sql = [
      'DELETE FROM workflow_metric_rollups',
      'DELETE FROM workflow_metric_bins',
      `UPDATE workflow_rollup_backfill SET done = FALSE, next_day = ${Math.floor((now - 6 * DAY) / DAY) - 1}, last_day = ${Math.floor(now / DAY)}`,
    ]
    const { execFileSync } = require('node:child_process')
    if (name === 'postgresql') {
      const u = new URL(config.url)
      for (const s of sql) execFileSync('psql', ['-h', u.hostname, '-p', u.port, '-U', u.username, '-d', u.pathname.slice(1), '-qc', s])
    } else {
      execFileSync('sqlite3', [config.database, sql.join(';\n')])
    }
    db = await WorkflowDatabase.connect(config)
    const repo = new WorkflowMetricsRepository(db)
    // Until the backfill ends the statistics scan: still exact.
    expect(await repo.getAggregatedMetrics()).toEqual(expected)
    const first = await db.backfillRollups({ maxDays: 3 })
    expect(first).toMatchObject({ done: false })
    expect(first.daysLeft).toBeGreaterThan(0)
    // Interrupted here: a new connection carries on where the last committed day left it.
    await db.close()
    db = await WorkflowDatabase.connect(config)
    const second = await db.backfillRollups({ maxDays: 1 })
    expect(second.nextDay.getTime()).toBeGreaterThan(first.nextDay.getTime())
    await db.migrate() // finishes it
    expect((await db.backfillRollups()).done).toBe(true)
    const rolled = await new WorkflowMetricsRepository(db).getAggregatedMetrics()
    const APPROXIMATE = ['p50_value', 'p95_value', 'p99_value', 'average_value', 'standard_deviation']
    const strip = (rs) => rs.map((r) => Object.fromEntries(Object.entries(r).filter(([k]) => !APPROXIMATE.includes(k))))
    expect(strip(rolled)).toEqual(strip(expected))
    for (let i = 0; i < rolled.length; i++) {
      relClose(rolled[i].average_value, expected[i].average_value, 1e-9, 'average')
      relClose(rolled[i].p95_value, expected[i].p95_value, ACCURACY, 'p95')
    }
    await expect(db.backfillRollups({ maxDays: -1 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    await expect(db.backfillRollups({ days: 1 })).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    await db.close()
  }, 60000)
})

describe.each(backends().filter(([name]) => name !== 'memory'))('%s, two processes', (name, freshConfig) => {
  test('concurrent writers in two processes keep the rollups exact', async () => {
    const config = freshConfig()
    const db = await WorkflowDatabase.connect(config)
    const script = (who) => `
      const { WorkflowDatabase, WorkflowMetricsRepository, WorkflowExecutionRepository } = require('.')
      ;(async () => {
        const db = await WorkflowDatabase.connect(${JSON.stringify(config)})
        const metrics = new WorkflowMetricsRepository(db)
        const executions = new WorkflowExecutionRepository(db)
        const work = []
        for (let i = 0; i < 40; i++) {
          work.push(executions.create({ executionId: '${who}' + i, workflowId: 'w', workflowName: 'W', status: 'running', actualDuration: i * 10 }))
          work.push(metrics.recordMetrics([{ metricName: 'shared', metricValue: i }, { metricName: 'shared', metricValue: -i, metricType: 'resource' }]))
        }
        await Promise.all(work)
        for (let i = 0; i < 40; i += 2) work.push(executions.update('${who}' + i, { status: 'completed', actualDuration: 1000 + i }))
        await Promise.all(work)
        await db.close()
      })().catch((e) => { console.error(e); process.exit(1) })`
    const runs = await Promise.all(['a', 'b'].map((who) => runNode(script(who), { timeoutMs: 60000 })))
    expect(runs.map((r) => [r.code, r.stderr])).toEqual([
      [0, ''],
      [0, ''],
    ])
    const metrics = new WorkflowMetricsRepository(db)
    const executions = new WorkflowExecutionRepository(db)
    const scan = await metrics.getAggregatedMetrics({ exact: true })
    const rolled = await metrics.getAggregatedMetrics()
    expect(rolled.map((r) => [r.metric_name, r.metric_type, r.count, r.min_value, r.max_value])).toEqual(scan.map((r) => [r.metric_name, r.metric_type, r.count, r.min_value, r.max_value]))
    expect(rolled.map((r) => r.count)).toEqual([80, 80])
    const stats = await executions.getStatistics()
    const exact = await executions.getStatistics({ exact: true })
    expect(stats).toMatchObject({ total_executions: 80, completed_executions: 40, running_executions: 40, min_duration: exact.min_duration, max_duration: exact.max_duration })
    relClose(stats.average_duration, exact.average_duration, 1e-9, 'average')
    await db.close()
  }, 90000)
})

describe.each(backends().filter(([name]) => name === 'postgresql'))('%s, pending changes', (name, freshConfig) => {
  test('a write waits in the pending tables; a read folds it in, a read-only one scans while changes are pending, an idle process folds about once a second (and vacuums the pending tables after a bulk load), and a closing one folds', async () => {
    const config = freshConfig()
    const { execFileSync } = require('node:child_process')
    const u = new URL(config.url)
    const psql = (s) => execFileSync('psql', ['-h', u.hostname, '-p', u.port, '-U', u.username, '-d', u.pathname.slice(1), '-Atqc', s]).toString().trim()
    const pending = () => psql('SELECT (SELECT count(*) FROM workflow_metric_pending) + (SELECT count(*) FROM workflow_execution_pending)')
    const write = (value) =>
      psql(
        `INSERT INTO workflow_metrics (metric_name, metric_value) VALUES ('m', ${value}), ('m', ${value + 1}); ` +
          `INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, status, actual_duration) VALUES ('e${value}', 'w', 'W', 'completed', ${value})`,
      )
    let db = await WorkflowDatabase.connect(config)
    await db.close()
    // Another client writes while no process of this package runs: the changes wait.
    write(10)
    expect(pending()).toBe('3')
    // A read-only connection cannot fold: while changes are pending, it scans (exactly).
    const readOnly = await WorkflowDatabase.connect({ ...config, readOnly: true })
    expect(await new WorkflowMetricsRepository(readOnly).getMetricsStatistics()).toMatchObject({ total_metrics: 2, min_metric_value: 10, max_metric_value: 11 })
    expect(await new WorkflowExecutionRepository(readOnly).getStatistics()).toMatchObject({ total_executions: 1, min_duration: 10 })
    expect(pending()).toBe('3')
    await readOnly.close()
    expect(pending()).toBe('3')
    // A read folds first: it sees every committed write.
    db = await WorkflowDatabase.connect(config)
    try {
      expect(await new WorkflowMetricsRepository(db).getMetricsStatistics()).toMatchObject({ total_metrics: 2, min_metric_value: 10, max_metric_value: 11 })
      expect(await new WorkflowExecutionRepository(db).getStatistics()).toMatchObject({ total_executions: 1, completed_executions: 1, min_duration: 10 })
      expect(pending()).toBe('0')
      // A process that only writes (here: stays idle) folds within about a second.
      write(20)
      const until = Date.now() + 10000
      while (pending() !== '0' && Date.now() < until) await new Promise((r) => setTimeout(r, 200))
      expect(pending()).toBe('0')
      expect(psql("SELECT row_count FROM workflow_metric_rollups WHERE day = -2147483648 AND metric_name = 'm'")).toBe('4')
      // A bulk load: folded, then the pending tables are vacuumed back to nothing (their size
      // is what every fold's first look walks through).
      psql("INSERT INTO workflow_metrics (metric_name, metric_value) SELECT 'bulk', g FROM generate_series(1, 200000) g")
      const size = () => Number(psql("SELECT pg_relation_size('workflow_metric_pending')"))
      expect(size()).toBeGreaterThan(8 << 20)
      const by = Date.now() + 20000
      while (size() > 0 && Date.now() < by) await new Promise((r) => setTimeout(r, 250))
      expect([pending(), size()]).toEqual(['0', 0])
      expect(await new WorkflowMetricsRepository(db).getAggregatedMetrics({ metricName: 'bulk' })).toMatchObject([{ count: 200000, min_value: 1, max_value: 200000 }])
    } finally {
      await db.close()
    }
    // A process that closes folds what is pending (its own writes or anyone's).
    write(30)
    db = await WorkflowDatabase.connect(config)
    await db.close()
    expect(pending()).toBe('0')
  }, 30000)
})
