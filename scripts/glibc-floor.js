#!/usr/bin/env node
'use strict'
// Prints the newest glibc symbol version each Linux gnu binary needs (its glibc floor), read with
// `objdump -T`, and exits non-zero when one needs more than the floor the package promises.
//
//   node scripts/glibc-floor.js workflow-infra.linux-x64-gnu.node [more.node…]
const { execFileSync } = require('node:child_process')

/** The glibc the published binaries must load on (what napi-rs projects ship: CentOS 7's). */
const FLOOR = '2.17'

const parse = (v) => v.split('.').map(Number)
function compare(a, b) {
  const [x, y] = [parse(a), parse(b)]
  for (let i = 0; i < Math.max(x.length, y.length); i++) {
    const d = (x[i] || 0) - (y[i] || 0)
    if (d) return d
  }
  return 0
}

/** The newest `GLIBC_x.y[.z]` version `file` references, or null when it needs none. */
function newestGlibc(file) {
  const symbols = execFileSync('objdump', ['-T', file], { encoding: 'utf8', maxBuffer: 64 << 20 })
  const versions = [...symbols.matchAll(/GLIBC_(\d+(?:\.\d+)+)/g)].map((m) => m[1])
  return versions.sort(compare).pop() ?? null
}

const files = process.argv.slice(2)
if (files.length === 0) {
  console.error('usage: node scripts/glibc-floor.js FILE.node [FILE.node…]')
  process.exit(2)
}
let over = 0
for (const file of files) {
  const needs = newestGlibc(file)
  const ok = needs === null || compare(needs, FLOOR) <= 0
  if (!ok) over++
  console.log(`${file}: needs GLIBC_${needs ?? '(none)'} (floor ${FLOOR}) ${ok ? 'ok' : 'TOO NEW'}`)
}
process.exit(over ? 1 : 0)
