'use strict'
// Builds the addon (release) when no binary for this platform can be loaded: a fresh clone has
// none, an installed package ships a prebuilt one.
const { execSync } = require('node:child_process')
const path = require('node:path')

const root = path.join(__dirname, '..')
try {
  require(root)
} catch (err) {
  if (err.code !== 'MODULE_NOT_FOUND' && !/Cannot find native binding|Failed to load native binding/.test(err.message)) throw err
  console.error('workflow-infra: building the native addon (release, about 2 minutes the first time)…')
  execSync('npm run --silent build:native', { cwd: root, stdio: 'inherit' })
}
