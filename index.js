'use strict'
// The package's CommonJS entry (index.mjs is the ES module one): the native addon as napi build
// loads it (binding.js, generated: it picks the binary of this platform), with what is best
// written in JavaScript added to it from lib/ — prom-client registration, tracing, pages walked
// with `for await`, and `await using` on a database.
const binding = require('./binding.js')

require('./lib/prometheus.js').addPrometheus(binding)
const calls = require('./lib/calls.js')
calls.instrument(binding)
binding.TRACING_CHANNEL = calls.CHANNEL
require('./lib/dispose.js').addDispose(binding)

module.exports = binding
