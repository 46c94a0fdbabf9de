'use strict'
// `npm run bench`: every benchmark in one run (release build), each printing its own table; then
// the performance bar line by line, measured against its target, and an SVG chart of the ratios
// (bench/chart.svg).

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { spawnSync } = require('node:child_process')

const benches = [
  ['repositories', 'repositories.js', []],
  ['services', 'services.js', []],
  ['eventloop', 'eventloop.js', []],
  ['scale', 'scale.js', []],
  ['memory', 'memory.js', ['--expose-gc']],
  ['inflight', 'inflight.js', []],
  ['tracing', 'tracing.js', []],
]

const results = {}
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'wfi-bench-'))
for (const [name, file, nodeArgs] of benches) {
  const out = path.join(tmp, `${name}.json`)
  console.log(`\n=== ${name} (node ${[...nodeArgs, `bench/${file}`].join(' ')}) ===`)
  const r = spawnSync(process.execPath, [...nodeArgs, path.join(__dirname, file)], {
    stdio: 'inherit',
    env: { ...process.env, BENCH_JSON: out },
  })
  if (r.status !== 0) {
    console.error(`bench ${name} failed (exit ${r.status})`)
    process.exit(1)
  }
  results[name] = JSON.parse(fs.readFileSync(out, 'utf8'))
}
fs.rmSync(tmp, { recursive: true, force: true })

const find = (list, pred) => list.find(pred) || {}

/** The scale part's lines: each statistics call form at the largest size (≤ 20 ms), its growth
 * from the smallest (≤ 2×), and whether every answer agreed with the scan. */
function scaleLines() {
  const sizes = scale.map((r) => r.size)
  const [small, large] = [Math.min(...sizes), Math.max(...sizes)]
  const lines = []
  for (const r of scale.filter((x) => x.size === large)) {
    const base = find(scale, (x) => x.size === small && x.backend === r.backend && x.call === r.call && x.filters === r.filters)
    lines.push([`5 ${r.call}(${r.filters}) at ${large / 1e6}M metrics, ${r.backend} (ms)`, r.ms, '≤ 20 ms', (v) => v <= 20])
    lines.push([`5 … its growth from ${small / 1e6}M`, r.ms / base.ms, '≤ 2×', (v) => v <= 2])
  }
  const checks = results.scale.checks
  lines.push(['5 statistics answers whose exact fields equal the scan\'s (%)', (100 * checks.filter((c) => !c.bad.length).length) / checks.length, '100 %', (v) => v === 100])
  lines.push(['5 largest percentile error against the scan (%)', 100 * Math.max(...checks.map((c) => c.worst)), '≤ 1 %', (v) => v <= 1])
  return lines
}
const repo = results.repositories
const svc = results.services
const loop = results.eventloop
const scale = results.scale.rows
const mem = results.memory
const inflight = (subject) => find(results.inflight, (r) => r.subject === subject)
const tracing = (subject) => find(results.tracing, (r) => r.subject === subject)

const lifecycle = (backend) => find(svc, (r) => r.part === 'lifecycle' && r.backend === backend && r.ratio !== undefined).ratio
const batch = (backend, subject) => find(repo, (r) => r.backend === backend && r.op === 'recordMetrics×1000' && r.subject === subject).ratio
const single = (backend, op, subject) => find(repo, (r) => r.backend === backend && r.op === op && r.subject === subject)
const addonSingle = (backend, op) => find(repo, (r) => r.backend === backend && r.op === op && r.subject === 'addon')
const latencyRatio = (backend, op, subject) => addonSingle(backend, op).usPerOp / single(backend, op, subject).usPerOp
const concurrentSelf = (backend) => find(svc, (r) => r.part === 'recordMetric' && r.backend === backend && r.subject === 'addon' && r.ratio !== undefined).ratio
const loopRow = (backend, subject) => find(loop, (r) => r.backend === backend && r.subject === subject)
const cacheRow = (op, subject) => find(svc, (r) => r.part === 'cache' && r.op === op && r.subject === subject)
const hit = (backend) => find(svc, (r) => r.part === 'cached read' && r.backend === backend && r.subject === 'WorkflowCacheService hit')
const lifecycleServerCpu = (backend) => find(svc, (r) => r.part === 'lifecycle' && r.backend === backend && r.subject === 'addon').serverCpuUsPerOp
const loopVs = (backend, field) => loopRow(backend, 'addon')[field] / loopRow(backend, backend === 'sqlite' ? 'better-sqlite3' : 'node-postgres')[field]
const hitRatio = (backend) => find(svc, (r) => r.part === 'cached read' && r.backend === backend && r.ratio !== undefined).ratio

