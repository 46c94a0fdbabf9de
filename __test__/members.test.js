'use strict'
// The planned public members a caller can reach besides the methods (PIDEA's planned classes): the
// services' fields, the 14 handle…(event) methods of WorkflowEventHandlers, the repositories'
// db and table names, WorkflowCache's maxSize/ttl/stats/logger. On every backend.
const { addon, backends, cleanup } = require('./helpers')
const { EventBus, recorder } = require('./standins')

const {
  WorkflowDatabase,
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  HandlerRegistryRepository,
  InMemoryWorkflowExecutionRepository,
  WorkflowRepository,
  WorkflowPersistenceService,
  WorkflowEventHandlers,
  WorkflowCache,
} = addon

afterAll(cleanup)

/** Each planned method, a payload for it, and the metrics or follow-up event it must produce. */
const METHODS = [
  ['handleWorkflowExecutionStarted', 'workflow.execution.started', (id) => ({ executionId: id }), ['workflow_start_time']],
  ['handleWorkflowStepStarted', 'workflow.step.started', (id) => ({ executionId: id, stepId: '1', stepName: 'Lint' }), ['step_started']],
  ['handleWorkflowStepCompleted', 'workflow.step.completed', (id) => ({ executionId: id, stepId: '1', stepName: 'Lint', duration: 4 }), ['step_completed', 'step_duration']],
  ['handleWorkflowStepFailed', 'workflow.step.failed', (id) => ({ executionId: id, stepId: '2', stepName: 'Test', error: 'x' }), ['step_failed']],
  ['handleHandlerExecutionStarted', 'handler.execution.started', (id) => ({ executionId: id, handlerType: 'lint' }), ['handler_started']],
  ['handleHandlerExecutionCompleted', 'handler.execution.completed', (id) => ({ executionId: id, handlerType: 'lint', duration: 3 }), ['handler_completed', 'handler_duration']],
  ['handleHandlerExecutionFailed', 'handler.execution.failed', (id) => ({ executionId: id, handlerType: 'lint', error: 'x' }), ['handler_failed']],
  ['handleWorkflowPerformanceMetric', 'workflow.performance.metric', (id) => ({ executionId: id, metricName: 'memory_usage', metricValue: 12, metricUnit: 'MB' }), ['memory_usage']],
  ['handleWorkflowPerformanceAlert', 'workflow.performance.alert', (id) => ({ executionId: id, alertType: 'slow', threshold: 1, actualValue: 2, metricUnit: 'ms', severity: 'warning' }), ['performance_alert', 'event:workflow.alert.performance']],
  ['handleWorkflowExecutionCompleted', 'workflow.execution.completed', (id) => ({ executionId: id, result: { ok: true } }), ['workflow_completion_time', 'workflow_total_duration', 'execution_completed']],
  ['handleWorkflowCleanupRequired', 'workflow.cleanup.required', () => ({ daysOld: 30 }), ['event:workflow.cleanup.completed']],
  ['handleWorkflowMaintenanceRequired', 'workflow.maintenance.required', () => ({ maintenanceType: 'optimize' }), ['event:workflow.maintenance.completed']],
]

