'use strict'
// What every Promise method of the package gets in JavaScript, where it only calls JavaScript:
// - tracing through node:diagnostics_channel: each call publishes on the TracingChannel
//   `@pidea/workflow-infra:call` — `start`, `end`, `asyncStart`, `asyncEnd` and `error`, as
//   TracingChannel#tracePromise does — with a context of `{ operation, backend, executionId? }`
//   (`backend` null for an instance with no database, a local event service; plus `result` or
//   `error` once settled). With no subscriber a call costs one check.
// - pages walked with `for await`: the Promise a paged call returns is also an async iterable
//   of the rows of every page, following `nextCursor`.
// - `{ signal }` on the long calls (cleanup, export, bulk writes, statistics): an AbortSignal
//   that fires before the call took effect rolls it back, and the call rejects with the
//   signal's reason (core::abort says where the work looks at it).

const dc = require('node:diagnostics_channel')
const { internals } = require('./internal.js')

const CHANNEL = '@pidea/workflow-infra:call'

/** The channel; null on a Node without TracingChannel (before 18.19 and 20.0).
 * @type {any} */
const channel = typeof dc.tracingChannel === 'function' ? dc.tracingChannel(CHANNEL) : null

/** Whether anything listens: TracingChannel#hasSubscribers where Node has it, else its parts. */
const listened =
  channel === null
    ? () => false
    : 'hasSubscribers' in channel
      ? () => channel.hasSubscribers
      : () =>
          channel.start.hasSubscribers ||
          channel.end.hasSubscribers ||
          channel.asyncStart.hasSubscribers ||
          channel.asyncEnd.hasSubscribers ||
          channel.error.hasSubscribers

/** The methods that return something other than a Promise, by class (the rest are traced). */
const SYNC = {
  WorkflowDatabase: ['getType', 'getConnectionStatus', 'getMetrics', 'toPrometheus', 'registerMetrics'],
  WorkflowExecutionRepository: ['toSnakeCase'],
  WorkflowMetricsRepository: ['toSnakeCase', 'calculateStandardDeviation'],
  HandlerRegistryRepository: ['toSnakeCase'],
  WorkflowRepository: ['setLogger'],
  WorkflowPersistenceService: ['setLogger'],
  WorkflowEventService: ['subscribe', 'on', 'unsubscribe', 'getHandlerCount', 'clear', 'dispose'],
  WorkflowEventHandlers: ['registerEventHandlers', 'dispose', 'setLogger'],
  WorkflowCacheService: ['getStats', 'clear'],
}

/** Whose methods are traced: every class with Promise methods (WorkflowCache is synchronous). */
const TRACED = Object.keys(SYNC)

/** The methods whose first argument is an execution id. */
const BY_EXECUTION_ID = new Set([
  'findByExecutionId',
  'update',
  'updateExecution',
  'updateWorkflowExecution',
  'delete',
  'deleteExecution',
  'deleteWorkflowExecution',
  'deleteMetricsForExecution',
  'getExecution',
  'getExecutionWithMetrics',
  'getWorkflowExecution',
  'getMetricsForExecution',
  'getWorkflowMetrics',
  'recordExecutionMetrics',
  'recordWorkflowMetric',
])

/** The execution a call is about, when its arguments name one. */
function executionIdOf(method, args) {
  const first = args[0]
  if (typeof first === 'string' && BY_EXECUTION_ID.has(method)) return first
  if (first !== null && typeof first === 'object') {
    const id = first.executionId ?? first.execution_id
    if (typeof id === 'string') return id
  }
  return undefined
}

/** The backend serving an instance: the database's type, found through what the instance holds. */
function backendOf(target, seen = 0) {
  if (target === null || typeof target !== 'object' || seen > 3) return undefined
  try {
    if (typeof target.getType === 'function') return target.getType()
    for (const next of ['db', 'executionRepository', 'workflowRepository']) {
      if (next in target) return backendOf(target[next], seen + 1)
    }
  } catch {
    // a closed database: the backend is unknown, the call still runs (and rejects on its own)
  }
  return undefined
}

/** The backend a connect() configuration names (with none: WORKFLOW_DATABASE_URL's, else the
 * SQLite default). */
function backendOfConfig(config) {
  if (config === undefined || config === null) {
    const url = process.env.WORKFLOW_DATABASE_URL
    return url ? backendOfConfig({ url }) : 'sqlite'
  }
  if (typeof config !== 'object') return null
  if (typeof config.type === 'string') return config.type
  if (typeof config.url === 'string') {
    if (/^postgres(ql)?:/i.test(config.url)) return 'postgresql'
    if (/:memory:/.test(config.url)) return 'memory'
    return 'sqlite'
  }
  return 'sqlite'
}

/** Runs `fn` as TracingChannel#tracePromise would, publishing on the parts of the channel. */
function traced(context, fn, self, args) {
  const { start, end, asyncStart, asyncEnd, error } = channel
  return start.runStores(context, () => {
    let promise
    try {
      promise = Reflect.apply(fn, self, args)
    } catch (err) {
      context.error = err
      error.publish(context)
      end.publish(context)
      throw err
    }
    end.publish(context)
    return Promise.resolve(promise).then(
      (result) => {
        context.result = result
        asyncStart.runStores(context, () => asyncEnd.publish(context))
        return result
      },
      (err) => {
        context.error = err
        error.publish(context)
        asyncStart.runStores(context, () => asyncEnd.publish(context))
        throw err
      },
    )
  })
}

/** The paged calls, by the place of their `options` argument. */
const PAGED = {
  getAllHandlers: 0,
  getActiveHandlers: 0,
  getDefaultHandlers: 0,
  findAll: 0,
  getHandlerUsageHistory: 1,
  findByWorkflowId: 1,
  findByTaskId: 1,
  findByUserId: 1,
  findByStatus: 1,
  getMetricsForExecution: 1,
  getMetricsByType: 1,
  getMetricsByName: 1,
  findWorkflowExecutions: 1,
  getWorkflowMetrics: 1,
  findExecutionsByWorkflowId: 1,
  findExecutionsByTaskId: 1,
  findExecutionsByUserId: 1,
  findExecutionsByStatus: 1,
}

/** `promise` (the first page of `call(args)`), made an async iterable of every page's rows. */
function iterable(promise, call, self, args, at) {
  promise[Symbol.asyncIterator] = async function* rows() {
    let page = await promise
    for (;;) {
      yield* page
      if (page.nextCursor == null) return
      const next = args.slice()
      while (next.length < at) next.push(undefined)
      const options = { ...args[at], after: page.nextCursor }
      delete options.offset
      next[at] = options
      page = await call.apply(self, next)
    }
  }
  return promise
}

/**
 * The calls that take `{ signal }` in their options argument (the second, `OPTIONS_AT`), by
 * class: whether the addon's method has options of its own there (else they hold only `signal`).
 */
const ABORTABLE = {
  WorkflowExecutionRepository: { cleanupOldExecutions: false, getStatistics: false },
  WorkflowMetricsRepository: { cleanupOldMetrics: false, recordMetrics: false, getAggregatedMetrics: false, getMetricsStatistics: false },
  HandlerRegistryRepository: { cleanupOldUsageHistory: false },
  WorkflowRepository: { cleanupOldExecutions: true, getExecutionStatistics: false, getAggregatedMetrics: false, getMetricsStatistics: false },
  WorkflowPersistenceService: {
    cleanupOldExecutions: true,
    exportWorkflowData: true,
    bulkCreateWorkflowExecutions: false,
    bulkUpdateWorkflowExecutions: false,
    getWorkflowStatistics: false,
    getAggregatedMetrics: false,
    getMetricsStatistics: false,
  },
}
/** Where their options argument is. */
const OPTIONS_AT = 1

/** The addon's internal functions behind `{ signal }` (set by instrument). */
let aborts = null

function kindOf(v) {
  return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
}

/** `fn` taking `{ signal }` in its options argument (`own`: beside options of its own). */
function abortable(name, fn, own) {
  const operation = name.replace(/[A-Z]/g, (c) => ` ${c.toLowerCase()}`)
  const refuse = (argument, reason) =>
    Promise.reject(
      new aborts.WorkflowInfraError(`Failed to ${operation}: ${argument} ${reason}`, {
        code: 'ERR_VALIDATION',
        meta: { operation, argument },
      }),
    )
  return function withSignal(...args) {
    try {
      return withReadOptions.call(this, args)
    } catch {
      // An options object whose reading throws (a getter, a Proxy): refused, never thrown.
      return refuse('options', 'could not be read')
    }
  }

  function withReadOptions(args) {
    const options = args[OPTIONS_AT]
    const isObject = options !== null && typeof options === 'object' && !Array.isArray(options)
    // The addon checks options of its own; here, only what carries a signal.
    if (own && !(isObject && 'signal' in options)) return Reflect.apply(fn, this, args)
    if (!own && options === undefined) return Reflect.apply(fn, this, args)
    if (!isObject) return refuse('options', `must be an object (got ${kindOf(options)})`)
    const { signal, ...rest } = options
    if (!own && Object.keys(rest).length > 0) return refuse('options', 'has an unknown key (known: signal)')
    const next = args.slice()
    next[OPTIONS_AT] = own ? rest : undefined
    if (!own) next.length = OPTIONS_AT
    if (signal === undefined) return Reflect.apply(fn, this, next)
    if (signal === null || typeof signal !== 'object' || typeof signal.aborted !== 'boolean' || typeof signal.addEventListener !== 'function') {
      return refuse('options.signal', `must be an AbortSignal (got ${kindOf(signal)})`)
    }
    if (signal.aborted) return Promise.reject(signal.reason)
    const flag = aborts.flag()
    const onAbort = () => aborts.fire(flag)
    signal.addEventListener('abort', onAbort, { once: true })
    const promise = aborts.callWith(flag, () => Reflect.apply(fn, this, next))
    const done = () => signal.removeEventListener('abort', onAbort)
    return promise.then(
      (result) => {
        done()
        return result
      },
      (err) => {
        done()
        // The addon's own code for a call its signal stopped; the caller gets the reason.
        throw err !== null && typeof err === 'object' && err.code === 'ERR_ABORTED' ? signal.reason : err
      },
    )
  }
}

/** `fn` (a Promise method named `name`), publishing on the channel while anything listens,
 * walkable page by page when it is a paged call, and taking `{ signal }` when it is a long one. */
function wrap(className, name, fn, contextOf) {
  const operation = `${className}.${name}`
  const at = PAGED[name]
  const own = ABORTABLE[className]?.[name]
  const call = own === undefined ? fn : abortable(name, fn, own)
  const plain = {
    [name](...args) {
      if (!listened()) return Reflect.apply(call, this, args)
      return traced(contextOf(operation, name, this, args), call, this, args)
    },
  }[name]
  const wrapped =
    at === undefined
      ? plain
      : {
          [name](...args) {
            return iterable(Reflect.apply(plain, this, args), plain, this, args, at)
          },
        }[name]
  Object.defineProperty(wrapped, 'length', { value: fn.length })
  wrapped[TRACE] = fn
  return wrapped
}

/** Marks a traced method (and holds the method it wraps). A registered symbol: the addon's
 * classes are one per process, however many times this file is evaluated (Jest's registries). */
const TRACE = Symbol.for('@pidea/workflow-infra.traced')

function instanceContext(operation, name, self, args) {
  const context = { operation, backend: backendOf(self) ?? null }
  const executionId = executionIdOf(name, args)
  if (executionId !== undefined) context.executionId = executionId
  return context
}

function staticContext(operation, name, self, args) {
  const config = name === 'replayJournal' ? args[0]?.to : args[0]
  return { operation, backend: backendOfConfig(config) }
}

/** Wraps every Promise method of the exported classes, once. */
function instrument(exports) {
  const { abortFlag, abort, callWithAbort } = internals(exports)
  aborts = { flag: abortFlag, fire: abort, callWith: callWithAbort, WorkflowInfraError: exports.WorkflowInfraError }
  for (const className of TRACED) {
    const klass = exports[className]
    const sync = new Set(SYNC[className])
    for (const [target, contextOf] of [
      [klass.prototype, instanceContext],
      [klass, staticContext],
    ]) {
      for (const name of Object.getOwnPropertyNames(target)) {
        if (name === 'constructor' || sync.has(name)) continue
        const descriptor = Object.getOwnPropertyDescriptor(target, name)
        if (descriptor === undefined) continue
        if (typeof descriptor.value !== 'function' || descriptor.value[TRACE]) continue
        if (target === klass && ['length', 'name', 'prototype'].includes(name)) continue
        Object.defineProperty(target, name, {
          ...descriptor,
          value: wrap(className, name, descriptor.value, contextOf),
        })
      }
    }
  }
}

module.exports = { ABORTABLE, CHANNEL, PAGED, TRACE, instrument }
