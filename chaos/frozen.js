'use strict'
// A publisher frozen mid-transaction: its publish takes its outbox id, waits inside its
// transaction (a lock the experiment holds), and its process is then stopped (SIGSTOP) for
// `frozenMs` while another process keeps publishing; after SIGCONT every acknowledged event must
// reach a listener that was up the whole time, exactly once. Run by `npm run chaos` (36 s, as
// the probe that found the loss) and by __test__/outbox.test.js (6 s: longer than any timeout
// the package keeps, which is what matters — delivery depends on no timeout at all).

const path = require('node:path')
const { execFileSync, fork, spawn } = require('node:child_process')
const { ADDON, sleep, until } = require('./lib')

const addon = require(ADDON)
const quiet = { info() {}, debug() {}, warn() {}, error() {} }

const psql = (url, sql) => execFileSync('psql', [url, '-Atqc', sql], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'] }).trim()

/** publisher.js on `url` in a child process, and a way to wait for its next message. */
function publisher(url) {
  const child = fork(path.join(__dirname, 'publisher.js'), [url], { env: { ...process.env, WORKFLOW_INFRA_LOG: 'error' } })
  const queue = []
  let waiter = null
  child.on('message', (m) => {
    if (!waiter) return queue.push(m)
    const w = waiter
    waiter = null
    w(m)
  })
  const next = () => new Promise((resolve) => (queue.length ? resolve(queue.shift()) : (waiter = resolve)))
  return { child, next }
}

/** The experiment on the (empty) PostgreSQL database at `url`. */
async function frozenPublisher(url, frozenMs) {
  const db = await addon.WorkflowDatabase.connect({ url })
  psql(
    url,
    `CREATE FUNCTION chaos_hold() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN PERFORM pg_advisory_xact_lock_shared(4242); RETURN NEW; END $$;
     CREATE TRIGGER chaos_hold AFTER INSERT ON workflow_infra_events FOR EACH ROW WHEN (NEW.event_type = 'frozen') EXECUTE FUNCTION chaos_hold();`,
  )
  const advisory = (granted) => psql(url, `SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND ${granted ? '' : 'NOT '}granted`)
  const holder = spawn('psql', [url, '-Aqt'], { stdio: ['pipe', 'ignore', 'inherit'] })
  holder.stdin.write('SELECT pg_advisory_lock(4242);\n')
  await until('the lock', () => advisory(true) === '1')

  const listener = new addon.WorkflowEventService(db, { distributed: true, logger: quiet })
  await listener.ready()
  const seen = new Map()
  for (const name of ['frozen', 'steady', 'other']) {
    listener.subscribe(name, (d) => {
      const key = `${d.from}:${name}:${d.n}`
      seen.set(key, (seen.get(key) || 0) + 1)
    })
  }
  const other = new addon.WorkflowEventService(db, { distributed: true, logger: quiet })

  const { child, next } = publisher(url)
  await next() // ready
  child.send({ type: 'one', name: 'frozen', n: 0 })
  await next()
  await until('the frozen publish to wait for the lock', () => advisory(false) === '1')
  child.send({ type: 'many', name: 'steady', count: 200, concurrency: 8 })
  await next()

  child.kill('SIGSTOP')
  holder.stdin.write('SELECT pg_advisory_unlock(4242);\n')
  const end = Date.now() + frozenMs
  let n = 0
  while (Date.now() < end) {
    await Promise.all(Array.from({ length: 8 }, () => other.publish('other', { n: n++, from: 'other' })))
    await sleep(20)
  }
  child.kill('SIGCONT')
  let report
  await until('the frozen publish to be acknowledged', async () => {
    child.send({ type: 'report' })
    report = await next()
    return report.acked.some((a) => a.name === 'frozen')
  })
  const expected = [...report.acked.map((a) => `${child.pid}:${a.name}:${a.n}`), ...Array.from({ length: n }, (_, i) => `other:other:${i}`)]
  const arrived = () => expected.every((k) => seen.has(k))
  await until('every acknowledged event to arrive', arrived, 10000).catch(() => {})
  await sleep(300)

  const failures = []
  const missing = expected.filter((k) => !seen.has(k))
  const twice = [...seen.entries()].filter(([, count]) => count !== 1)
  if (report.failed.length) failures.push(`${report.failed.length} publishes of the frozen process rejected`)
  if (missing.length) failures.push(`${missing.length} acknowledged events never arrived: ${missing.slice(0, 5).join(', ')}`)
  if (twice.length) failures.push(`${twice.length} events arrived more than once`)
  if (seen.size !== expected.length) failures.push(`${seen.size} distinct events arrived, ${expected.length} acknowledged`)

  child.send({ type: 'exit' })
  await new Promise((r) => child.once('exit', r))
  holder.stdin.end()
  listener.dispose()
  other.dispose()
  await db.close()
  return {
    name: `a publisher frozen mid-transaction (${frozenMs / 1000} s)`,
    figures: { frozenSeconds: frozenMs / 1000, acknowledged: expected.length, delivered: seen.size, missing: missing.length, duplicated: twice.length },
    failures,
  }
}

module.exports = { frozenPublisher }
