'use strict'
// Loggers as they come: real winston, pino and bunyan instances and a console.Console, each
// writing to a stream, get every record in their own call style with the code, the reason and
// the ids as structured fields; WORKFLOW_INFRA_LOG_FORMAT=json makes stderr JSON lines.

const { Writable } = require('node:stream')
const { Console } = require('node:console')
const pino = require('pino')
const winston = require('winston')
const bunyan = require('bunyan')
const { addon, runNode } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, WorkflowRepository, WorkflowPersistenceService } = addon

/** A stream that keeps what is written to it, and its lines parsed as JSON. */
function sink() {
  const chunks = []
  const stream = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(chunk.toString())
      done()
    },
  })
  stream.text = () => chunks.join('')
  stream.json = () => stream.text().split('\n').filter(Boolean).map((l) => JSON.parse(l))
  return stream
}

let db
beforeAll(async () => {
  db = await WorkflowDatabase.connect({ type: 'memory' })
})
afterAll(() => db.close())

/** A service logging to `logger`: one execution saved, one update refused. */
async function saveThenFail(logger) {
  const repo = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
  const service = new WorkflowPersistenceService(repo, logger)
  const executionId = `log-${Math.random().toString(36).slice(2)}`
  await service.createWorkflowExecution({ executionId, workflowId: 'wf', workflowName: 'W' })
  const err = await service.updateWorkflowExecution(executionId, { status: 'no-such-status' }).catch((e) => e)
  expect(err.code).toBe('ERR_VALIDATION')
  // Records reach a logger on the JS thread once the call settled.
  await new Promise((r) => setImmediate(r))
  return executionId
}

const FAILED = 'WorkflowPersistenceService: Failed to update workflow execution'
const CREATED = 'WorkflowPersistenceService: Workflow execution created'

test('pino: (fields, message), so the code, the reason and the id are fields of the JSON line', async () => {
  const out = sink()
  const executionId = await saveThenFail(pino({ level: 'debug' }, out))
  const lines = out.json()
  const failed = lines.find((l) => l.msg === FAILED)
  expect(failed).toMatchObject({ level: 50, code: 'ERR_VALIDATION', executionId })
  expect(typeof failed.error).toBe('string')
  expect(lines.find((l) => l.msg === CREATED)).toMatchObject({ level: 30, executionId })
})

test('winston: (message, fields), so they are members of the info object', async () => {
  const out = sink()
  const logger = winston.createLogger({
    level: 'debug',
    format: winston.format.json(),
    transports: [new winston.transports.Stream({ stream: out })],
  })
  const executionId = await saveThenFail(logger)
  await new Promise((r) => setTimeout(r, 20))
  const failed = out.json().find((l) => l.message === FAILED)
  expect(failed).toMatchObject({ level: 'error', code: 'ERR_VALIDATION', executionId })
  expect(typeof failed.error).toBe('string')
})

test('bunyan: (fields, message), detected by its addStream and fields', async () => {
  const out = sink()
  const executionId = await saveThenFail(bunyan.createLogger({ name: 'app', streams: [{ level: 'debug', stream: out }] }))
  const failed = out.json().find((l) => l.msg === FAILED)
  expect(failed).toMatchObject({ level: 50, name: 'app', code: 'ERR_VALIDATION', executionId })
})

test('console: (message, fields), printed as the message and an object', async () => {
  const out = sink()
  const executionId = await saveThenFail(new Console({ stdout: out, stderr: out }))
  const text = out.text()
  expect(text).toContain(FAILED)
  expect(text).toContain("code: 'ERR_VALIDATION'")
  expect(text).toContain(`executionId: '${executionId}'`)
})

test('setLogger(pino()): the addon\u2019s own records arrive as pino fields', async () => {
  const r = await runNode(
    `
    const pino = require('pino')
    const w = require('.')
    w.setLogger(pino({ level: 'debug' }))
    ;(async () => {
      const db = await w.WorkflowDatabase.connect({ type: 'memory' })
      const repo = new w.WorkflowRepository(new w.WorkflowExecutionRepository(db), new w.WorkflowMetricsRepository(db))
      await repo.updateExecution('e-1', { status: 'nope' }).catch(() => {})
      await new Promise((r) => setTimeout(r, 50))
      w.setLogger(null)
      await db.close()
    })()
  `,
    { env: { WORKFLOW_INFRA_LOG: 'debug' } },
  )
  expect(r.code).toBe(0)
  const lines = r.stdout.split('\n').filter(Boolean).map((l) => JSON.parse(l))
  const failed = lines.find((l) => l.msg === 'WorkflowRepository: Failed to update workflow execution')
  expect(failed).toMatchObject({ level: 20, code: 'ERR_VALIDATION', executionId: 'e-1' })
})

test('setLogger(logger, { style }) overrides the detection; a bad style is refused with ERR_VALIDATION', async () => {
  const calls = []
  const logger = { info: (...a) => calls.push(a), warn() {}, error() {}, debug() {} }
  addon.setLogger(logger, { style: 'object-first' })
  try {
    const other = await WorkflowDatabase.connect({ type: 'memory' }) // logs its migrations at info
    await other.close()
    await new Promise((r) => setTimeout(r, 20))
  } finally {
    addon.setLogger(null)
  }
  const migration = calls.find(([, message]) => message === 'applied SQLite migration')
  expect(migration[0]).toEqual({ version: expect.any(Number) })
  for (const options of [{ style: 'sideways' }, { styel: 'object-first' }, 'object-first']) {
    let err
    try {
      addon.setLogger(logger, options)
    } catch (e) {
      err = e
    }
    expect(err).toBeDefined()
    expect(err.code).toBe('ERR_VALIDATION')
    expect(err.message).not.toContain('sideways')
  }
})

test('WORKFLOW_INFRA_LOG_FORMAT=json: stderr is one JSON object a line, with the fields of their own', async () => {
  const r = await runNode(
    `
    const w = require('.')
    ;(async () => {
      const db = await w.WorkflowDatabase.connect({ type: 'memory' })
      const repo = new w.WorkflowRepository(new w.WorkflowExecutionRepository(db), new w.WorkflowMetricsRepository(db))
      await repo.updateExecution('e-2', { status: 'nope' }).catch(() => {})
      await db.close()
    })()
  `,
    { env: { WORKFLOW_INFRA_LOG: 'debug', WORKFLOW_INFRA_LOG_FORMAT: 'json' } },
  )
  expect(r.code).toBe(0)
  const lines = r.stderr.split('\n').filter(Boolean)
  expect(lines.length).toBeGreaterThan(0)
  const records = lines.map((l) => JSON.parse(l))
  const failed = records.find((l) => l.message === 'WorkflowRepository: Failed to update workflow execution')
  expect(failed).toMatchObject({ level: 'DEBUG', code: 'ERR_VALIDATION', executionId: 'e-2' })
  expect(typeof failed.timestamp).toBe('string')
})
