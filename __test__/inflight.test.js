'use strict'
// Memory in flight is bounded: un-awaited calls wait as their plan, not as a running future
// (a bound on RSS growth per call, measured in a child process on PostgreSQL), and beyond
// `maxInFlight` a call is refused at once with ERR_OVERLOADED, writing nothing — on every backend.

const { burst, BOUND_KIB } = require('../chaos/inflight.js')
const { addon, backends, cleanup, freshPgDatabase, pgAvailable } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository } = addon

afterAll(cleanup)

describe.each(backends())('%s', (_name, freshConfig) => {
  test('beyond maxInFlight a call rejects at once with ERR_OVERLOADED and writes nothing', async () => {
    const db = await WorkflowDatabase.connect({ ...freshConfig(), maxInFlight: 50 })
    const executions = new WorkflowExecutionRepository(db)
    const settled = await Promise.allSettled(Array.from({ length: 500 }, (_, i) => executions.create({ workflowId: 'w', workflowName: 'W', executionId: `e${i}` })))
    const refused = settled.filter((s) => s.status === 'rejected')
    for (const s of refused) {
      expect(s.reason.code).toBe('ERR_OVERLOADED')
      expect(s.reason.message).toMatch(/^Failed to [^:]+: 50 calls are already in flight/)
    }
    const kept = settled.filter((s) => s.status === 'fulfilled').map((s) => s.value.execution_id)
    expect(kept.length).toBeGreaterThanOrEqual(50)
    expect(refused.length).toBeGreaterThan(0)
    const stored = [...(await executions.findByWorkflowId('w', { limit: 1000 }))]
    expect(stored.map((r) => r.execution_id).sort()).toEqual(kept.sort())
    expect(db.getMetrics().errors.ERR_OVERLOADED).toBe(refused.length)
    // Once they settled, calls go through again.
    await expect(executions.create({ workflowId: 'w', workflowName: 'W' })).resolves.toMatchObject({ workflow_id: 'w' })
    await db.close()
  })

  test('maxInFlight must be a whole number from 1 to 10,000,000', async () => {
    for (const maxInFlight of [0, 1.5, -1, 1e8, '10', Infinity, NaN]) {
      await expect(WorkflowDatabase.connect({ ...freshConfig(), maxInFlight })).rejects.toMatchObject({ code: 'ERR_VALIDATION' })
    }
  })
})

const pgTest = pgAvailable() ? test : test.skip
pgTest(`50,000 un-awaited writes on PostgreSQL cost at most ${BOUND_KIB} KiB each in flight, and all are stored`, async () => {
  const figures = await burst(freshPgDatabase(), 50000)
  console.log(`memory in flight: ${figures.kibPerCall.toFixed(2)} KiB a call (RSS ${figures.baseMiB.toFixed(0)} → ${figures.peakMiB.toFixed(0)} MiB), ${figures.seconds.toFixed(1)} s`)
  expect(figures).toMatchObject({ failed: 0, refused: 0, stored: 50000 })
  expect(figures.kibPerCall).toBeLessThanOrEqual(BOUND_KIB)
}, 120000)
