'use strict'
// What tracing costs a call: a point read (findByExecutionId on an SQLite file, answered on the
// calling thread, so the JavaScript layer's share is as large as it gets), made one at a time,
// three ways in alternating rounds — the addon's method as napi-rs exports it (no JavaScript
// layer), the package's method with no subscriber on @pidea/workflow-infra:call, and with one
// (five no-op handlers, as an APM agent would add). `--calls N` per round.

const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const dc = require('node:diagnostics_channel')
const { arg } = require('./common')
const addon = require('..')
const { TRACE } = require('../lib/calls.js')

const CALLS = arg('calls', 20000)
const ROUNDS = arg('rounds', 7)

async function main() {
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfi-bench-tracing-'))
  const db = await addon.WorkflowDatabase.connect({ type: 'sqlite', database: path.join(dir, 'b.db') })
  const repo = new addon.WorkflowExecutionRepository(db)
  const row = await repo.create({ workflowId: 'w', workflowName: 'n' })
  const id = row.execution_id
  const untraced = addon.WorkflowExecutionRepository.prototype.findByExecutionId[TRACE]
  const channel = dc.tracingChannel('@pidea/workflow-infra:call')
  const subscriber = { start() {}, end() {}, asyncStart() {}, asyncEnd() {}, error() {} }

  const subjects = {
    'napi-rs method, no JavaScript layer': () => untraced.call(repo, id),
    'package method, no subscriber': () => repo.findByExecutionId(id),
    'package method, one subscriber': () => repo.findByExecutionId(id),
  }
  const times = Object.fromEntries(Object.keys(subjects).map((k) => [k, []]))
  for (let round = 0; round < ROUNDS; round++) {
    for (const [name, call] of Object.entries(subjects)) {
      const subscribed = name.endsWith('one subscriber')
      if (subscribed) channel.subscribe(subscriber)
      for (let i = 0; i < 500; i++) await call()
      const started = process.hrtime.bigint()
      for (let i = 0; i < CALLS; i++) await call()
      times[name].push(Number(process.hrtime.bigint() - started) / 1e3 / CALLS)
      if (subscribed) channel.unsubscribe(subscriber)
    }
  }
  await db.close()
  fs.rmSync(dir, { recursive: true, force: true })

  const median = (xs) => xs.slice().sort((a, b) => a - b)[Math.floor(xs.length / 2)]
  const base = median(times['napi-rs method, no JavaScript layer'])
  const rows = Object.entries(times).map(([subject, xs]) => ({ subject, usPerCall: median(xs), ratio: median(xs) / base }))
  console.log(`findByExecutionId on SQLite, ${CALLS} calls a round, median of ${ROUNDS} rounds`)
  for (const r of rows) console.log(`  ${r.subject.padEnd(40)} ${r.usPerCall.toFixed(2).padStart(7)} µs/call  ${r.ratio.toFixed(3)}× the napi-rs method`)
  if (process.env.BENCH_JSON) fs.writeFileSync(process.env.BENCH_JSON, JSON.stringify(rows))
}

main().catch((err) => {
  console.error(err)
  process.exit(1)
})
