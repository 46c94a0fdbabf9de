'use strict'
// WorkflowRepository, WorkflowPersistenceService and WorkflowCacheService on every backend.
const util = require('node:util')
const { addon, backends, cleanup } = require('./helpers')
const { recorder } = require('./standins')

const {
  WorkflowDatabase,
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  HandlerRegistryRepository,
  WorkflowRepository,
  WorkflowPersistenceService,
  WorkflowCacheService,
} = addon

afterAll(cleanup)

async function rejectsWith(promise, code, prefix) {
  const err = await promise.then(
    (v) => {
      throw new Error(`expected a rejection with ${code}, got ${util.inspect(v)}`)
    },
    (e) => e,
  )
  expect(err.code).toBe(code)
  if (prefix) expect(err.message.startsWith(`${prefix}: `)).toBe(true)
  expect(err.message.match(/Failed to/g)).toHaveLength(1)
  return err
}

describe.each(backends())('%s', (name, freshConfig) => {
  let db, executions, metrics, handlers, repo, service
  beforeEach(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    executions = new WorkflowExecutionRepository(db)
    metrics = new WorkflowMetricsRepository(db)
    handlers = new HandlerRegistryRepository(db)
    repo = new WorkflowRepository(executions, metrics)
    service = new WorkflowPersistenceService(repo)
  })
  afterEach(() => db.close())

  const names = async (id) => (await metrics.getMetricsForExecution(id)).map((m) => m.metric_name).sort()

  describe('WorkflowRepository', () => {
    test('saveExecution writes the execution and its execution_started metric together', async () => {
      const row = await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1' })
      expect(row.execution_id).toBe('e1')
      const [m] = await metrics.getMetricsForExecution('e1')
      expect(m).toMatchObject({
        metric_name: 'execution_started', metric_value: 1, metric_unit: 'count', metric_type: 'performance',
        metric_category: 'execution_status', metadata: { status: 'started' },
      })
      // A conflicting save writes neither row.
      await rejectsWith(repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1' }), 'ERR_CONFLICT', 'Failed to save workflow execution')
      expect(await metrics.getMetricsForExecution('e1')).toHaveLength(1)
      // Bad input writes nothing.
      await rejectsWith(repo.saveExecution({ workflowId: 'wf' }), 'ERR_VALIDATION')
      expect(await executions.findAll()).toHaveLength(1)
    })

    test('updateExecution records the planned status metrics in the same transaction', async () => {
      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1' })
      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e2' })
      const done = await repo.updateExecution('e1', { status: 'completed', actualDuration: 1234.4 })
      expect(done).toMatchObject({ status: 'completed', actual_duration: 1234 })
      expect(await names('e1')).toEqual(['execution_completed', 'execution_duration', 'execution_started'])
      const duration = (await metrics.getMetricsForExecution('e1')).find((m) => m.metric_name === 'execution_duration')
      expect(duration).toMatchObject({ metric_value: 1234, metric_unit: 'milliseconds', metric_category: 'execution_time' })
      await repo.updateExecution('e2', { status: 'failed', errorData: { message: 'boom' } })
      const failed = (await metrics.getMetricsForExecution('e2')).find((m) => m.metric_name === 'execution_failed')
      expect(failed.metadata).toEqual({ status: 'failed', error: { message: 'boom' } })
      // Missing execution: null and no metric; an unknown key writes nothing.
      expect(await repo.updateExecution('nope', { status: 'failed' })).toBeNull()
      expect(await metrics.getMetricsStatistics({ executionId: 'nope' })).toMatchObject({ total_metrics: 0 })
      await rejectsWith(repo.updateExecution('e2', { status: 'completed', bogus: 1 }), 'ERR_VALIDATION')
      expect((await executions.findByExecutionId('e2')).status).toBe('failed')
    })

    test('reads pass through; getExecutionWithMetrics and getExecutionStatistics combine', async () => {
      const { lines, logger } = recorder()
      repo.setLogger(logger)
      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1', taskId: 't', userId: 'u' })
      await repo.recordExecutionMetrics('e1', { metricName: 'tokens', metricValue: 42 })
      const full = await repo.getExecutionWithMetrics('e1')
      expect(full.execution_id).toBe('e1')
      expect(full.metrics.map((m) => m.metric_name).sort()).toEqual(['execution_started', 'tokens'])
      expect(await repo.getExecutionWithMetrics('nope')).toBeNull()
      const stats = await repo.getExecutionStatistics({ workflowId: 'wf' })
      expect(stats.executions.total_executions).toBe(1)
      expect(stats.metrics.map((m) => m.metric_name).sort()).toEqual(['execution_started', 'tokens'])
      expect(await repo.findExecutionsByWorkflowId('wf')).toHaveLength(1)
      expect(await repo.findExecutionsByTaskId('t')).toHaveLength(1)
      expect(await repo.findExecutionsByUserId('u')).toHaveLength(1)
      expect(await repo.findExecutionsByStatus('pending')).toHaveLength(1)
      expect((await repo.getAggregatedMetrics({ metricName: 'tokens' }))[0].average_value).toBe(42)
      expect((await repo.getMetricsStatistics()).total_metrics).toBe(2)
      expect(lines.some((l) => l.level === 'info' && l.message === 'WorkflowRepository: Workflow execution saved')).toBe(true)
      expect(lines.some((l) => l.level === 'warn' && /not found/.test(l.message))).toBe(true)
    })

    test('deleteExecution removes the execution and its metrics; cleanup resolves the execution count', async () => {
      const { lines, logger } = recorder()
      repo.setLogger(logger)
      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1' })
      expect(await repo.deleteExecution('e1')).toBe(true)
      expect(await repo.deleteExecution('e1')).toBe(false)
      expect(await metrics.getMetricsForExecution('e1')).toHaveLength(0)
      for (const id of ['a', 'b', 'c']) {
        await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: id, status: id === 'c' ? 'running' : 'completed' })
      }
      await metrics.recordMetric({ metricName: 'loose', metricValue: 1 })
      await new Promise((r) => setTimeout(r, 5))
      expect(await repo.cleanupOldExecutions(0, { limit: 1 })).toBe(1)
      expect(await repo.cleanupOldExecutions(0)).toBe(1)
      expect(await repo.cleanupOldExecutions(0)).toBe(0)
      expect((await executions.findAll()).map((e) => e.execution_id)).toEqual(['c'])
      const counts = lines.filter((l) => /cleaned up/.test(l.message)).map((l) => l.meta)
      expect(counts[0]).toEqual({ deletedExecutions: 1, deletedMetrics: 1 })
      await rejectsWith(repo.cleanupOldExecutions(-1), 'ERR_VALIDATION', 'Failed to cleanup old executions')
    })
  })

  describe('WorkflowPersistenceService', () => {
    test('findWorkflowExecutions with no filter lists every execution, paged', async () => {
      for (let i = 0; i < 5; i++) await service.createWorkflowExecution({ workflowId: `wf${i % 2}`, workflowName: 'W', taskId: `t${i}` })
      expect(await service.findWorkflowExecutions({})).toHaveLength(5)
      expect(await service.findWorkflowExecutions()).toHaveLength(5)
      const page = await service.findWorkflowExecutions({}, { limit: 2 })
      expect(page).toHaveLength(2)
      const next = await service.findWorkflowExecutions({}, { limit: 2, after: page.nextCursor })
      expect(next.map((e) => e.id)).not.toContain(page[0].id)
      expect(await service.findWorkflowExecutions({ workflowId: 'wf0' })).toHaveLength(3)
      expect(await service.findWorkflowExecutions({ taskId: 't1' })).toHaveLength(1)
      expect(await service.findWorkflowExecutions({ status: 'pending' })).toHaveLength(5)
    })

    test('bulk create and update: one transaction, per-item results', async () => {
      const created = await service.bulkCreateWorkflowExecutions([
        { workflowId: 'wf', workflowName: 'W', executionId: 'b1' },
        { workflowId: 'wf', workflowName: 'W', executionId: 'b1' },
        { workflowId: 7 },
        { workflowId: 'wf', workflowName: 'W', executionId: 'b2' },
      ])
      expect(created.summary).toEqual({ total: 4, created: 2, failed: 2 })
      expect(created.created.map((r) => r.execution_id)).toEqual(['b1', 'b2'])
      expect(created.errors.map((e) => e.error)).toEqual([
        expect.stringMatching(/workflowId must be a string/),
        expect.stringMatching(/already exists/),
      ])
      expect(created.errors[1].executionData).toEqual({ workflowId: 'wf', workflowName: 'W', executionId: 'b1' })
      expect(await names('b2')).toEqual(['execution_started'])
      const updated = await service.bulkUpdateWorkflowExecutions([
        { executionId: 'b1', status: 'completed', actualDuration: 10 },
        { executionId: 'missing', status: 'running' },
        { executionId: 'b2', nope: true },
      ])
      expect(updated.summary).toEqual({ total: 3, updated: 1, failed: 2 })
      expect(updated.updated[0]).toMatchObject({ execution_id: 'b1', status: 'completed' })
      expect(await names('b1')).toEqual(['execution_completed', 'execution_duration', 'execution_started'])
      await rejectsWith(service.bulkCreateWorkflowExecutions({}), 'ERR_VALIDATION', 'Failed to bulk create workflow executions')
    })

    test('exportWorkflowData has the planned shape; errors carry one prefix', async () => {
      await service.createWorkflowExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'x1' })
      await service.recordWorkflowMetric('x1', { metricName: 'm', metricValue: 2 })
      const out = await service.exportWorkflowData({ workflowId: 'wf' })
      expect(Object.keys(out)).toEqual(['metadata', 'executions', 'statistics', 'aggregatedMetrics'])
      expect(out.metadata.summary).toMatchObject({ executions: 1, metrics: 2 })
      expect(new Date(out.metadata.exportedAt).toISOString()).toBe(out.metadata.exportedAt)
      expect(out.statistics.executions.total_executions).toBe(1)
      expect((await service.getWorkflowExecution('x1')).metrics).toHaveLength(2)
      expect(await service.getWorkflowMetrics('x1')).toHaveLength(2)
      expect((await service.getWorkflowStatistics()).executions.total_executions).toBe(1)
      expect(await service.deleteWorkflowExecution('x1')).toBe(true)
      await rejectsWith(service.createWorkflowExecution({ workflowName: 'W' }), 'ERR_VALIDATION', 'Failed to create workflow execution')
      await rejectsWith(service.updateWorkflowExecution('x', { status: 'exploded' }), 'ERR_VALIDATION', 'Failed to update workflow execution')
    })
  })

  describe('WorkflowCacheService', () => {
    test('a hit resolves without the database; a miss after close rejects ERR_CLOSED', async () => {
      // Written before the cache listens: on PostgreSQL the news of a write also comes back
      // through LISTEN a moment later, and news arriving while a row is read keeps that row out
      // of the cache (it may be stale), which would turn the hits below into misses.
      await executions.create({ workflowId: 'wf', workflowName: 'W', executionId: 'c1' })
      await handlers.registerHandler({ handlerType: 'lint', handlerName: 'Lint' })
      const cache = new WorkflowCacheService(db)
      await cache.ready()
      expect((await cache.getExecution('c1')).execution_id).toBe('c1')
      expect((await cache.getHandler('lint')).handler_name).toBe('Lint')
      expect((await cache.getBestHandler('lint')).handler_type).toBe('lint')
      expect(await cache.getExecution('absent')).toBeNull()
      await db.close()
      const hit = await cache.getExecution('c1')
      expect(hit.execution_id).toBe('c1')
      expect(util.types.isDate(hit.created_at)).toBe(true)
      expect((await cache.getBestHandler('lint')).handler_type).toBe('lint')
      await rejectsWith(cache.getExecution('absent'), 'ERR_CLOSED')
      expect(cache.getStats()).toMatchObject({ hits: 2, misses: 5, size: 3 })
      db = await WorkflowDatabase.connect(freshConfig()) // for afterEach
    })

    test('never serves a stale row after a write through the addon', async () => {
      const cache = new WorkflowCacheService(db)
      await cache.ready()
      await executions.create({ workflowId: 'wf', workflowName: 'W', executionId: 's1' })
      await handlers.registerHandler({ handlerType: 'h', handlerName: 'H' })
      expect((await cache.getExecution('s1')).status).toBe('pending')
      await repo.updateExecution('s1', { status: 'running' })
      expect((await cache.getExecution('s1')).status).toBe('running')
      await handlers.getHandlerByType('h')
      expect((await cache.getHandler('h')).usage_count).toBe(0)
      await handlers.recordHandlerUsage({ handlerType: 'h', status: 'success', executionTime: 5 })
      expect((await cache.getHandler('h')).usage_count).toBe(1)
      await handlers.updateHandler('h', { isActive: false })
      expect(await cache.getBestHandler('h')).toBeNull()
      // Reads racing writes: every read after a write's promise settled sees that write.
      for (let i = 0; i < 30; i++) {
        const read = cache.getExecution('s1')
        await executions.update('s1', { priority: i })
        await read
        expect((await cache.getExecution('s1')).priority).toBe(i)
      }
      expect(await repo.deleteExecution('s1')).toBe(true)
      expect(await cache.getExecution('s1')).toBeNull()
      expect(cache.getStats().invalidations).toBeGreaterThan(30)
    })
  })
})
