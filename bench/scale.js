'use strict'
// At scale: with --executions (100,000) executions and --metrics (1,000,000) metrics, the
// statistics calls of this addon (percentiles included) against the planned SQL run from
// JavaScript (node-postgres on PostgreSQL; better-sqlite3 on SQLite, where the planned STDDEV
// does not exist and is left out), each the median of --runs (5); and the query plans, to show
// which indexes the filtered statistics use.
//
//   npm run build && (cd bench && npm install) && node bench/scale.js
//
// The data is generated in the database (generate_series / a recursive CTE), the same on both
// backends: 4 workflows, 5 statuses, durations 1–60 s; metrics over 10 names and 4 types.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const addon = require('..')
const BetterSqlite = require('better-sqlite3')
const pg = require('pg')
const { arg, pgReachable, freshPgDatabase, dropPgDatabase } = require('./common')

const EXECUTIONS = arg('executions', 100000)
const METRICS = arg('metrics', 1000000)
const RUNS = arg('runs', 5)

const rows = []
const plans = []

// The planned SQL of the executions and metrics repositories, filter by workflow / metric type.
const PLANNED = {
  getStatistics: `SELECT COUNT(*) as total_executions,
      COUNT(CASE WHEN status = 'completed' THEN 1 END) as completed_executions,
      COUNT(CASE WHEN status = 'failed' THEN 1 END) as failed_executions,
      COUNT(CASE WHEN status = 'running' THEN 1 END) as running_executions,
      AVG(actual_duration) as average_duration, MIN(actual_duration) as min_duration,
      MAX(actual_duration) as max_duration, AVG(estimated_duration) as average_estimated_duration
    FROM workflow_executions WHERE workflow_id = $1`,
  getMetricsStatistics: `SELECT COUNT(*) as total_metrics, COUNT(DISTINCT execution_id) as unique_executions,
      COUNT(DISTINCT metric_name) as unique_metric_names, COUNT(DISTINCT metric_type) as unique_metric_types,
      AVG(metric_value) as average_metric_value, MIN(metric_value) as min_metric_value,
      MAX(metric_value) as max_metric_value, MIN(recorded_at) as earliest_metric, MAX(recorded_at) as latest_metric
    FROM workflow_metrics WHERE metric_type = $1`,
  getAggregatedMetrics: `SELECT metric_name, metric_type, metric_category, AVG(metric_value) as average_value,
      MIN(metric_value) as min_value, MAX(metric_value) as max_value, COUNT(*) as count, STDDEV(metric_value) as standard_deviation
    FROM workflow_metrics WHERE metric_type = $1
    GROUP BY metric_name, metric_type, metric_category ORDER BY metric_name, metric_type, metric_category`,
}

const FILL_PG = [
  `INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, status, actual_duration, estimated_duration, start_time, created_at)
   SELECT 'x' || g, 'wf_' || (g % 4), 'Workflow', (ARRAY['pending','running','completed','failed','cancelled'])[1 + g % 5],
          1000 + (g::bigint * 7919) % 59000, 30000, now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
   FROM generate_series(1, ${EXECUTIONS}) g`,
  `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at)
   SELECT 'x' || (1 + g % ${EXECUTIONS}), 'metric_' || (g % 10), (g::bigint * 104729) % 100000 / 10.0, 'ms',
          (ARRAY['performance','resource','quality','business'])[1 + g % 4], 'cat_' || (g % 3), '{}', now() - (g || ' seconds')::interval
   FROM generate_series(1, ${METRICS}) g`,
  'ANALYZE',
]

const FILL_SQLITE = [
  `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${EXECUTIONS})
   INSERT INTO workflow_executions (id, execution_id, workflow_id, workflow_name, status, actual_duration, estimated_duration, start_time, metadata, created_at, updated_at)
   SELECT lower(hex(randomblob(16))), 'x' || n, 'wf_' || (n % 4), 'Workflow',
          CASE n % 5 WHEN 0 THEN 'pending' WHEN 1 THEN 'running' WHEN 2 THEN 'completed' WHEN 3 THEN 'failed' ELSE 'cancelled' END,
          1000 + (n * 7919) % 59000, 30000, strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || n || ' seconds'), '{}',
          strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || n || ' seconds'), strftime('%Y-%m-%dT%H:%M:%fZ', 'now') FROM g`,
  `WITH RECURSIVE g(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM g WHERE n < ${METRICS})
   INSERT INTO workflow_metrics (id, execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at)
   SELECT lower(hex(randomblob(16))), 'x' || (1 + n % ${EXECUTIONS}), 'metric_' || (n % 10), ((n * 104729) % 100000) / 10.0, 'ms',
          CASE n % 4 WHEN 0 THEN 'performance' WHEN 1 THEN 'resource' WHEN 2 THEN 'quality' ELSE 'business' END,
          'cat_' || (n % 3), '{}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || n || ' seconds') FROM g`,
  'ANALYZE',
]

