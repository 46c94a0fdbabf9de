'use strict'
// registerWorkflowServices in containers shaped like PIDEA's, on every backend: registration,
// discovery of where the data goes, a workflow through the bus, the WorkflowController's create
// call, start and stop, and a second call refused.
const fs = require('node:fs')
const path = require('node:path')
const { addon, cleanup, freshDir: freshDirIn, freshPgDatabase, pgAvailable, psql, runNode, PG_HOST, PG_PORT } = require('./helpers')
const { EventBus, LifecycleContainer, PlainContainer, Registry, pideaLike } = require('./standins')

const {
  registerWorkflowServices,
  WorkflowDatabase,
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  HandlerRegistryRepository,
  WorkflowRepository,
  WorkflowPersistenceService,
  WorkflowCache,
  WorkflowCacheService,
  WorkflowEventHandlers,
} = addon

const SERVICES = {
  workflowDatabase: WorkflowDatabase,
  workflowExecutionRepository: WorkflowExecutionRepository,
  workflowMetricsRepository: WorkflowMetricsRepository,
  handlerRegistryRepository: HandlerRegistryRepository,
  workflowRepository: WorkflowRepository,
  workflowPersistenceService: WorkflowPersistenceService,
  workflowCache: WorkflowCache,
  workflowCacheService: WorkflowCacheService,
  workflowEventHandlers: WorkflowEventHandlers,
}

// The helper reads WORKFLOW_DATABASE_URL first; these tests are about the container's
// databaseConnection (one test below sets the variable, in a process of its own).
if (process.env.WORKFLOW_DATABASE_URL) {
  throw new Error('unset WORKFLOW_DATABASE_URL to run these tests: it would win over the container')
}

afterAll(cleanup)

const freshDir = () => freshDirIn('wfi_pidea_')

/** PIDEA's connected DatabaseConnection, as far as the helper reads it: config and getType(). */
function connection(type, config) {
  return { config: { type, ...config }, type, isConnected: true, getType: () => type }
}

/** Per backend: PIDEA's connection, and where the package's data is expected. */
const BACKENDS = [
  [
    'sqlite',
    () => {
      const dir = freshDir()
      return {
        connection: connection('sqlite', { database: path.join(dir, 'pidea-dev.db') }),
        expect: (db) => {
          expect(db.getType()).toBe('sqlite')
          expect(db.getConnectionStatus().database).toBe(path.join(dir, 'workflow-infra.db'))
          expect(fs.existsSync(path.join(dir, 'pidea-dev.db'))).toBe(false)
        },
      }
    },
  ],
  [
    'memory',
    () => ({
      connection: connection('memory', { database: ':memory:' }),
      expect: (db) => expect(db.getType()).toBe('memory'),
    }),
  ],
]
if (pgAvailable()) {
  BACKENDS.push([
    'postgresql',
    () => {
      const name = new URL(freshPgDatabase()).pathname.slice(1)
      return {
        connection: connection('postgresql', {
          host: PG_HOST,
          port: String(PG_PORT),
          database: name,
          username: 'postgres',
          password: undefined,
        }),
        expect: (db) => {
          const status = db.getConnectionStatus()
          expect(status).toMatchObject({ type: 'postgresql', database: name, schema: 'workflow_infra' })
          const tables = psql(
            "SELECT string_agg(table_schema || '.' || table_name, ',' ORDER BY 1) FROM information_schema.tables WHERE table_name LIKE 'workflow%'",
            name,
          )
          expect(tables.split(',')).toContain('workflow_infra.workflow_executions')
          expect(tables).not.toContain('public.')
        },
      }
    },
  ])
}

