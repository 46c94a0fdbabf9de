'use strict'
// `npm run build…`: napi build (its loader written to binding.js, the declarations to
// index.d.ts), with the arguments given passed on (`npm run build:native -- --target …`); then
// the one thing napi-rs cannot declare from Rust, the type parameters of a class:
// `WorkflowCache<K, V>`, whose methods Rust declares over `K` and `V`
// (src/binding/cache.rs). tsc over examples/ (in lint) fails when the two disagree.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')

const root = path.join(__dirname, '..')
const napi = path.join(root, 'node_modules', '@napi-rs', 'cli', 'dist', 'cli.js')
execFileSync(process.execPath, [napi, 'build', '--platform', '--js', 'binding.js', ...process.argv.slice(2)], { cwd: root, stdio: 'inherit' })

/** Classes and their type parameters. */
const GENERIC = { WorkflowCache: '<K extends CacheKey = CacheKey, V = unknown>' }

const file = path.join(root, 'index.d.ts')
let dts = fs.readFileSync(file, 'utf8')
for (const [name, parameters] of Object.entries(GENERIC)) {
  const plain = `export declare class ${name} {`
  if (!dts.includes(plain)) throw new Error(`index.d.ts has no ${plain}`)
  dts = dts.replace(plain, `export declare class ${name}${parameters} {`)
}
fs.writeFileSync(file, dts)
