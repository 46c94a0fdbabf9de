'use strict'

// The summary `workflow-infra stats` and `demo` print: executions by status, duration
// percentiles, top handlers by success rate and metric aggregates.

const { WorkflowExecutionRepository, WorkflowMetricsRepository, HandlerRegistryRepository } = require('..')

const ms = (v) => (v === null || v === undefined ? '-' : `${Math.round(v)} ms`)

async function collect(db) {
  const executions = new WorkflowExecutionRepository(db)
  const metrics = new WorkflowMetricsRepository(db)
  const handlers = new HandlerRegistryRepository(db)
  const [statistics, metricStatistics, aggregates, topHandlers] = await Promise.all([
    executions.getStatistics(),
    metrics.getMetricsStatistics(),
    metrics.getAggregatedMetrics(),
    handlers.getHandlerPerformanceSummary({ limit: 5 }),
  ])
  return { statistics, metricStatistics, aggregates, topHandlers }
}

function print({ statistics: s, metricStatistics: m, aggregates, topHandlers }) {
  const statuses = ['completed', 'failed', 'cancelled', 'running', 'pending']
  console.log(`executions  ${s.total_executions} total: ${statuses.map((x) => `${s[`${x}_executions`]} ${x}`).join(', ')}`)
  console.log(
    `durations   mean ${ms(s.average_duration)}, p50 ${ms(s.p50_duration)}, p95 ${ms(s.p95_duration)}, ` +
      `p99 ${ms(s.p99_duration)}, max ${ms(s.max_duration)}`,
  )
  console.log('top handlers by success rate')
  for (const h of topHandlers) {
    console.log(
      `  ${h.handler_type.padEnd(20)} ${String(h.success_rate).padStart(6)} %  ` +
        `${String(h.usage_count).padStart(5)} runs  avg ${ms(h.average_execution_time)}`,
    )
  }
  console.log(`metrics     ${m.total_metrics} rows over ${m.unique_executions} executions, ${m.unique_metric_names} names; durations and counts:`)
  // Timing metrics hold epoch milliseconds: their aggregates say nothing; durations and counts do.
  const top = aggregates
    .filter((a) => !(a.metric_category ?? '').endsWith('timing'))
    .sort((a, b) => b.count - a.count)
    .slice(0, 8)
  for (const a of top) {
    console.log(
      `  ${a.metric_name.padEnd(26)} n=${String(a.count).padStart(6)}  mean ${fmt(a.average_value)}  ` +
        `p50 ${fmt(a.p50_value)}  p95 ${fmt(a.p95_value)}  p99 ${fmt(a.p99_value)}`,
    )
  }
}

function fmt(v) {
  if (v === null || v === undefined) return '-'
  return Math.abs(v) >= 1e9 ? v.toExponential(3) : String(Math.round(v * 100) / 100)
}

module.exports = { collect, print }
