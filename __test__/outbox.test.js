'use strict'
// Distributed events on PostgreSQL, exactly once for real: a publisher frozen mid-transaction
// (SIGSTOP) longer than any timeout the package keeps still has each acknowledged event
// delivered once; a publish while the server is down fails fast, runs no subscriber, counts,
// and its retry with the caller's eventId is delivered once; a listener whose unread events the
// retention removed gets a gap signal.

const { canRunOwnServer, until } = require('../chaos/lib.js')
const { frozenPublisher } = require('../chaos/frozen.js')
const { addon, cleanup, freshPgDatabase, ownServer, pgAvailable, psql } = require('./helpers')
const { recorder } = require('./standins')

const { WorkflowDatabase, WorkflowEventService, GAP_EVENT } = addon

afterAll(cleanup)

const dbName = (url) => url.slice(url.lastIndexOf('/') + 1)

const quiet = { info() {}, debug() {}, warn() {}, error() {} }
const pgDescribe = pgAvailable() ? describe : describe.skip

pgDescribe('the outbox', () => {
  test('a publisher frozen mid-transaction longer than any timeout still has every acknowledged event delivered once', async () => {
    const r = await frozenPublisher(freshPgDatabase(), Number(process.env.FROZEN_MS || 6000))
    expect(r.failures).toEqual([])
    expect(r.figures.acknowledged).toBeGreaterThan(201) // the frozen one, 200 steady, and the others'
    expect(r.figures.delivered).toBe(r.figures.acknowledged)
  }, 60000)

  test('a listener whose unread events the retention removed gets a gap signal, a warning and a count', async () => {
    const url = freshPgDatabase()
    const db = await WorkflowDatabase.connect({ url })
    const { lines, logger } = recorder()
    addon.setLogger(logger) // the addon's own log: where the listener warns
    const listener = new WorkflowEventService(db, { distributed: true, logger: quiet })
    await listener.ready()
    const gaps = []
    listener.subscribe(GAP_EVENT, (gap) => gaps.push(gap))
    const got = []
    listener.subscribe('later', (d) => got.push(d))
    const sender = new WorkflowEventService(db, { distributed: true, logger: quiet })
    // Events this listener never heard of (published without a wake-up, as if it had been
    // away), older than the retention; the next publish takes an id that prunes.
    const ids = psql(
      `INSERT INTO workflow_infra_events (payload, origin, event_type, created_at)
       SELECT '{}', 'elsewhere', 'missed', now() - interval '11 minutes' FROM generate_series(1, 3)
       RETURNING id`,
      dbName(url),
    )
      .split('\n')
      .map(Number)
    psql(`SELECT setval('workflow_infra_events_id_seq', 99)`, dbName(url))
    await sender.publish('later', { n: 1 })
    await until('the gap signal and the event', () => gaps.length === 1 && got.length === 1)
    expect(gaps).toEqual([{ fromId: Math.min(...ids), toId: Math.max(...ids) }])
    expect(db.getMetrics().events.gaps).toBe(1)
    expect(db.toPrometheus()).toContain('workflow_infra_events_gaps_total{backend="postgresql"} 1\n')
    await until('the warning', () => lines.some((l) => l.level === 'warn' && /removed before this process read them/.test(l.message)))
    addon.setLogger(null)
    listener.dispose()
    sender.dispose()
    await db.close()
  })

  test('a listener far behind gets every event at the pace its subscribers take them, none dropped', async () => {
    const url = freshPgDatabase()
    const db = await WorkflowDatabase.connect({ url })
    const listener = new WorkflowEventService(db, { distributed: true, logger: quiet })
    await listener.ready()
    let got = 0
    let last = 0
    let inOrder = true
    listener.subscribe('bulk', (d) => {
      got++
      if (d.n !== last + 1) inOrder = false
      last = d.n
    })
    // 25,000 events the listener has not read (more than its 10,000-event queue holds), then one
    // publish that wakes it.
    psql(`INSERT INTO workflow_infra_events (payload, origin, event_type) SELECT json_build_object('n', n)::text, 'elsewhere', 'bulk' FROM generate_series(1, 25000) AS n`, dbName(url))
    const sender = new WorkflowEventService(db, { distributed: true, logger: quiet })
    await sender.publish('wake', {})
    await until('every event', () => got === 25000, 60000)
    expect(inOrder).toBe(true)
    listener.dispose()
    sender.dispose()
    await db.close()
  }, 90000)

  test('a local publish with an eventId already delivered does not run the subscribers again', async () => {
    const bus = new WorkflowEventService(null, { logger: quiet })
    const runs = []
    bus.subscribe('e', (d) => runs.push(d.n))
    await bus.publish('e', { n: 1 }, { eventId: 'a' })
    await bus.publish('e', { n: 2 }, { eventId: 'a' })
    await bus.publish('e', { n: 3 }, { eventId: 'b' })
    await bus.publish('e', { n: 4 })
    await bus.publish('e', { n: 5 })
    expect(runs).toEqual([1, 3, 4, 5])
    for (const options of [{ eventId: '' }, { eventId: 7 }, { eventId: 'x'.repeat(256) }, { eventID: 'a' }, 'a']) {
      await expect(bus.publish('e', {}, options)).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    }
    expect(runs).toEqual([1, 3, 4, 5])
    bus.dispose()
  })
})

