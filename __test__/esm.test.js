'use strict'
// ES modules and CommonJS both first-class: package.json's `exports` gives `import` the ES
// module entry (index.mjs) and `require` the CommonJS one; every name is there by name from
// both, as the same objects (including the planned aliases and registerWorkflowServices,
// which the addon adds at load time, where Node's CommonJS name detection cannot see them).
const path = require('node:path')
const { execFileSync } = require('node:child_process')

test('every export is importable by name from an .mjs file, as the same object require() gives', () => {
  const out = execFileSync(process.execPath, [path.join(__dirname, 'esm', 'every-name.mjs')], { encoding: 'utf8' })
  const r = JSON.parse(out.trim().split('\n').pop())
  expect(r).toEqual({ names: r.names, missing: [], different: [], extra: [], register: 'function', inMemory: 'function', created: 'w' })
  expect(r.names).toBeGreaterThanOrEqual(30)
})

test('package.json routes import and require, and ships the ES module entry', () => {
  const pkg = require('../package.json')
  expect(pkg.exports['.']).toEqual({ types: './index.d.ts', import: './index.mjs', require: './index.js' })
  expect(pkg.files).toContain('index.mjs')
})
