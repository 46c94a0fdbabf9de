'use strict'
// A slow logger is paced: while it is fast every record is written at once, in order; once
// three records in a row take it 2 ms or more, records wait in a queue (at most 1,000) and are written in
// later turns of the event loop, a few milliseconds of logging a turn, so a burst of calls
// does not wait for the logger; records beyond the queue are dropped, counted in the metrics,
// and a warning says how many.
const { addon } = require('./helpers')
const { EventBus } = require('./standins')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, WorkflowRepository, WorkflowEventHandlers } = addon

const repository = (db) => new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))

/** A logger that blocks the thread `ms` per record, and what it wrote. */
function slowLogger(ms) {
  const lines = []
  const at = (level) => (message, meta) => {
    const until = Date.now() + ms
    while (Date.now() < until);
    lines.push({ level, message, meta })
  }
  return { lines, logger: { info: at('info'), debug: at('debug'), warn: at('warn'), error: at('error') } }
}

test('a burst of calls does not wait for a slow logger; its records follow, and those beyond the queue are dropped and counted', async () => {
  const db = await WorkflowDatabase.connect({ type: 'memory' })
  const repo = repository(db)
  await repo.saveExecution({ workflowId: 'w', workflowName: 'W', executionId: 'x' })
  const { lines, logger } = slowLogger(5)
  const handlers = new WorkflowEventHandlers(repo, new EventBus(), logger)
  const burst = 1500
  const calls = Array.from({ length: burst }, (_, i) => handlers.handleWorkflowStepStarted({ executionId: 'x', stepId: `s${i}`, stepName: 'Step' }))
  await Promise.all(calls)
  // Every call settled while the logger had written only a few of their records.
  const writtenWhenSettled = lines.length
  expect(writtenWhenSettled).toBeLessThan(burst / 10)
  // The rest follow in order, up to the queue's 1,000; the others are dropped, then a warning.
  while (!lines.some((l) => l.level === 'warn')) await new Promise((r) => setImmediate(r))
  const handled = lines.filter((l) => l.level === 'debug')
  expect(handled.length).toBeGreaterThanOrEqual(1000)
  expect(handled.length).toBeLessThan(burst)
  const steps = handled.map((l) => l.meta.executionId)
  expect(new Set(steps)).toEqual(new Set(['x']))
  const warning = lines.find((l) => l.level === 'warn')
  expect(warning.message).toMatch(/log records were dropped: the logger is slower than the calls/)
  expect(warning.meta.dropped).toBe(burst - handled.length)
  expect(db.getMetrics().logRecordsDropped).toBeGreaterThanOrEqual(warning.meta.dropped)
  expect(db.toPrometheus()).toMatch(/workflow_infra_log_records_dropped_total\{backend="memory"\} [1-9]/)
  await db.close()
}, 60000)

test('a fast logger writes every record at once, before the call settles', async () => {
  const db = await WorkflowDatabase.connect({ type: 'memory' })
  const repo = repository(db)
  await repo.saveExecution({ workflowId: 'w', workflowName: 'W', executionId: 'y' })
  const { lines, logger } = slowLogger(0)
  const handlers = new WorkflowEventHandlers(repo, new EventBus(), logger)
  for (let i = 0; i < 50; i++) {
    await handlers.handleWorkflowStepStarted({ executionId: 'y', stepId: `s${i}`, stepName: 'Step' })
    expect(lines).toHaveLength(i + 1)
  }
  await db.close()
})
