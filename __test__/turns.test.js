'use strict'
// Where writes run, seen from JavaScript, on every backend. On SQLite a lone awaited write
// commits at once on the JS thread when the writer is idle; writes started together queue and
// commit in groups off the JS thread; a loop of awaited writes still gives the event loop its
// turns; and on SQLite the writes land in the order they were made (on PostgreSQL, writes not
// awaited run concurrently on the pool, as with node-postgres).
const { addon, backends, cleanup } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository } = addon

afterAll(cleanup)

describe.each(backends())('%s', (backend, freshConfig) => {
  let db, repo
  beforeEach(async () => {
    db = await WorkflowDatabase.connect(freshConfig())
    repo = new WorkflowExecutionRepository(db)
  })
  afterEach(() => db.close())

  const execution = (executionId) => ({ executionId, workflowId: 'turns', workflowName: 'Turns' })

  test('lone awaited writes commit one by one; writes started together commit in groups', async () => {
    for (let i = 0; i < 10; i++) await repo.create(execution(`lone_${i}`))
    const lone = db.getMetrics().groupSizes
    expect(lone).toMatchObject({ count: 10, sum: 10 })

    await Promise.all(Array.from({ length: 64 }, (_, i) => repo.create(execution(`burst_${i}`))))
    const burst = db.getMetrics().groupSizes
    expect(burst.sum - lone.sum).toBe(64)
    // The first of the burst commits alone; the others join groups.
    expect(burst.count - lone.count).toBeLessThan(64)
    expect(await repo.findByWorkflowId('turns', { limit: 100 })).toHaveLength(74)
  })

  // On SQLite only (see above): defined there alone, so no run reports it skipped.
  const onSqlite = backend === 'postgresql' ? () => {} : test
  onSqlite('writes made without awaiting land in the order they were made', async () => {
    const created = repo.create(execution('ordered'))
    const updated = repo.update('ordered', { status: 'running' })
    const completed = repo.update('ordered', { status: 'completed', actualDuration: 7 })
    const metric = new WorkflowMetricsRepository(db).recordMetric({ executionId: 'ordered', metricName: 'm', metricValue: 1 })
    const [row, running, done, recorded] = await Promise.all([created, updated, completed, metric])
    expect(row.status).toBe('pending')
    expect(running.status).toBe('running')
    expect(done).toMatchObject({ status: 'completed', actual_duration: 7 })
    expect(recorded.execution_id).toBe('ordered')
    expect(await repo.findByExecutionId('ordered')).toMatchObject({ status: 'completed' })
  })

  test('a failing write made at once leaves nothing and the next write goes on', async () => {
    await repo.create(execution('twice'))
    await expect(repo.create(execution('twice'))).rejects.toMatchObject({ code: 'ERR_CONFLICT' })
    await repo.create(execution('after'))
    expect((await repo.findByWorkflowId('turns')).map((r) => r.execution_id).sort()).toEqual(['after', 'twice'])
    expect(db.getMetrics().writeQueue).toBe(0)
  })

  test('a loop of awaited writes gives the event loop its turns', async () => {
    let turns = 0
    let running = true
    const tick = () => {
      turns++
      if (running) setImmediate(tick)
    }
    setImmediate(tick)
    // Long enough (tens of milliseconds on any backend) to cross several write budgets.
    for (let i = 0; i < 1500; i++) await repo.create(execution(`loop_${i}`))
    running = false
    expect(turns).toBeGreaterThan(1)
  })
})
