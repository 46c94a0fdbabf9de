// @ts-check
'use strict'
// The one error class of the package. index.js adds it to the exports and hands it to the addon
// (`__useErrorClass`, internal), which makes every rejection and throw with it
// (`src/binding/node/convert.rs`, `make_error`); lib/ throws it too.

/**
 * An error of @pidea/workflow-infra: `code` (one of the ERR_… constants), `retryable` (whether
 * the same call may succeed later), `meta` (what is known: `operation`, `table`, `column`,
 * `constraint`, `argument`), and, where there is an underlying driver error, `cause`. The message
 * never holds a value the caller passed.
 */
class WorkflowInfraError extends Error {
  /**
   * @param {string} message
   * @param {{ code?: string, retryable?: boolean, meta?: Record<string, string>, cause?: unknown }} [options]
   */
  constructor(message, { code, retryable = false, meta = {}, cause } = {}) {
    super(message)
    this.code = code
    this.retryable = retryable
    this.meta = meta
    if (cause !== undefined) this.cause = cause
  }
}
Object.defineProperty(WorkflowInfraError.prototype, 'name', { value: 'WorkflowInfraError', writable: true, configurable: true })

module.exports = { WorkflowInfraError }
