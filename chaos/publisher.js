'use strict'
// A publishing process for the chaos suite and __test__/outbox.test.js: a distributed event service on
// the PostgreSQL database given, publishing on request, `concurrency` at a time, and reporting
// which publishes were acknowledged (resolved).
const { WorkflowDatabase, WorkflowEventService } = require('..')

;(async () => {
  const db = await WorkflowDatabase.connect({ url: process.argv[2] })
  const quiet = () => {}
  const bus = new WorkflowEventService(db, { distributed: true, logger: { info: quiet, debug: quiet, warn: quiet, error: quiet } })
  const acked = []
  const failed = []
  const one = (name, n) =>
    bus.publish(name, { n, from: process.pid }).then(
      () => acked.push({ name, n }),
      (e) => failed.push({ name, n, code: e.code }),
    )
  process.on('message', async (m) => {
    if (m.type === 'one') {
      // Not awaited: the caller decides when to look (it may stay mid-transaction).
      one(m.name, m.n)
      process.send({ type: 'sent' })
    } else if (m.type === 'many') {
      let next = 0
      const worker = async () => {
        while (next < m.count) await one(m.name, next++)
      }
      await Promise.all(Array.from({ length: m.concurrency }, worker))
      process.send({ type: 'done' })
    } else if (m.type === 'report') {
      process.send({ type: 'report', acked, failed })
    } else if (m.type === 'exit') {
      bus.dispose()
      await db.close()
      process.exit(0)
    }
  })
  process.send({ type: 'ready' })
})().catch((e) => {
  console.error(e)
  process.exit(1)
})
