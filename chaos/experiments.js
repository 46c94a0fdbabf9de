'use strict'
// The fault experiments. Each resolves {name, figures, failures: [text]}: what it did and saw,
// and every broken promise of the package it found (a lost acknowledged write, a crash, a
// synchronous throw, a code outside the list, a hang, a secret in a message or a log line).
const fs = require('node:fs')
const path = require('node:path')
const { ADDON, CODES, node, sleep, tempDir } = require('./lib')

const addon = require(ADDON)

/** A child that writes executions, 16 in flight, and appends each acknowledged id to a file. */
function writerScript(config, ackFile) {
  return `
    const fs = require('node:fs')
    const w = require(${JSON.stringify(ADDON)})
    ;(async () => {
      const db = await w.WorkflowDatabase.connect(${JSON.stringify(config)})
      const repo = new w.WorkflowExecutionRepository(db)
      const ack = fs.openSync(${JSON.stringify(ackFile)}, 'a')
      let n = 0
      process.stdout.write('ready\\n')
      const lane = async () => {
        for (;;) {
          const id = 'k' + process.pid + '_' + n++
          await repo.create({ executionId: id, workflowId: 'chaos', workflowName: 'Chaos' })
          fs.writeSync(ack, id + '\\n')
        }
      }
      await Promise.all(Array.from({ length: 16 }, lane))
    })().catch((e) => { console.error(e.code, e.message); process.exit(1) })`
}

