'use strict'
// The second process of the two-process test (events.test.js): listens on the same PostgreSQL
// database, reports what it saw, then writes and publishes on request.
const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowEventService, WorkflowCacheService } = require('..')

;(async () => {
  const db = await WorkflowDatabase.connect({ url: process.argv[2] })
  const executions = new WorkflowExecutionRepository(db)
  const quiet = () => {}
  const bus = new WorkflowEventService(db, { distributed: true, logger: { info: quiet, debug: quiet, warn: quiet, error: quiet } })
  await bus.ready()
  const cache = new WorkflowCacheService(db)
  await cache.ready()
  await cache.getExecution('shared') // cached: the parent's update must invalidate it
  const events = []
  let afterThrower = false
  bus.subscribe('from.parent', () => {
    throw new Error('a subscriber that throws')
  })
  bus.subscribe('from.parent', (data) => {
    afterThrower = true
    events.push({ at: Date.now(), data })
  })
  process.on('message', async (m) => {
    if (m === 'report') {
      const deadline = Date.now() + 1000
      while (events.length < 2 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 10))
      let status = (await cache.getExecution('shared')).status
      while (status !== 'running' && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 10))
        status = (await cache.getExecution('shared')).status
      }
      process.send({ events, status, subscriberThatThrows: afterThrower })
    } else if (m === 'write') {
      await executions.update('shared', { status: 'completed' })
      await bus.publish('from.child', { hello: 'parent' })
      process.send('written')
    } else if (m === 'exit') {
      bus.dispose()
      await db.close()
      process.exit(0)
    }
  })
  process.send('ready')
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
