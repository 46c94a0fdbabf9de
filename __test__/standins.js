'use strict'
// Stand-ins for PIDEA's DI containers, its EventBus and a logger, written from their interfaces
// (PIDEA's container, EventBus and logger; the README's "Use in PIDEA"): what the addon is tested against.
//
// - LifecycleContainer: register(name, factory, {singleton, dependencies, lifecycle}),
//   registerSingleton, a synchronous resolve (singletons first, then dependencies, then the
//   factory), getRegistry, validateDependencies (each declared dependency must be a register()ed
//   name), startAllServices (each onStart, with the instance) and stopAllServices, whose order
//   holds only services that nothing depends on, so an onStop is reached only on such a leaf.
// - PlainContainer: the older register(name, factory, {singleton, dependencies}) and resolve,
//   with no lifecycle hooks.

class PlainContainer {
  constructor() {
    this.factories = new Map()
    this.singletons = new Map()
  }

  register(name, factory, { singleton = false, dependencies = [] } = {}) {
    this.factories.set(name, { factory, singleton, dependencies })
  }

  registerSingleton(name, instance) {
    this.singletons.set(name, instance)
  }

  resolve(name, stack = []) {
    if (stack.includes(name)) throw new Error(`Circular dependency detected: ${[...stack, name].join(' -> ')}`)
    if (this.singletons.has(name)) return this.singletons.get(name)
    const entry = this.factories.get(name)
    if (!entry) throw new Error(`Service not found: ${name}`)
    const deps = entry.dependencies.map((d) => this.resolve(d, [...stack, name]))
    const instance = entry.factory(...deps)
    if (entry.singleton) this.singletons.set(name, instance)
    return instance
  }

  getRegistry() {
    return { services: [], singletons: [...this.singletons.keys()], factories: [...this.factories.keys()] }
  }
}

class LifecycleContainer extends PlainContainer {
  constructor() {
    super()
    this.hooks = new Map()
  }

  register(name, factory, options = {}) {
    super.register(name, factory, options)
    if (options.lifecycle && Object.keys(options.lifecycle).length > 0) this.hooks.set(name, options.lifecycle)
  }

  validateDependencies() {
    const missing = {}
    for (const [name, { dependencies }] of this.factories) {
      const absent = dependencies.filter((d) => !this.factories.has(d))
      if (absent.length) missing[name] = absent
    }
    return { isValid: Object.keys(missing).length === 0, missingDependencies: missing }
  }

  async startAllServices() {
    const started = []
    for (const name of this.factories.keys()) {
      const hooks = this.hooks.get(name)
      if (!hooks || !hooks.onStart) continue
      await hooks.onStart(this.resolve(name))
      started.push(name)
    }
    return { started }
  }

  /** Only services nothing depends on, in reverse registration order. */
  stopOrder() {
    const dependedOn = new Set([...this.factories.values()].flatMap((f) => f.dependencies))
    return [...this.factories.keys()].filter((n) => !dependedOn.has(n)).reverse()
  }

  async stopAllServices() {
    const stopped = []
    for (const name of this.stopOrder()) {
      const hooks = this.hooks.get(name)
      if (!hooks || !hooks.onStop || !this.singletons.has(name)) continue
      await hooks.onStop(this.singletons.get(name))
      stopped.push(name)
    }
    return { stopped }
  }
}

/** A ServiceRegistry: the container behind getContainer(). */
class Registry {
  constructor(container) {
    this.container = container
  }

  getContainer() {
    return this.container
  }

  getService(name) {
    return this.container.resolve(name)
  }
}

/** PIDEA's EventBus: handlers in subscription order, all started at once (one that throws is
 * a rejection), publish awaits them all; `on`/`emit` are aliases. */
class EventBus {
  constructor() {
    this.handlers = new Map()
  }

  subscribe(eventName, handler) {
    if (!this.handlers.has(eventName)) this.handlers.set(eventName, [])
    this.handlers.get(eventName).push(handler)
  }

  on(eventName, handler) {
    this.subscribe(eventName, handler)
  }

  unsubscribe(eventName, handler) {
    const list = this.handlers.get(eventName) || []
    const i = list.indexOf(handler)
    if (i >= 0) list.splice(i, 1)
  }

  async publish(eventName, eventData) {
    const results = [...(this.handlers.get(eventName) || [])].map((h) => {
      try {
        return h(eventData)
      } catch (e) {
        return Promise.reject(e)
      }
    })
    await Promise.allSettled(results)
  }

  async emit(eventName, eventData) {
    return this.publish(eventName, eventData)
  }

  getHandlerCount(eventName) {
    return (this.handlers.get(eventName) || []).length
  }

  totalHandlers() {
    return [...this.handlers.values()].reduce((n, list) => n + list.length, 0)
  }
}

/** A logger that keeps its lines: `{lines, logger}`. */
function recorder() {
  const lines = []
  const at = (level) => (message, meta) => lines.push({ level, message, meta })
  return { lines, logger: { info: at('info'), debug: at('debug'), warn: at('warn'), error: at('error') } }
}

/**
 * A container set up as PIDEA sets its own up before it would call the helper: `eventBus` and
 * `logger` registered (the logger then replaced by the application's), and the connected
 * `databaseConnection` given as an instance over a registered placeholder.
 */
function pideaLike(Container, databaseConnection) {
  const container = new Container()
  container.register('eventBus', () => new EventBus(), { singleton: true })
  container.register('logger', () => recorder().logger, { singleton: true })
  container.register(
    'databaseConnection',
    () => {
      throw new TypeError("Cannot read properties of undefined (reading 'type')")
    },
    { singleton: true },
  )
  container.register('handlerRegistry', () => ({ handlers: new Map() }), { singleton: true })
  container.registerSingleton('logger', recorder().logger)
  if (databaseConnection) container.registerSingleton('databaseConnection', databaseConnection)
  return container
}

module.exports = { EventBus, LifecycleContainer, PlainContainer, Registry, pideaLike, recorder }
