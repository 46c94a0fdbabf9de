'use strict'
// The package's CommonJS entry (index.mjs is the ES module one): the native addon as napi build
// loads it (binding.js, generated: it picks the binary of this platform), with what is best
// written in JavaScript added to it from lib/ — the error class, the synchronous cache, PIDEA's
// registration and planned handler methods, prom-client registration, tracing, pages walked
// with `for await`, and `await using` on a database.
const binding = require('./binding.js')

const { WorkflowInfraError } = require('./lib/errors.js')
if (typeof binding.__useErrorClass === 'function') {
  binding.__useErrorClass(WorkflowInfraError)
  delete binding.__useErrorClass
}
// The class the addon was given first (evaluated again, as under Jest, this file keeps it).
binding.WorkflowInfraError ??= WorkflowInfraError
const { internals } = require('./lib/internal.js')
require('./lib/cache.js').addCache(binding, internals(binding))
require('./lib/pidea.js').addPideaMembers(binding)
require('./lib/prometheus.js').addPrometheus(binding)
const calls = require('./lib/calls.js')
calls.instrument(binding)
binding.TRACING_CHANNEL = calls.CHANNEL
require('./lib/dispose.js').addDispose(binding)

module.exports = binding