async function median(fn) {
  await fn() // warm
  const times = []
  for (let i = 0; i < RUNS; i++) {
    const t0 = process.hrtime.bigint()
    await fn()
    times.push(Number(process.hrtime.bigint() - t0) / 1e6)
  }
  times.sort((a, b) => a - b)
  return times[Math.floor(times.length / 2)]
}

async function measureAddon(backend, config) {
  const db = await addon.WorkflowDatabase.connect(config)
  const executions = new addon.WorkflowExecutionRepository(db)
  const metrics = new addon.WorkflowMetricsRepository(db)
  const out = {
    getStatistics: await median(() => executions.getStatistics({ workflowId: 'wf_1' })),
    getMetricsStatistics: await median(() => metrics.getMetricsStatistics({ metricType: 'quality' })),
    getAggregatedMetrics: await median(() => metrics.getAggregatedMetrics({ metricType: 'quality' })),
  }
  await db.close()
  return out
}

function record(backend, ours, theirs, baseline) {
  for (const call of Object.keys(ours)) {
    rows.push({ part: 'at scale', backend, op: call, subject: 'addon (with p50/p95/p99)', ms: ours[call] })
    if (theirs[call] !== undefined) rows.push({ part: 'at scale', backend, op: call, subject: baseline, ms: theirs[call], ratio: theirs[call] / ours[call] })
  }
}

async function sqlite() {
  const dir = path.join(os.tmpdir(), `wfi-bench-scale-${process.pid}`)
  const file = path.join(dir, 'scale.db')
  await (await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file })).close()
  const db = new BetterSqlite(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const t0 = Date.now()
  for (const sql of FILL_SQLITE) db.exec(sql)
  console.error(`sqlite: filled in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  const q = (sql) => db.prepare(sql.replace(/\$1/g, '?'))
  const theirs = {
    getStatistics: await median(async () => q(PLANNED.getStatistics).get('wf_1')),
    getMetricsStatistics: await median(async () => q(PLANNED.getMetricsStatistics).get('quality')),
    // The planned SQL calls STDDEV, which SQLite lacks: without it.
    getAggregatedMetrics: await median(async () => q(PLANNED.getAggregatedMetrics.replace(', STDDEV(metric_value) as standard_deviation', '')).all('quality')),
  }
  for (const [name, sql] of [['executions by workflow', PLANNED.getStatistics], ['metrics by type', PLANNED.getMetricsStatistics]]) {
    const plan = db.prepare(`EXPLAIN QUERY PLAN ${sql.replace(/\$1/g, '?')}`).all('x').map((r) => r.detail)
    plans.push({ backend: 'sqlite', query: name, plan })
  }
  db.close()
  const ours = await measureAddon('sqlite', { type: 'sqlite', database: file })
  record('sqlite', ours, theirs, 'planned SQL + better-sqlite3')
  fs.rmSync(dir, { recursive: true, force: true })
}

async function postgres() {
  const { name, url } = freshPgDatabase('scale')
  try {
    await (await addon.WorkflowDatabase.connect({ url })).close()
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    const t0 = Date.now()
    for (const sql of FILL_PG) await pool.query(sql)
    console.error(`postgresql: filled in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const theirs = {}
    for (const [call, sql] of Object.entries(PLANNED)) {
      const param = call === 'getStatistics' ? 'wf_1' : 'quality'
      theirs[call] = await median(() => pool.query(sql, [param]))
    }
    for (const [query, sql, param] of [['executions by workflow', PLANNED.getStatistics, 'wf_1'], ['metrics by type', PLANNED.getMetricsStatistics, 'quality']]) {
      const r = await pool.query(`EXPLAIN ${sql}`, [param])
      plans.push({ backend: 'postgresql', query, plan: r.rows.map((x) => x['QUERY PLAN']) })
    }
    await pool.end()
    const ours = await measureAddon('postgresql', { url })
    record('postgresql', ours, theirs, 'planned SQL + node-postgres')
  } finally {
    dropPgDatabase(name)
  }
}

async function main() {
  await sqlite()
  if (pgReachable()) await postgres()
  console.log(`\nAt scale: ${EXECUTIONS} executions, ${METRICS} metrics; median of ${RUNS} runs (ms). addon × = baseline time / addon time.`)
  console.log('backend     call                   implementation                        ms   addon ×')
  console.log('-'.repeat(92))
  for (const r of rows) {
    console.log(`${r.backend.padEnd(11)} ${r.op.padEnd(22)} ${r.subject.padEnd(32)} ${r.ms.toFixed(1).padStart(9)} ${r.ratio === undefined ? '' : r.ratio.toFixed(2).padStart(9)}`)
  }
  console.log('\nQuery plans of the filtered statistics:')
  for (const p of plans) console.log(`  ${p.backend} / ${p.query}:\n    ${p.plan.join('\n    ')}`)
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ rows, plans }, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
