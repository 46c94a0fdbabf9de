'use strict'
// The fallback bridges an outage and hands its writes back: on a PostgreSQL server of the test's
// own, stopped and started again, the writes made on the fallback reach PostgreSQL exactly once,
// then the calls go to PostgreSQL without a restart; a conflicting row is kept, never
// overwritten; a replay cut by kill -9 is finished by the next process with nothing doubled.

const fs = require('node:fs')
const path = require('node:path')
const util = require('node:util')
const { execFileSync } = require('node:child_process')

const { canRunOwnServer, cleanupScratch, node, tempDir, until } = require('../chaos/lib.js')
const { addon, ownServer } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository, HandlerRegistryRepository, WorkflowRepository, WorkflowMetricsRepository, WorkflowPersistenceService } = addon

const withOwn = canRunOwnServer() ? describe : describe.skip
if (!canRunOwnServer()) console.warn('SKIPPED: the rejoin tests need initdb and pg_ctl to run a PostgreSQL server of their own')

/** One value from the test server (psql as postgres over TCP). */
function sql(server, query) {
  return execFileSync('psql', [server.url, '-Atqc', query], { encoding: 'utf8' }).trim()
}

withOwn('rejoin', () => {
  const own = ownServer(22432, cleanupScratch)

  /** A fresh database on the test server; the server is left stopped. */
  function freshDatabase(name) {
    sql(own.server, `DROP DATABASE IF EXISTS ${name} WITH (FORCE)`)
    sql(own.server, `CREATE DATABASE ${name}`)
    return own.server.url.replace(/\/postgres$/, `/${name}`)
  }

  test('writes on the fallback reach PostgreSQL once it answers, exactly once, then calls go to PostgreSQL', async () => {
    const url = freshDatabase('wfi_rejoin_a')
    const on = { url, connectTimeoutMs: 500 }
    own.server.stop()
    const file = path.join(tempDir('rejoin'), 'fallback.db')
    const db = await WorkflowDatabase.connect({ ...on, fallback: { type: 'sqlite', database: file } })
    try {
      expect(db.getType()).toBe('sqlite')
      expect(await db.health()).toMatchObject({ ok: true, status: 'degraded' })
      const executions = new WorkflowExecutionRepository(db)
      const handlers = new HandlerRegistryRepository(db)
      const workflow = new WorkflowRepository(executions, new WorkflowMetricsRepository(db))
      const created = []
      for (let i = 0; i < 30; i++) created.push(await executions.create({ executionId: `fb_${i}`, workflowId: 'w', workflowName: 'W' }))
      await handlers.registerHandler({ handlerType: 'analysis', handlerName: 'Analysis' })
      for (let i = 0; i < 12; i++) await handlers.updateHandlerStatistics('analysis', { status: i % 3 ? 'success' : 'failure', executionTime: 10 * i })
      await handlers.recordHandlerUsages([{ handlerType: 'analysis', status: 'success' }, { handlerType: 'analysis', status: 'error' }])
      const saved = await workflow.saveExecution({ workflowId: 'w2', workflowName: 'Saved' })
      await workflow.updateExecution(saved.execution_id, { status: 'completed' })
      const persistence = new WorkflowPersistenceService(workflow)
      const bulk = await persistence.bulkCreateWorkflowExecutions([{ executionId: 'bulk_1', workflowId: 'w', workflowName: 'B' }, { executionId: 'bulk_2', workflowId: 'w', workflowName: 'B' }])
      expect(bulk.created).toHaveLength(2)
      expect(await executions.delete('fb_29')).toBe(true)
      const row = await handlers.getHandlerByType('analysis')
      const onFallback = [row.usage_count, row.success_count, row.failure_count, row.average_execution_time]
      expect(db.getMetrics().journal.pending).toBe(48)
      expect(db.getMetrics().fallbackActive).toBe(true)

      own.server.start()
      const switchedIn = await until('the switch to PostgreSQL', () => db.getType() === 'postgresql')
      expect(switchedIn).toBeLessThan(10000)
      await until('health ok', async () => (await db.health()).status === 'ok')
      expect(db.getConnectionStatus()).toMatchObject({ type: 'postgresql', usedFallback: false })
      expect(db.getMetrics()).toMatchObject({ fallbackActive: false, journal: { pending: 0, conflicts: 0 } })
      expect(db.getMetrics().journal.replayed).toBe(48)

      // Everything written on the fallback is on PostgreSQL, once, with the rows the callers got.
      expect(sql({ url }, 'SELECT count(*) FROM workflow_executions')).toBe('32')
      expect(sql({ url }, "SELECT id FROM workflow_executions WHERE execution_id = 'fb_0'")).toBe(created[0].id)
      expect(sql({ url }, "SELECT count(*) FROM workflow_executions WHERE execution_id = 'fb_29'")).toBe('0')
      expect(sql({ url }, `SELECT status FROM workflow_executions WHERE execution_id = '${saved.execution_id}'`)).toBe('completed')
      // The counters end as they did on the fallback, where every call landed once.
      const counters = (row) => [row.usage_count, row.success_count, row.failure_count, row.average_execution_time]
      expect(counters(await handlers.getHandlerByType('analysis'))).toEqual(onFallback)
      expect(onFallback[0]).toBeGreaterThanOrEqual(12)
      expect(sql({ url }, 'SELECT count(*) FROM handler_usage_history')).toBe('2')
      expect(Number(sql({ url }, 'SELECT count(*) FROM workflow_infra_replayed'))).toBe(db.getMetrics().journal.replayed)

      // New calls go to PostgreSQL.
      await executions.create({ executionId: 'after', workflowId: 'w', workflowName: 'W' })
      expect(sql({ url }, "SELECT count(*) FROM workflow_executions WHERE execution_id = 'after'")).toBe('1')
      expect((await executions.findByExecutionId('fb_1')).execution_id).toBe('fb_1')
    } finally {
      await db.close()
    }
    // The fallback's journal is drained.
    const left = await WorkflowDatabase.connect({ type: 'sqlite', database: file, readOnly: true })
    expect(await left.journal()).toEqual([])
    await left.close()
  }, 60000)

  test('a row PostgreSQL already holds with other content is a conflict: counted, kept in the journal, never overwritten', async () => {
    const url = freshDatabase('wfi_rejoin_b')
    const primary = await WorkflowDatabase.connect({ url })
    await new WorkflowExecutionRepository(primary).create({ executionId: 'dup', workflowId: 'w', workflowName: 'On PostgreSQL' })
    await primary.close()
    own.server.stop()
    const file = path.join(tempDir('rejoin'), 'fallback.db')
    const db = await WorkflowDatabase.connect({ url, connectTimeoutMs: 500, fallback: { type: 'sqlite', database: file } })
    try {
      const executions = new WorkflowExecutionRepository(db)
      await executions.create({ executionId: 'dup', workflowId: 'w', workflowName: 'On the fallback' })
      await executions.create({ executionId: 'fresh', workflowId: 'w', workflowName: 'W' })
      own.server.start()
      await until('the switch to PostgreSQL', () => db.getType() === 'postgresql')
      await until('the replay to end', async () => (await db.health()).status === 'ok')
      expect(db.getMetrics().journal).toMatchObject({ pending: 0, replayed: 1, conflicts: 1 })
      expect(sql({ url }, "SELECT workflow_name FROM workflow_executions WHERE execution_id = 'dup'")).toBe('On PostgreSQL')
      expect(sql({ url }, "SELECT count(*) FROM workflow_executions WHERE execution_id = 'fresh'")).toBe('1')
    } finally {
      await db.close()
    }
    const left = await WorkflowDatabase.connect({ type: 'sqlite', database: file, readOnly: true })
    const journal = await left.journal()
    await left.close()
    expect(journal).toEqual([
      expect.objectContaining({ method: 'WorkflowExecutionRepository.create', state: 'conflict', detail: expect.stringContaining('ERR_CONFLICT') }),
    ])
    expect(util.types.isDate(journal[0].recorded_at)).toBe(true)
  }, 60000)

  test('kill -9 during the replay: the next process finishes it, with nothing doubled and the counters exact', async () => {
    const url = freshDatabase('wfi_rejoin_c')
    own.server.stop()
    const file = path.join(tempDir('rejoin'), 'fallback.db')
    const config = { url, connectTimeoutMs: 500, fallback: { type: 'sqlite', database: file } }
    const total = 1500
    // A process writes on the fallback, then dies there (PostgreSQL still down).
    const writer = await node(`
      const w = require(${JSON.stringify(path.join(__dirname, '..'))})
      ;(async () => {
        const db = await w.WorkflowDatabase.connect(${JSON.stringify(config)})
        const h = new w.HandlerRegistryRepository(db)
        const e = new w.WorkflowExecutionRepository(db)
        await h.registerHandler({ handlerType: 'k', handlerName: 'K' })
        for (let i = 0; i < ${total}; i++) {
          await (i % 2 ? h.updateHandlerStatistics('k', { status: 'success', executionTime: 1 }) : e.create({ executionId: 'k' + i, workflowId: 'w', workflowName: 'W' }))
        }
        console.log(db.getType(), db.getMetrics().journal.pending)
        process.kill(process.pid, 'SIGKILL')
      })()`)
    expect(writer.signal).toBe('SIGKILL')
    expect(writer.stdout.trim()).toBe(`sqlite ${total + 1}`)

    own.server.start()
    const replayer = `
      const w = require(${JSON.stringify(path.join(__dirname, '..'))})
      w.WorkflowDatabase.connect(${JSON.stringify(config)}).then(async (db) => {
        console.log(db.getType(), JSON.stringify(db.getMetrics().journal))
        await db.close()
      })`
    // The next process replays the journal before it serves: killed in the middle of it,
    let child
    const first = node(replayer, { onSpawn: (c) => (child = c) })
    await until('the replay to start', () => Number(sql({ url }, "SELECT count(*) FROM pg_tables WHERE tablename = 'workflow_infra_replayed'")) === 1 && Number(sql({ url }, 'SELECT count(*) FROM workflow_infra_replayed')) > 0, 30000)
    child.kill('SIGKILL')
    const killed = await first
    expect(killed.signal).toBe('SIGKILL')
    const atKill = Number(sql({ url }, 'SELECT count(*) FROM workflow_infra_replayed'))
    expect(atKill).toBeGreaterThan(0)
    expect(atKill).toBeLessThan(total + 1)

    // … and the one after it finishes the rest.
    const second = await node(replayer)
    expect(second.stdout.trim()).toMatch(/^postgresql \{"conflicts":0,"pending":0,"replayed":\d+\}$/)
    expect(Number(sql({ url }, 'SELECT count(*) FROM workflow_infra_replayed'))).toBe(total + 1)
    expect(sql({ url }, 'SELECT count(*) FROM workflow_executions')).toBe(String(total / 2))
    expect(sql({ url }, "SELECT usage_count || '/' || success_count FROM handler_registry WHERE handler_type = 'k'")).toBe(`${total / 2}/${total / 2}`)
    expect(fs.existsSync(file)).toBe(true)
  }, 120000)
})

