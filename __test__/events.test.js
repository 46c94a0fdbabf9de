'use strict'
// WorkflowEventService and WorkflowEventHandlers on every backend, through a PIDEA-style
// EventBus and through ours; two processes on one PostgreSQL database.
const { addon, backends, cleanup, freshPgDatabase, pgAvailable } = require('./helpers')
const { EventBus, recorder } = require('./standins')

const {
  WorkflowDatabase,
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  WorkflowRepository,
  WorkflowEventService,
  WorkflowEventHandlers,
  WorkflowCacheService,
} = addon

afterAll(cleanup)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

const buses = [
  ['PIDEA EventBus', () => new EventBus()],
  ['WorkflowEventService', () => new WorkflowEventService()],
]

describe.each(backends())('%s', (name, freshConfig) => {
  let db, executions, metrics, repo
  beforeEach(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    executions = new WorkflowExecutionRepository(db)
    metrics = new WorkflowMetricsRepository(db)
    repo = new WorkflowRepository(executions, metrics)
  })
  afterEach(() => db.close())

  const metricsOf = async (id) => {
    const rows = await metrics.getMetricsForExecution(id, { limit: 1000 })
    return Object.fromEntries(rows.map((m) => [m.metric_name, m]))
  }

  describe.each(buses)('through %s', (_busName, makeBus) => {
    test('all 14 events and the colon aliases write the intended rows and metrics', async () => {
      const bus = makeBus()
      const seen = []
      for (const t of ['workflow.alert.performance', 'workflow.cleanup.completed', 'workflow.maintenance.completed']) {
        bus.subscribe(t, (data) => seen.push([t, data]))
      }
      const { lines, logger } = recorder()
      const handlers = new WorkflowEventHandlers(repo, bus, logger)
      await handlers.initialize()
      await handlers.initialize() // idempotent
      expect(handlers.isInitialized).toBe(true)
      expect(handlers.eventTypes).toHaveLength(17)

      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1', taskId: 't1' })
      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e2' })
      await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e3', metadata: { keep: 1 } })
      const before = Date.now()
      for (const id of ['e1', 'e2', 'e3']) await bus.publish('workflow.execution.started', { executionId: id, workflowId: 'wf' })
      expect((await executions.findByExecutionId('e1')).status).toBe('running')
      const started = (await executions.findByExecutionId('e1')).start_time.getTime()
      expect(started).toBeGreaterThanOrEqual(before)

      await bus.publish('workflow.step.started', { executionId: 'e1', stepId: 's1', stepName: 'Lint' })
      await bus.publish('workflow.step.completed', { executionId: 'e1', stepId: 's1', stepName: 'Lint', duration: 12 })
      await bus.publish('workflow.step.failed', { executionId: 'e1', stepId: 's2', stepName: 'Test', error: 'red' })
      await bus.publish('handler.execution.started', { executionId: 'e1', handlerType: 'lint' })
      await bus.publish('handler.execution.completed', { executionId: 'e1', handlerType: 'lint', duration: 7 })
      await bus.publish('handler.execution.failed', { executionId: 'e1', handlerType: 'lint', error: new Error('bad') })
      await bus.publish('handler:execution:started', { handlerId: 'h1', handlerType: 'colon' })
      await bus.publish('handler:execution:completed', { handlerId: 'h1', handlerType: 'colon', duration: 3 })
      await bus.publish('handler:execution:failed', { handlerId: 'h1', handlerType: 'colon', error: 'x' })
      await bus.publish('workflow.performance.metric', {
        executionId: 'e1', metricName: 'tokens', metricValue: 900, metricUnit: 'count', metricCategory: 'usage', metadata: { model: 'm' },
      })
      await bus.publish('workflow.performance.alert', {
        executionId: 'e1', alertType: 'slow', threshold: 100, actualValue: 250, metricUnit: 'milliseconds', severity: 'high',
      })
      await sleep(15)
      // PIDEA's orchestration publishes {taskId, result} without an executionId.
      await bus.publish('workflow.execution.completed', { taskId: 't1', result: { ok: true } })
      await bus.publish('workflow.execution.failed', { executionId: 'e2', error: 'boom', stack: 'at x' })
      await bus.publish('workflow.execution.cancelled', { executionId: 'e3', cancelledBy: 'ann', reason: 'no longer needed' })

      // Every event found its execution (a handler that misjudged its own write would warn).
      expect(lines.filter((l) => /not found|Failed/.test(l.message))).toEqual([])
      const e1 = await executions.findByExecutionId('e1')
      expect(e1).toMatchObject({ status: 'completed', result_data: { ok: true } })
      expect(e1.actual_duration).toBe(e1.end_time.getTime() - e1.start_time.getTime())
      expect(e1.actual_duration).toBeGreaterThanOrEqual(15)
      const m1 = await metricsOf('e1')
      expect(Object.keys(m1).sort()).toEqual([
        'execution_completed', 'execution_duration', 'execution_started', 'handler_completed', 'handler_duration',
        'handler_failed', 'handler_started', 'performance_alert', 'step_completed', 'step_duration', 'step_failed',
        'step_started', 'tokens', 'workflow_completion_time', 'workflow_start_time', 'workflow_total_duration',
      ])
      expect(m1.workflow_start_time).toMatchObject({ metric_value: started, metric_unit: 'timestamp', metric_category: 'timing' })
      expect(m1.workflow_total_duration).toMatchObject({ metric_value: e1.actual_duration, metric_unit: 'milliseconds', metric_category: 'duration' })
      expect(m1.execution_duration).toMatchObject({ metric_value: e1.actual_duration, metric_category: 'execution_time' })
      expect(m1.workflow_completion_time.metric_value).toBe(e1.end_time.getTime())
      expect(m1.step_duration).toMatchObject({ metric_value: 12, metric_unit: 'milliseconds', metric_category: 'step_duration', metadata: { stepId: 's1', stepName: 'Lint' } })
      expect(m1.step_failed.metadata).toEqual({ stepId: 's2', stepName: 'Test', error: 'red', event: 'step_failed' })
      expect(m1.handler_duration).toMatchObject({ metric_value: 7, metric_category: 'handler_duration', metadata: { handlerType: 'lint' } })
      expect(m1.handler_failed.metadata).toEqual({ handlerType: 'lint', error: 'bad', event: 'handler_failed' })
      expect(m1.tokens).toMatchObject({ metric_value: 900, metric_unit: 'count', metric_category: 'usage', metric_type: 'performance', metadata: { model: 'm' } })
      expect(m1.performance_alert).toMatchObject({ metric_value: 250, metric_unit: 'milliseconds', metric_category: 'alerts' })

      const colon = await metrics.getMetricsByName('handler_duration', { limit: 10 })
      expect(colon.find((m) => m.execution_id === null)).toMatchObject({ metric_value: 3, metadata: { handlerType: 'colon' } })

      const e2 = await executions.findByExecutionId('e2')
      expect(e2.status).toBe('failed')
      expect(e2.error_data).toMatchObject({ error: 'boom', stack: 'at x' })
      expect(Object.keys(await metricsOf('e2')).sort()).toEqual(['execution_failed', 'execution_started', 'workflow_failure_time', 'workflow_start_time'])
      const e3 = await executions.findByExecutionId('e3')
      expect(e3.status).toBe('cancelled')
      expect(e3.metadata).toEqual({ keep: 1, cancelledBy: 'ann', cancellationReason: 'no longer needed' })
      expect((await metricsOf('e3')).workflow_cancellation_time.metadata).toEqual({ event: 'execution_cancelled', reason: 'no longer needed' })

      // Cleanup and maintenance publish their follow-ups.
      await bus.publish('workflow.cleanup.required', { daysOld: 0 })
      await bus.publish('workflow.maintenance.required', { maintenanceType: 'optimize' })
      await bus.publish('workflow.maintenance.required', { maintenanceType: 'defrag' })
      expect(await executions.findAll()).toHaveLength(3) // daysOld 0 means 30, as planned
      const kinds = seen.map(([t]) => t)
      expect(kinds).toEqual([
        'workflow.alert.performance', 'workflow.cleanup.completed', 'workflow.maintenance.completed', 'workflow.maintenance.completed',
      ])
      expect(seen[0][1]).toMatchObject({ executionId: 'e1', alertType: 'slow', threshold: 100, actualValue: 250, severity: 'high' })
      expect(seen[1][1]).toMatchObject({ deletedCount: 0, metricsDeletedCount: 0, daysOld: 30 })
      expect(seen[2][1].maintenanceType).toBe('optimize')
      expect(lines.some((l) => l.level === 'warn' && /Unknown maintenance type/.test(l.message))).toBe(true)

      handlers.dispose()
      expect(handlers.isInitialized).toBe(false)
      expect(bus.getHandlerCount('workflow.execution.started')).toBe(0)
      expect(bus.getHandlerCount('handler:execution:completed')).toBe(0)
    })

    test('a completed and a cancelled event racing for one execution leave one consistent row', async () => {
      const bus = makeBus()
      const handlers = new WorkflowEventHandlers(repo, bus, recorder().logger)
      await handlers.initialize()
      for (let i = 0; i < 10; i++) {
        const id = `race${i}`
        await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: id })
        await bus.publish('workflow.execution.started', { executionId: id })
        await Promise.all([
          bus.publish('workflow.execution.completed', { executionId: id, result: { n: i } }),
          bus.publish('workflow.execution.cancelled', { executionId: id, reason: 'race' }),
        ])
        const row = await executions.findByExecutionId(id)
        const m = await metricsOf(id)
        expect(['completed', 'cancelled']).toContain(row.status)
        if (row.status === 'completed') {
          expect(m.workflow_cancellation_time).toBeUndefined()
          expect(m.execution_completed).toBeDefined()
          expect(row.metadata).toEqual({})
        } else {
          expect(m.execution_completed).toBeUndefined()
          expect(m.workflow_cancellation_time).toBeDefined()
          expect(row.result_data).toBeNull()
        }
        expect(row.actual_duration).toBe(row.end_time.getTime() - row.start_time.getTime())
      }
      handlers.dispose()
    })
  })

  test('handlers never reject: bad payloads and missing executions are logged', async () => {
    const bus = new WorkflowEventService()
    const { lines, logger } = recorder()
    const handlers = new WorkflowEventHandlers(repo, bus, logger)
    await handlers.initialize()
    await expect(bus.publish('workflow.execution.started', { executionId: 42 })).resolves.toBeUndefined()
    await expect(bus.publish('workflow.execution.completed', { executionId: 'ghost' })).resolves.toBeUndefined()
    await expect(handlers.handle('workflow.execution.failed', {})).resolves.toBeUndefined()
    await expect(bus.publish('workflow.step.started', { executionId: 'ghost', stepId: 1 })).resolves.toBeUndefined()
    expect(lines.filter((l) => l.level === 'error').map((l) => l.meta.code)).toEqual(['ERR_VALIDATION', 'ERR_VALIDATION', 'ERR_CONFLICT'])
    expect(lines.some((l) => l.level === 'warn' && /not found/.test(l.message))).toBe(true)
    expect(() => new WorkflowEventHandlers(repo, {})).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    handlers.dispose()
  })
})

