'use strict'
// WorkflowCache (synchronous), setLogger, and the command line's stats, cleanup and demo.
const { execFile } = require('node:child_process')
const path = require('node:path')
const util = require('node:util')
const { addon, cleanup, freshSqlitePath, runNode } = require('./helpers')
const { recorder } = require('./standins')

const { WorkflowCache } = addon

afterAll(cleanup)

const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const quiet = { info() {}, debug() {}, warn() {}, error() {} }

describe('WorkflowCache', () => {
  test('the API is synchronous and returns the very values that were stored', () => {
    const cache = new WorkflowCache({ logger: quiet })
    const value = { a: [1, 'two', null, { deep: true }], when: new Date(5), nothing: undefined }
    expect(cache.set('k', value)).toBe(true)
    expect(util.types.isPromise(cache.get('k'))).toBe(false)
    // The same object, as from a Map: a change to it is seen by the next reader.
    expect(cache.get('k')).toBe(value)
    value.a.push('mutated')
    expect(cache.get('k').a).toHaveLength(5)
    // Any JS value: functions, symbols, bigints, strings, numbers, booleans, undefined.
    const f = () => 1
    const sym = Symbol('s')
    const values = [f, sym, 10n ** 30n, '', 'text', 0, -0, NaN, 1.5, true, false, undefined, null]
    values.forEach((v, i) => expect(cache.set(`v${i}`, v)).toBe(true))
    values.forEach((v, i) => expect(Object.is(cache.get(`v${i}`), v)).toBe(true))
    expect(cache.values()).toEqual(expect.arrayContaining([value, f, sym]))
    expect(cache.entries().find((e) => e.key === 'k').value).toBe(value)
    // Numbers and strings are different keys, as in a Map.
    cache.set(1, 'number')
    cache.set('1', 'string')
    expect([cache.get(1), cache.get('1')]).toEqual(['number', 'string'])
    // Strings that differ only in unpaired surrogates are different keys, as in a Map.
    cache.set('\uD800', 'high')
    cache.set('\uDC00', 'low')
    expect([cache.get('\uD800'), cache.get('\uDC00')]).toEqual(['high', 'low'])
    expect(new Set(cache.keys())).toEqual(new Set([1, '1', 'k', '\uD800', '\uDC00', ...values.map((_, i) => `v${i}`)]))
    // A stored null is told apart from a miss.
    expect(cache.get('v12')).toBeNull()
    expect(cache.has('v12')).toBe(true)
    expect(cache.has('missing')).toBe(false)
    expect(cache.get('missing')).toBeNull()
    // Metadata is kept as data: metadata that cannot be is refused, and nothing is stored.
    expect(cache.set('m', 1, { metadata: { callback: () => 1 } })).toBe(false)
    expect(cache.has('m')).toBe(false)
    expect(() => cache.get({})).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(() => cache.set(NaN, 1)).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(() => cache.set('k', 1, { ttl: -5 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(cache.get('k')).toBe(value)
    expect(() => new WorkflowCache({ maxSize: 0 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(() => new WorkflowCache({ ttl: -1 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
  })

  test('get, set, has and delete are bound to their instance; a subclass overrides them', () => {
    const cache = new WorkflowCache({ logger: quiet })
    const { get, set, has } = cache
    expect(set('k', 1)).toBe(true)
    expect([get('k'), has('k')]).toEqual([1, true])
    expect(Object.keys(cache)).toEqual([])
    // The prototype's methods are the same operations.
    expect(WorkflowCache.prototype.get.call(cache, 'k')).toBe(1)
    expect(WorkflowCache.prototype.delete.call(cache, 'k')).toBe(true)
    expect(() => WorkflowCache.prototype.get.call({}, 'k')).toThrow()
    class Tagged extends WorkflowCache {
      get(key) {
        return { tagged: super.get(key) }
      }
    }
    const tagged = new Tagged({ logger: quiet })
    tagged.set('k', 2)
    expect(tagged.get('k')).toEqual({ tagged: 2 })
    expect(tagged).toBeInstanceOf(WorkflowCache)
  })

  test('a value is released when its entry goes, and with a collected cache', async () => {
    const r = await runNode(
      `
      const { WorkflowCache } = require('.')
      const quiet = { info() {}, debug() {}, warn() {}, error() {} }
      const refs = {}
      const put = (cache, key) => { const v = { key }; refs[key] = new WeakRef(v); cache.set(key, v) }
      const kept = new WorkflowCache({ maxSize: 2, logger: quiet })
      put(kept, 'deleted')
      kept.delete('deleted')
      put(kept, 'rewritten')
      kept.set('rewritten', 'other') // a rewrite is a use: the entry is protected
      put(kept, 'evicted')
      put(kept, 'stays') // full: the entry used once goes
      ;(() => { const dropped = new WorkflowCache({ logger: quiet }); put(dropped, 'collected') })()
      const clearing = new WorkflowCache({ logger: quiet })
      put(clearing, 'cleared')
      clearing.clear()
      const expiring = new WorkflowCache({ ttl: 5, logger: quiet })
      put(expiring, 'expired')
      const rounds = (n, done) => (n === 0 ? done() : setTimeout(() => { gc(); rounds(n - 1, done) }, 20))
      setTimeout(() => {
        expiring.size() // expired entries go at the next call
        rounds(4, () => {
          const alive = Object.keys(refs).filter((k) => refs[k].deref() !== undefined)
          console.log(JSON.stringify({ alive, stays: kept.get('stays').key }))
        })
      }, 50)
    `,
      { nodeArgs: ['--expose-gc'] },
    )
    expect(r.stderr).toBe('')
    expect(JSON.parse(r.stdout)).toEqual({ alive: ['stays'], stays: 'stays' })
  })

  test('strings of every length and alphabet cross the boundary whole', () => {
    const cache = new WorkflowCache({ logger: quiet })
    // Around the 256-byte read buffer, with multi-byte characters straddling its end.
    const texts = [
      '',
      'ascii',
      'äöü €',
      '😀'.repeat(3),
      ...[248, 249, 250, 251, 252, 253, 254, 255, 256].flatMap((n) => ['a'.repeat(n), 'a'.repeat(n) + '€', 'a'.repeat(n) + '😀', 'é'.repeat(n)]),
      'x'.repeat(100000),
    ]
    for (const text of texts) {
      expect(cache.set(text, { text })).toBe(true)
      expect(cache.get(text)).toEqual({ text })
      expect(cache.keys()).toContain(text)
    }
    expect(cache.size()).toBe(new Set(texts).size)
  })

  test('maxSize is exact under churn, and frequently read entries survive a scan', () => {
    const cache = new WorkflowCache({ maxSize: 50, logger: quiet })
    for (let i = 0; i < 10; i++) {
      cache.set(`hot${i}`, i)
      cache.get(`hot${i}`)
    }
    let seed = 7
    for (let i = 0; i < 20000; i++) {
      seed = (seed * 1103515245 + 12345) % 2 ** 31
      const key = `k${seed % 500}`
      if (seed % 3 === 0) cache.get(key)
      else cache.set(key, i)
      if (i % 7 === 0) for (let h = 0; h < 10; h++) cache.get(`hot${h}`)
      expect(cache.size()).toBeLessThanOrEqual(50)
    }
    expect(cache.size()).toBe(50)
    expect(cache.isFull()).toBe(true)
    for (let h = 0; h < 10; h++) expect(cache.has(`hot${h}`)).toBe(true)
    // Rewriting a key in a full cache evicts nothing.
    const before = cache.getStats().evictions
    cache.set('hot0', 'again')
    expect(cache.getStats().evictions).toBe(before)
    // A smaller maxSize evicts at once.
    cache.setConfig({ maxSize: 5 })
    expect(cache.size()).toBe(5)
    cache.evictOldest()
    expect(cache.size()).toBe(4)
  })

  test('entries expire by TTL without timers; stats add up', async () => {
    const cache = new WorkflowCache({ ttl: 40, logger: quiet })
    cache.set('short', 1)
    cache.set('forever', 2, { ttl: Infinity, metadata: { owner: 'a' } })
    cache.set('huge', 3, { ttl: 2 ** 31 + 10 }) // beyond setTimeout's range: still honoured
    cache.set('gone', 4)
    expect(cache.delete('gone')).toBe(true)
    expect(cache.delete('gone')).toBe(false)
    expect(cache.get('short')).toBe(1)
    expect(cache.getMetadata('forever')).toMatchObject({ expiresAt: Infinity, metadata: { owner: 'a' } })
    expect(cache.updateMetadata('forever', { tier: 2 })).toBe(true)
    expect(cache.getMetadata('forever').metadata).toEqual({ owner: 'a', tier: 2 })
    await sleep(90) // expiry is read from the coarse clock: allow it a few ticks
    expect(cache.get('short')).toBeNull()
    expect(cache.has('huge')).toBe(true)
    expect(cache.get('forever')).toBe(2)
    expect(cache.setExpirationTimer('forever', 10)).toBe(true)
    await sleep(50)
    expect(cache.cleanup()).toBe(1)
    expect(cache.entries().map((e) => e.key)).toEqual(['huge'])
    const s = cache.getStats()
    expect(s).toMatchObject({ hits: 2, misses: 1, sets: 4, deletes: 1, expirations: 2, size: 1, maxSize: 1000, totalRequests: 3 })
    expect(s.hitRate).toBe(66.67)
    expect(s.sets).toBe(s.size + s.deletes + s.evictions + s.expirations)
    const { lines, logger } = recorder()
    cache.setConfig({ logger })
    cache.clear()
    expect(cache.size()).toBe(0)
    expect(lines).toEqual([{ level: 'info', message: 'WorkflowCache: Cache cleared', meta: { previousSize: 1 } }])
  })

  test('a process holding entries with long TTLs exits at once', async () => {
    const r = await runNode(`
      const { WorkflowCache } = require('.')
      const cache = new WorkflowCache({ ttl: 3600000, logger: { info() {}, debug() {}, warn() {}, error() {} } })
      for (let i = 0; i < 1000; i++) cache.set('k' + i, { i })
      console.log(cache.size())
    `)
    // runNode fails a child that has not exited within its timeout (here, long before the TTL).
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('1000')
  })
})

// The segmented LRU and its schedule of expiries, on a clock the test sets (Date is faked; a
// turn's end, `await turn()`, lets the cache read the clock afresh).
describe('WorkflowCache on a set clock', () => {
  beforeEach(() => jest.useFakeTimers({ now: 0, doNotFake: ['queueMicrotask', 'nextTick'] }))
  afterEach(() => jest.useRealTimers())
  const at = async (ms) => {
    jest.setSystemTime(ms)
    await Promise.resolve() // the turn ends
  }

  test('maxSize is exact and entries read again survive a scan of new ones', () => {
    const c = new WorkflowCache({ maxSize: 10, ttl: 0, logger: quiet })
    for (let i = 0; i < 5; i++) {
      c.set(`hot${i}`, i)
      expect(c.get(`hot${i}`)).toBe(i)
    }
    for (let i = 0; i < 1000; i++) {
      c.set(`scan${i}`, i)
      expect(c.size()).toBeLessThanOrEqual(10)
    }
    expect(c.size()).toBe(10)
    for (let i = 0; i < 5; i++) expect(c.has(`hot${i}`)).toBe(true)
    expect(c.getStats().evictions).toBe(1005 - 10)
  })

  test('TTLs expire without timers, each counted once; stats add up', async () => {
    const c = new WorkflowCache({ maxSize: 100, ttl: 1000, logger: quiet })
    c.set('a', null)
    c.set('b', 1, { ttl: Infinity })
    c.set('c', 2, { ttl: 10 })
    await at(500)
    expect([c.has('a'), c.get('a')]).toEqual([true, null])
    await at(11)
    expect(c.get('c')).toBeNull()
    await at(1001)
    expect(c.get('a')).toBeNull()
    await at(8.64e15 - 1)
    expect(c.has('b')).toBe(true)
    expect(c.delete('b')).toBe(true)
    expect(c.delete('b')).toBe(false)
    const s = c.getStats()
    expect([s.hits, s.misses, s.sets, s.expirations]).toEqual([1, 2, 3, 2])
    expect(s.sets).toBe(s.deletes + s.evictions + s.expirations + s.size)
  })

  test('a rewrite in a full cache evicts nothing; a smaller maxSize keeps the protected entry', () => {
    const c = new WorkflowCache({ maxSize: 2, logger: quiet })
    c.set('a', 1)
    c.set('b', 2)
    c.set('a', 3)
    expect([c.size(), c.getStats().evictions, c.get('a')]).toEqual([2, 0, 3])
    c.setConfig({ maxSize: 1 })
    expect([c.size(), c.has('a')]).toEqual([1, true])
    c.setConfig({ maxSize: 3 })
    c.set('x', 1)
    c.set('y', 2)
    expect(c.keys()).toEqual(['a', 'y', 'x'])
    expect(c.isFull()).toBe(true)
    // -0 and 0 are one key, as in a Map.
    c.set(-0, 'zero')
    expect(c.get(0)).toBe('zero')
  })

  test('entries list the protected segment first; evictOldest takes the least recent on probation', async () => {
    const c = new WorkflowCache({ maxSize: 4, ttl: 100, logger: quiet })
    ;['a', 'b', 'c'].forEach((k, n) => c.set(k, n))
    await at(1)
    expect(c.get('a')).toBe(0)
    expect(c.entries().map((e) => e.key)).toEqual(['a', 'c', 'b'])
    expect(c.getMetadata('b')).toEqual({ timestamp: 0, expiresAt: 100, metadata: {} })
    c.evictOldest()
    expect(c.has('b')).toBe(false)
    c.setConfig({ ttl: Infinity })
    c.set('d', 9)
    expect([c.getMetadata('d').expiresAt, c.ttl]).toEqual([Infinity, Infinity])
    await at(150)
    expect(c.cleanup()).toBe(2) // a and c expire; d never does
    c.clear()
    c.evictOldest()
    expect(c.size()).toBe(0)
    expect(c.getStats()).toMatchObject({ sets: 4, evictions: 1, expirations: 2, deletes: 1 })
  })

  test('a new expiry keeps the value, timestamp and place; string and number keys stay apart', async () => {
    const c = new WorkflowCache({ maxSize: 4, ttl: 100, logger: quiet })
    c.set('1', 1)
    c.set(1, 2)
    expect([c.get('1'), c.get(1)]).toEqual([1, 2])
    await at(50)
    expect(c.clearExpirationTimer('1')).toBe(true)
    expect(c.setExpirationTimer('missing', 5)).toBe(false)
    expect(c.getMetadata('1')).toEqual({ timestamp: 0, expiresAt: Infinity, metadata: {} })
    expect(c.setExpirationTimer(1, 10)).toBe(true) // sooner than the queued time
    await at(61)
    expect(c.cleanup()).toBe(1)
    await at(1000)
    expect(c.has('1')).toBe(true)
    expect(c.getStats().sets).toBe(2) // a new expiry is not a set
    expect(c.setExpirationTimer('1', 500)).toBe(true) // later than none
    await at(1499)
    expect(c.has('1')).toBe(true)
    await at(1501)
    expect(c.has('1')).toBe(false)
  })

  test('thousands of rewrites of a few keys: each expires at its latest write, never at a stale time', async () => {
    const c = new WorkflowCache({ maxSize: 8, ttl: 10, logger: quiet })
    for (let t = 0; t < 5000; t++) {
      await at(t)
      c.set(`k${t % 4}`, t)
    }
    await at(5005)
    expect(c.size()).toBe(4)
    expect(c.get('k0')).toBe(4996)
    await at(5007)
    expect(c.size()).toBe(3) // k0 (expiring at 5006) is gone, k1 (5007) is not yet
    expect(c.getStats().expirations).toBe(1)
    c.set('new', 0, { ttl: 1000 })
    await at(5500)
    expect(c.has('new')).toBe(true)
    // Shorter TTLs after longer ones (out of order) expire in order too.
    const d = new WorkflowCache({ maxSize: 100, ttl: 0, logger: quiet })
    for (let i = 0; i < 50; i++) d.set(`t${i}`, i, { ttl: 1000 - i * 10 })
    for (let step = 1; step <= 50; step++) {
      await at(5500 + 1000 - (50 - step) * 10 + 1)
      expect(d.size()).toBe(50 - step)
    }
  })

  test('metadata is data, copied in and out; the cache logs through its logger', () => {
    const { lines, logger } = recorder()
    const c = new WorkflowCache({ logger })
    const meta = { when: new Date(5), err: new TypeError('bad'), list: [1, { deep: 'x' }], ['__proto__']: { own: true } }
    Object.defineProperty(meta, '__proto__', { value: { own: true }, enumerable: true })
    expect(c.set('k', 1, { metadata: meta })).toBe(true)
    meta.list.push(2)
    const stored = c.getMetadata('k').metadata
    expect(stored.when).toEqual(new Date(5))
    expect(stored.err).toEqual({ name: 'TypeError', message: 'bad' })
    expect(stored.list).toEqual([1, { deep: 'x' }])
    expect(Object.getOwnPropertyDescriptor(stored, '__proto__').value).toEqual({ own: true })
    stored.list.push('changed by a reader')
    expect(c.getMetadata('k').metadata.list).toHaveLength(2)
    const circular = { name: 'loop' }
    circular.self = circular
    const throwing = Object.defineProperty({}, 'x', { enumerable: true, get() { throw new Error('no') } })
    for (const bad of [{ f() {} }, { s: Symbol('s') }, { n: 1n }, circular, throwing]) {
      expect(c.set('bad', 1, { metadata: bad })).toBe(false)
    }
    expect(c.has('bad')).toBe(false)
    expect(lines.map((l) => [l.level, l.message])).toEqual(Array(5).fill(['warn', 'WorkflowCache: value not cached']))
    expect(lines.map((l) => l.meta.reason)).toEqual(['function', 'symbol', 'bigint', 'value nested too deep (or circular)', 'a value whose reading threw'])
    expect(() => c.updateMetadata('k', [1])).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(() => c.updateMetadata('k', { f() {} })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(c.updateMetadata('missing', { a: 1 })).toBe(false)
  })

  test('options are read as the planned API gives them', async () => {
    const c = new WorkflowCache({ maxSize: 5, ttl: 0, logger: quiet })
    expect([c.maxSize, c.ttl]).toEqual([5, Infinity])
    expect(() => new WorkflowCache({ maxSize: 0 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    const d = new WorkflowCache({ logger: quiet })
    await at(1)
    d.set('plain', 1)
    expect(d.getMetadata('plain')).toEqual({ timestamp: 1, expiresAt: 300001, metadata: {} })
    d.set('rounded', 1, { ttl: 10.5, metadata: { a: 1 } })
    expect(d.getMetadata('rounded')).toEqual({ timestamp: 1, expiresAt: 12, metadata: { a: 1 } })
    expect(() => d.set('k', 1, { ttl: -1 })).toThrow(expect.objectContaining({ code: 'ERR_VALIDATION' }))
    expect(d.set('k', 1, { metadata: [Symbol('s')] })).toBe(false)
    expect(d.set('k', 1, { metadata: { a: [1] } })).toBe(true)
  })

  test('refusals name the argument, never its value, and change nothing', () => {
    const c = new WorkflowCache({ logger: quiet })
    c.set('k', 1)
    const secret = 'hunter2-secret'
    const cases = [
      () => new WorkflowCache(secret),
      () => new WorkflowCache({ maxSize: secret }),
      () => new WorkflowCache({ maxSize: 1.5 }),
      () => new WorkflowCache({ logger: secret }),
      () => c.set({ secret }, 1),
      () => c.set('k', 2, secret),
      () => c.set('k', 2, { ttl: secret }),
      () => c.setConfig(null),
      () => c.setConfig({ ttl: NaN }),
      () => c.setExpirationTimer('k', undefined),
      () => c.setExpirationTimer('k', -1),
      () => c.delete(undefined),
      () => c.has(null),
      () => c.getMetadata(Symbol('s')),
      () => c.clearExpirationTimer({}),
    ]
    for (const call of cases) {
      let err
      try {
        call()
      } catch (e) {
        err = e
      }
      expect(err).toBeInstanceOf(addon.WorkflowInfraError)
      expect(err.code).toBe('ERR_VALIDATION')
      expect(err.message).not.toContain(secret)
      expect(err.meta.argument).toMatch(/^(options|config|key|ttl|logger)(\.\w+)?$/)
    }
    expect([c.get('k'), c.size(), c.ttl, c.maxSize]).toEqual([1, 1, 300000, 1000])
  })
})

describe('setLogger', () => {
  test('routes the addon\u2019s log events to a JS logger and never holds the process', async () => {
    const r = await runNode(`
      const w = require('.')
      const lines = []
      w.setLogger({ info: (m, meta) => lines.push(['info', m, meta]), warn: (m, meta) => lines.push(['warn', m, meta]), error: (m) => lines.push(['error', m]), debug() {} })
      ;(async () => {
        const db = await w.WorkflowDatabase.connect({ type: 'memory' })
        const repo = new w.WorkflowRepository(new w.WorkflowExecutionRepository(db), new w.WorkflowMetricsRepository(db))
        await repo.saveExecution({ workflowId: 'wf', workflowName: 'W', executionId: 'e1' })
        await new Promise((r) => setTimeout(r, 50))
        console.log(JSON.stringify(lines))
        w.setLogger(null)
      })()
    `, { env: { WORKFLOW_INFRA_LOG: 'info' } })
    expect(r.code).toBe(0)
    const lines = JSON.parse(r.stdout)
    expect(lines).toContainEqual(['info', 'WorkflowRepository: Workflow execution saved', { executionId: 'e1' }])
  })

  test('a process that set a logger and left a database open still exits', async () => {
    const r = await runNode(`
      const w = require('.')
      w.setLogger({ info() {}, warn() {}, error() {}, debug() {} })
      w.WorkflowDatabase.connect({ type: 'memory' }).then(() => console.log('open'))
    `)
    expect(r.code).toBe(0)
    expect(r.stdout.trim()).toBe('open')
  })
})

describe('command line', () => {
  const cli = path.join(__dirname, '..', 'bin', 'workflow-infra.js')
  const run = (...args) =>
    new Promise((resolve) => {
      execFile(process.execPath, [cli, ...args], { env: { ...process.env, WORKFLOW_INFRA_LOG: 'error' } }, (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, stdout, stderr }),
      )
    })

  test('demo drives a load through the event handlers; stats and cleanup report it', async () => {
    const url = `sqlite://${freshSqlitePath()}`
    const demo = await run('demo', '--workflows', '24', '--database-url', url)
    expect(demo.stderr).toBe('')
    expect(demo.code).toBe(0)
    expect(demo.stdout).toMatch(/ran {9}24 workflows, \d+ events/)
    expect(demo.stdout).toMatch(/executions {2}24 total: \d+ completed, \d+ failed, \d+ cancelled/)
    expect(demo.stdout).toMatch(/durations {3}mean \d+ ms, p50 \d+ ms, p95 \d+ ms, p99 \d+ ms/)
    expect(demo.stdout).toMatch(/top handlers by success rate\n {2}\S+/)
    const stats = JSON.parse((await run('stats', '--json', '--database-url', url)).stdout)
    expect(stats.statistics.total_executions).toBe(24)
    expect(stats.topHandlers.length).toBeGreaterThan(0)
    const cleaned = await run('cleanup', '--days', '0', '--batch', '5', '--json', '--database-url', url)
    const result = JSON.parse(cleaned.stdout)
    expect(result.executions).toBe(24)
    expect(result.chunks).toBeGreaterThanOrEqual(5)
    expect((await run('cleanup', '--days', 'x')).code).toBe(2)
  })
})

describe('WORKFLOW_INFRA_WORKERS', () => {
  const script = `
    const w = require('.')
    ;(async () => {
      const db = await w.WorkflowDatabase.connect({ type: 'sqlite', database: ${JSON.stringify(freshSqlitePath())} })
      const repo = new w.WorkflowRepository(new w.WorkflowExecutionRepository(db), new w.WorkflowMetricsRepository(db))
      const row = await repo.saveExecution({ workflowId: 'wf', workflowName: 'W' })
      console.log((await repo.getExecutionWithMetrics(row.execution_id)).metrics.length)
      await db.close()
    })()
  `
  test('a runtime of one worker runs everything; a bad value is ignored with a warning', async () => {
    const one = await runNode(script, { env: { WORKFLOW_INFRA_WORKERS: '1' } })
    expect([one.code, one.stdout.trim(), one.stderr]).toEqual([0, '1', ''])
    const bad = await runNode(script, { env: { WORKFLOW_INFRA_WORKERS: 'many', WORKFLOW_INFRA_LOG: 'warn' } })
    expect([bad.code, bad.stdout.trim()]).toEqual([0, '1'])
    expect(bad.stderr).toMatch(/WORKFLOW_INFRA_WORKERS must be a positive whole number/)
  })
})
