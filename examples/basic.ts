// Type-checked by `npm run lint` (tsc --noEmit -p examples): the README's usage, with types.
import { WorkflowDatabase, WorkflowInfraError, ERR_CLOSED, ERR_OVERLOADED, type DatabaseConfig, type ErrorCode } from '..'

async function main(): Promise<void> {
  const config: DatabaseConfig = {
    type: 'postgresql',
    host: 'localhost',
    port: '5432',
    database: 'pidea',
    username: 'pidea',
    password: 'from-your-secret-store',
    fallback: { type: 'sqlite', database: './data/workflow.db' },
  }
  const db = await WorkflowDatabase.connect(config)
  const type: 'postgresql' | 'sqlite' | 'memory' = db.getType()
  const status = await db.status()
  for (const table of status.tables) console.log(table.name, table.rows ?? 'missing')
  const migrations = await db.migrationStatus()
  const applied: Date | null = migrations[0].appliedAt
  console.log(type, applied, (await db.seed()).executions)
  await db.close()
  try {
    await db.migrate()
  } catch (e) {
    // A runtime class: `instanceof` narrows.
    if (e instanceof WorkflowInfraError) {
      if (e.code === ERR_CLOSED) console.log(e.message, e.cause?.code, e.meta.operation)
      if (e.retryable) console.log('worth retrying later')
    }
  }
}

// The code constants are typed as their literals, so comparing with one narrows.
const closed: 'ERR_CLOSED' = ERR_CLOSED
const anyCode: ErrorCode = ERR_OVERLOADED
// @ts-expect-error: a constant is its own literal, not another code
const wrong: 'ERR_CLOSED' = ERR_OVERLOADED
void [closed, anyCode, wrong]

void main()

import {
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  HandlerRegistryRepository,
  InMemoryWorkflowExecutionRepository,
  type WorkflowExecutionRow,
  type Page,
} from '..'

export async function repositories(db: WorkflowDatabase): Promise<void> {
  const executions = new WorkflowExecutionRepository(db)
  const metrics = new WorkflowMetricsRepository(db)
  const handlers = new HandlerRegistryRepository(db)
  const row: WorkflowExecutionRow = await executions.create({ workflowId: 'wf', workflowName: 'Refactor', taskId: 'task_p_1_x' })
  const updated = await executions.update(row.execution_id, { status: 'completed', actualDuration: 1200 })
  const page: Page<WorkflowExecutionRow> = await executions.findByWorkflowId('wf', { limit: 10 })
  const next = page.nextCursor ? await executions.findByWorkflowId('wf', { limit: 10, after: page.nextCursor }) : []
  const stats = await executions.getStatistics({ workflowId: 'wf' })
  const p95: number | null = stats.p95_duration
  await metrics.recordMetrics([{ executionId: row.execution_id, metricName: 'duration', metricValue: 1200 }])
  const aggregates = await metrics.getAggregatedMetrics({ timeRange: new Date(Date.now() - 3_600_000) })
  await handlers.registerHandler({ handlerType: 'refactor', handlerName: 'Refactor Handler', isDefault: true })
  await handlers.recordHandlerUsage({ handlerType: 'refactor', executionId: row.execution_id, status: 'success', executionTime: 900 })
  const best = await handlers.getBestHandler('refactor')
  const scratch = new InMemoryWorkflowExecutionRepository()
  console.log(updated?.status, next.length, p95, aggregates[0]?.standard_deviation, best?.usage_count, scratch.tableName)
}

import {
  WorkflowRepository,
  WorkflowPersistenceService,
  WorkflowCache,
  WorkflowCacheService,
  WorkflowEventService,
  WorkflowEventHandlers,
  setLogger,
  type Logger,
  type WorkflowStatistics,
} from '..'

export async function services(db: WorkflowDatabase, logger: Logger): Promise<void> {
  const repo = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
  const persistence = new WorkflowPersistenceService(repo, logger)
  const saved = await persistence.createWorkflowExecution({ workflowId: 'wf', workflowName: 'Refactor', taskId: 'task_p_1_x' })
  const bulk = await persistence.bulkCreateWorkflowExecutions([{ workflowId: 'wf', workflowName: 'Refactor' }])
  const all = await persistence.findWorkflowExecutions({}, { limit: 100 })
  const stats: WorkflowStatistics = await repo.getExecutionStatistics({ workflowId: 'wf' })
  const exported = await persistence.exportWorkflowData({ workflowId: 'wf' })

  const bus = new WorkflowEventService(db, { distributed: db.getType() === 'postgresql' })
  await bus.ready()
  const handlers = new WorkflowEventHandlers(repo, bus, logger)
  await handlers.initialize()
  bus.subscribe('workflow.cleanup.completed', (e: { deletedCount: number }) => console.log(e.deletedCount))
  await bus.publish('workflow.execution.started', { executionId: saved.execution_id })
  await bus.publish('workflow.execution.completed', { taskId: 'task_p_1_x', result: { ok: true } })
  handlers.dispose()

  const cache = new WorkflowCache({ maxSize: 500, ttl: 60_000 })
  cache.set('wf', { steps: 3 }, { metadata: { source: 'example' } })
  const hit = cache.get('wf') as { steps: number } | null
  const cached = new WorkflowCacheService(db, { maxEntries: 1000 })
  await cached.ready()
  const row = await cached.getExecution(saved.execution_id)
  setLogger(logger)
  console.log(bulk.summary.created, all.length, stats.executions.p50_duration, exported.metadata.exportedAt, hit?.steps, row?.status, cache.getStats().hitRate, cached.getStats().hits)
  setLogger(null)
  bus.dispose()
}
