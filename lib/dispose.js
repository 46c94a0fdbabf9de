'use strict'
// `await using db = await WorkflowDatabase.connect(…)`: a database closes when its block ends.

/** Adds `Symbol.asyncDispose` (close) to WorkflowDatabase where Node has the symbol (20.4+,
 * 18.18+). */
function addDispose({ WorkflowDatabase }) {
  if (typeof Symbol.asyncDispose !== 'symbol') return
  Object.defineProperty(WorkflowDatabase.prototype, Symbol.asyncDispose, {
    configurable: true,
    writable: true,
    value: function asyncDispose() {
      return this.close()
    },
  })
}

module.exports = { addDispose }