describe('WorkflowEventService', () => {
  test('subscribers run in order; a thrower or a rejecter is logged and does not stop the others', async () => {
    const { lines, logger } = recorder()
    const bus = new WorkflowEventService(null, { logger })
    const order = []
    bus.subscribe('e', (d) => order.push(['a', d.n]))
    bus.on('e', () => {
      throw new Error('sync boom')
    })
    bus.subscribe('e', async () => {
      await sleep(20)
      order.push(['slow'])
    })
    bus.subscribe('e', () => Promise.reject(new Error('async boom')))
    const last = (d) => order.push(['z', d.n])
    bus.subscribe('e', last)
    await bus.publish('e', { n: 1 })
    expect(order).toEqual([['a', 1], ['z', 1], ['slow']])
    expect(lines.filter((l) => l.level === 'error').map((l) => l.meta.error)).toEqual(['sync boom', 'async boom'])
    expect(bus.getHandlerCount('e')).toBe(5)
    expect(bus.unsubscribe('e', last)).toBe(true)
    expect(bus.unsubscribe('e', last)).toBe(false)
    await bus.emit('e', { n: 2 })
    expect(order.filter(([k]) => k === 'z')).toHaveLength(1)
    await expect(bus.publish('nobody', {})).resolves.toBeUndefined()
    await expect(bus.publish('', {})).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    expect(() => bus.subscribe('e', 'not a function')).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    bus.clear()
    expect(bus.getHandlerCount('e')).toBe(0)
    bus.dispose()
  })

  test('distributed needs PostgreSQL', async () => {
    const db = await WorkflowDatabase.connect({ type: 'memory' })
    expect(() => new WorkflowEventService(db, { distributed: true })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(() => new WorkflowEventService(null, { distributed: true })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    await db.close()
  })
})

const pgDescribe = pgAvailable() ? describe : describe.skip
pgDescribe('two processes on one PostgreSQL database', () => {
  test('see each other\u2019s events and cache invalidations within 1 s', async () => {
    const url = freshPgDatabase()
    const db = await WorkflowDatabase.connect({ url })
    const executions = new WorkflowExecutionRepository(db)
    await executions.create({ workflowId: 'wf', workflowName: 'W', executionId: 'shared' })
    const bus = new WorkflowEventService(db, { distributed: true, logger: recorder().logger })
    await bus.ready()
    const cache = new WorkflowCacheService(db)
    await cache.ready()
    expect((await cache.getExecution('shared')).status).toBe('pending')
    const received = []
    bus.subscribe('from.child', (d) => received.push([Date.now(), d]))

    const { fork } = require('node:child_process')
    const child = fork(require('node:path').join(__dirname, 'peer.js'), [url], { env: { ...process.env, WORKFLOW_INFRA_LOG: 'error' } })
    const messages = []
    let waiter = null
    child.on('message', (m) => {
      if (waiter) {
        const w = waiter
        waiter = null
        w(m)
      } else messages.push(m)
    })
    const next = () => new Promise((resolve) => (messages.length ? resolve(messages.shift()) : (waiter = resolve)))
    expect(await next()).toBe('ready')

    // Ours → theirs: an event (and a large one, through the table) and an invalidation.
    const sent = Date.now()
    await bus.publish('from.parent', { small: true })
    await bus.publish('from.parent', { big: 'x'.repeat(12000) })
    await executions.update('shared', { status: 'running' })
    child.send('report')
    const report = await next()
    expect(report.events.map((e) => Object.keys(e.data)[0])).toEqual(['small', 'big'])
    expect(report.events[1].data.big).toHaveLength(12000)
    for (const e of report.events) expect(e.at - sent).toBeLessThan(1000)
    expect(report.status).toBe('running')
    expect(report.subscriberThatThrows).toBe(true)

    // Theirs → ours: the child updates the row and publishes.
    child.send('write')
    expect(await next()).toBe('written')
    const deadline = Date.now() + 1000
    while ((await cache.getExecution('shared')).status !== 'completed' && Date.now() < deadline) await sleep(10)
    expect((await cache.getExecution('shared')).status).toBe('completed')
    while (received.length === 0 && Date.now() < deadline) await sleep(10)
    expect(received.map(([, d]) => d)).toEqual([{ hello: 'parent' }])
    expect(cache.getStats().invalidations).toBeGreaterThan(0)
    // The database's own counters: the two this process published, the one it was sent.
    expect(db.getMetrics().events).toEqual({ published: 2, delivered: 1, publishFailed: 0, gaps: 0 })
    expect(db.toPrometheus()).toContain('workflow_infra_events_delivered_total{backend="postgresql"} 1\n')

    child.send('exit')
    await new Promise((r) => child.once('exit', r))
    bus.dispose()
    await db.close()
  })
})
