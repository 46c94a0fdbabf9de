// Type-checked by `npm run lint` (tsc --noEmit -p examples): the README's usage, with types.
import { WorkflowDatabase, ERR_CLOSED, type DatabaseConfig, type WorkflowInfraError } from '..'

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
    const err = e as WorkflowInfraError
    if (err.code === ERR_CLOSED) console.log(err.message, err.cause?.code)
  }
}

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