describe.each(BACKENDS)('%s', (_name, setup) => {
  let case_, container, registry, db
  beforeEach(async () => {
    case_ = setup()
    container = pideaLike(LifecycleContainer, case_.connection)
    registry = new Registry(container)
    db = await registerWorkflowServices(registry)
  })
  afterEach(async () => {
    await db.close()
  })

  test('registers every service with its dependencies declared, and the container validates', () => {
    expect(db).toBeInstanceOf(WorkflowDatabase)
    for (const [name, cls] of Object.entries(SERVICES)) {
      expect(registry.getService(name)).toBeInstanceOf(cls)
      expect(container.factories.get(name).singleton).toBe(true)
    }
    expect(registry.getService('workflowDatabase')).toBe(db)
    expect(container.factories.get('workflowRepository').dependencies).toEqual(
      expect.arrayContaining(['workflowExecutionRepository', 'workflowMetricsRepository', 'logger']),
    )
    expect(container.factories.get('workflowEventHandlers').dependencies).toEqual(
      expect.arrayContaining(['workflowRepository', 'eventBus', 'logger']),
    )
    expect(container.validateDependencies()).toEqual({ isValid: true, missingDependencies: {} })
    // The lifecycle service is a leaf: the stop order reaches it.
    expect(container.stopOrder()).toContain('workflowServicesLifecycle')
    const handlers = registry.getService('workflowEventHandlers')
    expect(handlers.eventBus).toBe(registry.getService('eventBus'))
    expect(handlers.logger).toBe(registry.getService('logger'))
    expect(handlers.workflowRepository).toBe(registry.getService('workflowRepository'))
    expect(registry.getService('workflowPersistenceService').workflowRepository).toBe(
      registry.getService('workflowRepository'),
    )
  })

  test('keeps its data where PIDEA keeps its own, apart from PIDEA’s tables', () => {
    case_.expect(db)
  })

  test('drives a workflow through the EventBus: started, a step, completed by taskId alone', async () => {
    await container.startAllServices()
    const bus = registry.getService('eventBus')
    expect(bus.getHandlerCount('workflow.execution.started')).toBe(1)
    expect(registry.getService('workflowEventHandlers').isInitialized).toBe(true)
    const persistence = registry.getService('workflowPersistenceService')
    const taskId = 'task_proj_1767225600000_ab12'
    const created = await persistence.createWorkflowExecution({ workflowId: 'refactor', workflowName: 'Refactor', taskId })
    const executionId = created.execution_id
    await bus.publish('workflow.execution.started', { executionId, workflowId: 'refactor' })
    await bus.publish('workflow.step.completed', { executionId, stepId: 's1', stepName: 'Lint', duration: 12 })
    // What PIDEA's WorkflowOrchestrationService publishes: no executionId.
    await bus.publish('workflow.execution.completed', { taskId, result: { ok: true }, timestamp: new Date() })
    const done = await persistence.getWorkflowExecution(executionId)
    expect(done.status).toBe('completed')
    expect(done.result_data).toEqual({ ok: true })
    expect(done.actual_duration).toBeGreaterThanOrEqual(0)
    const names = done.metrics.map((m) => m.metric_name).sort()
    for (const metric of ['execution_started', 'workflow_start_time', 'step_completed', 'step_duration', 'execution_completed', 'workflow_total_duration']) {
      expect(names).toContain(metric)
    }
  })

  test('takes the create call as PIDEA’s WorkflowController makes it', async () => {
    const repository = registry.getService('workflowExecutionRepository')
    const duration = 1234
    const executionData = {
      executionId: `auto_${Date.now()}_${Math.random().toString(36).slice(2, 11)}`,
      workflowId: 'analysis-step',
      workflowName: 'analysis-step',
      workflowVersion: '1.0.0',
      taskId: null,
      userId: 'me',
      status: 'completed',
      strategy: 'categories',
      priority: 1,
      estimatedDuration: null,
      actualDuration: duration,
      startTime: new Date(Date.now() - duration),
      endTime: new Date(),
      resultData: { success: true, steps: ['a', 'b'] },
      errorData: null,
      metadata: { projectPath: '/tmp/project', projectId: 'p1', mode: 'auto', executionMethod: 'categories', stepOptions: ['x'] },
    }
    const row = await repository.create(executionData)
    expect(row).toMatchObject({
      execution_id: executionData.executionId,
      workflow_id: 'analysis-step',
      status: 'completed',
      strategy: 'categories',
      priority: 1,
      task_id: null,
      user_id: 'me',
      estimated_duration: null,
      actual_duration: duration,
      result_data: executionData.resultData,
      error_data: null,
      metadata: executionData.metadata,
    })
    expect(row.start_time).toEqual(executionData.startTime)
    expect(row.end_time).toEqual(executionData.endTime)
  })

  test('starts and stops: handlers unsubscribed, the database it opened closed', async () => {
    await container.startAllServices()
    const bus = registry.getService('eventBus')
    expect(bus.totalHandlers()).toBeGreaterThanOrEqual(14)
    const repository = registry.getService('workflowExecutionRepository')
    const { stopped } = await container.stopAllServices()
    expect(stopped).toEqual(['workflowServicesLifecycle'])
    expect(bus.totalHandlers()).toBe(0)
    expect(registry.getService('workflowEventHandlers').isInitialized).toBe(false)
    expect(db.isConnected).toBe(false)
    await expect(repository.findByExecutionId('x')).rejects.toMatchObject({ code: 'ERR_CLOSED' })
  })

  test('a second call is refused with ERR_CONFLICT, registering nothing and opening nothing', async () => {
    const before = [...container.factories.keys()]
    const dir = freshDir()
    const file = path.join(dir, 'second.db')
    const err = await registerWorkflowServices(registry, { database: { type: 'sqlite', database: file } }).catch((e) => e)
    expect(err.code).toBe('ERR_CONFLICT')
    expect(err.message).toMatch(/^Failed to register workflow services: .*'workflowDatabase'/)
    expect([...container.factories.keys()]).toEqual(before)
    expect(fs.existsSync(file)).toBe(false)
  })
})

