// The one error class of the package. The addon compiles this file into its binary and
// evaluates it once per environment when it loads (`super::module_exports`): the expression
// below is a function of the addon's exports, which adds the class to them and returns it; every
// rejection and throw of the addon is then made with it (`node::convert::make_error`).
(function addErrorClass(exports) {
  'use strict'

  /**
   * An error of @pidea/workflow-infra: `code` (one of the ERR_… constants), `retryable` (whether
   * the same call may succeed later), `meta` (what is known: `operation`), and, where there is
   * an underlying driver error, `cause`. The message never holds a value the caller passed.
   */
  class WorkflowInfraError extends Error {
    constructor(message, { code, retryable = false, meta = {}, cause } = {}) {
      super(message)
      this.code = code
      this.retryable = retryable
      this.meta = meta
      if (cause !== undefined) this.cause = cause
    }
  }
  Object.defineProperty(WorkflowInfraError.prototype, 'name', { value: 'WorkflowInfraError', writable: true, configurable: true })

  exports.WorkflowInfraError = WorkflowInfraError
  return WorkflowInfraError
})