const bar = [
  ['1 lifecycle, PostgreSQL vs planned JS + node-postgres', lifecycle('postgresql'), '≥ 3×', (v) => v >= 3],
  ['1 lifecycle, PostgreSQL server CPU µs per workflow, addon', lifecycleServerCpu('postgresql'), '≤ 2,500 µs', (v) => v <= 2500],
  ['1 lifecycle, SQLite vs planned JS + better-sqlite3', lifecycle('sqlite'), '≥ 1.5×', (v) => v >= 1.5],
  ['2 recordMetrics×1000, PostgreSQL vs node-postgres UNNEST', batch('postgresql', 'node-postgres'), '≥ 1.5×', (v) => v >= 1.5],
  ['2 recordMetrics×1000, SQLite vs better-sqlite3 (one tx)', batch('sqlite', 'better-sqlite3'), '≥ 0.8×', (v) => v >= 0.8],
  ['2 64 concurrent recordMetric vs sequential, PostgreSQL', concurrentSelf('postgresql'), '≥ 10×', (v) => v >= 10],
  ...['create', 'findByExecId', 'update', 'recordMetric'].map((op) => [
    `3 ${op} latency, PostgreSQL vs node-postgres`, latencyRatio('postgresql', op, 'node-postgres'), '≤ 1.1× (time)', (v) => v <= 1.1,
  ]),
  ['3 findByExecId latency, SQLite vs better-sqlite3', latencyRatio('sqlite', 'findByExecId', 'better-sqlite3'), '≤ 1.2× (time)', (v) => v <= 1.2],
  ...['memory', 'sqlite'].flatMap((backend) =>
    ['create', 'update', 'recordMetric'].map((op) => [
      `3 ${op} one at a time, ${backend === 'sqlite' ? 'SQLite file' : 'SQLite memory'} vs better-sqlite3`, single(backend, op, 'better-sqlite3').ratio, '≥ 1.0×', (v) => v >= 1,
    ]),
  ),
  ['3 writes at 64 in flight, SQLite vs better-sqlite3', loopRow('sqlite', 'better-sqlite3').ratio, '≥ 2×', (v) => v >= 2],
  ['3 event-loop µs per write, SQLite, addon / better-sqlite3', loopRow('sqlite', 'addon').loopUsPerOp / loopRow('sqlite', 'better-sqlite3').loopUsPerOp, '≤ 0.5× (time)', (v) => v <= 0.5],
  ['3 event-loop stall max (ms), SQLite addon', loopRow('sqlite', 'addon').stallMaxMs, '≤ 1 ms', (v) => v <= 1],
  ['3 event-loop stall p99 (ms), SQLite addon', loopRow('sqlite', 'addon').stallP99Ms, 'reported', () => true],
  ['3 writes at 64 in flight, PostgreSQL vs node-postgres', loopRow('postgresql', 'node-postgres').ratio, '≥ 2×', (v) => v >= 2],
  ['3 event-loop stall p99 at 64 in flight, PostgreSQL, addon / node-postgres', loopVs('postgresql', 'stallP99Ms'), '≤ 1× (time)', (v) => v <= 1],
  ['3 event-loop stall max at 64 in flight, PostgreSQL, addon / node-postgres', loopVs('postgresql', 'stallMaxMs'), '≤ 1× (time)', (v) => v <= 1],
  ['3 event-loop stall max (ms), idle loop (machine floor)', loopRow('-', 'idle loop').stallMaxMs, 'reported', () => true],
  ['4 WorkflowCacheService hit vs PostgreSQL read', hitRatio('postgresql'), '≥ 50×', (v) => v >= 50],
  ['4 WorkflowCacheService hit (µs)', hit('postgresql').usPerOp, '< 3 µs', (v) => v < 3],
  ['4 WorkflowCache get vs lru-cache', cacheRow('get', 'lru-cache').ratio, '≥ 0.2× (within 5×)', (v) => v >= 0.2],
  ['4 WorkflowCache set vs lru-cache', cacheRow('set', 'lru-cache').ratio, '≥ 0.2× (within 5×)', (v) => v >= 0.2],
  ['4 WorkflowCache get vs planned JS cache', cacheRow('get', 'planned JS WorkflowCache').ratio, '> 1×', (v) => v > 1],
  ['4 WorkflowCache set vs planned JS cache', cacheRow('set', 'planned JS WorkflowCache').ratio, '> 1×', (v) => v > 1],
  ...scaleLines(),
  ['6 RSS growth, first 10 % → all ops (%)', mem.growthPercent, '≤ 5 %', (v) => v <= 5],
  ['6 … of it native memory (RSS − V8 heap), addon (%)', mem.nativeGrowthPercent, 'reported', () => true],
  ['6 … V8 heap in use, addon (%)', mem.heapUsedGrowthPercent, 'reported', () => true],
  ['6 RSS growth, same cycle on better-sqlite3 (%)', mem.baseline.growthPercent, 'reported', () => true],
  ['6 RSS growth, addon with V8 young generation fixed at 16 MiB (%)', mem.fixedYoungGeneration.growthPercent, 'reported', () => true],
  ['7 KiB per call in flight, 100k un-awaited writes, PostgreSQL, addon', inflight('addon').kibPerCall, '≤ 4 KiB', (v) => v <= 4],
  ['7 KiB per call in flight, same burst, node-postgres queue', inflight('node-postgres').kibPerCall, 'reported', () => true],
  ['8 tracing channel, no subscriber: point read × the napi-rs method', tracing('package method, no subscriber').ratio, '≤ 1.05×', (v) => v <= 1.05],
  ['8 tracing channel, one subscriber: point read × the napi-rs method', tracing('package method, one subscriber').ratio, 'reported', () => true],
]