const withOwn = canRunOwnServer() ? describe : describe.skip
if (!canRunOwnServer()) console.warn('SKIPPED: the outage publish test needs initdb and pg_ctl to run a PostgreSQL server of its own')

withOwn('a publish while PostgreSQL is down', () => {
  const own = ownServer(21432)

  test('fails fast behind the breaker, runs no subscriber, counts; the retry with its eventId is delivered once', async () => {
    const db = await WorkflowDatabase.connect({ url: own.server.url, acquireTimeoutMs: 1000 })
    const bus = new WorkflowEventService(db, { distributed: true, logger: quiet })
    await bus.ready()
    const runs = []
    bus.subscribe('order', (d) => runs.push(d.n))
    await bus.publish('order', { n: 0 }, { eventId: 'order-0' })
    expect(runs).toEqual([0])

    own.server.stop()
    const first = await bus.publish('order', { n: 1 }, { eventId: 'order-1' }).catch((e) => e)
    expect(['ERR_DB_UNAVAILABLE', 'ERR_TIMEOUT']).toContain(first.code)
    const started = process.hrtime.bigint()
    const refusals = []
    for (let i = 0; i < 5; i++) refusals.push(await bus.publish('order', { n: 1 }, { eventId: 'order-1' }).catch((e) => e))
    const perRefusalMs = Number(process.hrtime.bigint() - started) / 1e6 / 5
    for (const e of refusals) {
      expect(e.code).toBe('ERR_DB_UNAVAILABLE')
      expect(e.message).toMatch(/failing fast/)
    }
    expect(runs).toEqual([0]) // no subscriber ran for a publish that rejected
    const m = db.getMetrics()
    expect(m.breakerOpen).toBe(true)
    expect(m.events).toMatchObject({ published: 1, publishFailed: 6 })
    expect(m.operations.publish_event).toMatchObject({ calls: 7, errors: 6 })
    expect(m.errors.ERR_DB_UNAVAILABLE).toBeGreaterThanOrEqual(5)
    console.log(`a publish refused while the server is down: ${perRefusalMs.toFixed(2)} ms`)

    own.server.start()
    await until('the publish to go through', () =>
      bus.publish('order', { n: 1 }, { eventId: 'order-1' }).then(
        () => true,
        () => false,
      ),
    )
    await bus.publish('order', { n: 1 }, { eventId: 'order-1' })
    expect(runs).toEqual([0, 1])
    bus.dispose()
    await db.close()
  }, 60000)
})
