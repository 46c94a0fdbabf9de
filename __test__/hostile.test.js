'use strict'
// Hostile but ordinary input: secrets of the wrong type, throwing getters, Proxies and revoked
// Proxies, cycles. A Promise method never throws, rejects with a documented code, and no value a
// caller passed shows in a message, a cause, a stack, util.inspect or JSON.stringify.
const util = require('node:util')
const { addon, cleanup } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowRepository, WorkflowMetricsRepository, WorkflowEventHandlers, WorkflowEventService } = addon

afterAll(cleanup)

const SECRET = 'S3cretPW'
const CODES = ['ERR_VALIDATION', 'ERR_CONFLICT', 'ERR_DB_UNAVAILABLE', 'ERR_DB_REFUSED', 'ERR_DB', 'ERR_CLOSED', 'ERR_MIGRATION', 'ERR_TIMEOUT', 'ERR_OVERLOADED', 'ERR_INTERNAL']

/** Calls `f` and returns its rejection; fails on a synchronous throw or a fulfilment. */
async function rejection(f) {
  let promise
  try {
    promise = f()
  } catch (err) {
    throw new Error(`threw synchronously: ${err && err.message}`)
  }
  expect(typeof promise.then).toBe('function')
  return promise.then(
    () => {
      throw new Error('resolved, expected a rejection')
    },
    (err) => err,
  )
}

/** Every way an error can be shown, without the secret. */
function expectNoSecret(err) {
  const shown = [util.inspect(err, { depth: 10 }), JSON.stringify(err), String(err.stack)]
  for (let e = err; e; e = e.cause) shown.push(e.message)
  for (const text of shown) expect(text).not.toContain(SECRET)
}

function throwing() {
  return {
    get url() {
      throw new Error(`getter with ${SECRET}`)
    },
  }
}

function revoked() {
  const { proxy, revoke } = Proxy.revocable({}, {})
  revoke()
  return proxy
}

const trapping = () =>
  new Proxy(
    {},
    {
      ownKeys() {
        throw new Error(`trap with ${SECRET}`)
      },
    },
  )

describe('connect', () => {
  const url = `postgres://user:${SECRET}@127.0.0.1:1/db`
  test.each([
    ['a WHATWG URL', { url: new URL(url) }],
    ['a url in an array', { url: [url] }],
    ['a url in a Buffer', { url: Buffer.from(url) }],
    ['a numeric password', { type: 'postgresql', password: 12345678 }],
    ['a password in an object', { type: 'postgresql', password: { value: SECRET } }],
    ['a fallback that is a string', { type: 'postgresql', fallback: url }],
    ['a throwing getter', throwing()],
    ['a revoked Proxy', revoked()],
    ['a Proxy whose trap throws', trapping()],
    ['a password that is a cycle', (() => { const c = { type: 'postgresql', s: SECRET }; c.password = c; return c })()],
  ])('%s: ERR_VALIDATION naming the key and type, never the value', async (_name, config) => {
    const err = await rejection(() => WorkflowDatabase.connect(config))
    expect(err.code).toBe('ERR_VALIDATION')
    expect(err.message).toMatch(/^Failed to connect to database: /)
    expectNoSecret(err)
  })

  test('the message names the key and the type it has', async () => {
    const err = await rejection(() => WorkflowDatabase.connect({ url: new URL(url) }))
    expect(err.message).toBe('Failed to connect to database: config.url must be a string, not object')
  })
})

describe('repository methods with values that throw when read', () => {
  let db, executions
  beforeAll(async () => {
    db = await WorkflowDatabase.connect({ type: 'memory' })
    executions = new WorkflowExecutionRepository(db)
  })
  afterAll(() => db.close())

  const hostile = {
    'a throwing getter': () => ({
      workflowId: 'w',
      get workflowName() {
        throw new Error(SECRET)
      },
    }),
    'a revoked Proxy': revoked,
    'a Proxy whose trap throws': trapping,
    'a nested throwing getter': () => ({ workflowId: 'w', workflowName: 'W', metadata: { get x() { throw new Error(SECRET) } } }),
    'metadata that is a cycle': () => {
      const metadata = { s: SECRET }
      metadata.self = metadata
      return { workflowId: 'w', workflowName: 'W', metadata }
    },
    'metadata nested 100 000 deep': () => {
      let metadata = {}
      for (let i = 0; i < 100000; i++) metadata = { a: metadata }
      return { workflowId: 'w', workflowName: 'W', metadata }
    },
  }
  test.each(Object.keys(hostile))('create(%s) rejects with a documented code', async (name) => {
    const err = await rejection(() => executions.create(hostile[name]()))
    expect(CODES).toContain(err.code)
    expect(err.code).toBe('ERR_VALIDATION')
    expectNoSecret(err)
    expect(await executions.findAll()).toEqual([])
  })

  test('update(id, a revoked Proxy) and findByWorkflowId(a throwing getter) reject too', async () => {
    expect((await rejection(() => executions.update('x', revoked()))).code).toBe('ERR_VALIDATION')
    expect((await rejection(() => executions.findByWorkflowId(throwing()))).code).toBe('ERR_VALIDATION')
  })
})

