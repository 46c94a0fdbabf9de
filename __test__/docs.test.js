'use strict'
// `npm run docs`: TypeDoc makes the API reference from index.d.ts, a page for every class, with
// no warning (a broken link or an unresolved type in the declarations would be one).
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')

test('TypeDoc documents every class of index.d.ts, without a warning', () => {
  const root = path.join(__dirname, '..')
  const out = fs.mkdtempSync(path.join(os.tmpdir(), 'wfi-docs-'))
  try {
    const log = execFileSync(process.execPath, [path.join(root, 'node_modules', 'typedoc', 'bin', 'typedoc'), '--out', out], { cwd: root, encoding: 'utf8' })
    expect(log).not.toMatch(/\[warning\]|\[error\]/)
    const classes = fs.readdirSync(path.join(out, 'classes')).map((f) => f.replace(/\.html$/, ''))
    const declared = [...fs.readFileSync(path.join(root, 'index.d.ts'), 'utf8').matchAll(/^export declare class (\w+)/gm)].map((m) => m[1])
    expect(classes.sort()).toEqual(declared.sort())
  } finally {
    fs.rmSync(out, { recursive: true, force: true })
  }
}, 120000)
