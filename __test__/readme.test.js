'use strict'
// Every `js` block of the README runs as a program, as a reader would paste it: an ES module
// when it imports, CommonJS otherwise, each in a fresh directory of its own inside the package
// (so `@pidea/workflow-infra` resolves to this checkout by its own name, and prom-client, pino
// and the rest from its node_modules). A block that says "Needs PostgreSQL" gets DATABASE_URL,
// a fresh database on the test server (skipped with a message where there is none and CI is not
// set).
const fs = require('node:fs')
const path = require('node:path')
const { freshPgDatabase, pgAvailable, cleanup, runChild } = require('./helpers')

const README = fs.readFileSync(path.join(__dirname, '..', 'README.md'), 'utf8')
const BLOCKS = [...README.matchAll(/^```js\n([\s\S]*?)^```$/gm)].map((m, i) => {
  const code = m[1]
  const line = README.slice(0, m.index).split('\n').length
  const name = /^\/\/ ([\w.-]+\.m?js)/.exec(code)?.[1] ?? `block-${i + 1}`
  return { name: `${name} (README.md:${line})`, code, esm: /^import /m.test(code), pg: /Needs PostgreSQL/.test(code) }
})
const ROOT = path.join(__dirname, '.readme')

afterAll(() => {
  fs.rmSync(ROOT, { recursive: true, force: true })
  cleanup()
})

test('the README has its examples', () => {
  expect(BLOCKS.length).toBeGreaterThanOrEqual(10)
})

test.each(BLOCKS)('$name runs as it stands', async ({ code, esm, pg }) => {
  const env = {}
  delete process.env.WORKFLOW_DATABASE_URL
  if (pg) {
    if (!pgAvailable()) return // pgAvailable() says it is skipped
    env.DATABASE_URL = freshPgDatabase()
  }
  const dir = fs.mkdtempSync(path.join((fs.mkdirSync(ROOT, { recursive: true }), ROOT), 'block-'))
  const file = path.join(dir, esm ? 'app.mjs' : 'app.js')
  fs.writeFileSync(file, code)
  const r = await runChild([file], { cwd: dir, env, timeoutMs: 60000 })
  if (r.code !== 0) throw new Error(`exit ${r.code}\nstdout: ${r.stdout}\nstderr: ${r.stderr}`)
  expect(r.stdout.length).toBeGreaterThan(0)
})
