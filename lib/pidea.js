// @ts-check
'use strict'
// What PIDEA reaches that is best written in JavaScript, because it only calls JavaScript: the
// planned `handle…(event)` methods of WorkflowEventHandlers, and registerWorkflowServices for
// PIDEA's DI container. index.js adds them to the exports (addPideaMembers).

/** Adds the handle… methods and registerWorkflowServices to the addon's exports. */
function addPideaMembers(exports) {
  const { WorkflowDatabase, WorkflowEventHandlers } = exports

  // ---- WorkflowEventHandlers: the 14 planned methods -------------------------------------------

  const HANDLE_METHODS = {
    handleWorkflowExecutionStarted: 'workflow.execution.started',
    handleWorkflowExecutionCompleted: 'workflow.execution.completed',
    handleWorkflowExecutionFailed: 'workflow.execution.failed',
    handleWorkflowExecutionCancelled: 'workflow.execution.cancelled',
    handleWorkflowStepStarted: 'workflow.step.started',
    handleWorkflowStepCompleted: 'workflow.step.completed',
    handleWorkflowStepFailed: 'workflow.step.failed',
    handleHandlerExecutionStarted: 'handler.execution.started',
    handleHandlerExecutionCompleted: 'handler.execution.completed',
    handleHandlerExecutionFailed: 'handler.execution.failed',
    handleWorkflowPerformanceMetric: 'workflow.performance.metric',
    handleWorkflowPerformanceAlert: 'workflow.performance.alert',
    handleWorkflowCleanupRequired: 'workflow.cleanup.required',
    handleWorkflowMaintenanceRequired: 'workflow.maintenance.required',
  }
  for (const [method, eventType] of Object.entries(HANDLE_METHODS)) {
    Object.defineProperty(WorkflowEventHandlers.prototype, method, {
      configurable: true,
      writable: true,
      // Does what the subscription for `eventType` does; never rejects.
      value: {
        /** @this {{ handle(eventType: string, event: unknown): Promise<void> }} */
        [method](event) {
          return this.handle(eventType, event)
        },
      }[method],
    })
  }

  // ---- registerWorkflowServices ------------------------------------------------------------------

  const PREFIX = 'Failed to register workflow services'
  const LIFECYCLE = 'workflowServicesLifecycle'
  const SQLITE_FILE = 'workflow-infra.db'
  const PG_SCHEMA = 'workflow_infra'

  /** A WorkflowInfraError of registerWorkflowServices; `argument` is the argument refused. */
  function coded(code, message, cause) {
    const argument = /^([a-zA-Z][\w.]*) must /.exec(message)?.[1]
    return new exports.WorkflowInfraError(`${PREFIX}: ${message}`, {
      code,
      meta: argument === undefined ? { operation: 'register workflow services' } : { operation: 'register workflow services', argument },
      cause,
    })
  }

  const isFunction = (v) => typeof v === 'function'
  const isObject = (v) => v !== null && (typeof v === 'object' || typeof v === 'function')

  /** The container: a ServiceRegistry's (anything with getContainer()) or the argument itself. */
  function containerOf(registryOrContainer) {
    if (!isObject(registryOrContainer)) {
      throw coded('ERR_VALIDATION', `registryOrContainer must be an object, got ${kindOf(registryOrContainer)}`)
    }
    const container = isFunction(registryOrContainer.getContainer)
      ? registryOrContainer.getContainer()
      : registryOrContainer
    if (!isObject(container) || !isFunction(container.register) || !isFunction(container.resolve)) {
      throw coded(
        'ERR_VALIDATION',
        'registryOrContainer must be a ServiceRegistry (getContainer()) or a container (register() and resolve())',
      )
    }
    return container
  }

  function kindOf(v) {
    return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
  }

  function optionsOf(options) {
    if (options === undefined || options === null) return {}
    if (!isObject(options) || Array.isArray(options)) {
      throw coded('ERR_VALIDATION', `options must be an object, got ${kindOf(options)}`)
    }
    const read = (key, check, expected) => {
      const v = options[key]
      if (v !== undefined && v !== null && !check(v)) {
        throw coded('ERR_VALIDATION', `options.${key} must be ${expected}, got ${kindOf(v)}`)
      }
      return v === null ? undefined : v
    }
    const isName = (v) => typeof v === 'string' && v.length > 0
    const isPlain = (v) => isObject(v) && !Array.isArray(v)
    return {
      database: read('database', isPlain, 'a WorkflowDatabase or a connect() configuration'),
      eventBus: read('eventBus', isName, 'the name of the event bus service'),
      logger: read('logger', isName, 'the name of the logger service'),
      cache: read('cache', isPlain, 'WorkflowCache options'),
      cacheService: read('cacheService', isPlain, 'WorkflowCacheService options'),
    }
  }

  /**
   * How the container knows a name: 'registered' (register(), so it may be declared as a
   * dependency), 'instance' (registerSingleton() only), or undefined.
   */
  function known(container, name) {
    const has = (list) => (list instanceof Map || list instanceof Set ? list.has(name) : Array.isArray(list) && list.includes(name))
    const registry = isFunction(container.getRegistry) ? container.getRegistry() : container
    if (isObject(registry)) {
      if (has(registry.factories)) return 'registered'
      if (has(registry.singletons) || has(registry.services)) return 'instance'
    }
    if (isFunction(container.has) && container.has(name)) return 'registered'
    return undefined
  }

  function refuseTaken(container, names) {
    for (const name of names) {
      if (known(container, name) !== undefined) {
        throw coded(
          'ERR_CONFLICT',
          `the container already has a service named '${name}'; nothing was registered`,
        )
      }
    }
  }

  /** The directory part of a file path, with its separator ('' for a bare name). */
  function directoryOf(file) {
    const end = Math.max(file.lastIndexOf('/'), file.lastIndexOf('\\'))
    return end < 0 ? '' : file.slice(0, end + 1)
  }

  /** Where the package keeps its data when it is not told: never PIDEA's own tables. */
  function discoveredConfig(container) {
    const url = process.env.WORKFLOW_DATABASE_URL
    if (url) return { url }
    if (known(container, 'databaseConnection') === undefined) return undefined
    let connection
    try {
      connection = container.resolve('databaseConnection')
    } catch {
      return undefined // registered, but it cannot be built (PIDEA's placeholder factory)
    }
    if (!isObject(connection)) return undefined
    const config = isObject(connection.config) ? connection.config : {}
    const type = isFunction(connection.getType) ? connection.getType() : config.type
    if (type === 'sqlite' && typeof config.database === 'string' && config.database !== ':memory:') {
      return { type: 'sqlite', database: directoryOf(config.database) + SQLITE_FILE }
    }
    if (type === 'sqlite' || type === 'memory') return { type: 'memory' }
    if (type === 'postgresql') {
      const pg = { type: 'postgresql', schema: PG_SCHEMA }
      for (const key of ['host', 'port', 'database', 'username', 'password', 'ssl']) {
        if (config[key] !== undefined && config[key] !== null) pg[key] = config[key]
      }
      return pg
    }
    return undefined
  }

  /** The database to use, and whether the helper opened it (and so closes it on stop). */
  async function databaseFor(container, options) {
    if (options.database instanceof WorkflowDatabase) return { db: options.database, owned: false }
    const config = options.database ?? discoveredConfig(container)
    return { db: await WorkflowDatabase.connect(config), owned: true }
  }

  /**
   * Registers the workflow services in PIDEA's DI container and resolves the database they use.
   * See the README's "Use in PIDEA".
   */
  async function registerWorkflowServices(registryOrContainer, options) {
    let container, opts
    const names = [
      'workflowDatabase',
      'workflowExecutionRepository',
      'workflowMetricsRepository',
      'handlerRegistryRepository',
      'workflowRepository',
      'workflowPersistenceService',
      'workflowCache',
      'workflowCacheService',
      'workflowEventHandlers',
      LIFECYCLE,
    ]
    try {
      container = containerOf(registryOrContainer)
      opts = optionsOf(options)
      refuseTaken(container, names)
    } catch (err) {
      throw err instanceof exports.WorkflowInfraError ? err : coded('ERR_VALIDATION', 'the container or the options could not be read', err)
    }
    const busName = opts.eventBus ?? 'eventBus'
    const loggerName = opts.logger ?? 'logger'
    const { db, owned } = await databaseFor(container, opts)
    try {
      // The connect awaited: someone may have registered meanwhile.
      refuseTaken(container, names)
      register(container, db, owned, opts, busName, loggerName)
      if (!isFunction(container.startAllServices)) {
        // A container without lifecycle hooks: the handlers listen from now on.
        await container.resolve(LIFECYCLE).start()
      }
    } catch (err) {
      if (owned) await db.close()
      throw err instanceof exports.WorkflowInfraError ? err : coded('ERR_VALIDATION', 'the container refused a registration', err)
    }
    return db
  }

  function register(container, db, owned, opts, busName, loggerName) {
    // Only names the container registered may be declared (its validateDependencies() checks
    // them); an instance-only service is resolved when the factory runs.
    const optional = (name) => {
      const how = known(container, name)
      return {
        deps: how === 'registered' ? [name] : [],
        get: how === undefined ? () => undefined : (...declared) => (how === 'registered' ? declared[0] : container.resolve(name)),
      }
    }
    const logger = optional(loggerName)
    const bus = optional(busName)
    const add = (name, dependencies, factory, lifecycle) =>
      container.register(name, factory, { singleton: true, dependencies, ...(lifecycle && { lifecycle }) })
    const {
      WorkflowExecutionRepository,
      WorkflowMetricsRepository,
      HandlerRegistryRepository,
      WorkflowRepository,
      WorkflowPersistenceService,
      WorkflowCache,
      WorkflowCacheService,
      WorkflowEventService,
    } = exports

    add('workflowDatabase', [], () => db)
    add('workflowExecutionRepository', ['workflowDatabase'], (d) => new WorkflowExecutionRepository(d))
    add('workflowMetricsRepository', ['workflowDatabase'], (d) => new WorkflowMetricsRepository(d))
    add('handlerRegistryRepository', ['workflowDatabase'], (d) => new HandlerRegistryRepository(d))
    add('workflowRepository', ['workflowExecutionRepository', 'workflowMetricsRepository', ...logger.deps], (e, m, ...l) => {
      const repository = new WorkflowRepository(e, m)
      const log = logger.get(...l)
      if (log) repository.setLogger(log)
      return repository
    })
    add('workflowPersistenceService', ['workflowRepository', ...logger.deps], (r, ...l) => new WorkflowPersistenceService(r, logger.get(...l)))
    add('workflowCache', [...logger.deps], (...l) => {
      const log = logger.get(...l)
      return new WorkflowCache({ ...(log && { logger: log }), ...opts.cache })
    })
    add('workflowCacheService', ['workflowDatabase'], (d) => new WorkflowCacheService(d, opts.cacheService))
    add('workflowEventHandlers', ['workflowRepository', 'workflowDatabase', ...bus.deps, ...logger.deps], (r, d, ...rest) => {
      const busDeps = rest.slice(0, bus.deps.length)
      const loggerDeps = rest.slice(bus.deps.length)
      // Without a bus in the container, the handlers listen on an event service of their own.
      const eventBus = bus.get(...busDeps) ?? new WorkflowEventService(d)
      return new WorkflowEventHandlers(r, eventBus, logger.get(...loggerDeps))
    })
    add(LIFECYCLE, ['workflowEventHandlers', 'workflowDatabase'], (handlers, d) => lifecycleService(handlers, d, owned), {
      onStart: (service) => service.start(),
      onStop: (service) => service.stop(),
    })
  }

  /** What the container starts and stops: the handlers, and the database the helper opened. */
  function lifecycleService(handlers, db, owned) {
    return {
      handlers,
      database: db,
      /** Subscribes the event handlers to the bus. */
      start: () => handlers.initialize(),
      /** Unsubscribes the handlers; closes the database if registerWorkflowServices opened it. */
      async stop() {
        handlers.dispose()
        if (owned) await db.close()
      },
    }
  }

  exports.registerWorkflowServices = registerWorkflowServices
}

module.exports = { addPideaMembers }
