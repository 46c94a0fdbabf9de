'use strict'
// At scale: the statistics calls of this addon, answered from their rollups, against the planned
// SQL run from JavaScript (node-postgres on PostgreSQL; better-sqlite3 on SQLite, where the
// planned STDDEV does not exist and is left out), in their plain and filtered forms, at each of
// --sizes metrics (100,000, 1,000,000 and 10,000,000 by default; a tenth as many executions),
// each the median of --runs (5). For every form it also checks the answer against a scan of the
// raw rows (`exact: true`): exact fields equal, percentiles within their 1 % bound; and it
// reports the growth of each call from the smallest size to the largest, and the disk the
// rollups take beside the raw tables.
//
//   npm run build && (cd bench && npm install) && node bench/scale.js [--sizes 100000,1000000] [--backends sqlite]
//
// The data is generated in the database (generate_series / a recursive CTE), the same on both
// backends, after the migrations, so the rollup triggers keep up as it is written: 4 workflows,
// 5 statuses, durations 1–60 s; metrics one every --spacing seconds back from now (16 by
// default: 5,400 a day, the issue's "few hundred workflows a day" at PIDEA's 18 metrics each, so
// that 1M metrics span six months and 10M five years), over 10 names, 4 types and 3 categories.
// A `timeRange` bound cuts one day, whose part is read from the raw rows: its cost grows with
// the rows of a day (--spacing 1 is a day of 86,400), not with the history.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

const addon = require('..')
const BetterSqlite = require('better-sqlite3')
const pg = require('pg')
const { arg, pgReachable, freshPgDatabase, dropPgDatabase } = require('./common')

const SIZES = String(arg('sizes', '100000,1000000,10000000')).split(',').map(Number)
const BACKENDS = String(arg('backends', 'sqlite,postgresql')).split(',')
const RUNS = arg('runs', 5)
const SPACING = arg('spacing', 16)
const DAY = 86_400_000

const rows = []
const checks = []
const disks = []

// The planned SQL of the executions and metrics repositories: their filters as given, with the
// columns the plan returns.
const PLANNED_EXECUTIONS = `SELECT COUNT(*) as total_executions,
      COUNT(CASE WHEN status = 'completed' THEN 1 END) as completed_executions,
      COUNT(CASE WHEN status = 'failed' THEN 1 END) as failed_executions,
      COUNT(CASE WHEN status = 'running' THEN 1 END) as running_executions,
      AVG(actual_duration) as average_duration, MIN(actual_duration) as min_duration,
      MAX(actual_duration) as max_duration, AVG(estimated_duration) as average_estimated_duration
    FROM workflow_executions`
const PLANNED_METRICS = `SELECT COUNT(*) as total_metrics, COUNT(DISTINCT execution_id) as unique_executions,
      COUNT(DISTINCT metric_name) as unique_metric_names, COUNT(DISTINCT metric_type) as unique_metric_types,
      AVG(metric_value) as average_metric_value, MIN(metric_value) as min_metric_value,
      MAX(metric_value) as max_metric_value, MIN(recorded_at) as earliest_metric, MAX(recorded_at) as latest_metric
    FROM workflow_metrics`
const PLANNED_AGGREGATES = (stddev) => `SELECT metric_name, metric_type, metric_category, AVG(metric_value) as average_value,
      MIN(metric_value) as min_value, MAX(metric_value) as max_value, COUNT(*) as count${stddev ? ', STDDEV(metric_value) as standard_deviation' : ''}
    FROM workflow_metrics %WHERE% GROUP BY metric_name, metric_type, metric_category ORDER BY metric_name, metric_type, metric_category`

const COLUMN = { workflowId: 'workflow_id', status: 'status', metricType: 'metric_type', metricName: 'metric_name', executionId: 'execution_id', timeRange: 'recorded_at' }

