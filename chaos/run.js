#!/usr/bin/env node
'use strict'
// The fault suite: `npm run chaos` (full) or `npm run chaos -- --ci` (the bounded subset .ci/run
// runs, a few minutes). Each experiment prints what it did and saw; the last line is
// "chaos: N passed, N failed". Seeded: `--seed N` repeats a run exactly.
//
//   kill -9 mid-write, on SQLite and on PostgreSQL (acknowledged ids written by the child)
//   PostgreSQL crashed and restarted under load, with distributed events (a server of its own)
//   the fallback rejoining PostgreSQL: a live process, and a replay cut by kill -9
//   a distributed publisher frozen (SIGSTOP) mid-transaction: every acknowledged event once
//   100,000 un-awaited writes: memory per call in flight within a bound, every write stored
//   a seeded fuzzer over every method with hostile values
//   worker_threads terminated mid-write
//   disk full, SQLite on a small tmpfs (root only; skipped with a message otherwise)
//   credentials in every message, cause, stack, inspect, JSON and log line at trace level
// The addon's own warnings (connections cut by the experiments) would drown the report.
process.env.WORKFLOW_INFRA_LOG = process.env.WORKFLOW_INFRA_LOG || 'error'
const path = require('node:path')
const { OwnServer, canRunOwnServer, cleanupScratch, random, tempDir } = require('./lib')
const x = require('./experiments')
const { diskFull } = require('./disk')
const { frozenPublisher } = require('./frozen')
const { inFlightMemory } = require('./inflight')

const args = process.argv.slice(2)
const ci = args.includes('--ci')
const seedAt = args.indexOf('--seed')
const seed = seedAt >= 0 ? Number(args[seedAt + 1]) : 20261128
const size = ci
  ? { kills: 12, restarts: 5, fuzzCalls: 12000, workers: 20, rejoinWrites: 600, frozenMs: 8000, burst: 50000 }
  : { kills: 40, restarts: 12, fuzzCalls: 60000, workers: 40, rejoinWrites: 3000, frozenMs: 36000, burst: 100000 }

async function main() {
  const rnd = random(seed)
  const results = []
  const run = async (f) => {
    const started = Date.now()
    try {
      const r = await f()
      r.seconds = (Date.now() - started) / 1000
      results.push(r)
    } catch (err) {
      results.push({ name: f.name || 'experiment', figures: {}, failures: [`the experiment itself failed: ${err.stack}`] })
    }
    const r = results[results.length - 1]
    if (r.skipped) {
      results.pop()
      return console.log(`SKIPPED: ${r.name} (${r.skipped})`)
    }
    console.log(`${r.failures.length ? 'FAIL' : 'ok  '}  ${r.name}  ${JSON.stringify(r.figures)}${r.seconds ? `  (${r.seconds} s)` : ''}`)
    for (const f of r.failures) console.log(`      ${f}`)
  }
  console.log(`chaos: ${ci ? 'CI subset' : 'full run'}, seed ${seed}`)
  await run(() => x.killMidWrite('SQLite', { type: 'sqlite', database: path.join(tempDir('sqlite'), 'kill.db') }, size.kills, rnd))
  let server
  if (canRunOwnServer()) {
    server = new OwnServer(24432 + (process.pid % 1000)).init()
    try {
      await run(() => x.killMidWrite('PostgreSQL', { url: server.url }, size.kills, rnd))
      await run(() => x.restartUnderLoad(server, size.restarts, rnd))
      await run(() => x.rejoin(server, size.rejoinWrites, rnd))
      await run(() => frozenPublisher(server.database('chaos_frozen'), size.frozenMs))
      await run(() => inFlightMemory(server.database('chaos_inflight'), size.burst))
    } finally {
      server.stop()
    }
  } else {
    console.log('SKIPPED: PostgreSQL experiments (no initdb on this machine for a server of their own)')
  }
  await run(() => x.fuzz(seed, size.fuzzCalls))
  await run(() => x.terminatedWorkers(size.workers))
  await run(diskFull)
  await run(() => x.credentials())
  cleanupScratch()
  const failed = results.filter((r) => r.failures.length).length
  console.log(`chaos: ${results.length - failed} passed, ${failed} failed`)
  process.exitCode = failed ? 1 : 0
}

main().catch((err) => {
  console.error(err)
  cleanupScratch()
  process.exitCode = 2
})
