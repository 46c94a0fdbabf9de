'use strict'
// The declared result shapes (the interfaces of index.d.ts) and what the runtime resolves cannot
// drift: on every backend, each result has every field its interface requires and no field it
// does not declare.
const fs = require('node:fs')
const path = require('node:path')
const { addon, backends, cleanup } = require('./helpers')

const DTS = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')

/** The fields an interface declares (its parents' too): name → required. */
function fieldsOf(name) {
  const m = new RegExp(`^export interface ${name}(?:<[^>]*>)?(?: extends ([\\w, <>]+))? \\{\\n([\\s\\S]*?)^\\}`, 'm').exec(DTS)
  if (!m) throw new Error(`index.d.ts has no interface ${name}`)
  const fields = new Map()
  for (const parent of (m[1] ?? '').split(',').map((p) => p.trim().replace(/<.*$/, '')).filter(Boolean)) {
    for (const [k, v] of fieldsOf(parent)) fields.set(k, v)
  }
  for (const line of m[2].split('\n')) {
    const f = /^ {2}(?:readonly )?(\w+)(\??):/.exec(line)
    if (f) fields.set(f[1], f[2] !== '?')
  }
  return fields
}

function expectShape(name, value) {
  const declared = fieldsOf(name)
  const keys = Object.keys(value)
  const undeclared = keys.filter((k) => !declared.has(k))
  const missing = [...declared].filter(([k, required]) => required && !keys.includes(k)).map(([k]) => k)
  expect({ name, undeclared, missing }).toEqual({ name, undeclared: [], missing: [] })
}

afterAll(cleanup)

describe.each(backends())('%s', (_backend, freshConfig) => {
  test('every result has exactly the fields its interface declares', async () => {
    const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, HandlerRegistryRepository, WorkflowRepository, WorkflowPersistenceService, WorkflowCache, WorkflowCacheService } = addon
    const db = await WorkflowDatabase.connect(freshConfig())
    try {
      const executions = new WorkflowExecutionRepository(db)
      const metrics = new WorkflowMetricsRepository(db)
      const handlers = new HandlerRegistryRepository(db)
      const row = await executions.create({ workflowId: 'shape', workflowName: 'Shape' })
      expectShape('WorkflowExecutionRow', row)
      expectShape('WorkflowMetricRow', await metrics.recordMetric({ executionId: row.execution_id, metricName: 'm', metricValue: 1 }))
      expectShape('HandlerRow', await handlers.registerHandler({ handlerType: 'shape', handlerName: 'Shape' }))
      expectShape('HandlerUsageRow', await handlers.recordHandlerUsage({ handlerType: 'shape', executionId: row.execution_id, status: 'success', executionTime: 5 }))
      expectShape('ExecutionStatistics', await executions.getStatistics())
      expectShape('MetricStatistics', await metrics.getMetricsStatistics())
      expectShape('MetricAggregateRow', (await metrics.getAggregatedMetrics())[0])
      const service = new WorkflowPersistenceService(new WorkflowRepository(executions, metrics))
      expectShape('WorkflowStatistics', await service.getWorkflowStatistics())
      expectShape('SeedSummary', await db.seed())
      expectShape('Metrics', db.getMetrics())
      expectShape('Health', await db.health())
      expectShape('ConnectionStatus', db.getConnectionStatus())
      expectShape('DatabaseStatus', await db.status())
      expectShape('MigrationStatus', (await db.migrationStatus())[0])
      expectShape('TableStatus', (await db.status()).tables[0])
      const cache = new WorkflowCache()
      cache.set('k', 1, { metadata: { a: 1 } })
      expectShape('WorkflowCacheStats', cache.getStats())
      expectShape('CacheEntry', cache.entries()[0])
      expectShape('CacheEntryMetadata', cache.getMetadata('k'))
      const rows = new WorkflowCacheService(db)
      expectShape('CacheServiceStats', rows.getStats())
    } finally {
      await db.close()
    }
  })
})