/** The planned SQL of `call` with `filters`, for node-postgres ($n) or better-sqlite3 (?). */
function planned(call, filters, postgres) {
  const keys = Object.keys(filters)
  const where = keys.length ? `WHERE ${keys.map((k, i) => `${COLUMN[k]} ${k === 'timeRange' ? '>=' : '='} ${postgres ? `$${i + 1}` : '?'}`).join(' AND ')}` : ''
  const params = keys.map((k) => (k === 'timeRange' ? (postgres ? filters[k] : filters[k].toISOString()) : filters[k]))
  const sql = call === 'getStatistics' ? `${PLANNED_EXECUTIONS} ${where}` : call === 'getMetricsStatistics' ? `${PLANNED_METRICS} ${where}` : PLANNED_AGGREGATES(postgres).replace('%WHERE%', where)
  return { sql, params }
}

/** The call forms measured: each call plain and with each filter it takes. A week back, at noon
 * UTC (not on a day's start, and the same half day whatever the time the bench runs): whole days
 * from the rollups, the afternoon of the first from raw rows. */
function forms() {
  const week = new Date(Math.floor((Date.now() - 7 * DAY) / DAY) * DAY + DAY / 2)
  return [
    ['getStatistics', {}],
    ['getStatistics', { workflowId: 'wf_1' }],
    ['getStatistics', { status: 'completed' }],
    ['getMetricsStatistics', {}],
    ['getMetricsStatistics', { metricType: 'quality' }],
    ['getMetricsStatistics', { timeRange: week }],
    ['getMetricsStatistics', { executionId: 'x5' }],
    ['getAggregatedMetrics', {}],
    ['getAggregatedMetrics', { metricType: 'quality' }],
    ['getAggregatedMetrics', { metricName: 'metric_3' }],
    ['getAggregatedMetrics', { timeRange: week }],
  ]
}

const label = (filters) => {
  const keys = Object.keys(filters)
  return keys.length ? keys.map((k) => (k === 'timeRange' ? 'timeRange (7 days)' : `${k}`)).join(', ') : 'none'
}

// Metrics go in 1M-row statements, as the package writes in batches: one INSERT of 10M rows
// would hand the rollup trigger a 10M-row transition table.
// Executions go 10,000 a statement, so that no transaction of the fill is long (on SQLite their
// rollup trigger runs row by row on the one row of a key).
const FILL_PG = (EXECUTIONS, METRICS) => [
  ...Array.from({ length: Math.ceil(EXECUTIONS / 1e4) }, (_, chunk) => {
    const [from, to] = [chunk * 1e4 + 1, Math.min(EXECUTIONS, (chunk + 1) * 1e4)]
    return `INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, status, actual_duration, estimated_duration, start_time, created_at)
   SELECT 'x' || g, 'wf_' || (g % 4), 'Workflow', (ARRAY['pending','running','completed','failed','cancelled'])[1 + g % 5],
          1000 + (g::bigint * 7919) % 59000, 30000, now() - (g || ' seconds')::interval, now() - (g || ' seconds')::interval
   FROM generate_series(${from}, ${to}) g`
  }),
  ...Array.from({ length: Math.ceil(METRICS / 1e6) }, (_, chunk) => {
    const [from, to] = [chunk * 1e6 + 1, Math.min(METRICS, (chunk + 1) * 1e6)]
    return `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata, recorded_at)
   SELECT 'x' || (1 + g % ${EXECUTIONS}), 'metric_' || (g % 10), (g::bigint * 104729) % 100000 / 10.0, 'ms',
          (ARRAY['performance','resource','quality','business'])[1 + g % 4], 'cat_' || (g % 3), '{}', now() - (g::bigint * ${SPACING} || ' seconds')::interval
   FROM generate_series(${from}, ${to}) g`
  }),
  'ANALYZE',
]

