'use strict'
// One error class: every rejection and every throw of the package is a WorkflowInfraError
// (an Error of Node's realm), with `code`, `retryable`, `meta.operation` and, where there is one, `cause`.
const { addon, backends, cleanup } = require('./helpers')

const { WorkflowInfraError, WorkflowDatabase, WorkflowExecutionRepository, WorkflowEventService, WorkflowCache } = addon

afterAll(cleanup)

describe.each(backends())('%s', (_name, freshConfig) => {
  test('rejections are WorkflowInfraErrors with code, retryable and meta', async () => {
    const db = await WorkflowDatabase.connect({ ...freshConfig(), maxInFlight: 5 })
    const executions = new WorkflowExecutionRepository(db)
    const invalid = await executions.create({}).catch((e) => e)
    expect(invalid).toBeInstanceOf(WorkflowInfraError)
    // An Error of Node's realm (Jest's own `Error` global is another realm's).
    expect(Object.prototype.toString.call(invalid)).toBe('[object Error]')
    expect(Object.getPrototypeOf(WorkflowInfraError.prototype).constructor.name).toBe('Error')
    expect(invalid).toMatchObject({ name: 'WorkflowInfraError', code: 'ERR_VALIDATION', retryable: false, meta: { operation: 'create workflow execution', argument: 'execution.workflowId' } })
    const badStatus = await executions.update('x', { status: 'some-status' }).catch((e) => e)
    expect(badStatus.meta).toEqual({ operation: 'update workflow execution', argument: 'updates.status' })
    expect(badStatus.message).not.toContain('some-status')
    expect(String(invalid)).toMatch(/^WorkflowInfraError: Failed to create workflow execution: /)
    await executions.create({ workflowId: 'w', workflowName: 'W', executionId: 'dup' })
    const conflict = await executions.create({ workflowId: 'w', workflowName: 'W', executionId: 'dup' }).catch((e) => e)
    expect(conflict).toBeInstanceOf(WorkflowInfraError)
    expect(conflict).toMatchObject({ code: 'ERR_CONFLICT', retryable: false })
    // The table and column the database named, on every backend; PostgreSQL also names the constraint.
    expect(conflict.meta).toMatchObject({ operation: 'create workflow execution', table: 'workflow_executions', column: 'execution_id' })
    if (_name === 'postgresql') expect(conflict.meta.constraint).toBe('workflow_executions_execution_id_key')
    expect(Object.prototype.toString.call(conflict.cause)).toBe('[object Error]')
    const burst = await Promise.allSettled(Array.from({ length: 50 }, () => executions.create({ workflowId: 'w', workflowName: 'W' })))
    const overloaded = burst.find((s) => s.status === 'rejected').reason
    expect(overloaded).toBeInstanceOf(WorkflowInfraError)
    expect(overloaded).toMatchObject({ code: 'ERR_OVERLOADED', retryable: true })
    await db.close()
    const closed = await executions.findByExecutionId('dup').catch((e) => e)
    expect(closed).toBeInstanceOf(WorkflowInfraError)
    expect(closed.code).toBe('ERR_CLOSED')
  })
})

test('synchronous throws are WorkflowInfraErrors too; an unreachable server is retryable', async () => {
  const thrown = (() => {
    try {
      new WorkflowEventService(null, { distributed: true })
    } catch (e) {
      return e
    }
  })()
  expect(thrown).toBeInstanceOf(WorkflowInfraError)
  expect(thrown.code).toBe('ERR_VALIDATION')
  expect(() => new WorkflowCache({ maxSize: -1 })).toThrow(WorkflowInfraError)
  const down = await WorkflowDatabase.connect({ type: 'postgresql', host: '127.0.0.1', port: '1', database: 'x', username: 'x', connectTimeoutMs: 500 }).catch((e) => e)
  expect(down).toBeInstanceOf(WorkflowInfraError)
  expect(down).toMatchObject({ code: 'ERR_DB_UNAVAILABLE', retryable: true })
})