describe('a container without lifecycle hooks', () => {
  test('initializes the handlers at once; stopping is the lifecycle service’s stop()', async () => {
    const container = pideaLike(PlainContainer, connection('memory', {}))
    const db = await registerWorkflowServices(container)
    const bus = container.resolve('eventBus')
    expect(bus.getHandlerCount('workflow.execution.started')).toBe(1)
    const repository = container.resolve('workflowExecutionRepository')
    const row = await repository.create({ workflowId: 'w', workflowName: 'W' })
    await bus.publish('workflow.execution.started', { executionId: row.execution_id })
    expect((await repository.findByExecutionId(row.execution_id)).status).toBe('running')
    await container.resolve('workflowServicesLifecycle').stop()
    expect(bus.totalHandlers()).toBe(0)
    expect(db.isConnected).toBe(false)
  })
})

test('examples/pidea.js runs: registration, a workflow through the bus, shutdown', async () => {
  const { execFile } = require('node:child_process')
  const cwd = freshDir()
  const example = path.join(__dirname, '..', 'examples', 'pidea.js')
  const env = { ...process.env, WORKFLOW_INFRA_LOG: 'error' }
  delete env.WORKFLOW_DATABASE_URL
  const stdout = await new Promise((resolve, reject) =>
    execFile(process.execPath, [example], { cwd, env, timeout: 20000 }, (err, out, errOut) =>
      err ? reject(new Error(`${err.message}\n${errOut}`)) : resolve(out),
    ),
  )
  expect(stdout).toContain('workflow data in ./data/example/workflow-infra.db')
  expect(stdout).toMatch(/auto_\d+ completed 6 metrics/)
  expect(stdout).toContain('closed: true')
  expect(fs.existsSync(path.join(cwd, 'data', 'example', 'workflow-infra.db'))).toBe(true)
})

