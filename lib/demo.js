'use strict'

// `workflow-infra demo`: a simulated load driven through the event handlers, the way PIDEA
// would drive it — workflows with steps, each step run by a handler picked from the registry
// (through the cache service), some failing and some cancelled — then the summary.

const {
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  HandlerRegistryRepository,
  WorkflowRepository,
  WorkflowPersistenceService,
  WorkflowEventService,
  WorkflowEventHandlers,
  WorkflowCacheService,
} = require('..')

const HANDLERS = [
  { handlerType: 'analysis', handlerName: 'Code analysis', priority: 3, speed: 30, failure: 0.02 },
  { handlerType: 'refactor', handlerName: 'Refactoring', priority: 2, speed: 60, failure: 0.08 },
  { handlerType: 'test', handlerName: 'Test runner', priority: 2, speed: 45, failure: 0.12 },
  { handlerType: 'docs', handlerName: 'Documentation', priority: 1, speed: 15, failure: 0.01 },
  { handlerType: 'deploy', handlerName: 'Deployment', priority: 1, speed: 80, failure: 0.05 },
]

const WORKFLOWS = [
  { workflowId: 'demo_feature', workflowName: 'Feature', steps: ['analysis', 'refactor', 'test', 'docs'] },
  { workflowId: 'demo_bugfix', workflowName: 'Bug fix', steps: ['analysis', 'test'] },
  { workflowId: 'demo_release', workflowName: 'Release', steps: ['test', 'docs', 'deploy'] },
  { workflowId: 'demo_cleanup', workflowName: 'Cleanup', steps: ['analysis', 'refactor', 'test'] },
]

/** A small seeded generator: every run draws the same mix (which workflow gets which draw
 * depends on how the 16 in flight interleave). */
function random(seed) {
  let s = seed >>> 0
  return () => {
    s = (Math.imul(s, 1664525) + 1013904223) >>> 0
    return s / 2 ** 32
  }
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))

async function run(db, { workflows = 200, inFlight = 16, stepScale = 0.2 } = {}) {
  const executions = new WorkflowExecutionRepository(db)
  const handlers = new HandlerRegistryRepository(db)
  const repository = new WorkflowRepository(executions, new WorkflowMetricsRepository(db))
  const persistence = new WorkflowPersistenceService(repository)
  const bus = new WorkflowEventService()
  // Alerts are expected in this load (and counted below); failures are not.
  let alerts = 0
  const quiet = () => {}
  const logger = { info: quiet, debug: quiet, warn: (m) => m.includes('alert') && alerts++, error: (m, meta) => console.error(m, meta) }
  const eventHandlers = new WorkflowEventHandlers(repository, bus, logger)
  const cache = new WorkflowCacheService(db)
  await cache.ready()
  await eventHandlers.initialize()
  for (const { speed: _speed, failure: _failure, ...h } of HANDLERS) await handlers.registerHandler(h)
  const profile = Object.fromEntries(HANDLERS.map((h) => [h.handlerType, h]))

  const rand = random(42)
  const runTag = Date.now().toString(36)
  let events = 0
  const publish = (type, data) => {
    events++
    return bus.publish(type, data)
  }

  async function one(i) {
    const wf = WORKFLOWS[i % WORKFLOWS.length]
    const fate = rand()
    const execution = await persistence.createWorkflowExecution({
      workflowId: wf.workflowId,
      workflowName: wf.workflowName,
      taskId: `task_demo_${runTag}_${i}`,
      userId: `user_${i % 7}`,
      estimatedDuration: wf.steps.length * 50 * stepScale,
    })
    const executionId = execution.execution_id
    await publish('workflow.execution.started', { executionId, workflowId: wf.workflowId })
    for (const [n, type] of wf.steps.entries()) {
      const stepId = `step_${n + 1}`
      await publish('workflow.step.started', { executionId, stepId, stepName: type })
      const handler = await cache.getBestHandler(type)
      const p = profile[handler.handler_type]
      await publish('handler.execution.started', { executionId, handlerType: p.handlerType })
      const duration = Math.round(p.speed * (0.5 + rand()) * stepScale)
      await sleep(duration)
      const ok = rand() > p.failure
      await handlers.recordHandlerUsage({
        handlerType: p.handlerType,
        executionId,
        status: ok ? 'success' : 'failure',
        executionTime: duration,
      })
      if (!ok) {
        await publish('handler.execution.failed', { executionId, handlerType: p.handlerType, error: 'exit code 1' })
        await publish('workflow.step.failed', { executionId, stepId, stepName: type, error: 'handler failed' })
        await publish('workflow.execution.failed', { executionId, workflowId: wf.workflowId, error: `${type} failed` })
        return
      }
      await publish('handler.execution.completed', { executionId, handlerType: p.handlerType, duration })
      await publish('workflow.step.completed', { executionId, stepId, stepName: type, duration })
      if (fate < 0.05 && n === 0) {
        await publish('workflow.execution.cancelled', { executionId, cancelledBy: 'user', reason: 'superseded' })
        return
      }
    }
    if (rand() < 0.03) {
      await publish('workflow.performance.alert', {
        executionId, alertType: 'slow_workflow', threshold: 100, actualValue: 180, metricUnit: 'milliseconds', severity: 'warning',
      })
    }
    await publish('workflow.execution.completed', { executionId, workflowId: wf.workflowId, result: { steps: wf.steps.length } })
  }

  const started = Date.now()
  let next = 0
  await Promise.all(
    Array.from({ length: inFlight }, async () => {
      while (next < workflows) await one(next++)
    }),
  )
  const seconds = (Date.now() - started) / 1000
  eventHandlers.dispose()
  bus.dispose()
  return { workflows, inFlight, events, alerts, seconds, cache: cache.getStats() }
}

module.exports = { run }