describe('event names that are not strings', () => {
  test('handle(non-string) resolves without a write; getHandlerCount(non-string) is 0', async () => {
    const db = await WorkflowDatabase.connect({ type: 'memory' })
    const repository = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
    const bus = new WorkflowEventService()
    const handlers = new WorkflowEventHandlers(repository, bus)
    for (const eventType of [42, { password: SECRET }, null, revoked()]) {
      await expect(handlers.handle(eventType, {})).resolves.toBeUndefined()
    }
    expect(bus.getHandlerCount(42)).toBe(0)
    expect(bus.getHandlerCount({ toString: () => 'x' })).toBe(0)
    await db.close()
  })
})

describe('hostile loggers', () => {
  const proxyLogger = () =>
    new Proxy(
      {},
      {
        get() {
          throw new Error(`logger trap with ${SECRET}`)
        },
        has() {
          throw new Error('has trap')
        },
      },
    )
  const throwingError = () => ({
    info() {},
    debug() {},
    warn() {},
    get error() {
      throw new Error(SECRET)
    },
  })
  const throwingMethods = () => Object.fromEntries(['info', 'debug', 'warn', 'error'].map((m) => [m, () => { throw new Error(SECRET) }]))

  test.each([
    ['a Proxy whose traps throw', proxyLogger],
    ['a throwing error getter', throwingError],
    ['methods that throw', throwingMethods],
  ])('%s never breaks a call', async (_name, make) => {
    const db = await WorkflowDatabase.connect({ type: 'memory' })
    const repository = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
    repository.setLogger(make())
    const saved = await repository.saveExecution({ workflowId: 'w', workflowName: 'W' })
    expect(saved.workflow_id).toBe('w')
    const err = await rejection(() => repository.saveExecution({ workflowId: 'w' }))
    expect(err.code).toBe('ERR_VALIDATION')
    expect(await repository.getExecutionWithMetrics('missing')).toBeNull()
    const handlers = new WorkflowEventHandlers(repository, new WorkflowEventService(), make())
    await expect(handlers.handleWorkflowExecutionStarted({ executionId: 'missing' })).resolves.toBeUndefined()
    await db.close()
  })

  test('a setLogger logger that throws never escapes into Node', async () => {
    const { runNode } = require('./helpers')
    const r = await runNode(
      `
      const w = require('.')
      w.setLogger(new Proxy({}, { get() { throw new Error('trap') } }))
      ;(async () => {
        const db = await w.WorkflowDatabase.connect({ type: 'memory' })
        const repo = new w.WorkflowRepository(new w.WorkflowExecutionRepository(db), new w.WorkflowMetricsRepository(db))
        const handlers = new w.WorkflowEventHandlers(repo, new w.WorkflowEventService())
        for (let i = 0; i < 20; i++) await handlers.handle('no.such.event', {}) // each logs a warning
        w.setLogger({ info() {}, debug() {}, warn() { throw new Error('warn throws') }, error() {} })
        for (let i = 0; i < 20; i++) await handlers.handle('no.such.event', {})
        await new Promise((r) => setTimeout(r, 100))
        await db.close()
        console.log('survived')
      })()`,
      { nodeArgs: ['--force-node-api-uncaught-exceptions-policy=true'], env: { WORKFLOW_INFRA_LOG: 'warn' } },
    )
    expect(r.stdout.trim()).toBe('survived')
    expect(r.code).toBe(0)
    expect(r.stderr).not.toMatch(/DEP0168|Uncaught/)
  })
})

