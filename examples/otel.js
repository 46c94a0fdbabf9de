// @ts-check
// OpenTelemetry spans from the package's diagnostics channel: every Promise method publishes on
// the TracingChannel `@pidea/workflow-infra:call`, and the subscriber below turns each call into
// a span (named `WorkflowRepository.saveExecution`, …) with the backend and the execution id as
// attributes, and a failed call's error recorded on it. Here the spans go to sdk-trace-base's
// in-memory exporter and are printed; in an application, the SDK you already run exports them.
//
//   node examples/otel.js             (memory database; prints one JSON line per span)
'use strict'

const diagnosticsChannel = require('node:diagnostics_channel')
const { trace, SpanStatusCode } = require('@opentelemetry/api')
const { BasicTracerProvider, InMemorySpanExporter, SimpleSpanProcessor } = require('@opentelemetry/sdk-trace-base')
const workflowInfra = require('..') // require('@pidea/workflow-infra') in an application

/**
 * Subscribes to the package's calls: each becomes a span of `tracer`. Returns the function that
 * unsubscribes.
 * @param {import('@opentelemetry/api').Tracer} tracer
 */
function traceWorkflowInfra(tracer) {
  const channel = diagnosticsChannel.tracingChannel('@pidea/workflow-infra:call')
  /** @type {WeakMap<object, import('@opentelemetry/api').Span>} */
  const spans = new WeakMap()
  /** @type {import('node:diagnostics_channel').TracingChannelSubscribers<any>} */
  const handlers = {
    start(context) {
      const span = tracer.startSpan(context.operation, {
        attributes: {
          'db.system': context.backend === 'postgresql' ? 'postgresql' : 'sqlite',
          'workflow_infra.backend': context.backend,
          ...(context.executionId === undefined ? {} : { 'workflow_infra.execution_id': context.executionId }),
        },
      })
      spans.set(context, span)
    },
    end() {},
    asyncStart() {},
    error(context) {
      const span = spans.get(context)
      if (!span) return
      span.recordException(context.error)
      span.setAttribute('error.type', context.error?.code ?? 'Error')
      span.setStatus({ code: SpanStatusCode.ERROR, message: context.error?.code })
    },
    asyncEnd(context) {
      spans.get(context)?.end()
      spans.delete(context)
    },
  }
  channel.subscribe(handlers)
  return () => channel.unsubscribe(handlers)
}

async function main() {
  const exporter = new InMemorySpanExporter()
  const provider = new BasicTracerProvider({ spanProcessors: [new SimpleSpanProcessor(exporter)] })
  trace.setGlobalTracerProvider(provider)
  const stop = traceWorkflowInfra(trace.getTracer('workflow-infra-example'))

  const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowMetricsRepository, WorkflowRepository } = workflowInfra
  const db = await WorkflowDatabase.connect({ type: 'memory' })
  const repo = new WorkflowRepository(new WorkflowExecutionRepository(db), new WorkflowMetricsRepository(db))
  await repo.saveExecution({ executionId: 'run-1', workflowId: 'deploy', workflowName: 'Deploy' })
  await repo.recordExecutionMetrics('run-1', { metricName: 'duration', metricValue: 42 })
  await repo.updateExecution('run-1', { status: 'no-such-status' }).catch(() => {}) // a failed span
  await db.close()

  stop()
  await provider.forceFlush()
  for (const span of exporter.getFinishedSpans()) {
    console.log(JSON.stringify({ name: span.name, attributes: span.attributes, status: span.status.code, events: span.events.map((e) => e.name) }))
  }
  await provider.shutdown()
}

module.exports = { traceWorkflowInfra }

if (require.main === module) {
  main().catch((err) => {
    console.error(err)
    process.exitCode = 1
  })
}
