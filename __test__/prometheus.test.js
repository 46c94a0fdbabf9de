'use strict'
// prom-client, done its way: db.registerMetrics(registry, { labels }) registers each family once
// however many databases feed the registry, valid in both content types; toPrometheus({ labels })
// for users without prom-client.
const promClient = require('prom-client')
const { addon, backends, cleanup } = require('./helpers')
const { parseExposition } = require('./exposition')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowInfraError } = addon

afterAll(cleanup)

/** Two databases of `config()`, each with some calls made. */
async function two(config) {
  const dbs = [await WorkflowDatabase.connect(config()), await WorkflowDatabase.connect(config())]
  for (const [i, db] of dbs.entries()) {
    const repo = new WorkflowExecutionRepository(db)
    for (let n = 0; n <= i; n++) await repo.create({ workflowId: 'p', workflowName: 'P' })
  }
  return dbs
}

const sampleOf = (parsed, name, labels) => parsed.samples.find((s) => s.name === name && Object.entries(labels).every(([k, v]) => s.labels[k] === v))

describe.each(backends())('%s', (backend, freshConfig) => {
  test.each([
    ['Prometheus', promClient.Registry.PROMETHEUS_CONTENT_TYPE],
    ['OpenMetrics', promClient.Registry.OPENMETRICS_CONTENT_TYPE],
  ])('two databases in one %s registry: each family once, each series by its labels', async (kind, contentType) => {
    const [a, b] = await two(freshConfig)
    try {
      const registry = new promClient.Registry(contentType)
      promClient.collectDefaultMetrics({ register: registry })
      new promClient.Counter({ name: 'app_requests_total', help: 'Requests.', registers: [registry] }).inc()
      a.registerMetrics(registry, { labels: { db: 'a' } })
      b.registerMetrics(registry, { labels: { db: 'b', region: 'eu "west"' } })
      const text = await registry.metrics()
      const parsed = parseExposition(text, { openMetrics: kind === 'OpenMetrics' })
      const calls = kind === 'OpenMetrics' ? 'workflow_infra_calls' : 'workflow_infra_calls_total'
      expect(parsed.families[calls]).toBe('counter')
      expect(parsed.families.workflow_infra_call_duration_seconds).toBe('histogram')
      expect(text.match(/^# TYPE workflow_infra_/gm).length).toBe(Object.keys(parsed.families).filter((f) => f.startsWith('workflow_infra_')).length)
      const op = { backend, operation: 'create_workflow_execution' }
      expect(sampleOf(parsed, 'workflow_infra_calls_total', { ...op, db: 'a' }).value).toBe(1)
      expect(sampleOf(parsed, 'workflow_infra_calls_total', { ...op, db: 'b', region: 'eu \\"west\\"' }).value).toBe(2)
      expect(sampleOf(parsed, 'workflow_infra_call_duration_seconds_count', { ...op, db: 'b' }).value).toBe(2)
      expect(parsed.families.app_requests_total ?? parsed.families.app_requests).toBe('counter')
      expect(text).toContain('process_cpu_user_seconds_total')
      // A later collection sees later calls.
      await new WorkflowExecutionRepository(a).create({ workflowId: 'p', workflowName: 'P' })
      const again = parseExposition(await registry.metrics(), { openMetrics: kind === 'OpenMetrics' })
      expect(sampleOf(again, 'workflow_infra_calls_total', { ...op, db: 'a' }).value).toBe(2)
    } finally {
      await a.close()
      await b.close()
    }
  })
})

test('the same labels twice, the same database twice, or a registry that is not one are refused', async () => {
  const [a, b] = await two(() => ({ type: 'memory' }))
  const registry = new promClient.Registry()
  const unregister = a.registerMetrics(registry, { labels: { db: 'x' } })
  const refused = (f) => {
    try {
      f()
    } catch (err) {
      return err
    }
    throw new Error('not refused')
  }
  for (const err of [
    refused(() => b.registerMetrics(registry, { labels: { db: 'x' } })),
    refused(() => a.registerMetrics(registry, { labels: { db: 'y' } })),
    refused(() => b.registerMetrics({}, {})),
    refused(() => b.registerMetrics(registry, { labels: { le: 'secret-value' } })),
    refused(() => b.registerMetrics(registry, { labels: { 'bad-name': 'v' } })),
    refused(() => b.registerMetrics(registry, { labels: { db: 42 } })),
    refused(() => b.registerMetrics(registry, { lables: {} })),
  ]) {
    expect(err).toBeInstanceOf(WorkflowInfraError)
    expect(err.code).toBe('ERR_VALIDATION')
    expect(err.message).not.toContain('secret-value')
    expect(err.meta.argument).toMatch(/^(registry|options|options\.labels)$/)
  }
  // Unregistered, and a closed database left out of collections.
  b.registerMetrics(registry, { labels: { db: 'b' } })
  unregister()
  await b.close()
  const text = await registry.metrics()
  expect(parseExposition(text).samples.filter((s) => s.name.startsWith('workflow_infra_'))).toEqual([])
  await a.close()
})

test('toPrometheus({ labels }) adds the labels to every sample; bad labels are refused', async () => {
  const db = await WorkflowDatabase.connect({ type: 'memory' })
  await db.status()
  const parsed = parseExposition(db.toPrometheus({ labels: { service: 'api', note: 'a\\b\nc' } }))
  expect(parsed.samples.length).toBeGreaterThan(0)
  for (const s of parsed.samples) expect(s.labels).toMatchObject({ service: 'api', note: 'a\\\\b\\nc', backend: 'memory' })
  expect(() => db.toPrometheus({ labels: { backend: 'x' } })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
  expect(() => db.toPrometheus('labels')).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
  const noUptime = (text) => text.replace(/^workflow_infra_uptime_seconds.*$/m, '')
  expect(noUptime(db.toPrometheus())).toBe(noUptime(db.toPrometheus({})))
  await db.close()
})