console.log(`\n=== the bar (${os.cpus().length} cores, Node ${process.version}) ===`)
console.log(`${'line'.padEnd(76)}  measured   target               met`)
console.log('-'.repeat(118))
for (const [label, value, target, ok] of bar) {
  const shown = value === undefined || Number.isNaN(value) ? 'n/a' : value.toFixed(2)
  const met = value === undefined || Number.isNaN(value) ? '-' : ok(value) ? 'yes' : 'no'
  console.log(`${label.padEnd(76)} ${shown.padStart(9)}   ${target.padEnd(20)} ${met}`)
}

// The chart: the ratios where above 1 means the addon is faster (time ratios inverted).
const chart = [
  ['lifecycle PG', lifecycle('postgresql'), 5],
  ['lifecycle SQLite', lifecycle('sqlite'), 1.5],
  ['batch 1000 PG', batch('postgresql', 'node-postgres'), 1.5],
  ['batch 1000 SQLite', batch('sqlite', 'better-sqlite3'), 0.8],
  ['64 concurrent vs seq. PG', concurrentSelf('postgresql'), 10],
  ['64 writes SQLite', loopRow('sqlite', 'better-sqlite3').ratio, 1.5],
  ['find PG', 1 / latencyRatio('postgresql', 'findByExecId', 'node-postgres'), 1 / 1.1],
  ['update PG', 1 / latencyRatio('postgresql', 'update', 'node-postgres'), 1 / 1.1],
  ['find SQLite', 1 / latencyRatio('sqlite', 'findByExecId', 'better-sqlite3'), 1 / 1.2],
  ['cache hit vs PG read', hitRatio('postgresql'), 50],
  ['cache get vs lru-cache', cacheRow('get', 'lru-cache').ratio, 0.2],
].filter(([, v]) => v !== undefined && !Number.isNaN(v))
fs.writeFileSync(path.join(__dirname, 'chart.svg'), svg(chart))
console.log('\nchart: bench/chart.svg (log scale; bars: measured, ticks: target)')

function svg(items) {
  const W = 760
  const rowH = 26
  const left = 190
  const top = 40
  const H = top + items.length * rowH + 40
  const min = 0.01
  const max = 100
  const x = (v) => left + ((Math.log10(Math.max(min, Math.min(max, v))) - Math.log10(min)) / (Math.log10(max) - Math.log10(min))) * (W - left - 30)
  const parts = [
    `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif" font-size="12">`,
    `<text x="10" y="20" font-size="14" font-weight="bold">@pidea/workflow-infra against the JavaScript baselines (addon ×, log scale)</text>`,
  ]
  for (const t of [0.01, 0.1, 1, 10, 100]) {
    parts.push(`<line x1="${x(t)}" y1="${top - 6}" x2="${x(t)}" y2="${H - 30}" stroke="${t === 1 ? '#333' : '#ddd'}"/>`)
    parts.push(`<text x="${x(t)}" y="${H - 14}" text-anchor="middle">${t}×</text>`)
  }
  items.forEach(([label, value, target], i) => {
    const y = top + i * rowH
    const color = value >= target ? '#2e7d32' : '#c62828'
    parts.push(`<text x="${left - 8}" y="${y + 15}" text-anchor="end">${label}</text>`)
    parts.push(`<rect x="${x(min)}" y="${y + 4}" width="${Math.max(1, x(value) - x(min))}" height="${rowH - 10}" fill="${color}" opacity="0.8"/>`)
    parts.push(`<line x1="${x(target)}" y1="${y + 1}" x2="${x(target)}" y2="${y + rowH - 3}" stroke="#000" stroke-width="2"/>`)
    parts.push(`<text x="${x(value) + 4}" y="${y + 15}">${value.toFixed(2)}×</text>`)
  })
  parts.push('</svg>')
  return parts.join('\n')
}
