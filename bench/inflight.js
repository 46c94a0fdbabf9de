'use strict'
// Memory in flight: 100,000 writes made without awaiting, then awaited, in a child process of
// their own per subject; RSS growth over the burst per call (the caller's promise and arguments
// included). The addon (recordMetric on PostgreSQL, its calls waiting for one of 512 lanes as
// their plan) beside node-postgres' own queue (pool.query of the planned INSERT … RETURNING *,
// queued in JS behind a pool of 10). `--writes N` changes the burst.

const fs = require('node:fs')
const { spawnSync } = require('node:child_process')
const { arg, pgReachable, freshPgDatabase, dropPgDatabase, plannedSchemaPg } = require('./common')
const { burst } = require('../chaos/inflight.js')

const WRITES = arg('writes', 100000)

/** node-postgres: the same burst, through pg's pool queue. */
function nodePostgres(url) {
  const script = `
    const { Pool } = require(${JSON.stringify(require.resolve('pg', { paths: [__dirname] }))})
    ;(async () => {
      const pool = new Pool({ connectionString: ${JSON.stringify(url)}, max: 10 })
      const sql = 'INSERT INTO workflow_metrics (metric_name, metric_value, metric_type, metadata) VALUES ($1, $2, $3, $4) RETURNING *'
      for (let i = 0; i < 500; i++) await pool.query(sql, ['warm', i, 'performance', '{}'])
      global.gc()
      const base = process.memoryUsage().rss
      const started = process.hrtime.bigint()
      const calls = []
      for (let i = 0; i < ${WRITES}; i++) calls.push(pool.query(sql, ['burst', i, 'performance', '{}']))
      await Promise.all(calls)
      const seconds = Number(process.hrtime.bigint() - started) / 1e9
      const peak = process.resourceUsage().maxRSS * 1024
      console.log(JSON.stringify({ baseMiB: base / 2 ** 20, peakMiB: peak / 2 ** 20, kibPerCall: (peak - base) / ${WRITES} / 1024, seconds }))
      await pool.end()
    })()`
  const r = spawnSync(process.execPath, ['--expose-gc', '-e', script], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`node-postgres burst failed: ${r.stderr}`)
  return JSON.parse(r.stdout.trim().split('\n').pop())
}

async function main() {
  const rows = []
  if (pgReachable()) {
    const addonDb = freshPgDatabase('inflight_addon')
    const pgDb = freshPgDatabase('inflight_pg')
    const boundedDb = freshPgDatabase('inflight_bounded')
    try {
      rows.push({ subject: 'addon', ...(await burst(addonDb.url, WRITES)) })
      // The default maxInFlight (10,000) refuses what goes beyond it, at once.
      rows.push({ subject: 'addon, maxInFlight 10k', ...(await burst(boundedDb.url, WRITES, { maxInFlight: 10000 })) })
      // The table as the addon's migrations made it, for node-postgres to write to.
      const { WorkflowDatabase } = require('..')
      await (await WorkflowDatabase.connect({ url: pgDb.url })).close()
      plannedSchemaPg(pgDb.url) // the planned schema, without the addon's rollups
      rows.push({ subject: 'node-postgres', ...nodePostgres(pgDb.url) })
    } finally {
      dropPgDatabase(addonDb.name)
      dropPgDatabase(pgDb.name)
      dropPgDatabase(boundedDb.name)
    }
  }
  console.log(`${WRITES} un-awaited writes, PostgreSQL: RSS growth per call in flight`)
  console.log('subject                  KiB/call   base MiB   peak MiB   seconds   refused')
  for (const r of rows) {
    console.log(`${r.subject.padEnd(23)} ${r.kibPerCall.toFixed(2).padStart(9)} ${r.baseMiB.toFixed(0).padStart(10)} ${r.peakMiB.toFixed(0).padStart(10)} ${r.seconds.toFixed(1).padStart(9)} ${String(r.refused ?? '-').padStart(9)}`)
  }
  const addon = rows.find((r) => r.subject === 'addon')
  const pg = rows.find((r) => r.subject === 'node-postgres')
  if (addon && pg) {
    addon.ratio = addon.kibPerCall / pg.kibPerCall
    console.log(`addon / node-postgres memory per call in flight: ${addon.ratio.toFixed(2)}× (time: ${(addon.seconds / pg.seconds).toFixed(2)}×)`)
  }
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(rows, null, 2))
}

main().catch((e) => {
  console.error(e)
  process.exit(1)
})