describe('constructors and synchronous methods throw documented codes', () => {
  const { WorkflowPersistenceService, WorkflowCacheService, HandlerRegistryRepository, setLogger } = addon
  const codeOf = (f) => {
    try {
      f()
    } catch (err) {
      expect(err.message).not.toContain(SECRET)
      return err.code
    }
    return 'no throw'
  }
  test('a wrong argument is ERR_VALIDATION, never InvalidArg or StringExpected', async () => {
    const db = await WorkflowDatabase.connect({ type: 'memory' })
    const executions = new WorkflowExecutionRepository(db)
    const cases = [
      () => new WorkflowExecutionRepository({ secret: SECRET }),
      () => new WorkflowMetricsRepository(SECRET),
      () => new HandlerRegistryRepository(42),
      () => new WorkflowRepository(executions, executions),
      () => new WorkflowRepository(SECRET, SECRET),
      () => new WorkflowPersistenceService({}),
      () => new WorkflowEventHandlers(null, new WorkflowEventService()),
      () => new WorkflowCacheService(SECRET),
      () => new WorkflowEventService(SECRET),
      () => executions.toSnakeCase(42),
      () => new HandlerRegistryRepository(db).toSnakeCase({ s: SECRET }),
      () => setLogger(SECRET),
      () => new WorkflowRepository(executions, new WorkflowMetricsRepository(db)).setLogger(42),
    ]
    expect(cases.map(codeOf)).toEqual(cases.map(() => 'ERR_VALIDATION'))
    expect(executions.toSnakeCase('workflowName')).toBe('workflow_name')
    await db.close()
  })
})

describe('worker_threads', () => {
  test('terminating workers mid-write never panics the writer thread', async () => {
    // The fault suite's experiment, at a size for the test run.
    const { terminatedWorkers } = require('../chaos/experiments')
    const result = await terminatedWorkers(12)
    require('../chaos/lib').cleanupScratch()
    expect(result.failures).toEqual([])
    expect(result.figures).toEqual({ terminations: 12, panics: 0 })
  })
})

describe('WorkflowCache with hostile arguments', () => {
  test('every method returns or throws a coded error without the value, and the cache stays whole', () => {
    const { WorkflowCache, WorkflowInfraError } = addon
    const quiet = { info() {}, debug() {}, warn() {}, error() {} }
    const cycle = { s: SECRET }
    cycle.self = cycle
    const values = [undefined, null, SECRET, 0, -1, NaN, Infinity, 1n, Symbol(SECRET), [SECRET], cycle, throwing(), revoked(), trapping(), () => SECRET, new Date(NaN)]
    const cache = new WorkflowCache({ maxSize: 8, logger: quiet })
    const calls = [
      (v) => new WorkflowCache(v),
      (v) => new WorkflowCache({ maxSize: v, logger: quiet }),
      (v) => new WorkflowCache({ ttl: v, logger: quiet }),
      (v) => new WorkflowCache({ logger: v }),
      (v) => cache.set(v, 1),
      (v) => cache.set('k', v),
      (v) => cache.set('k', 1, v),
      (v) => cache.set('k', 1, { ttl: v }),
      (v) => cache.set('k', 1, { metadata: v }),
      (v) => cache.get(v),
      (v) => cache.has(v),
      (v) => cache.delete(v),
      (v) => cache.setConfig(v),
      (v) => cache.setConfig({ maxSize: v }),
      (v) => cache.getMetadata(v),
      (v) => cache.updateMetadata('k', v),
      (v) => cache.updateMetadata(v, { a: 1 }),
      (v) => cache.setExpirationTimer('k', v),
      (v) => cache.setExpirationTimer(v, 10),
      (v) => cache.clearExpirationTimer(v),
    ]
    let thrown = 0
    for (const call of calls) {
      for (const v of values) {
        try {
          call(v)
        } catch (err) {
          thrown++
          expect(err).toBeInstanceOf(WorkflowInfraError)
          expect(CODES).toContain(err.code)
          expectNoSecret(err)
        }
      }
    }
    expect(thrown).toBeGreaterThan(100)
    const s = cache.getStats()
    expect(s.size).toBeLessThanOrEqual(cache.maxSize)
    expect(s.sets).toBeGreaterThanOrEqual(s.size + s.deletes + s.evictions + s.expirations)
    expect(cache.entries()).toHaveLength(s.size)
  })
})
