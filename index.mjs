// The ES module entry: the same objects as the CommonJS one (index.js loads the native addon),
// every export by name. __test__/esm.test.js fails when a name is missing here.
import { createRequire } from 'node:module'

const require = createRequire(import.meta.url)
const binding = require('./index.js')

export const {
  WorkflowDatabase,
  WorkflowExecutionRepository,
  WorkflowMetricsRepository,
  HandlerRegistryRepository,
  WorkflowRepository,
  WorkflowPersistenceService,
  WorkflowEventService,
  WorkflowEventHandlers,
  WorkflowCache,
  WorkflowCacheService,
  PostgreSQLWorkflowExecutionRepository,
  PostgreSQLWorkflowMetricsRepository,
  PostgreSQLHandlerRegistryRepository,
  InMemoryWorkflowExecutionRepository,
  InMemoryWorkflowMetricsRepository,
  InMemoryHandlerRegistryRepository,
  registerWorkflowServices,
  setLogger,
  GAP_EVENT,
  ERR_VALIDATION,
  ERR_CONFLICT,
  ERR_DB_UNAVAILABLE,
  ERR_DB_REFUSED,
  ERR_DB,
  ERR_CLOSED,
  ERR_MIGRATION,
  ERR_TIMEOUT,
  ERR_OVERLOADED,
  ERR_INTERNAL,
  WorkflowInfraError,
  TRACING_CHANNEL,
} = binding
