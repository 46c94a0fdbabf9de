// @ts-check
'use strict'
// The addon's internal functions (exported as `__name`, for lib/ alone): taken off the exports
// once, and kept under a registered symbol. A registered symbol, because the addon's exports are
// one object per process however many times lib/ is evaluated (Jest's module registries).

const INTERNAL = Symbol.for('@pidea/workflow-infra.internal')

/**
 * The internal functions, by name without the `__` (`abortFlag`, `abort`, `callWithAbort`, `log`).
 * @param {Record<string | symbol, any>} exports
 * @returns {Record<string, (...args: any[]) => any>}
 */
function internals(exports) {
  if (exports[INTERNAL] === undefined) {
    /** @type {Record<string, (...args: any[]) => any>} */
    const taken = {}
    for (const name of Object.keys(exports)) {
      if (!name.startsWith('__') || name.startsWith('__napi')) continue
      taken[name.slice(2)] = exports[name]
      delete exports[name]
    }
    Object.defineProperty(exports, INTERNAL, { value: Object.freeze(taken) })
  }
  return exports[INTERNAL]
}

module.exports = { internals }
