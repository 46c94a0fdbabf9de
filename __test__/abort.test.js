'use strict'
// `{ signal }` on the long calls, on every backend: a signal that fires before the call took
// effect rolls it back and the call rejects with the signal's reason; one that fires after
// changes nothing; a bad signal or option is refused with ERR_VALIDATION.
const { getEventListeners } = require('node:events')
const { addon, backends, cleanup } = require('./helpers')
const { ABORTABLE } = require('../lib/calls.js')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, WorkflowRepository, WorkflowPersistenceService, HandlerRegistryRepository, WorkflowInfraError } = addon

afterAll(cleanup)

describe.each(backends())('%s', (backend, freshConfig) => {
  let db, repo, service, executions
  beforeAll(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    executions = new WorkflowExecutionRepository(db)
    repo = new WorkflowRepository(executions, new WorkflowMetricsRepository(db))
    service = new WorkflowPersistenceService(repo)
  })
  afterAll(() => db.close())

  const many = (workflowId, n) => Array.from({ length: n }, () => ({ workflowId, workflowName: 'Abort' }))
  const rows = async (workflowId) => (await executions.findByWorkflowId(workflowId, { limit: 10 })).length

  test('a signal that fires while a bulk write runs rolls it back; the call rejects with its reason', async () => {
    const controller = new AbortController()
    const reason = new Error('the user went away')
    const call = service.bulkCreateWorkflowExecutions(many('under-way', 5000), { signal: controller.signal })
    controller.abort(reason)
    await expect(call).rejects.toBe(reason)
    expect(await rows('under-way')).toBe(0)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
  })

  test('a signal that fired already runs nothing', async () => {
    const signal = AbortSignal.abort()
    const err = await service.bulkCreateWorkflowExecutions(many('before', 3), { signal }).catch((e) => e)
    expect(err).toBe(signal.reason)
    expect(err.name).toBe('AbortError')
    expect(await rows('before')).toBe(0)
    for (const call of [
      () => executions.getStatistics({}, { signal }),
      () => repo.getExecutionStatistics({}, { signal }),
      () => service.exportWorkflowData({}, { signal }),
      () => executions.cleanupOldExecutions(0, { signal }),
      () => repo.cleanupOldExecutions(0, { limit: 10, signal }),
      () => new HandlerRegistryRepository(db).cleanupOldUsageHistory(0, { signal }),
      () => new WorkflowMetricsRepository(db).recordMetrics([{ metricName: 'm', metricValue: 1 }], { signal }),
    ]) {
      await expect(call()).rejects.toBe(signal.reason)
    }
  })

  test('a signal that fires after the call committed changes nothing; one never fired is harmless', async () => {
    const controller = new AbortController()
    const done = await service.bulkCreateWorkflowExecutions(many('after', 3), { signal: controller.signal })
    controller.abort()
    expect(done.summary.created).toBe(3)
    expect(await rows('after')).toBe(3)
    expect(getEventListeners(controller.signal, 'abort')).toHaveLength(0)
    const stats = await service.getWorkflowStatistics({ workflowId: 'after' }, { signal: new AbortController().signal })
    expect(stats.executions.total_executions).toBe(3)
    const removed = await repo.cleanupOldExecutions(0, { limit: 100, signal: new AbortController().signal })
    expect(typeof removed).toBe('number')
  })

  test('a signal that is not an AbortSignal, or an unknown option, is refused with ERR_VALIDATION', async () => {
    const refused = [
      await executions.getStatistics({}, { signal: 'soon' }).catch((e) => e),
      await executions.getStatistics({}, { signal: AbortSignal.timeout(1000), verbose: true }).catch((e) => e),
      await executions.getStatistics({}, 'fast').catch((e) => e),
    ]
    for (const err of refused) {
      expect(err).toBeInstanceOf(WorkflowInfraError)
      expect(err.code).toBe('ERR_VALIDATION')
      expect(err.message).not.toMatch(/soon|verbose|fast/)
    }
    expect(refused[0].meta).toEqual({ operation: 'get statistics', argument: 'options.signal' })
    // Options of the addon's own are still checked by the addon.
    const own = await repo.cleanupOldExecutions(0, { limit: -1, signal: new AbortController().signal }).catch((e) => e)
    expect(own.code).toBe('ERR_VALIDATION')
  })
})

test('the calls that take a signal are the long ones: cleanup, export, bulk writes and statistics', () => {
  const names = Object.values(ABORTABLE).flatMap((methods) => Object.keys(methods))
  for (const name of names) expect(name).toMatch(/^(cleanup|export|bulk|recordMetrics|get\w*(Statistics|AggregatedMetrics))/)
})
