// @ts-check
// The addon inside a DI container of PIDEA's shape: what PIDEA's Application does in
// initializeInfrastructure (register, then take the repository its WorkflowController uses),
// then starting the services, a workflow through the event bus, and shutdown.
//
//   node examples/pidea.js            (writes ./data/example/workflow-infra.db)
//
// The container below is the smallest one with PIDEA's interface: register(name, factory,
// {singleton, dependencies, lifecycle}), registerSingleton, resolve, startAllServices and
// stopAllServices. PIDEA's own ServiceRegistry works the same way.
'use strict'

const { registerWorkflowServices } = require('..') // require('@pidea/workflow-infra') in PIDEA

/** @typedef {{ factory: (...deps: any[]) => unknown, singleton?: boolean, dependencies?: string[], lifecycle?: { onStart?: (s: any) => unknown, onStop?: (s: any) => unknown } }} Entry */

class Container {
  constructor() {
    /** @type {Map<string, Entry>} */
    this.factories = new Map()
    /** @type {Map<string, unknown>} */
    this.singletons = new Map()
  }

  /** @param {string} name @param {Entry['factory']} factory @param {Omit<Entry, 'factory'>} [options] */
  register(name, factory, options = {}) {
    this.factories.set(name, { factory, ...options })
  }

  /** @param {string} name @param {unknown} instance */
  registerSingleton(name, instance) {
    this.singletons.set(name, instance)
  }

  /** @param {string} name @returns {any} */
  resolve(name) {
    if (this.singletons.has(name)) return this.singletons.get(name)
    const entry = this.factories.get(name)
    if (!entry) throw new Error(`Service not found: ${name}`)
    const instance = entry.factory(...(entry.dependencies ?? []).map((d) => this.resolve(d)))
    if (entry.singleton) this.singletons.set(name, instance)
    return instance
  }

  getRegistry() {
    return { factories: [...this.factories.keys()], singletons: [...this.singletons.keys()] }
  }

  async startAllServices() {
    for (const [name, entry] of this.factories) await entry.lifecycle?.onStart?.(this.resolve(name))
  }

  async stopAllServices() {
    for (const [name, entry] of [...this.factories].reverse()) {
      if (this.singletons.has(name)) await entry.lifecycle?.onStop?.(this.singletons.get(name))
    }
  }
}

/** PIDEA's EventBus, reduced to what the handlers use. */
class EventBus {
  constructor() {
    /** @type {Map<string, Function[]>} */
    this.handlers = new Map()
  }

  /** @param {string} event @param {Function} handler */
  subscribe(event, handler) {
    this.handlers.set(event, [...(this.handlers.get(event) ?? []), handler])
  }

  /** @param {string} event @param {Function} handler */
  unsubscribe(event, handler) {
    this.handlers.set(event, (this.handlers.get(event) ?? []).filter((h) => h !== handler))
  }

  /** @param {string} event @param {unknown} data */
  async publish(event, data) {
    await Promise.allSettled((this.handlers.get(event) ?? []).map((h) => h(data)))
  }
}

async function main() {
  const container = new Container()
  const registry = { getContainer: () => container, getService: (/** @type {string} */ name) => container.resolve(name) }
  // What PIDEA has registered by then: its bus, its logger, its connected database (SQLite here).
  container.register('eventBus', () => new EventBus(), { singleton: true })
  container.registerSingleton('logger', console)
  const type = 'sqlite'
  container.registerSingleton('databaseConnection', {
    config: { type, database: './data/example/pidea-dev.db' },
    getType: () => type,
  })

  // The two lines PIDEA adds in Application.initializeInfrastructure:
  const db = await registerWorkflowServices(registry)
  const workflowExecutionRepository = registry.getService('workflowExecutionRepository')
  console.log('workflow data in', db.getConnectionStatus().database)

  await container.startAllServices() // subscribes the event handlers to the bus

  // What WorkflowController.executeWorkflow saves after a run.
  const row = await workflowExecutionRepository.create({
    executionId: `auto_${Date.now()}`,
    workflowId: 'analysis',
    workflowName: 'analysis',
    taskId: null,
    userId: 'me',
    status: 'running',
    strategy: 'categories',
    startTime: new Date(),
    metadata: { executionMethod: 'categories' },
  })
  const bus = registry.getService('eventBus')
  await bus.publish('workflow.step.completed', { executionId: row.execution_id, stepId: '1', stepName: 'scan', duration: 42 })
  await bus.publish('workflow.execution.completed', { executionId: row.execution_id, result: { issues: 0 } })

  const persistence = registry.getService('workflowPersistenceService')
  const done = await persistence.getWorkflowExecution(row.execution_id)
  console.log(done.execution_id, done.status, `${done.metrics.length} metrics`)

  await container.stopAllServices() // unsubscribes the handlers, closes the database it opened
  console.log('closed:', !db.isConnected)
}

void main() // a rejection ends the process with its error
