'use strict'
const util = require('node:util')
const { addon, backends, cleanup } = require('./helpers')
const { mean, stddev, percentile } = require('./stats')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, HandlerRegistryRepository } = addon

afterAll(cleanup)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const close = (a, b, digits = 6) => expect(a).toBeCloseTo(b, digits)
/** A percentile read from the rollups: within their documented relative accuracy (1 %). */
const within = (got, exact) => expect(Math.abs(got - exact)).toBeLessThanOrEqual(0.01 * Math.abs(exact) + 1e-9)
const EXECUTION_KEYS = ['id', 'execution_id', 'workflow_id', 'workflow_name', 'workflow_version', 'task_id', 'user_id', 'status', 'strategy', 'priority', 'estimated_duration', 'actual_duration', 'start_time', 'end_time', 'result_data', 'error_data', 'metadata', 'created_at', 'updated_at']
const METRIC_KEYS = ['id', 'execution_id', 'metric_name', 'metric_value', 'metric_unit', 'metric_type', 'metric_category', 'metadata', 'recorded_at']
const HANDLER_KEYS = ['id', 'handler_type', 'handler_name', 'handler_class', 'handler_path', 'version', 'description', 'capabilities', 'configuration', 'dependencies', 'metadata', 'is_active', 'is_default', 'priority', 'registered_at', 'updated_at', 'last_used_at', 'usage_count', 'success_count', 'failure_count', 'average_execution_time']

async function rejectsWith(promise, code, pattern) {
  const err = await promise.then(
    (v) => {
      throw new Error(`expected a rejection with ${code}, got ${util.inspect(v)}`)
    },
    (e) => e,
  )
  expect(err.code).toBe(code)
  expect(err.message).toMatch(/^Failed to [^:]+: /)
  expect(err.message.match(/Failed to/g)).toHaveLength(1)
  if (pattern) expect(err.message).toMatch(pattern)
  return err
}