const FILL_SQLITE = (EXECUTIONS, METRICS) => [
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
          'cat_' || (n % 3), '{}', strftime('%Y-%m-%dT%H:%M:%fZ', 'now', '-' || (n * ${SPACING}) || ' seconds') FROM g`,
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

/** Whether a rolled-up answer agrees with the scan's: exact fields equal (means and deviations
 * to 1e-9 / 1e-6), percentiles within 1 % of the scan's, unique_executions within 2.5 % (three
 * standard errors of its HyperLogLog); resolves the largest percentile and distinct errors. */
function compare(ours, scan, where) {
  const a = Array.isArray(ours) ? ours : [ours]
  const b = Array.isArray(scan) ? scan : [scan]
  let worst = 0
  let distinct = 0
  const bad = []
  if (a.length !== b.length) bad.push(`${where}: ${a.length} rows, scan ${b.length}`)
  for (let i = 0; i < Math.min(a.length, b.length); i++) {
    for (const [k, v] of Object.entries(b[i])) {
      const w = a[i][k]
      if (k === 'unique_executions') {
        const err = Math.abs(w - v) / Math.max(v, 1)
        distinct = Math.max(distinct, err)
        if (err > 0.025) bad.push(`${where} ${k}: ${w} vs ${v}`)
      } else if (/^p\d\d_/.test(k)) {
        if (v === null || w === null) {
          if (v !== w) bad.push(`${where} ${k}: ${w} vs ${v}`)
          continue
        }
        const err = Math.abs(w - v) / Math.max(Math.abs(v), 1e-12)
        worst = Math.max(worst, err)
        if (err > 0.01 + 1e-9) bad.push(`${where} ${k}: ${w} vs ${v}`)
      } else if (typeof v === 'number' && (/^average_|^standard_deviation$/.test(k) || !Number.isInteger(v))) {
        const tol = k === 'standard_deviation' ? 1e-6 : 1e-9
        if (Math.abs(w - v) > tol * Math.abs(v) + 1e-9) bad.push(`${where} ${k}: ${w} vs ${v}`)
      } else if (v instanceof Date) {
        if (!(w instanceof Date) || w.getTime() !== v.getTime()) bad.push(`${where} ${k}: ${w} vs ${v}`)
      } else if (w !== v) bad.push(`${where} ${k}: ${w} vs ${v}`)
    }
  }
  return { worst, distinct, bad }
}

async function measureAddon(backend, size, config, theirs) {
  const db = await addon.WorkflowDatabase.connect(config)
  // The fill's execution ids wait in their pending table until a getMetricsStatistics call (or
  // each process's once-a-second fold) folds them into the sketches: folded here, before timing.
  const t0 = Date.now()
  await new addon.WorkflowMetricsRepository(db).getMetricsStatistics()
  console.error(`${backend} ${size}: the fill's execution ids folded into their sketches in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  if (backend === 'postgresql') {
    const pool = new pg.Pool({ connectionString: config.url, max: 1 })
    await pool.query('VACUUM workflow_metric_execution_pending')
    await pool.end()
  }
  const repos = {
    getStatistics: new addon.WorkflowExecutionRepository(db),
    getMetricsStatistics: new addon.WorkflowMetricsRepository(db),
    getAggregatedMetrics: new addon.WorkflowMetricsRepository(db),
  }
  for (const [call, filters] of forms()) {
    const repo = repos[call]
    const ms = await median(() => repo[call](filters))
    const ours = await repo[call](filters)
    const t0 = process.hrtime.bigint()
    const scan = await repo[call]({ ...filters, exact: true })
    const scanMs = Number(process.hrtime.bigint() - t0) / 1e6
    const { worst, distinct, bad } = compare(ours, scan, `${backend} ${size} ${call}(${label(filters)})`)
    checks.push({ backend, size, call, filters: label(filters), worst, distinct, bad })
    const baseline = theirs.get(`${call} ${label(filters)}`)
    const row = { backend, size, call, filters: label(filters), ms, scanMs, baseline, ratio: baseline === undefined ? undefined : baseline / ms }
    rows.push(row)
    console.error(`${size} ${backend} ${call}(${row.filters}): ${fmt(ms)} ms, planned ${fmt(baseline)} ms, scan ${fmt(scanMs)} ms`)
  }
  await db.close()
}