/** kill -9 a writer mid-write, again and again; every acknowledged write must be there. */
async function killMidWrite(label, config, runs, rnd) {
  const ackFile = path.join(tempDir('acks'), 'acks')
  let crashedUnexpectedly = 0
  for (let i = 0; i < runs; i++) {
    await node(writerScript(config, ackFile), {
      onSpawn: (child) => {
        child.stdout.once('data', () => setTimeout(() => child.kill('SIGKILL'), 50 + Math.floor(rnd() * 250)))
      },
    }).then((r) => {
      if (r.signal !== 'SIGKILL') crashedUnexpectedly++
    })
  }
  const acked = fs.existsSync(ackFile) ? fs.readFileSync(ackFile, 'utf8').split('\n').filter(Boolean) : []
  const db = await addon.WorkflowDatabase.connect(config)
  const repo = new addon.WorkflowExecutionRepository(db)
  const stored = new Set()
  let page = await repo.findByWorkflowId('chaos', { limit: 10000 })
  for (;;) {
    for (const row of page) stored.add(row.execution_id)
    if (!page.nextCursor) break
    page = await repo.findByWorkflowId('chaos', { limit: 10000, after: page.nextCursor })
  }
  await db.close()
  const lost = acked.filter((id) => !stored.has(id))
  const failures = lost.slice(0, 5).map((id) => `acknowledged ${id} is missing`)
  if (lost.length > 5) failures.push(`… ${lost.length} acknowledged writes missing in all`)
  if (crashedUnexpectedly) failures.push(`${crashedUnexpectedly} writers ended before the kill`)
  if (config.type === 'sqlite') {
    const { execFileSync } = require('node:child_process')
    const check = execFileSync('sqlite3', [config.database, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim()
    if (check !== 'ok') failures.push(`integrity_check: ${check}`)
  }
  return { name: `kill -9 mid-write (${label})`, figures: { runs, acknowledged: acked.length, stored: stored.size, lost: lost.length }, failures }
}

/** PostgreSQL crashed and restarted under load: acknowledged writes stay, no call hangs, and
 * distributed events published around the restarts all arrive, once. */
async function restartUnderLoad(server, restarts, rnd) {
  const url = server.url
  const [a, b] = [await addon.WorkflowDatabase.connect({ url }), await addon.WorkflowDatabase.connect({ url })]
  const repo = new addon.WorkflowExecutionRepository(a)
  const busA = new addon.WorkflowEventService(a, { distributed: true })
  const busB = new addon.WorkflowEventService(b, { distributed: true })
  await Promise.all([busA.ready(), busB.ready()])
  const received = []
  busB.subscribe('chaos.tick', (e) => received.push(e.n))
  const acked = new Set()
  const published = []
  const codes = {}
  let calls = 0
  let settled = 0
  let running = true
  let n = 0
  const load = async () => {
    while (running) {
      const id = `r${n++}`
      calls++
      try {
        await repo.create({ executionId: id, workflowId: 'restart', workflowName: 'R' })
        acked.add(id)
        await busA.publish('chaos.tick', { n: id })
        published.push(id)
      } catch (e) {
        codes[e.code] = (codes[e.code] || 0) + 1
        await sleep(20)
      } finally {
        settled++
      }
    }
  }
  const lanes = Array.from({ length: 8 }, load)
  for (let i = 0; i < restarts; i++) {
    await sleep(300 + Math.floor(rnd() * 500))
    server.crash()
    await sleep(200 + Math.floor(rnd() * 800))
    server.start()
  }
  await sleep(2000)
  running = false
  const hung = await Promise.race([Promise.all(lanes).then(() => false), sleep(30000).then(() => true)])
  await sleep(1500) // events still on their way
  const stored = new Set((await repo.findByWorkflowId('restart', { limit: 100000 })).map((r) => r.execution_id))
  const lost = [...acked].filter((id) => !stored.has(id))
  const missing = published.filter((id) => !received.includes(id))
  const twice = received.length - new Set(received).size
  const failures = []
  if (hung) failures.push(`calls still pending 30 s after the load stopped (${calls - settled})`)
  if (lost.length) failures.push(`${lost.length} acknowledged writes lost`)
  if (missing.length) failures.push(`${missing.length} of ${published.length} published events never arrived`)
  if (twice) failures.push(`${twice} events arrived twice`)
  const outside = Object.keys(codes).filter((c) => !CODES.includes(c))
  if (outside.length) failures.push(`codes outside the list: ${outside.join(', ')}`)
  busA.dispose()
  busB.dispose()
  await Promise.all([a.close(), b.close()])
  return {
    name: 'PostgreSQL crashed and restarted under load',
    figures: { restarts, calls, acknowledged: acked.size, lost: lost.length, published: published.length, delivered: received.length, rejectedByCode: codes },
    failures,
  }
}

/** Hostile values for the fuzzer: wrong types, throwing getters, Proxies, cycles, deep nesting. */
function hostileValues(secret) {
  const revoked = () => {
    const { proxy, revoke } = Proxy.revocable({}, {})
    revoke()
    return proxy
  }
  const cycle = () => {
    const o = { s: secret }
    o.self = o
    return o
  }
  const deep = () => {
    let o = {}
    for (let i = 0; i < 10000; i++) o = { a: o }
    return o
  }
  return [
    () => undefined, () => null, () => 0, () => -1, () => 1.5, () => NaN, () => Infinity, () => 2 ** 60,
    () => '', () => secret, () => 'x'.repeat(1 << 20), () => 'a\u0000b', () => '\ud800',
    () => true, () => [], () => [secret], () => ({}), () => ({ password: secret }),
    () => ({ get executionId() { throw new Error(secret) } }),
    () => new Proxy({}, { get() { throw new Error(secret) }, ownKeys() { throw new Error(secret) } }),
    revoked, cycle, deep, () => Symbol('s'), () => 10n, () => () => secret, () => new Date(NaN),
    () => new Date(8.64e15), () => Buffer.from(secret), () => new URL(`postgres://u:${secret}@h/d`),
    () => ({ workflowId: 'w', workflowName: 'W', metadata: cycle() }),
    () => ({ workflowId: secret, workflowName: 'W', status: secret }),
  ]
}

/** The fuzzer, in a child (a crash ends the child, not the suite). */
function fuzzScript(seed, calls) {
  return `
    const util = require('node:util')
    const w = require(${JSON.stringify(ADDON)})
    const { random } = require(${JSON.stringify(path.join(__dirname, 'lib.js'))})
    const { hostileValues } = require(${JSON.stringify(__filename)})
    const CODES = ${JSON.stringify(CODES)}
    const SYNC = ['toSnakeCase', 'calculateStandardDeviation', 'getHandlerCount', 'subscribe', 'on', 'unsubscribe', 'getStats']
    const SECRET = 'Fz7SecretPW'
    const rnd = random(${seed})
    const values = hostileValues(SECRET)
    const pick = () => values[Math.floor(rnd() * values.length)]()
    ;(async () => {
      const db = await w.WorkflowDatabase.connect({ type: 'memory' })
      const ex = new w.WorkflowExecutionRepository(db), me = new w.WorkflowMetricsRepository(db), hr = new w.HandlerRegistryRepository(db)
      const repo = new w.WorkflowRepository(ex, me)
      const targets = [ex, me, hr, repo, new w.WorkflowPersistenceService(repo), new w.WorkflowCacheService(db),
        new w.WorkflowEventService(), new w.WorkflowEventHandlers(repo, new w.WorkflowEventService())]
      const methods = targets.flatMap((t) => Object.getOwnPropertyNames(Object.getPrototypeOf(t))
        .filter((m) => m !== 'constructor' && !/^(dispose|close|clear|setLogger|initialize|subscribeToEvents|registerEventHandlers)$/.test(m) && typeof t[m] === 'function')
        .map((m) => [t, m]))
      const out = { calls: 0, syncThrows: 0, outsideCodes: 0, internal: 0, hangs: 0, secretsShown: 0, examples: [] }
      const note = (what, m) => { if (out.examples.length < 8) out.examples.push(what + ' in ' + m) }
      for (let i = 0; i < ${calls}; i++) {
        const [t, m] = methods[Math.floor(rnd() * methods.length)]
        const args = Array.from({ length: Math.floor(rnd() * 3) + 1 }, pick)
        out.calls++
        let r
        try { r = t[m](...args) } catch (e) {
          // Synchronous methods (toSnakeCase, getHandlerCount…) may throw, with a code; a
          // Promise method never does.
          if (!SYNC.includes(m)) { out.syncThrows++; note('a synchronous throw', m) }
          if (!CODES.includes(e && e.code)) { out.outsideCodes++; note('a throw with ' + (e && e.code), m) }
          if (String(e && e.message).includes(SECRET)) { out.secretsShown++; note('a secret in a thrown message', m) }
          continue
        }
        if (!r || typeof r.then !== 'function') continue
        const settled = await Promise.race([r.then(() => 'ok', (e) => e), new Promise((res) => setTimeout(() => res('hang'), 5000))])
        if (settled === 'hang') { out.hangs++; note('a hang', m); continue }
        if (settled === 'ok') continue
        if (!CODES.includes(settled.code)) { out.outsideCodes++; note('a rejection with ' + settled.code, m) }
        if (settled.code === 'ERR_INTERNAL') { out.internal++; note('ERR_INTERNAL', m) }
        const shown = [settled.message, String(settled.stack), util.inspect(settled)]
        if (shown.some((s) => s.includes(SECRET))) { out.secretsShown++; note('a secret in a rejection (' + settled.message.slice(0, 120) + ')', m) }
      }
      await db.close()
      console.log(JSON.stringify(out))
    })().catch((e) => { console.error('fuzzer failed', e); process.exit(3) })`
}

/** Promise methods that threw synchronously are counted by the fuzzer as rejections it never
 * saw; a crash is a child that did not finish. */
async function fuzz(seed, calls) {
  const r = await node(fuzzScript(seed, calls), { env: { WORKFLOW_INFRA_LOG: 'off' } })
  const failures = []
  let figures = { seed, calls }
  try {
    const out = JSON.parse(r.stdout.trim().split('\n').pop())
    figures = { seed, ...out, examples: undefined }
    if (out.syncThrows) failures.push(`${out.syncThrows} Promise methods threw synchronously (${out.examples.join('; ')})`)
    if (out.outsideCodes) failures.push(`${out.outsideCodes} errors outside the documented codes (${out.examples.join('; ')})`)
    if (out.internal) failures.push(`${out.internal} ERR_INTERNAL`)
    if (out.hangs) failures.push(`${out.hangs} calls never settled`)
    if (out.secretsShown) failures.push(`${out.secretsShown} errors showed the caller's value (${out.examples.join('; ')})`)
  } catch {
    failures.push(`the fuzzer crashed (exit ${r.code}, signal ${r.signal}): ${r.stderr.slice(-500)}`)
  }
  return { name: `seeded fuzzer over every method (seed ${seed})`, figures, failures }
}

/** worker_threads holding a database, terminated mid-write: no panic, no crash. */
async function terminatedWorkers(runs) {
  const file = path.join(tempDir('workers'), 'w.db')
  const r = await node(`
    const { Worker } = require('node:worker_threads')
    const body = \`
      const w = require(${JSON.stringify(ADDON)})
      w.WorkflowDatabase.connect({ type: 'sqlite', database: ${JSON.stringify(file)} }).then(async (db) => {
        const repo = new w.WorkflowExecutionRepository(db)
        require('node:worker_threads').parentPort.postMessage('open')
        for (;;) await Promise.all(Array.from({ length: 16 }, () => repo.create({ workflowId: 'w', workflowName: 'W' })))
      })\`
    ;(async () => {
      for (let i = 0; i < ${runs}; i++) {
        const worker = new Worker(body, { eval: true })
        await new Promise((resolve) => worker.once('message', resolve))
        await new Promise((resolve) => setTimeout(resolve, 5 + (i % 5) * 5))
        await worker.terminate()
      }
      console.log('done')
    })()`)
  const panics = (r.stderr.match(/panicked/g) || []).length
  const failures = []
  if (panics) failures.push(`${panics} panics`)
  if (r.stdout.trim() !== 'done') failures.push(`the process ended early (exit ${r.code}, signal ${r.signal})`)
  return { name: 'worker_threads terminated mid-write', figures: { terminations: runs, panics }, failures }
}

/** Credentials: in no message, cause, stack, util.inspect, JSON.stringify or log line (at trace). */
async function credentials() {
  const SECRET = 'Cr3dSecretPW'
  const r = await node(`
    const util = require('node:util')
    const w = require(${JSON.stringify(ADDON)})
    const lines = []
    w.setLogger({ info: (m, x) => lines.push(m + JSON.stringify(x)), debug: (m, x) => lines.push(m + JSON.stringify(x)), warn: (m, x) => lines.push(m + JSON.stringify(x)), error: (m, x) => lines.push(m + JSON.stringify(x)) })
    const secret = ${JSON.stringify(SECRET)}
    const configs = [
      { url: 'postgres://u:' + secret + '@127.0.0.1:1/db', connectTimeoutMs: 500 },
      { url: new URL('postgres://u:' + secret + '@127.0.0.1:1/db') },
      { type: 'postgresql', host: '127.0.0.1', port: 1, password: secret, connectTimeoutMs: 500 },
      { type: 'postgresql', host: '127.0.0.1', port: 1, password: [secret] },
      { type: 'postgresql', host: '127.0.0.1', port: 1, password: Buffer.from(secret) },
      { type: 'postgresql', host: 'no-such-host.invalid', password: secret, connectTimeoutMs: 500 },
      { type: 'postgresql', host: '127.0.0.1', port: 1, password: secret, fallback: { type: 'memory' }, connectTimeoutMs: 500 },
    ]
    ;(async () => {
      let shown = 0, checked = 0
      for (const c of configs) {
        const out = await w.WorkflowDatabase.connect(c).then((db) => db.close().then(() => null), (e) => e)
        if (!out) continue
        const texts = [out.message, String(out.stack), util.inspect(out, { depth: 10 }), JSON.stringify(out)]
        for (let e = out.cause; e; e = e.cause) texts.push(e.message, String(e.stack))
        checked++
        if (texts.some((t) => t.includes(secret))) shown++
      }
      await new Promise((r) => setTimeout(r, 200))
      console.log(JSON.stringify({ errors: checked, shown, logLines: lines.length, inLogs: lines.filter((l) => l.includes(secret)).length }))
    })()`, { env: { WORKFLOW_INFRA_LOG: 'trace' } })
  const failures = []
  let figures = {}
  try {
    figures = JSON.parse(r.stdout.trim().split('\n').pop())
    if (figures.shown) failures.push(`${figures.shown} errors showed the secret`)
    if (figures.inLogs) failures.push(`${figures.inLogs} log lines showed the secret`)
    if (r.stderr.includes(SECRET)) failures.push('stderr showed the secret')
  } catch {
    failures.push(`the check crashed: ${r.stderr.slice(-300)}`)
  }
  return { name: 'credentials in errors and logs (trace level)', figures, failures }
}

/**
 * The fallback rejoins: PostgreSQL down, a process writes on its SQLite fallback (executions,
 * handler counters); PostgreSQL back, the process replays its journal and serves from PostgreSQL
 * again. Then a process dies on its fallback, the next one is killed in the middle of replaying
 * that journal at connect, and the one after finishes it. Nothing acknowledged is lost, nothing
 * doubled (the counter is exact), and the time from PostgreSQL's return to the first call it
 * served is measured.
 */
async function rejoin(server, writes, rnd) {
  const { execFileSync } = require('node:child_process')
  const quiet = { ...process.env, PGOPTIONS: '-c client_min_messages=warning' }
  const admin = (sql, url = server.url) => execFileSync('psql', [url, '-Atqc', sql], { encoding: 'utf8', env: quiet }).trim()
  admin('DROP DATABASE IF EXISTS wfi_chaos_rejoin WITH (FORCE)')
  admin('CREATE DATABASE wfi_chaos_rejoin')
  const url = server.url.replace(/\/postgres$/, '/wfi_chaos_rejoin')
  const file = path.join(tempDir('rejoin'), 'fallback.db')
  const config = { url, connectTimeoutMs: 500, fallback: { type: 'sqlite', database: file } }
  // Each write is a new execution or one more success on the handler's counter.
  const writer = (prefix, then) => `
    const w = require(${JSON.stringify(ADDON)})
    ;(async () => {
      const db = await w.WorkflowDatabase.connect(${JSON.stringify(config)})
      const e = new w.WorkflowExecutionRepository(db)
      const h = new w.HandlerRegistryRepository(db)
      await h.registerHandler({ handlerType: 'chaos', handlerName: 'Chaos' })
      let rows = 0, counts = 0
      for (let i = 0; i < ${writes}; i++) {
        if (i % 3) { await e.create({ executionId: '${prefix}' + i, workflowId: 'rejoin', workflowName: 'R' }); rows++ }
        else { await h.updateHandlerStatistics('chaos', { status: 'success', executionTime: 1 }); counts++ }
      }
      console.log(JSON.stringify({ type: db.getType(), rows, counts }))
      ${then}
    })()`
  server.stop()
  // 1. A live process rejoins.
  let served
  let started
  const live = node(
    writer(
      'L',
      `await new Promise((r) => process.stdin.once('data', r)); process.stdin.destroy()
      while (db.getType() !== 'postgresql') await new Promise((r) => setTimeout(r, 5))
      await e.create({ executionId: 'L_after', workflowId: 'rejoin', workflowName: 'R' })
      console.log(JSON.stringify({ served: true, journal: db.getMetrics().journal }))
      await db.close()`,
    ),
    {
      onSpawn: (child) => {
        child.stdout.on('data', (d) => {
          if (String(d).includes('"rows"')) {
            server.start()
            started = Date.now()
            child.stdin.write('go\n')
          } else if (String(d).includes('"served"')) served = Date.now()
        })
      },
    },
  )
  const first = await live
  const lines = first.stdout.trim().split('\n').map((l) => JSON.parse(l))
  const wrote = lines[0]
  const rejoined = lines[1] || {}
  // 2. A process dies on its fallback; the next is killed mid-replay; the one after finishes.
  server.stop()
  const died = await node(writer('K', "process.kill(process.pid, 'SIGKILL')"))
  const killedWrote = JSON.parse(died.stdout.trim())
  server.start()
  const replayer = `require(${JSON.stringify(ADDON)}).WorkflowDatabase.connect(${JSON.stringify(config)}).then(async (db) => {
    console.log(JSON.stringify(db.getMetrics().journal)); await db.close() })`
  let child
  const cut = node(replayer, { onSpawn: (c) => (child = c) })
  const markers = () => {
    try {
      return Number(admin('SELECT count(*) FROM workflow_infra_replayed', url))
    } catch {
      return 0
    }
  }
  const before = markers()
  const deadline = Date.now() + 30000
  while (markers() <= before && Date.now() < deadline) await sleep(5 + Math.floor(rnd() * 10))
  child.kill('SIGKILL')
  const killedMidReplay = (await cut).signal === 'SIGKILL'
  const finished = JSON.parse((await node(replayer)).stdout.trim() || '{}')

  const rows = Number(admin("SELECT count(*) FROM workflow_executions WHERE workflow_id = 'rejoin'", url))
  const counter = Number(admin("SELECT success_count FROM handler_registry WHERE handler_type = 'chaos'", url))
  const ackedRows = wrote.rows + 1 + killedWrote.rows
  const ackedCounts = wrote.counts + killedWrote.counts
  const figures = {
    // Every acknowledged write, and the two registrations, went to the fallback (L_after aside).
    writesOnFallback: ackedRows - 1 + ackedCounts + 2,
    rowsAcknowledged: ackedRows,
    rowsOnPostgres: rows,
    counterAcknowledged: ackedCounts,
    counterOnPostgres: counter,
    lost: Math.max(0, ackedRows - rows) + Math.max(0, ackedCounts - counter),
    doubled: Math.max(0, rows - ackedRows) + Math.max(0, counter - ackedCounts),
    conflicts: (rejoined.journal ? rejoined.journal.conflicts : 0) + (finished.conflicts || 0),
    replayedLive: rejoined.journal ? rejoined.journal.replayed : 0,
    killedMidReplay,
    msFromReturnToFirstCallOnPostgres: served && started ? served - started : null,
  }
  const failures = []
  if (wrote.type !== 'sqlite' || killedWrote.type !== 'sqlite') failures.push('the writers did not run on the fallback')
  if (!rejoined.served) failures.push('the live process never served a call from PostgreSQL')
  if (figures.lost) failures.push(`${figures.lost} acknowledged writes lost`)
  if (figures.doubled) failures.push(`${figures.doubled} writes applied twice`)
  if (figures.conflicts) failures.push(`${figures.conflicts} unexpected conflicts`)
  if (finished.pending !== 0) failures.push('the last process left the journal unfinished')
  return { name: 'fallback rejoins PostgreSQL (kill -9 mid-replay)', figures, failures }
}

module.exports = { credentials, fuzz, hostileValues, killMidWrite, rejoin, restartUnderLoad, terminatedWorkers }