describe.each(backends())('%s', (name, freshConfig) => {
  let db, executions, metrics, handlers
  beforeEach(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    executions = new WorkflowExecutionRepository(db)
    metrics = new WorkflowMetricsRepository(db)
    handlers = new HandlerRegistryRepository(db)
  })
  afterEach(() => db.close())

  const exec = (over = {}) => executions.create({ workflowId: 'wf_a', workflowName: 'Workflow A', ...over })

  describe('WorkflowExecutionRepository', () => {
    test('create applies the planned defaults and resolves the row with typed values', async () => {
      const before = Date.now()
      const row = await executions.create({ workflowId: 'wf_a', workflowName: 'Workflow A' })
      expect(Object.keys(row)).toEqual(EXECUTION_KEYS)
      expect(row.execution_id).toMatch(/^exec_[0-9a-f-]{36}$/)
      expect(row.id).toMatch(/^[0-9a-f-]{36}$/)
      expect(row).toMatchObject({ workflow_version: '1.0.0', status: 'pending', priority: 1, metadata: {}, task_id: null, result_data: null })
      for (const k of ['start_time', 'created_at', 'updated_at']) {
        expect(util.types.isDate(row[k])).toBe(true)
        expect(row[k].getTime()).toBeGreaterThanOrEqual(before - 5)
      }
      expect(executions.tableName).toBe('workflow_executions')
      expect(executions.toSnakeCase('actualDuration')).toBe('actual_duration')
    })

    test('create keeps every field, rounds fractional milliseconds, takes text task ids', async () => {
      const start = new Date('2026-03-01T10:00:00.123Z')
      const row = await exec({
        executionId: 'e_full', workflowVersion: '2.1.0', taskId: 'task_pidea_1767225600000_ab12cd', userId: 'u1', status: 'completed',
        strategy: 'parallel', priority: 5, estimatedDuration: 1000.6, actualDuration: 999.4, startTime: start, endTime: '2026-03-01T10:00:01.123Z',
        resultData: { ok: true, files: ['a.js'] }, errorData: null, metadata: { nested: { deep: [1, 2, { x: 'y' }] } },
      })
      expect(row).toMatchObject({ execution_id: 'e_full', task_id: 'task_pidea_1767225600000_ab12cd', estimated_duration: 1001, actual_duration: 999, priority: 5 })
      expect(row.start_time.toISOString()).toBe('2026-03-01T10:00:00.123Z')
      expect(row.end_time.toISOString()).toBe('2026-03-01T10:00:01.123Z')
      expect(row.result_data).toEqual({ ok: true, files: ['a.js'] })
      expect(row.metadata).toEqual({ nested: { deep: [1, 2, { x: 'y' }] } })
      expect((await exec({ executionId: 'e_alias', estimatedTime: 5 })).estimated_duration).toBe(5)
    })

    test('bad input is refused with ERR_VALIDATION and nothing is written', async () => {
      const circular = { a: 1 }
      circular.self = circular
      const bad = [
        [undefined, /must be an object/],
        ['text', /must be an object/],
        [{ workflowId: 'w' }, /workflowName is required/],
        [{ workflowId: 'w', workflowName: 7 }, /workflowName must be a string/],
        [{ workflowId: 'w', workflowName: 'n', status: 'exploded' }, /status must be one of: pending, running/],
        [{ workflowId: 'w', workflowName: 'n', priority: Number.NaN }, /priority/],
        [{ workflowId: 'w', workflowName: 'n', priority: 1.5 }, /priority must be a whole number/],
        [{ workflowId: 'w', workflowName: 'n', actualDuration: Infinity }, /actualDuration/],
        [{ workflowId: 'w', workflowName: 'n', actualDuration: -1 }, /actualDuration/],
        [{ workflowId: 'x'.repeat(256), workflowName: 'n' }, /longer than 255/],
        [{ workflowId: 'w', workflowName: 'n', metadata: { f() {} } }, /function/],
        [{ workflowId: 'w', workflowName: 'n', metadata: { v: Number.NaN } }, /NaN/],
        [{ workflowId: 'w', workflowName: 'n', metadata: circular }, /circular/],
        [{ workflowId: 'w', workflowName: 'n', metadata: { big: 10n } }, /bigint/],
        [JSON.parse('{"workflowId":"w","workflowName":"n","__proto__":{"x":1}}'), /__proto__/],
        [{ workflowId: 'w', workflowName: 'n', startTime: new Date('nope') }, /startTime must be a Date from year 1 to 9999/],
        // The same on every backend (PostgreSQL refused these, SQLite kept them).
        [{ workflowId: 'w', workflowName: 'n', startTime: new Date(8.64e15) }, /startTime must be a Date from year 1 to 9999/],
        [{ workflowId: 'w', workflowName: 'n', endTime: '+010000-01-01T00:00:00Z' }, /endTime must be a Date/],
        [{ workflowId: 'w', workflowName: 'n', metadata: { note: 'a\u0000b' } }, /NUL character/],
        [{ workflowId: 'w', workflowName: 'n', metadata: { ['k\u0000']: 1 } }, /NUL character/],
        [{ workflowId: 'w', workflowName: 'n', metadata: { at: new Date(-8.64e15) } }, /outside years 1 to 9999/],
      ]
      for (const [input, pattern] of bad) await rejectsWith(executions.create(input), 'ERR_VALIDATION', pattern)
      expect(await executions.findAll()).toHaveLength(0)
    })

    test('a duplicate executionId is ERR_CONFLICT and the first row stays', async () => {
      await exec({ executionId: 'dup', workflowName: 'first' })
      await rejectsWith(exec({ executionId: 'dup', workflowName: 'second' }), 'ERR_CONFLICT')
      expect((await executions.findByExecutionId('dup')).workflow_name).toBe('first')
      expect(await executions.findAll()).toHaveLength(1)
    })

    test('findByExecutionId resolves the row or null', async () => {
      const row = await exec({ executionId: 'e1' })
      expect(await executions.findByExecutionId('e1')).toEqual(row)
      expect(await executions.findByExecutionId('missing')).toBeNull()
      await rejectsWith(executions.findByExecutionId(42), 'ERR_VALIDATION')
    })

    test('update sets allow-listed columns; missing → null; {} → current row', async () => {
      const row = await exec({ executionId: 'e1' })
      await sleep(5)
      const updated = await executions.update('e1', { status: 'failed', errorData: { error: 'boom' }, actual_duration: 12.7, endTime: new Date('2026-03-01T00:00:00Z') })
      expect(updated).toMatchObject({ status: 'failed', error_data: { error: 'boom' }, actual_duration: 13 })
      expect(updated.updated_at.getTime()).toBeGreaterThan(row.updated_at.getTime())
      expect(updated.created_at).toEqual(row.created_at)
      expect(await executions.update('missing', { status: 'running' })).toBeNull()
      expect(await executions.update('e1', {})).toEqual(updated)
      expect(await executions.update('e1', { metadata: { a: 1 }, userId: undefined })).toMatchObject({ metadata: { a: 1 }, user_id: null })
      // The same statement with a NULL, then a number, then a NULL again in one place.
      expect((await executions.update('e1', { priority: null, estimatedDuration: null })).priority).toBeNull()
      expect(await executions.update('e1', { priority: 4, estimatedDuration: 12.5 })).toMatchObject({ priority: 4, estimated_duration: 13 })
      expect((await executions.update('e1', { priority: null, estimatedDuration: 7 })).estimated_duration).toBe(7)
    })

    test('update refuses unknown keys and the D1 injection key, listing the allowed keys; nothing changes', async () => {
      const row = await exec({ executionId: 'e1' })
      const err = await rejectsWith(executions.update('e1', { "status = 'hacked', workflow_name": 'x' }), 'ERR_VALIDATION', /unknown key/)
      expect(err.message).toMatch(/allowed: .*workflowName.*status/)
      await rejectsWith(executions.update('e1', { executionId: 'other' }), 'ERR_VALIDATION', /unknown key 'executionId'/)
      await rejectsWith(executions.update('e1', { createdAt: new Date() }), 'ERR_VALIDATION')
      await rejectsWith(executions.update('e1', { status: 'hacked' }), 'ERR_VALIDATION')
      await rejectsWith(executions.update('e1', { workflowName: null }), 'ERR_VALIDATION')
      expect(await executions.findByExecutionId('e1')).toEqual(row)
    })

    test('finders filter, order newest first, page by limit/offset and by cursor', async () => {
      const made = []
      for (let i = 0; i < 7; i++) {
        made.push(await exec({ executionId: `e${i}`, workflowId: i % 2 ? 'wf_odd' : 'wf_even', userId: `u${i % 3}`, taskId: `task_${i % 2}`, status: i % 3 === 0 ? 'running' : 'completed' }))
        await sleep(2)
      }
      const ids = (rows) => rows.map((r) => r.execution_id)
      expect(ids(await executions.findByWorkflowId('wf_even'))).toEqual(['e6', 'e4', 'e2', 'e0'])
      expect(ids(await executions.findByWorkflowId('wf_even', { status: 'running' }))).toEqual(['e6', 'e0'])
      expect(ids(await executions.findByWorkflowId('wf_even', { limit: 2, offset: 1 }))).toEqual(['e4', 'e2'])
      expect(ids(await executions.findByTaskId('task_1'))).toEqual(['e5', 'e3', 'e1'])
      expect(ids(await executions.findByUserId('u0'))).toEqual(['e6', 'e3', 'e0'])
      expect(ids(await executions.findByUserId('u0', { status: 'completed' }))).toEqual([])
      expect(ids(await executions.findByUserId('u1', { status: 'completed' }))).toEqual(['e4', 'e1'])
      expect(ids(await executions.findByStatus('running'))).toEqual(['e6', 'e3', 'e0'])
      expect(ids(await executions.findByStatus('running', { workflowId: 'wf_odd' }))).toEqual(['e3'])
      expect(ids(await executions.findAll())).toEqual(['e6', 'e5', 'e4', 'e3', 'e2', 'e1', 'e0'])
      // Keyset pages cover everything once, in order.
      const seen = []
      let page = await executions.findAll({ limit: 3 })
      while (true) {
        seen.push(...ids(page))
        expect(Object.keys(page)).toEqual(page.map((_, i) => String(i))) // the cursor is not enumerable
        if (!page.nextCursor) break
        page = await executions.findAll({ limit: 3, after: page.nextCursor })
      }
      expect(seen).toEqual(['e6', 'e5', 'e4', 'e3', 'e2', 'e1', 'e0'])
      await rejectsWith(executions.findAll({ after: 'not-a-cursor' }), 'ERR_VALIDATION')
      await rejectsWith(executions.findByStatus('done'), 'ERR_VALIDATION')
      await rejectsWith(executions.findByWorkflowId('w', { limit: -1 }), 'ERR_VALIDATION')
      await rejectsWith(executions.findByWorkflowId('w', { sortBy: 'x' }), 'ERR_VALIDATION', /unknown key 'sortBy'/)
    })

    test('getStatistics matches the values computed from the rows', async () => {
      const durations = [120, 450.4, 800, 1000, 75, 3000, 20]
      const statuses = ['completed', 'completed', 'failed', 'completed', 'cancelled', 'failed', 'completed']
      for (let i = 0; i < durations.length; i++) {
        await exec({ executionId: `s${i}`, workflowId: i < 4 ? 'wf_a' : 'wf_b', userId: 'u', status: statuses[i], actualDuration: durations[i], estimatedDuration: 500 + i })
      }
      await exec({ executionId: 'p', status: 'pending' })
      await exec({ executionId: 'r', status: 'running', workflowId: 'wf_b' })
      const stats = await executions.getStatistics()
      const d = durations.map(Math.round)
      expect(stats).toMatchObject({ total_executions: 9, completed_executions: 4, failed_executions: 2, running_executions: 1, pending_executions: 1, cancelled_executions: 1, min_duration: 20, max_duration: 3000 })
      close(stats.average_duration, mean(d))
      for (const p of [0.5, 0.95, 0.99]) within(stats[`p${Math.round(p * 100)}_duration`], percentile(d, p))
      const scanned = await executions.getStatistics({ exact: true })
      for (const p of [0.5, 0.95, 0.99]) close(scanned[`p${Math.round(p * 100)}_duration`], percentile(d, p))
      expect({ ...scanned, p50_duration: 0, p95_duration: 0, p99_duration: 0 }).toEqual({ ...stats, p50_duration: 0, p95_duration: 0, p99_duration: 0 })
      close(stats.average_estimated_duration, mean([500, 501, 502, 503, 504, 505, 506]))
      for (const v of Object.values(stats)) expect(typeof v === 'number' || v === null).toBe(true)
      const a = await executions.getStatistics({ workflowId: 'wf_a', status: 'completed' })
      expect(a.total_executions).toBe(3)
      close(a.average_duration, mean([120, 450, 1000]))
      const none = await executions.getStatistics({ workflowId: 'nothing' })
      expect(none).toMatchObject({ total_executions: 0, completed_executions: 0, average_duration: null, p50_duration: null, min_duration: null })
      expect((await executions.getStatistics({ workflowId: '', userId: null })).total_executions).toBe(9) // falsy filters ignored
    })

    test('delete resolves true/false and takes the metrics and usage rows with it', async () => {
      await exec({ executionId: 'e1' })
      await handlers.registerHandler({ handlerType: 'h', handlerName: 'H' })
      await metrics.recordMetrics([{ executionId: 'e1', metricName: 'a', metricValue: 1 }, { executionId: 'e1', metricName: 'b', metricValue: 2 }])
      await handlers.recordHandlerUsage({ handlerType: 'h', executionId: 'e1', status: 'success', executionTime: 5 })
      expect(await executions.delete('e1')).toBe(true)
      expect(await executions.delete('e1')).toBe(false)
      expect(await metrics.getMetricsForExecution('e1')).toHaveLength(0)
      expect(await handlers.getHandlerUsageHistory('h')).toHaveLength(0)
    })

    test('cleanupOldExecutions removes finished executions older than daysOld, exactly', async () => {
      for (const [i, status] of ['completed', 'failed', 'cancelled', 'running', 'pending'].entries()) await exec({ executionId: `c${i}`, status })
      expect(await executions.cleanupOldExecutions()).toBe(0) // default 30 days
      expect(await executions.cleanupOldExecutions(30)).toBe(0)
      await sleep(5)
      expect(await executions.cleanupOldExecutions(0)).toBe(3)
      expect((await executions.findAll()).map((r) => r.status).sort()).toEqual(['pending', 'running'])
      for (const days of ["36500 days' OR 1=1 --", -1, 1.5, Number.NaN, '30']) {
        await rejectsWith(executions.cleanupOldExecutions(days), 'ERR_VALIDATION', /daysOld/)
      }
      expect(await executions.findAll()).toHaveLength(2)
    })
  })

  describe('WorkflowMetricsRepository', () => {
    test('recordMetric applies defaults; epoch-ms values fit; unknown executions are ERR_CONFLICT', async () => {
      await exec({ executionId: 'e1' })
      const now = Date.now()
      const row = await metrics.recordMetric({ executionId: 'e1', metricName: 'workflow_start_time', metricValue: now, metricUnit: 'timestamp' })
      expect(Object.keys(row)).toEqual(METRIC_KEYS)
      expect(row).toMatchObject({ execution_id: 'e1', metric_value: now, metric_type: 'performance', metadata: {}, metric_category: null })
      expect(util.types.isDate(row.recorded_at)).toBe(true)
      expect((await metrics.recordMetric({ metricName: 'free', metricValue: 1.25 })).execution_id).toBeNull()
      await rejectsWith(metrics.recordMetric({ executionId: 'nope', metricName: 'x', metricValue: 1 }), 'ERR_CONFLICT')
      await rejectsWith(metrics.recordMetric({ executionId: 'e1', metricValue: 1 }), 'ERR_VALIDATION', /metricName is required/)
      await rejectsWith(metrics.recordMetric({ executionId: 'e1', metricName: 'x', metricValue: '12' }), 'ERR_VALIDATION')
      await rejectsWith(metrics.recordMetric({ executionId: 'e1', metricName: 'x', metricValue: Infinity }), 'ERR_VALIDATION')
      expect(metrics.tableName).toBe('workflow_metrics')
    })

    test('metric values beyond 1e150 are refused; every value kept is answered by the statistics', async () => {
      await exec({ executionId: 'e1' })
      for (const metricValue of [1e200, -1e200, 1.7e308, -Number.MAX_VALUE]) {
        const err = await rejectsWith(metrics.recordMetric({ executionId: 'e1', metricName: 'huge', metricValue }), 'ERR_VALIDATION', /metricValue must be at most 1e150/)
        expect(err.message).not.toContain(String(metricValue))
        await rejectsWith(metrics.recordMetrics([{ executionId: 'e1', metricName: 'ok', metricValue: 1 }, { executionId: 'e1', metricName: 'huge', metricValue }]), 'ERR_VALIDATION')
      }
      expect((await metrics.getMetricsStatistics()).total_metrics).toBe(0)
      // The bound itself, the smallest subnormal, another subnormal and the smallest normal.
      const kept = [1e150, -1e150, 5e-324, 2.5e-310, 2.2250738585072014e-308, 0]
      for (const metricValue of kept) await metrics.recordMetric({ executionId: 'e1', metricName: 'edge', metricValue })
      const stats = await metrics.getMetricsStatistics({ executionId: 'e1' })
      expect(stats.total_metrics).toBe(kept.length)
      expect(stats.max_metric_value).toBe(1e150)
      expect(stats.min_metric_value).toBe(-1e150)
      close(stats.standard_deviation / stddev(kept), 1, 9)
      const [row] = await metrics.getAggregatedMetrics({ executionId: 'e1' })
      expect(row.count).toBe(kept.length)
      expect(Number.isFinite(row.standard_deviation)).toBe(true)
      const tiny = [...(await metrics.getMetricsForExecution('e1'))].map((r) => r.metric_value).filter((v) => v > 0 && v < 1e-300)
      expect(tiny.sort((a, b) => a - b)).toEqual([5e-324, 2.5e-310, 2.2250738585072014e-308])
    })

    test('recordMetrics writes a batch in one transaction: all or none', async () => {
      await exec({ executionId: 'e1' })
      // 250 rows: several merged INSERTs on SQLite; rows come back in the order sent.
      const batch = Array.from({ length: 250 }, (_, i) => ({ executionId: 'e1', metricName: `m${i % 5}`, metricValue: i, metadata: { i } }))
      const rows = await metrics.recordMetrics(batch)
      expect(rows.map((r) => r.metric_value)).toEqual(batch.map((m) => m.metricValue))
      expect(rows.map((r) => r.metadata)).toEqual(batch.map((m) => m.metadata))
      expect(new Set(rows.map((r) => r.id)).size).toBe(250)
      await rejectsWith(metrics.recordMetrics([{ executionId: 'e1', metricName: 'ok', metricValue: 1 }, { executionId: 'e1', metricValue: 2 }]), 'ERR_VALIDATION')
      await rejectsWith(metrics.recordMetrics([{ executionId: 'e1', metricName: 'ok', metricValue: 1 }, { executionId: 'missing', metricName: 'fk', metricValue: 2 }]), 'ERR_CONFLICT')
      // A bad row in the last of several merged INSERTs undoes the ones before it.
      const late = [...batch.slice(0, 230), { executionId: 'missing', metricName: 'fk', metricValue: 0 }]
      await rejectsWith(metrics.recordMetrics(late), 'ERR_CONFLICT')
      // The same while other writes share its transaction: they land, it does not.
      const [bad, ...singles] = await Promise.allSettled([metrics.recordMetrics(late), ...Array.from({ length: 8 }, (_, i) => metrics.recordMetric({ executionId: 'e1', metricName: 'single', metricValue: i }))])
      expect(bad.status).toBe('rejected')
      expect(singles.every((s) => s.status === 'fulfilled')).toBe(true)
      await rejectsWith(metrics.recordMetrics({ not: 'an array' }), 'ERR_VALIDATION')
      expect((await metrics.getMetricsStatistics()).total_metrics).toBe(258)
      expect(await metrics.recordMetrics([])).toEqual([])
    })

    test('listing by execution, type and name: filters, order, limit/offset and cursor', async () => {
      await exec({ executionId: 'e1' })
      await exec({ executionId: 'e2' })
      const base = Date.parse('2026-05-01T00:00:00Z')
      const input = []
      for (let i = 0; i < 12; i++) {
        input.push({ executionId: i % 2 ? 'e2' : 'e1', metricName: i % 3 ? 'duration' : 'memory', metricValue: i, metricType: i % 3 ? 'performance' : 'resource', metricCategory: i % 4 ? 'timing' : 'other', recordedAt: new Date(base + i * 1000) })
      }
      await metrics.recordMetrics(input)
      const values = (rows) => rows.map((r) => r.metric_value)
      expect(values(await metrics.getMetricsForExecution('e1'))).toEqual([10, 8, 6, 4, 2, 0])
      expect(values(await metrics.getMetricsForExecution('e1', { metricType: 'resource' }))).toEqual([6, 0])
      expect(values(await metrics.getMetricsForExecution('e1', { metricCategory: 'other', limit: 1 }))).toEqual([8])
      expect(values(await metrics.getMetricsByType('performance', { executionId: 'e2', limit: 2, offset: 1 }))).toEqual([7, 5])
      expect(values(await metrics.getMetricsByName('memory'))).toEqual([9, 6, 3, 0])
      const first = await metrics.getMetricsByName('duration', { limit: 5 })
      const second = await metrics.getMetricsByName('duration', { limit: 5, after: first.nextCursor })
      expect([...values(first), ...values(second)]).toEqual([11, 10, 8, 7, 5, 4, 2, 1])
      expect(second.nextCursor).toBeNull()
    })

    test('getAggregatedMetrics and getMetricsStatistics match the values computed from the rows', async () => {
      await exec({ executionId: 'e1' })
      await exec({ executionId: 'e2' })
      const groups = { 'cpu|resource|host': [12.5, 40, 33.3, 99, 0.5, 71], 'duration|performance|timing': [1200, 3400, 560, 980, 15000], 'ts|performance|timing': [Date.now(), Date.now() + 17, Date.now() + 1000] }
      const input = []
      for (const [key, xs] of Object.entries(groups)) {
        const [metricName, metricType, metricCategory] = key.split('|')
        xs.forEach((metricValue, i) => input.push({ executionId: i % 2 ? 'e2' : 'e1', metricName, metricType, metricCategory, metricValue }))
      }
      await metrics.recordMetrics(input)
      const agg = await metrics.getAggregatedMetrics()
      expect(agg.map((r) => `${r.metric_name}|${r.metric_type}|${r.metric_category}`)).toEqual(Object.keys(groups).sort())
      for (const row of agg) {
        const xs = groups[`${row.metric_name}|${row.metric_type}|${row.metric_category}`]
        expect(row.count).toBe(xs.length)
        expect(row.min_value).toBe(Math.min(...xs))
        expect(row.max_value).toBe(Math.max(...xs))
        close(row.average_value / mean(xs), 1, 9)
        close(row.standard_deviation / stddev(xs), 1, 9)
        for (const p of [0.5, 0.95, 0.99]) within(row[`p${Math.round(p * 100)}_value`], percentile(xs, p))
      }
      for (const row of await metrics.getAggregatedMetrics({ exact: true })) {
        const xs = groups[`${row.metric_name}|${row.metric_type}|${row.metric_category}`]
        for (const p of [0.5, 0.95, 0.99]) close(row[`p${Math.round(p * 100)}_value`] / percentile(xs, p), 1, 9)
      }
      const cpuOnly = await metrics.getAggregatedMetrics({ metricName: 'cpu', executionId: 'e1' })
      expect(cpuOnly).toHaveLength(1)
      expect(cpuOnly[0].count).toBe(3)
      expect(await metrics.getAggregatedMetrics({ timeRange: new Date(Date.now() + 60_000) })).toEqual([])
      await rejectsWith(metrics.getAggregatedMetrics({ timeRange: '1 hour' }), 'ERR_VALIDATION', /timeRange/)

      const all = Object.values(groups).flat()
      const stats = await metrics.getMetricsStatistics()
      expect(stats).toMatchObject({ total_metrics: all.length, unique_executions: 2, unique_metric_names: 3, unique_metric_types: 2, min_metric_value: Math.min(...all), max_metric_value: Math.max(...all) })
      close(stats.average_metric_value / mean(all), 1, 9)
      within(stats.p50_metric_value, percentile(all, 0.5))
      close((await metrics.getMetricsStatistics({ exact: true })).p50_metric_value / percentile(all, 0.5), 1, 9)
      expect(util.types.isDate(stats.earliest_metric) && util.types.isDate(stats.latest_metric)).toBe(true)
      const single = await metrics.getMetricsStatistics({ executionId: 'e2', metricType: 'resource' })
      expect(single.total_metrics).toBe(3)
      const empty = await metrics.getMetricsStatistics({ executionId: 'none' })
      expect(empty).toMatchObject({ total_metrics: 0, average_metric_value: null, earliest_metric: null, standard_deviation: null })
    })

    test('deleteMetricsForExecution and cleanupOldMetrics resolve exact counts; D3 injection is refused', async () => {
      await exec({ executionId: 'e1' })
      const old = new Date(Date.now() - 40 * 86_400_000)
      await metrics.recordMetrics([
        { executionId: 'e1', metricName: 'a', metricValue: 1 },
        { executionId: 'e1', metricName: 'b', metricValue: 2 },
        { metricName: 'old1', metricValue: 3, recordedAt: old },
        { metricName: 'old2', metricValue: 4, recordedAt: old },
        { metricName: 'recent', metricValue: 5, recordedAt: new Date(Date.now() - 10 * 86_400_000) },
      ])
      await rejectsWith(metrics.cleanupOldMetrics("36500 days' OR 1=1 --"), 'ERR_VALIDATION')
      expect((await metrics.getMetricsStatistics()).total_metrics).toBe(5)
      expect(await metrics.cleanupOldMetrics()).toBe(2)
      expect(await metrics.cleanupOldMetrics(5)).toBe(1)
      expect(await metrics.deleteMetricsForExecution('e1')).toBe(2)
      expect(await metrics.deleteMetricsForExecution('e1')).toBe(0)
      // The rollups keep what the cleanup removed, not what was deleted; a scan sees neither.
      expect((await metrics.getMetricsStatistics()).total_metrics).toBe(3)
      expect((await metrics.getMetricsStatistics({ exact: true })).total_metrics).toBe(0)
    })
  })

  describe('HandlerRegistryRepository', () => {
    const handler = (over = {}) => handlers.registerHandler({ handlerType: 'analysis', handlerName: 'Analysis', ...over })

    test('registerHandler applies defaults; registering again updates it and keeps id, registration and counters', async () => {
      const row = await handler()
      expect(Object.keys(row)).toEqual(HANDLER_KEYS)
      expect(row).toMatchObject({ version: '1.0.0', capabilities: {}, configuration: {}, dependencies: [], metadata: {}, is_active: true, is_default: false, priority: 1, usage_count: 0, success_count: 0, failure_count: 0, average_execution_time: 0, last_used_at: null })
      await handlers.updateHandlerStatistics('analysis', { status: 'success', executionTime: 100 })
      await sleep(3)
      const again = await handler({ handlerName: 'Analysis v2', version: '2.0.0', isActive: false, priority: 0, capabilities: { langs: ['js'] } })
      expect(again).toMatchObject({ id: row.id, handler_name: 'Analysis v2', version: '2.0.0', is_active: false, priority: 0, capabilities: { langs: ['js'] }, usage_count: 1, success_count: 1, average_execution_time: 100 })
      expect(again.registered_at).toEqual(row.registered_at)
      expect(again.updated_at.getTime()).toBeGreaterThan(row.updated_at.getTime())
      expect(handlers.handlerTable).toBe('handler_registry')
      expect(handlers.usageTable).toBe('handler_usage_history')
      await rejectsWith(handlers.registerHandler({ handlerName: 'x' }), 'ERR_VALIDATION', /handlerType is required/)
      await rejectsWith(handlers.registerHandler({ handlerType: 'x', handlerName: 'x', isActive: 'yes' }), 'ERR_VALIDATION')
    })

    test('getHandlerByType and updateHandler (allow-list; missing → null; {} → current row)', async () => {
      const row = await handler()
      expect(await handlers.getHandlerByType('analysis')).toEqual(row)
      expect(await handlers.getHandlerByType('none')).toBeNull()
      const updated = await handlers.updateHandler('analysis', { description: 'd', isDefault: true, priority: 7, metadata: { a: 1 } })
      expect(updated).toMatchObject({ description: 'd', is_default: true, priority: 7, metadata: { a: 1 }, id: row.id })
      expect(await handlers.updateHandler('none', { priority: 1 })).toBeNull()
      expect(await handlers.updateHandler('analysis', {})).toEqual(updated)
      await rejectsWith(handlers.updateHandler('analysis', { "priority = 99, handler_name": 'x' }), 'ERR_VALIDATION', /unknown key.*allowed: handlerName/)
      await rejectsWith(handlers.updateHandler('analysis', { usageCount: 1000 }), 'ERR_VALIDATION', /unknown key 'usageCount'/)
      expect(await handlers.getHandlerByType('analysis')).toEqual(updated)
    })

    test('getAllHandlers / getActiveHandlers / getDefaultHandlers: order, paging, sortBy allow-list (D2)', async () => {
      await handler({ handlerType: 'b', handlerName: 'B', priority: 2 })
      await handler({ handlerType: 'a', handlerName: 'A', priority: 5, isDefault: true })
      await handler({ handlerType: 'c', handlerName: 'C', priority: 9, isActive: false, isDefault: true })
      await handler({ handlerType: 'd', handlerName: 'D', priority: 5, isDefault: true })
      const types = (rows) => rows.map((r) => r.handler_type)
      expect(types(await handlers.getAllHandlers())).toEqual(['a', 'b', 'c', 'd'])
      expect(types(await handlers.getAllHandlers({ sortBy: 'priority DESC' }))).toEqual(['c', 'a', 'd', 'b'])
      expect(types(await handlers.getAllHandlers({ sortBy: 'handlerName', limit: 2, offset: 1 }))).toEqual(['b', 'c'])
      expect(types(await handlers.getActiveHandlers())).toEqual(['a', 'd', 'b'])
      expect(types(await handlers.getActiveHandlers({ sortBy: 'priority' }))).toEqual(['b', 'a', 'd'])
      expect(types(await handlers.getDefaultHandlers())).toEqual(['a', 'd'])
      for (const sortBy of ['(SELECT CASE WHEN 1=1 THEN handler_type END)', 'handler_type; DROP TABLE handler_registry', 'priority DESC, (SELECT 1)', 'nope', 'priority SIDEWAYS']) {
        await rejectsWith(handlers.getAllHandlers({ sortBy }), 'ERR_VALIDATION', /sortBy/)
      }
      expect(await handlers.getAllHandlers()).toHaveLength(4)
    })

    test('every handler list pages by cursor to exactly the unpaged result (ties and NULLs included)', async () => {
      const priorities = [3, 7, 3, null, 7, 1, 3]
      for (const [i, priority] of priorities.entries()) {
        await handler({ handlerType: `h${i}`, handlerName: `H${6 - i}`, isDefault: i % 2 === 0, isActive: i !== 5 })
        if (priority === null) await handlers.updateHandler(`h${i}`, { priority: null })
        else await handlers.updateHandler(`h${i}`, { priority })
        await handlers.recordHandlerUsages(Array.from({ length: i % 4 }, (_, k) => ({ handlerType: `h${i}`, status: k % 2 ? 'failure' : 'success', executionTime: 10 * (k + 1) })))
      }
      const walk = async (list, options = {}) => {
        const seen = []
        let page = await list({ ...options, limit: 2 })
        for (let guard = 0; guard < 20; guard++) {
          seen.push(...page.map((r) => r.handler_type))
          if (!page.nextCursor) break
          page = await list({ ...options, limit: 2, after: page.nextCursor })
        }
        return seen
      }
      const types = (rows) => rows.map((r) => r.handler_type)
      for (const sortBy of ['priority DESC', 'priority', 'handlerName', 'last_used_at DESC', 'usageCount DESC']) {
        const all = types(await handlers.getAllHandlers({ sortBy }))
        expect(all).toHaveLength(7)
        expect(await walk((o) => handlers.getAllHandlers(o), { sortBy })).toEqual(all)
      }
      expect(types(await handlers.getAllHandlers({ sortBy: 'priority DESC' }))).toEqual(['h1', 'h4', 'h0', 'h2', 'h6', 'h5', 'h3'])
      expect(await walk((o) => handlers.getActiveHandlers(o))).toEqual(types(await handlers.getActiveHandlers()))
      expect(await walk((o) => handlers.getDefaultHandlers(o))).toEqual(['h4', 'h0', 'h2', 'h6'])
      const summary = types(await handlers.getHandlerPerformanceSummary())
      expect(summary).toHaveLength(7)
      expect(await walk((o) => handlers.getHandlerPerformanceSummary(o))).toEqual(summary)
      await rejectsWith(handlers.getHandlerPerformanceSummary({ after: (await handlers.getAllHandlers({ limit: 1 })).nextCursor }), 'ERR_VALIDATION', /another list/)
    })

    test('getBestHandler resolves the active handler of a type, or null', async () => {
      await handler()
      expect((await handlers.getBestHandler('analysis')).handler_type).toBe('analysis')
      await handlers.updateHandler('analysis', { isActive: false })
      expect(await handlers.getBestHandler('analysis')).toBeNull()
      expect(await handlers.getBestHandler('missing')).toBeNull()
    })

    test('updateHandlerStatistics counts runs with an exact running mean', async () => {
      await handler()
      const runs = [['success', 10], ['failure', 25.5], ['timeout', 40], ['success', undefined], ['error', 4.5]]
      let row
      for (const [status, executionTime] of runs) row = await handlers.updateHandlerStatistics('analysis', { status, executionTime })
      expect(row).toMatchObject({ usage_count: 5, success_count: 2, failure_count: 3 })
      expect(util.types.isDate(row.last_used_at)).toBe(true)
      // The exact mean of the timed runs; an untimed run is counted, but not in the mean.
      const timed = runs.map(([, t]) => t).filter((t) => t !== undefined)
      close(row.average_execution_time, timed.reduce((a, b) => a + b, 0) / timed.length)
      expect(await handlers.updateHandlerStatistics('missing', { status: 'success', executionTime: 1 })).toBeNull()
      await rejectsWith(handlers.updateHandlerStatistics('analysis', { executionTime: 5 }), 'ERR_VALIDATION', /status is required/)
      await rejectsWith(handlers.updateHandlerStatistics('analysis', { status: 'ok' }), 'ERR_VALIDATION')
      await rejectsWith(handlers.updateHandlerStatistics('analysis', { status: 'success', executionTime: -3 }), 'ERR_VALIDATION')
    })

    test('recordHandlerUsage writes the usage row and the counters in one transaction', async () => {
      await handler()
      await exec({ executionId: 'e1' })
      const usage = await handlers.recordHandlerUsage({ handlerType: 'analysis', executionId: 'e1', status: 'failure', executionTime: 33.4, errorMessage: 'boom', metadata: { step: 2 } })
      expect(usage).toMatchObject({ handler_type: 'analysis', execution_id: 'e1', status: 'failure', execution_time: 33, error_message: 'boom', metadata: { step: 2 } })
      expect(await handlers.getHandlerByType('analysis')).toMatchObject({ usage_count: 1, failure_count: 1, success_count: 0 })
      await rejectsWith(handlers.recordHandlerUsage({ handlerType: 'analysis', executionId: 'missing', status: 'success' }), 'ERR_CONFLICT')
      expect(await handlers.getHandlerByType('analysis')).toMatchObject({ usage_count: 1 }) // rolled back with the usage row
      const batch = await handlers.recordHandlerUsages([
        { handlerType: 'analysis', status: 'success', executionTime: 10 },
        { handlerType: 'analysis', status: 'success', executionTime: 20 },
      ])
      expect(batch.map((u) => u.execution_time)).toEqual([10, 20])
      expect(await handlers.getHandlerByType('analysis')).toMatchObject({ usage_count: 3, success_count: 2 })
      await rejectsWith(handlers.recordHandlerUsages([{ handlerType: 'analysis', status: 'success' }, { handlerType: 'analysis', status: 'bad' }]), 'ERR_VALIDATION')
      expect((await handlers.getHandlerUsageHistory('analysis')).length).toBe(3)
    })

    test('200 concurrent updateHandlerStatistics and recordHandlerUsage calls leave exact counters', async () => {
      await handler()
      const calls = []
      for (let i = 0; i < 200; i++) {
        calls.push(handlers.updateHandlerStatistics('analysis', { status: i % 4 ? 'success' : 'failure', executionTime: 10 }))
        calls.push(handlers.recordHandlerUsage({ handlerType: 'analysis', status: i % 5 ? 'success' : 'error', executionTime: 10 }))
      }
      await Promise.all(calls)
      const row = await handlers.getHandlerByType('analysis')
      expect(row).toMatchObject({ usage_count: 400, success_count: 150 + 160, failure_count: 50 + 40 })
      close(row.average_execution_time, 10)
      expect((await handlers.getHandlerUsageHistory('analysis', { limit: 1000 })).length).toBe(200)
    })

    test('a usage with an id counts once however often it is retried, alone or in a batch', async () => {
      await handler()
      const id = '0b5c2a8e-3f1d-4c6a-9e2b-7d4f1a6c8e01'
      const first = await handlers.recordHandlerUsage({ id, handlerType: 'analysis', status: 'success', executionTime: 10 })
      const retried = await handlers.recordHandlerUsage({ id, handlerType: 'analysis', status: 'success', executionTime: 10 })
      expect(retried).toEqual(first)
      expect(first.id).toBe(id)
      const batch = [
        { id: '0b5c2a8e-3f1d-4c6a-9e2b-7d4f1a6c8e02', handlerType: 'analysis', status: 'failure', executionTime: 20 },
        { handlerType: 'analysis', status: 'success', executionTime: 30 },
      ]
      const rows = await handlers.recordHandlerUsages(batch)
      expect(rows.map((r) => r.status)).toEqual(['failure', 'success'])
      const again = await handlers.recordHandlerUsages(batch.slice(0, 1))
      expect(again).toEqual(rows.slice(0, 1))
      expect(await handlers.getHandlerByType('analysis')).toMatchObject({ usage_count: 3, success_count: 2, failure_count: 1, average_execution_time: 20 })
      expect(await handlers.getHandlerUsageHistory('analysis')).toHaveLength(3)
      await rejectsWith(handlers.recordHandlerUsage({ id: 'not-a-uuid', handlerType: 'analysis', status: 'success' }), 'ERR_VALIDATION', /usage.id must be a UUID/)
    })

    test('the mean execution time is over the runs that had one: 10, (none), 40 is 25', async () => {
      await handler()
      await handlers.updateHandlerStatistics('analysis', { status: 'success', executionTime: 10 })
      await handlers.updateHandlerStatistics('analysis', { status: 'success' })
      await handlers.recordHandlerUsage({ handlerType: 'analysis', status: 'failure', executionTime: 40 })
      await handlers.recordHandlerUsage({ handlerType: 'analysis', status: 'timeout' })
      const row = await handlers.getHandlerByType('analysis')
      expect(row).toMatchObject({ usage_count: 4, success_count: 2, failure_count: 2, average_execution_time: 25 })
      expect(Object.keys(row)).toEqual(HANDLER_KEYS)
    })

    test('usage history pages by status and cursor; the performance summary computes success rates', async () => {
      await handler()
      await handler({ handlerType: 'other', handlerName: 'Other' })
      for (let i = 0; i < 6; i++) {
        await handlers.recordHandlerUsage({ handlerType: 'analysis', status: i < 4 ? 'success' : 'failure', executionTime: 100 * (i + 1) })
        await sleep(2)
      }
      const history = await handlers.getHandlerUsageHistory('analysis')
      expect(history.map((h) => h.execution_time)).toEqual([600, 500, 400, 300, 200, 100])
      expect((await handlers.getHandlerUsageHistory('analysis', { status: 'failure' })).map((h) => h.execution_time)).toEqual([600, 500])
      const p1 = await handlers.getHandlerUsageHistory('analysis', { limit: 4 })
      const p2 = await handlers.getHandlerUsageHistory('analysis', { limit: 4, after: p1.nextCursor })
      expect([...p1, ...p2].map((h) => h.execution_time)).toEqual([600, 500, 400, 300, 200, 100])
      const summary = await handlers.getHandlerPerformanceSummary()
      expect(summary.map((s) => s.handler_type)).toEqual(['analysis', 'other'])
      expect(summary[0]).toMatchObject({ usage_count: 6, success_count: 4, failure_count: 2, success_rate: 66.67, recent_usage_count: 6 })
      close(summary[0].recent_avg_execution_time, 350)
      expect(util.types.isDate(summary[0].last_used)).toBe(true)
      expect(summary[1]).toMatchObject({ success_rate: 0, recent_usage_count: 0, recent_avg_execution_time: null, last_used: null })
    })

    test('deleteHandler resolves true/false; cleanupOldUsageHistory resolves exact counts', async () => {
      await handler()
      await handlers.recordHandlerUsages([{ handlerType: 'analysis', status: 'success' }, { handlerType: 'analysis', status: 'success' }])
      expect(await handlers.cleanupOldUsageHistory()).toBe(0)
      await sleep(5)
      expect(await handlers.cleanupOldUsageHistory(0)).toBe(2)
      await rejectsWith(handlers.cleanupOldUsageHistory('1; DELETE FROM handler_registry'), 'ERR_VALIDATION')
      expect(await handlers.deleteHandler('analysis')).toBe(true)
      expect(await handlers.deleteHandler('analysis')).toBe(false)
    })
  })

  test('repositories reject with ERR_CLOSED after their database closed', async () => {
    const other = await WorkflowDatabase.connect(freshConfig())
    const repo = new WorkflowExecutionRepository(other)
    await other.close()
    await rejectsWith(repo.findAll(), 'ERR_CLOSED')
    await rejectsWith(repo.create({ workflowId: 'w', workflowName: 'n' }), 'ERR_CLOSED')
  })
})

