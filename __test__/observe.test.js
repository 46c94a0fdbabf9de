'use strict'
// The package's own figures on every backend: getMetrics(), toPrometheus() (checked as
// Prometheus text exposition, alone and after prom-client's registry) and health().
const promClient = require('prom-client')
const { addon, backends, cleanup } = require('./helpers')
const { parseExposition } = require('./exposition')

const { WorkflowDatabase, WorkflowExecutionRepository } = addon

afterAll(cleanup)

const value = (parsed, name, labels) =>
  parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))?.value

describe.each(backends())('%s', (backend, freshConfig) => {
  let db, repo
  beforeEach(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    repo = new WorkflowExecutionRepository(db)
  })
  afterEach(() => db.close())

  test('getMetrics() counts calls, errors by code, latencies and commit groups', async () => {
    await Promise.all(Array.from({ length: 40 }, () => repo.create({ workflowId: 'obs', workflowName: 'Obs' })))
    await repo.findByWorkflowId('obs')
    const refused = await repo.create({ workflowId: 42 }).catch((e) => e.code)
    await repo.create({ executionId: 'twice', workflowId: 'obs', workflowName: 'Obs' })
    const conflict = await repo.create({ executionId: 'twice', workflowId: 'obs', workflowName: 'Obs' }).catch((e) => e.code)
    expect([refused, conflict]).toEqual(['ERR_VALIDATION', 'ERR_CONFLICT'])

    const m = db.getMetrics()
    expect(m.backend).toBe(db.getType())
    expect(m.errors).toMatchObject({ ERR_VALIDATION: 1, ERR_CONFLICT: 1, ERR_DB: 0, ERR_INTERNAL: 0 })
    expect(Object.keys(m.errors).sort()).toEqual(Object.keys(addon).filter((k) => k.startsWith('ERR_')).sort())
    const create = m.operations.create_workflow_execution
    expect(create).toMatchObject({ calls: 43, errors: 2 })
    expect(create.latency.count).toBe(43)
    expect(create.latency.counts).toHaveLength(create.latency.bounds.length + 1)
    expect(create.latency.counts[create.latency.counts.length - 1]).toBe(43)
    for (let i = 1; i < create.latency.counts.length; i++) expect(create.latency.counts[i]).toBeGreaterThanOrEqual(create.latency.counts[i - 1])
    expect(create.latency.sum).toBeGreaterThan(0)
    expect(m.operations.find_workflow_executions_by_workflow_id.calls).toBe(1)
    expect(m.calls).toBe(Object.values(m.operations).reduce((n, o) => n + o.calls, 0))
    // Each create that reached the database was in one commit group; the refused one was not.
    expect(m.groupSizes.sum).toBe(42)
    expect(m).toMatchObject({ inFlight: 0, writeQueue: 0, reconnects: 0, breakerOpen: false, fallbackActive: false, events: { published: 0, delivered: 0 } })
    if (backend === 'postgresql') {
      expect(m.pool).toMatchObject({ max: 10 })
      expect(m.pool.size).toBe(m.pool.idle + m.pool.inUse)
    } else {
      expect(m.pool).toBeNull()
    }
  })

  test('toPrometheus() is valid exposition, agrees with getMetrics(), and follows prom-client', async () => {
    await Promise.all(Array.from({ length: 5 }, () => repo.create({ workflowId: 'obs', workflowName: 'Obs' })))
    await repo.create({}).catch(() => {})
    const text = db.toPrometheus()
    const parsed = parseExposition(text)
    const labels = { backend: db.getType() }
    expect(value(parsed, 'workflow_infra_calls_total', { ...labels, operation: 'create_workflow_execution' })).toBe(6)
    expect(value(parsed, 'workflow_infra_errors_total', { ...labels, code: 'ERR_VALIDATION' })).toBe(1)
    expect(value(parsed, 'workflow_infra_call_duration_seconds_count', { ...labels, operation: 'create_workflow_execution' })).toBe(6)
    expect(value(parsed, 'workflow_infra_group_size_sum', labels)).toBe(5)
    expect(parsed.families.workflow_infra_call_duration_seconds).toBe('histogram')
    // Every backend declares the same families; only PostgreSQL's pool has samples.
    expect(parsed.families.workflow_infra_pool_connections).toBe('gauge')
    expect(parsed.samples.some((s) => s.family === 'workflow_infra_pool_connections')).toBe(backend === 'postgresql')

    // Appended to a prom-client registry's own output: still one valid exposition.
    const registry = new promClient.Registry()
    promClient.collectDefaultMetrics({ register: registry })
    new promClient.Counter({ name: 'pidea_requests_total', help: 'Requests.', registers: [registry] }).inc()
    const combined = parseExposition((await registry.metrics()) + db.toPrometheus())
    expect(combined.families.pidea_requests_total).toBe('counter')
    expect(combined.families.workflow_infra_calls_total).toBe('counter')
  })

  test('health() reports a database that answers, and ERR_CLOSED after close()', async () => {
    const up = await db.health()
    expect(up).toMatchObject({ ok: true, backend: db.getType(), usedFallback: false, breakerOpen: false, diskFull: false, error: null })
    expect(up.latencyMs).toBeGreaterThan(0)
    await db.close()
    const down = await db.health()
    expect(down).toMatchObject({ ok: false, backend: db.getType(), error: { code: 'ERR_CLOSED' } })
    expect(() => db.getMetrics()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }))
    expect(() => db.toPrometheus()).toThrow(expect.objectContaining({ code: 'ERR_CLOSED' }))
  })
})

test('the exposition checker refuses what Prometheus would', () => {
  expect(() => parseExposition('x 1\n')).toThrow(/before its TYPE/)
  expect(() => parseExposition('# TYPE x counter\n# TYPE x counter\n')).toThrow(/TYPE twice/)
  expect(() => parseExposition('# TYPE h histogram\nh_bucket{le="1"} 2\nh_bucket{le="+Inf"} 1\nh_count 1\n')).toThrow(/cumulative/)
  expect(() => parseExposition('# TYPE x gauge\nx{a=b} 1\n')).toThrow(/bad label/)
})