describe.each(backends())('%s', (_name, freshConfig) => {
  let db, executions, metrics, repository
  beforeEach(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    executions = new WorkflowExecutionRepository(db)
    metrics = new WorkflowMetricsRepository(db)
    repository = new WorkflowRepository(executions, metrics)
  })
  afterEach(() => db.close())

  test('WorkflowRepository and WorkflowPersistenceService keep what they were given', () => {
    expect(repository.executionRepository).toBe(executions)
    expect(repository.metricsRepository).toBe(metrics)
    expect(['info', 'debug', 'warn', 'error'].map((m) => typeof repository.logger[m])).toEqual(Array(4).fill('function'))
    expect(() => repository.logger.error('WorkflowRepository: a line', { a: 1 })).not.toThrow()
    const { logger } = recorder()
    repository.setLogger(logger)
    expect(repository.logger).toBe(logger)
    const service = new WorkflowPersistenceService(repository, logger)
    expect(service.workflowRepository).toBe(repository)
    expect(service.logger).toBe(logger)
  })

  test('the repositories show their database and tables', () => {
    expect(executions.db).toBe(db)
    expect(executions.tableName).toBe('workflow_executions')
    expect(metrics.db).toBe(db)
    expect(metrics.tableName).toBe('workflow_metrics')
    const handlers = new HandlerRegistryRepository(db)
    expect(handlers.db).toBe(db)
    expect([handlers.handlerTable, handlers.usageTable]).toEqual(['handler_registry', 'handler_usage_history'])
    expect(new InMemoryWorkflowExecutionRepository().db).toBeNull()
    // The planned in-memory helper: population standard deviation, 0 for none; synchronous.
    expect(metrics.calculateStandardDeviation([2, 4, 4, 4, 5, 5, 7, 9])).toBe(2)
    expect(metrics.calculateStandardDeviation([])).toBe(0)
    expect(() => metrics.calculateStandardDeviation(['S3cret'])).toThrow(
      expect.objectContaining({ code: 'ERR_VALIDATION', message: expect.not.stringContaining('S3cret') }),
    )
  })

  test('WorkflowEventHandlers: its fields, handlers Map, registerEventHandlers and subscribeToEvents', async () => {
    const bus = new EventBus()
    const { logger } = recorder()
    const handlers = new WorkflowEventHandlers(repository, bus, logger)
    expect(handlers.workflowRepository).toBe(repository)
    expect(handlers.eventBus).toBe(bus)
    expect(handlers.logger).toBe(logger)
    expect(handlers.isInitialized).toBe(false)
    expect(Object.prototype.toString.call(handlers.handlers)).toBe('[object Map]')
    expect(handlers.handlers.size).toBe(0)
    handlers.registerEventHandlers()
    for (const [, type] of METHODS) expect(typeof handlers.handlers.get(type)).toBe('function')
    expect(bus.totalHandlers()).toBe(0)
    await handlers.subscribeToEvents()
    expect(bus.getHandlerCount('workflow.execution.started')).toBe(1)
    // What the planned code allowed: unsubscribing one handler by hand.
    bus.unsubscribe('workflow.step.started', handlers.handlers.get('workflow.step.started'))
    expect(bus.getHandlerCount('workflow.step.started')).toBe(0)
    handlers.dispose()
    expect(handlers.handlers.size).toBe(0)
    expect(bus.totalHandlers()).toBe(0)
  })

  test('the 14 handle…(event) methods do what their subscriptions do, and never reject', async () => {
    const bus = new EventBus()
    const published = []
    for (const type of ['workflow.alert.performance', 'workflow.cleanup.completed', 'workflow.maintenance.completed']) {
      bus.subscribe(type, () => published.push(type))
    }
    const { lines, logger } = recorder()
    const handlers = new WorkflowEventHandlers(repository, bus, logger)
    const { execution_id: id } = await executions.create({ workflowId: 'w', workflowName: 'W' })
    const methodNames = Object.getOwnPropertyNames(WorkflowEventHandlers.prototype).filter((n) => /^handle[A-Z]/.test(n))
    expect(methodNames).toHaveLength(14)
    for (const [method, , payload, expected] of METHODS) {
      expect(await handlers[method](payload(id))).toBeUndefined()
      const names = (await metrics.getMetricsForExecution(id, { limit: 1000 })).map((m) => m.metric_name)
      for (const what of expected) {
        if (what.startsWith('event:')) expect(published).toContain(what.slice(6))
        else expect(names).toContain(what)
      }
    }
    expect((await executions.findByExecutionId(id)).status).toBe('completed')
    const { execution_id: failing } = await executions.create({ workflowId: 'w', workflowName: 'W', status: 'running' })
    await handlers.handleWorkflowExecutionFailed({ executionId: failing, error: 'boom' })
    expect((await executions.findByExecutionId(failing)).status).toBe('failed')
    const { execution_id: cancelled } = await executions.create({ workflowId: 'w', workflowName: 'W', status: 'running' })
    await handlers.handleWorkflowExecutionCancelled({ executionId: cancelled, reason: 'user', cancelledBy: 'me' })
    expect((await executions.findByExecutionId(cancelled)).status).toBe('cancelled')
    // Bad payloads: resolved, logged.
    for (const method of methodNames) {
      await expect(handlers[method](null)).resolves.toBeUndefined()
      await expect(handlers[method]({ executionId: 42, metricValue: 'x' })).resolves.toBeUndefined()
    }
    expect(lines.some((l) => l.level === 'error')).toBe(true)
  })
})

test('WorkflowCache shows maxSize, ttl, stats and logger', () => {
  const { logger } = recorder()
  const cache = new WorkflowCache({ maxSize: 3, ttl: 1000, logger })
  expect([cache.maxSize, cache.ttl]).toEqual([3, 1000])
  expect(cache.logger).toBe(logger)
  cache.set('a', 1)
  cache.get('a')
  cache.get('b')
  expect(cache.stats).toMatchObject({ hits: 1, misses: 1, sets: 1, size: 1, maxSize: 3 })
  cache.setConfig({ maxSize: 5, ttl: 0 })
  expect([cache.maxSize, cache.ttl]).toEqual([5, Infinity])
  const plain = new WorkflowCache()
  expect([plain.maxSize, plain.ttl]).toEqual([1000, 300000])
  expect(typeof plain.logger.info).toBe('function')
})