describe('planned module names', () => {
  test('PostgreSQL… are the same classes; InMemory… construct on private in-memory databases', async () => {
    expect(addon.PostgreSQLWorkflowExecutionRepository).toBe(WorkflowExecutionRepository)
    expect(addon.PostgreSQLWorkflowMetricsRepository).toBe(WorkflowMetricsRepository)
    expect(addon.PostgreSQLHandlerRegistryRepository).toBe(HandlerRegistryRepository)
    const a = new addon.InMemoryWorkflowExecutionRepository()
    const b = new addon.InMemoryWorkflowExecutionRepository()
    await a.create({ executionId: 'x', workflowId: 'w', workflowName: 'n' })
    expect(await a.findByExecutionId('x')).not.toBeNull()
    expect(await b.findByExecutionId('x')).toBeNull()
    const m = new addon.InMemoryWorkflowMetricsRepository()
    expect((await m.recordMetric({ metricName: 'x', metricValue: 1 })).metric_value).toBe(1)
    const h = new addon.InMemoryHandlerRegistryRepository()
    expect((await h.registerHandler({ handlerType: 't', handlerName: 'T' })).usage_count).toBe(0)
  })
})

describe('the same calls give the same results on every backend', () => {
  // Ids and timestamps differ by nature: normalise them, keep everything else.
  function normalise(value) {
    if (util.types.isDate(value)) return '<date>'
    // PostgreSQL and SQLite aggregate floats in different orders: compare 12 significant digits.
    if (typeof value === 'number' && !Number.isInteger(value)) return Number(value.toPrecision(12))
    if (Array.isArray(value)) return value.map(normalise)
    if (value && typeof value === 'object') {
      const out = {}
      for (const [k, v] of Object.entries(value)) out[k] = k === 'id' || (k === 'execution_id' && v.startsWith('exec_')) ? '<id>' : normalise(v)
      return out
    }
    return value
  }

  async function script(config) {
    const db = await WorkflowDatabase.connect(config)
    const ex = new WorkflowExecutionRepository(db)
    const me = new WorkflowMetricsRepository(db)
    const hr = new HandlerRegistryRepository(db)
    const out = []
    const step = async (p) => out.push(normalise(await p.catch((e) => ({ code: e.code, message: e.message }))))
    try {
      await db.seed()
      await step(ex.findByWorkflowId('seed_wf_testing'))
      await step(ex.getStatistics())
      await step(ex.getStatistics({ workflowId: 'seed_wf_analysis' }))
      await step(ex.create({ executionId: 'x1', workflowId: 'w', workflowName: 'n', actualDuration: 10.5, metadata: { k: [1, 'two'] } }))
      await step(ex.update('x1', { status: 'completed', resultData: { ok: true } }))
      await step(ex.update('x1', { nope: 1 }))
      await step(ex.create({ executionId: 'x1', workflowId: 'w', workflowName: 'n' }))
      await step(me.recordMetrics([{ executionId: 'x1', metricName: 'a', metricValue: 3 }, { executionId: 'x1', metricName: 'a', metricValue: 9 }]))
      await step(me.getAggregatedMetrics())
      await step(me.getMetricsStatistics({ metricType: 'quality' }))
      await step(me.getMetricsByName('memory_usage', { limit: 3, offset: 2 }))
      await step(hr.getAllHandlers({ sortBy: 'priority DESC' }))
      await step(hr.getDefaultHandlers())
      await step(hr.getBestHandler('seed_testing_handler'))
      await step(hr.updateHandlerStatistics('seed_testing_handler', { status: 'failure', executionTime: 77 }))
      await step(hr.getHandlerUsageHistory('seed_analysis_handler', { status: 'success', limit: 3 }))
      await step(hr.getHandlerPerformanceSummary())
      await step(ex.delete('seed_exec_03'))
      await step(me.deleteMetricsForExecution('seed_exec_04'))
      await step(ex.cleanupOldExecutions(30))
      await step(me.cleanupOldMetrics(30))
      await step(hr.cleanupOldUsageHistory(30))
      await step(ex.findAll({ limit: 100 }))
    } finally {
      await db.close()
    }
    return out
  }

  test('seeded data, writes, statistics and errors agree across backends', async () => {
    const results = []
    for (const [name, freshConfig] of backends()) results.push([name, await script(freshConfig())])
    const [[firstName, first], ...rest] = results
    for (const [name, result] of rest) {
      result.forEach((step, i) => expect({ step: i, [name]: step }).toEqual({ step: i, [name]: first[i] }))
      expect(`${name} == ${firstName}`).toBeTruthy()
    }
  })
})