describe('options', () => {
  test('a database passed in is used and never closed by the helper', async () => {
    const own = await WorkflowDatabase.connect({ type: 'memory' })
    const container = pideaLike(LifecycleContainer)
    expect(await registerWorkflowServices(container, { database: own })).toBe(own)
    await container.startAllServices()
    await container.stopAllServices()
    expect(own.isConnected).toBe(true)
    await own.close()
  })

  test('without a databaseConnection, a bus or a logger it still registers, on the package default', async () => {
    const container = new LifecycleContainer()
    const cwd = process.cwd()
    const dir = freshDir()
    process.chdir(dir)
    try {
      const db = await registerWorkflowServices(container)
      expect(db.getConnectionStatus().database).toBe('./data/workflow.db')
      expect(container.validateDependencies().isValid).toBe(true)
      await container.startAllServices()
      const handlers = container.resolve('workflowEventHandlers')
      expect(handlers.isInitialized).toBe(true)
      expect(typeof handlers.logger.info).toBe('function')
      await container.stopAllServices()
      expect(db.isConnected).toBe(false)
    } finally {
      process.chdir(cwd)
    }
  })

  test('WORKFLOW_DATABASE_URL wins over the container’s databaseConnection', async () => {
    // In a process of its own: the addon reads the real environment, which Jest's is not.
    const dir = freshDir()
    const script = `
      const { registerWorkflowServices } = require('.')
      const { LifecycleContainer, pideaLike } = require('./__test__/standins')
      const type = 'sqlite'
      const connection = { config: { type, database: ${JSON.stringify(path.join(dir, 'pidea.db'))} }, getType: () => type }
      registerWorkflowServices(pideaLike(LifecycleContainer, connection)).then(async (db) => {
        console.log(db.getConnectionStatus().database)
        await db.close()
      })`
    const { code, stdout, stderr } = await runNode(script, {
      env: { WORKFLOW_DATABASE_URL: `sqlite://${path.join(dir, 'env.db')}` },
    })
    expect({ code, stderr }).toEqual({ code: 0, stderr: '' })
    expect(stdout.trim()).toBe(path.join(dir, 'env.db'))
  })

  test('the bus and logger services may have other names', async () => {
    const container = new LifecycleContainer()
    container.register('bus', () => new EventBus(), { singleton: true })
    const db = await registerWorkflowServices(container, { database: { type: 'memory' }, eventBus: 'bus', logger: 'log' })
    expect(container.factories.get('workflowEventHandlers').dependencies).toContain('bus')
    expect(container.validateDependencies().isValid).toBe(true)
    await container.startAllServices()
    expect(container.resolve('bus').getHandlerCount('workflow.step.started')).toBe(1)
    await container.stopAllServices()
    expect(db.isConnected).toBe(false)
  })

  test('bad arguments reject with ERR_VALIDATION, naming the argument and its type only', async () => {
    const secret = 'postgres://u:S3cretPW@h/db'
    const cases = [
      [undefined, undefined],
      [secret, undefined],
      [{ register: 1, resolve: 2 }, undefined],
      [new LifecycleContainer(), secret],
      [new LifecycleContainer(), { eventBus: 42 }],
      [new LifecycleContainer(), { database: [secret] }],
      [Object.assign(new LifecycleContainer(), { getRegistry() { throw null } }), undefined],
      [{ register() {}, resolve() {}, get getRegistry() { throw new Error(secret) } }, undefined],
    ]
    for (const [target, options] of cases) {
      const p = registerWorkflowServices(target, options)
      expect(typeof p.then).toBe('function')
      const err = await p.catch((e) => e)
      expect(err.code).toBe('ERR_VALIDATION')
      expect(err.message).toMatch(/^Failed to register workflow services: /)
      expect(err.message).not.toContain('S3cretPW')
    }
  })

  test('a database that cannot be opened rejects with its own error and registers nothing', async () => {
    const container = new LifecycleContainer()
    // A directory that cannot exist: its parent is a file (on every OS).
    const file = path.join(freshDir(), 'a-file')
    fs.writeFileSync(file, '')
    const err = await registerWorkflowServices(container, { database: { type: 'sqlite', database: path.join(file, 'x.db') } }).catch((e) => e)
    expect(err.code).toBe('ERR_DB_UNAVAILABLE')
    expect(container.factories.size).toBe(0)
  })
})
