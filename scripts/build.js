'use strict'
// `npm run build…`: napi build, its loader written to binding.js and the declarations to
// index.d.ts (src/binding/header.d.ts first), with the arguments given passed on
// (`npm run build:native -- --target …`).
const { execFileSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
execFileSync(process.execPath, [napi, 'build', '--platform', '--js', 'binding.js', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })
