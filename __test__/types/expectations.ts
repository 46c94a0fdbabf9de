// What the declarations promise, checked by tsc in `npm run lint` (tsc --noEmit -p
// __test__/types): each line states a type the runtime gives (held by the Jest suites, and by
// __test__/declarations.test.js, which compares every declared class member with the runtime's),
// and each @ts-expect-error line a misuse the declarations must refuse.
import {
  WorkflowDatabase,
  WorkflowCache,
  WorkflowExecutionRepository,
  HandlerRegistryRepository,
  WorkflowInfraError,
  setLogger,
  TRACING_CHANNEL,
  type CallContext,
  ERR_VALIDATION,
  ERR_TIMEOUT,
  type ErrorCode,
  type Page,
  type PagedCall,
  type HandlerRow,
  type WorkflowExecutionRow,
  type WorkflowInfraErrorMeta,
  type Metrics,
} from '../..'

/** Compiles only when A and B are the same type. */
type Equal<A, B> = (<T>() => T extends A ? 1 : 2) extends <T>() => T extends B ? 1 : 2 ? true : false
function expectType<T extends true>(): T | void {}

// ---- WorkflowCache<K, V> --------------------------------------------------------------------------
interface Plan {
  steps: number
}
const plans = new WorkflowCache<string, Plan>({ maxSize: 10 })
plans.set('a', { steps: 1 })
expectType<Equal<ReturnType<typeof plans.get>, Plan | null>>()
expectType<Equal<ReturnType<typeof plans.keys>, string[]>>()
expectType<Equal<ReturnType<typeof plans.values>, Plan[]>>()
expectType<Equal<ReturnType<typeof plans.entries>[number]['value'], Plan>>()
// @ts-expect-error: a value of another type
plans.set('b', { steps: 'two' })
// @ts-expect-error: a key of another type
plans.get(1)
const anything = new WorkflowCache()
expectType<Equal<ReturnType<typeof anything.get>, unknown>>()
// @ts-expect-error: keys are strings or numbers
new WorkflowCache<object, Plan>()

// ---- Paged calls -------------------------------------------------------------------------------
declare const db: WorkflowDatabase
const executions = new WorkflowExecutionRepository(db)
const handlers = new HandlerRegistryRepository(db)
expectType<Equal<ReturnType<typeof executions.findAll>, PagedCall<WorkflowExecutionRow>>>()
expectType<Equal<ReturnType<typeof handlers.getAllHandlers>, PagedCall<HandlerRow>>>()
expectType<Equal<ReturnType<typeof handlers.getActiveHandlers>, PagedCall<HandlerRow>>>()
async function pages(): Promise<void> {
  const page = await handlers.getAllHandlers({ limit: 10 })
  expectType<Equal<typeof page, Page<HandlerRow>>>()
  expectType<Equal<typeof page.nextCursor, string | null>>()
  await handlers.getAllHandlers({ limit: 10, after: page.nextCursor ?? undefined })
  for await (const row of executions.findByWorkflowId('wf', { limit: 100 })) {
    expectType<Equal<typeof row, WorkflowExecutionRow>>()
  }
  // @ts-expect-error: a page's cursor is read-only
  page.nextCursor = 'x'
}

// ---- Errors ------------------------------------------------------------------------------------
const err = new WorkflowInfraError('Failed to x: y', { code: ERR_VALIDATION })
expectType<Equal<typeof err.code, ErrorCode>>()
expectType<Equal<typeof err.retryable, boolean>>()
expectType<Equal<typeof err.meta, WorkflowInfraErrorMeta>>()
expectType<Equal<typeof ERR_TIMEOUT, 'ERR_TIMEOUT'>>()
expectType<Equal<WorkflowInfraErrorMeta['argument'], string | undefined>>()
// @ts-expect-error: ERR_NOT_FOUND is not a code: nothing raises it
const gone: ErrorCode = 'ERR_NOT_FOUND'
const error: Error = err

// ---- Loggers and metrics -----------------------------------------------------------------------
const nodeConsole = console
setLogger(nodeConsole)
setLogger({ info() {}, warn() {}, error() {}, debug() {} }, { style: 'object-first' })
// @ts-expect-error: an unknown style
setLogger(nodeConsole, { style: 'sideways' })
// @ts-expect-error: a logger needs the four methods
setLogger({ info() {} })
declare const registry: { registerMetric(metric: unknown): void }
const unregister: () => void = db.registerMetrics(registry, { labels: { service: 'api' } })
// @ts-expect-error: label values are strings
db.registerMetrics(registry, { labels: { shard: 1 } })
const text: string = db.toPrometheus({ labels: { service: 'api' } })
const metrics: Metrics = db.getMetrics()
expectType<Equal<keyof Metrics['errors'], ErrorCode>>()

// ---- Tracing ----------------------------------------------------------------------------------
expectType<Equal<typeof TRACING_CHANNEL, '@pidea/workflow-infra:call'>>()
expectType<Equal<CallContext['backend'], 'postgresql' | 'sqlite' | 'memory' | null>>()

// ---- Signals (Node's AbortSignal, @types/node) ---------------------------------------------------
async function signals(): Promise<void> {
  const controller = new AbortController()
  await executions.getStatistics({}, { signal: controller.signal })
  await executions.cleanupOldExecutions(30, { signal: AbortSignal.timeout(5000) })
  // @ts-expect-error: find calls take no signal
  await executions.findAll({ signal: controller.signal })
  // @ts-expect-error: a signal is an AbortSignal
  await executions.getStatistics({}, { signal: true })
}

// ---- Disposal ----------------------------------------------------------------------------------
expectType<Equal<ReturnType<WorkflowDatabase[typeof Symbol.asyncDispose]>, Promise<void>>>()

void [pages, signals, gone, error, unregister, text, metrics]