withOwn('the journal command', () => {
  const own = ownServer(23432)

  const cli = (...args) =>
    new Promise((resolve) => {
      require('node:child_process').execFile(process.execPath, [path.join(__dirname, '..', 'bin', 'workflow-infra.js'), ...args], { env: { ...process.env, WORKFLOW_INFRA_LOG: 'error' } }, (err, stdout, stderr) =>
        resolve({ code: err ? err.code : 0, stdout, stderr }),
      )
    })

  test('lists a fallback file’s pending operations and replays them by hand', async () => {
    sql(own.server, 'CREATE DATABASE wfi_journal_cli')
    const url = own.server.url.replace(/\/postgres$/, '/wfi_journal_cli')
    own.server.stop()
    const file = path.join(tempDir('journal'), 'fallback.db')
    const db = await WorkflowDatabase.connect({ url, connectTimeoutMs: 500, fallback: { type: 'sqlite', database: file } })
    const executions = new WorkflowExecutionRepository(db)
    for (let i = 0; i < 3; i++) await executions.create({ executionId: `cli_${i}`, workflowId: 'w', workflowName: 'W' })
    await db.close() // still on the fallback: the journal stays in the file
    own.server.start()

    const listed = await cli('journal', '--json', '--database-url', `sqlite://${file}`)
    expect(listed.code).toBe(0)
    expect(JSON.parse(listed.stdout).map((e) => [e.method, e.state])).toEqual(Array(3).fill(['WorkflowExecutionRepository.create', 'pending']))
    const text = await cli('journal', '--database-url', `sqlite://${file}`)
    expect(text.stdout).toMatch(/^journal {5}3 pending, 0 conflicts\n/)

    const replayed = await cli('journal', '--json', '--database-url', `sqlite://${file}`, '--replay-to', url)
    expect([replayed.code, replayed.stderr]).toEqual([0, ''])
    expect(JSON.parse(replayed.stdout)).toEqual({ replayed: 3, conflicts: 0, pending: 0 })
    expect(sql({ url }, "SELECT count(*) FROM workflow_executions WHERE execution_id LIKE 'cli_%'")).toBe('3')
    expect(JSON.parse((await cli('journal', '--json', '--database-url', `sqlite://${file}`)).stdout)).toEqual([])
    // Again: nothing left, nothing doubled.
    expect(JSON.parse((await cli('journal', '--json', '--database-url', `sqlite://${file}`, '--replay-to', url)).stdout)).toEqual({ replayed: 0, conflicts: 0, pending: 0 })
    expect(sql({ url }, 'SELECT count(*) FROM workflow_executions')).toBe('3')
    const missing = await cli('journal', '--database-url', 'sqlite:///nonexistent/fallback.db', '--replay-to', url)
    expect(missing.code).toBe(1)
  }, 60000)
})