async function sqlite(size) {
  const dir = path.join(os.tmpdir(), `wfi-bench-scale-${process.pid}`)
  const file = path.join(dir, 'scale.db')
  await (await addon.WorkflowDatabase.connect({ type: 'sqlite', database: file })).close()
  const db = new BetterSqlite(file)
  db.pragma('journal_mode = WAL')
  db.pragma('synchronous = NORMAL')
  const t0 = Date.now()
  for (const sql of FILL_SQLITE(size / 10, size)) db.exec(sql)
  console.error(`sqlite ${size}: filled (rollups kept by the triggers) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
  const theirs = new Map()
  for (const [call, filters] of forms()) {
    const { sql, params } = planned(call, filters, false)
    const stmt = db.prepare(sql)
    theirs.set(`${call} ${label(filters)}`, await median(async () => (call === 'getAggregatedMetrics' ? stmt.all(...params) : stmt.get(...params))))
  }
  db.close()
  await measureAddon('sqlite', size, { type: 'sqlite', database: file }, theirs)
  // After the addon's first call has folded the fill's execution ids into their sketches.
  const after = new BetterSqlite(file)
  const size_of = (tables) =>
    after.prepare(`SELECT COALESCE(SUM(pgsize), 0) AS b FROM dbstat WHERE name IN (SELECT name FROM sqlite_master WHERE tbl_name IN (${tables.map(() => '?').join(', ')}))`).get(...tables).b
  disks.push(disk('sqlite', size, size_of))
  after.close()
  fs.rmSync(dir, { recursive: true, force: true })
}

/** The bytes of the rollup tables (and their indexes) beside those of the raw tables. */
function disk(backend, size, bytes) {
  const rollups = bytes(['workflow_metric_rollups', 'workflow_metric_bins', 'workflow_metric_executions'])
  const raw = bytes(['workflow_metrics'])
  const executionRollups = bytes(['workflow_execution_rollups', 'workflow_execution_bins'])
  const executions = bytes(['workflow_executions'])
  return { backend, size, rollups, raw, executionRollups, executions }
}

async function postgres(size) {
  const { name, url } = freshPgDatabase('scale')
  try {
    await (await addon.WorkflowDatabase.connect({ url })).close()
    const pool = new pg.Pool({ connectionString: url, max: 2 })
    const t0 = Date.now()
    for (const sql of FILL_PG(size / 10, size)) await pool.query(sql)
    // The writes' changes wait in the pending tables until a fold (a statistics call, or a
    // process's once-a-second fold, which then vacuums them): folded here, as in operation.
    await pool.query('SELECT workflow_rollup_fold()')
    await pool.query('VACUUM workflow_metric_pending, workflow_execution_pending')
    console.error(`postgresql ${size}: filled (rollups kept by the triggers, pending changes folded) in ${((Date.now() - t0) / 1000).toFixed(1)} s`)
    const theirs = new Map()
    for (const [call, filters] of forms()) {
      const { sql, params } = planned(call, filters, true)
      theirs.set(`${call} ${label(filters)}`, await median(() => pool.query(sql, params)))
    }
    await pool.query('VACUUM ANALYZE')
    await pool.end()
    await measureAddon('postgresql', size, { url }, theirs)
    // The live size (dead row versions of the rollups, which autovacuum reuses, left out), after
    // the addon's first call has folded the fill's execution ids into their sketches.
    const after = new pg.Pool({ connectionString: url, max: 1 })
    await after.query('VACUUM FULL workflow_metric_rollups, workflow_metric_bins, workflow_metric_executions, workflow_execution_rollups, workflow_execution_bins')
    await after.query('VACUUM ANALYZE')
    const sizes = {}
    for (const t of ['workflow_metric_rollups', 'workflow_metric_bins', 'workflow_metric_executions', 'workflow_metrics', 'workflow_execution_rollups', 'workflow_execution_bins', 'workflow_executions']) {
      sizes[t] = Number((await after.query('SELECT pg_total_relation_size($1::regclass) AS b', [t])).rows[0].b)
    }
    disks.push(disk('postgresql', size, (tables) => tables.reduce((n, t) => n + sizes[t], 0)))
    await after.end()
  } finally {
    dropPgDatabase(name)
  }
}

const fmt = (ms) => (ms === undefined ? '' : ms.toFixed(ms < 10 ? 2 : 1))

async function main() {
  const backends = BACKENDS.filter((b) => b !== 'postgresql' || pgReachable())
  for (const size of SIZES) {
    for (const backend of backends) await (backend === 'sqlite' ? sqlite(size) : postgres(size))
  }
  console.log(`\nAt scale: ${SIZES.join(' / ')} metrics (a tenth as many executions); median of ${RUNS} runs (ms). addon × = planned SQL time / addon time; scan = the same call with exact: true.`)
  console.log('metrics     backend     call                  filters                 addon ms   planned ms   addon ×    scan ms')
  console.log('-'.repeat(112))
  for (const r of rows) {
    console.log(`${String(r.size).padEnd(11)} ${r.backend.padEnd(11)} ${r.call.padEnd(21)} ${r.filters.padEnd(22)} ${fmt(r.ms).padStart(9)} ${fmt(r.baseline).padStart(12)} ${r.ratio === undefined ? ''.padStart(9) : r.ratio.toFixed(2).padStart(9)} ${fmt(r.scanMs).padStart(10)}`)
  }
  const [small, large] = [Math.min(...SIZES), Math.max(...SIZES)]
  if (small !== large) {
    console.log(`\nGrowth from ${small} to ${large} metrics (target ≤ 2×), and the time at ${large} (target ≤ 20 ms):`)
    for (const r of rows.filter((x) => x.size === large)) {
      const base = rows.find((x) => x.size === small && x.backend === r.backend && x.call === r.call && x.filters === r.filters)
      console.log(`  ${r.backend.padEnd(11)} ${r.call.padEnd(21)} ${r.filters.padEnd(22)} ${(r.ms / base.ms).toFixed(2).padStart(6)}×  ${fmt(r.ms).padStart(8)} ms ${r.ms <= 20 ? 'met' : 'SHORT'}`)
    }
  }
  const bad = checks.flatMap((c) => c.bad)
  console.log(
    `\nAgainst the scan: ${checks.length} answers, exact fields equal in ${checks.filter((c) => !c.bad.length).length}; largest percentile error ${(100 * Math.max(...checks.map((c) => c.worst))).toFixed(3)} % (bound 1 %); largest unique_executions error ${(100 * Math.max(...checks.map((c) => c.distinct))).toFixed(3)} % (exact up to 1,024; beyond, standard error 0.81 %).`,
  )
  for (const b of bad.slice(0, 20)) console.log(`  DIFFERS: ${b}`)
  console.log('\nDisk: rollups beside the raw table (MiB, share of the raw table with its indexes):')
  for (const d of disks) {
    const mib = (b) => (b / 1048576).toFixed(1)
    console.log(`  ${String(d.size).padEnd(10)} ${d.backend.padEnd(11)} metrics ${mib(d.rollups)} of ${mib(d.raw)} (${((100 * d.rollups) / d.raw).toFixed(1)} %); executions ${mib(d.executionRollups)} of ${mib(d.executions)} (${((100 * d.executionRollups) / d.executions).toFixed(2)} %)`)
  }
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify({ rows, checks, disks }, null, 2))
  if (bad.length) process.exitCode = 1
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
