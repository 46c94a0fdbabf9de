'use strict'
// Tracing through node:diagnostics_channel, pages walked with `for await`, and
// Symbol.asyncDispose — the package's JavaScript layer (lib/), on every backend.

const path = require('node:path')
const dc = require('node:diagnostics_channel')
const { addon, backends, cleanup, runNode } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, WorkflowRepository, HandlerRegistryRepository } = addon

afterAll(cleanup)

/** Subscribes to the package's channel for the duration of `run`; resolves the events seen. */
async function recorded(run) {
  const channel = dc.tracingChannel('@pidea/workflow-infra:call')
  const events = []
  const handlers = {}
  for (const name of ['start', 'end', 'asyncStart', 'asyncEnd', 'error']) {
    handlers[name] = (context) => events.push([name, { ...context }])
  }
  channel.subscribe(handlers)
  try {
    await run()
  } finally {
    channel.unsubscribe(handlers)
  }
  return events
}

describe.each(backends())('%s', (backend, freshConfig) => {
  let db
  let repo
  beforeAll(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    repo = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
  })
  afterAll(() => db.close())

  test('a call publishes start, end, asyncStart, asyncEnd with { operation, backend, executionId }', async () => {
    const events = await recorded(() => repo.saveExecution({ executionId: `t-${backend}`, workflowId: 'wf', workflowName: 'W' }))
    expect(events.map(([name]) => name)).toEqual(['start', 'end', 'asyncStart', 'asyncEnd'])
    expect(events[0][1]).toEqual({ operation: 'WorkflowRepository.saveExecution', backend, executionId: `t-${backend}` })
    expect(events[3][1].result).toMatchObject({ execution_id: `t-${backend}` })
  })

  test('a failed call publishes error with the WorkflowInfraError, and still ends', async () => {
    const events = await recorded(() => repo.updateExecution('t-x', { status: 'nope' }).catch(() => {}))
    expect(events.map(([name]) => name)).toEqual(['start', 'end', 'error', 'asyncStart', 'asyncEnd'])
    expect(events[2][1].error).toBeInstanceOf(addon.WorkflowInfraError)
    expect(events[2][1]).toMatchObject({ operation: 'WorkflowRepository.updateExecution', backend, executionId: 't-x' })
  })

  test('connect is traced with the backend its configuration names', async () => {
    const events = await recorded(async () => (await WorkflowDatabase.connect(freshConfig())).close())
    const starts = events.filter(([name]) => name === 'start').map(([, c]) => c)
    expect(starts).toEqual([
      { operation: 'WorkflowDatabase.connect', backend },
      { operation: 'WorkflowDatabase.close', backend },
    ])
  })

  test('for await walks every page of a paged call, following nextCursor', async () => {
    const executions = new WorkflowExecutionRepository(db)
    const workflowId = `paged-${backend}`
    for (let i = 0; i < 23; i++) await executions.create({ workflowId, workflowName: 'P' })
    const seen = []
    for await (const row of executions.findByWorkflowId(workflowId, { limit: 5 })) seen.push(row.execution_id)
    expect(seen).toHaveLength(23)
    expect(new Set(seen).size).toBe(23)
    // Awaiting the same call still gives its first page.
    const first = await executions.findByWorkflowId(workflowId, { limit: 5 })
    expect(first).toHaveLength(5)
    expect(first.nextCursor).toEqual(expect.any(String))

    const handlers = new HandlerRegistryRepository(db)
    for (let i = 0; i < 7; i++) await handlers.registerHandler({ handlerType: `h${i}-${backend}`, handlerName: 'H', handlerClass: 'C' })
    const types = []
    for await (const h of handlers.getAllHandlers({ limit: 2 })) types.push(h.handler_type)
    expect(types.filter((t) => t.endsWith(`-${backend}`))).toHaveLength(7)
  })

  test('Symbol.asyncDispose closes the database (await using)', async () => {
    const other = await WorkflowDatabase.connect(freshConfig())
    expect(other.isConnected).toBe(true)
    await other[Symbol.asyncDispose]()
    expect(other.isConnected).toBe(false)
  })
})

test('once its subscriber left, the channel hears nothing more', async () => {
  const db = await WorkflowDatabase.connect({ type: 'memory' })
  const seen = await recorded(() => db.status())
  expect(seen.length).toBe(4)
  const channel = dc.tracingChannel('@pidea/workflow-infra:call')
  expect(channel.start.hasSubscribers).toBe(false)
  const p = db.status()
  expect(Object.prototype.toString.call(p)).toBe('[object Promise]')
  await p
  await db.close()
  expect(seen.length).toBe(4)
})

test('examples/otel.js turns the calls into OpenTelemetry spans', async () => {
  const r = await runNode(`require(${JSON.stringify(path.join(__dirname, '..', 'examples', 'otel.js'))}); require('module').prototype`, {})
  expect(r.code).toBe(0)
  const child = await runNode('', { nodeArgs: [path.join(__dirname, '..', 'examples', 'otel.js')] })
  expect(child.code).toBe(0)
  const spans = child.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
  expect(spans.map((s) => s.name)).toEqual([
    'WorkflowDatabase.connect',
    'WorkflowRepository.saveExecution',
    'WorkflowRepository.recordExecutionMetrics',
    'WorkflowRepository.updateExecution',
    'WorkflowDatabase.close',
  ])
  expect(spans[1].attributes).toMatchObject({ 'workflow_infra.backend': 'memory', 'workflow_infra.execution_id': 'run-1' })
  expect(spans[3]).toMatchObject({ status: 2, events: ['exception'], attributes: { 'error.type': 'ERR_VALIDATION' } })
})
