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
