'use strict'
// `node scripts/architecture.js`: the shape of the Rust code, checked (part of `npm run lint`):
// - no import cycles between files (a path `crate::…`, `super::…`, `self::…` or a child
//   module's, in a `use` or in code, is an edge from its file to the file that defines the
//   item's module);
// - the floors, by folder: base (error, value, input, config, metrics, …) ← db ← exec ← the
//   services (workflow, cache, repo, admin) ← binding. An import from a lower floor to a higher
//   one, and a cycle between folders, are breaches (unit tests, in `tests.rs` files, aside);
// - the storage seam: in core/db/, the backends (sqlite/, postgres/) know nothing of each other,
//   and what is common knows neither: they implement `store.rs`'s trait, and only `backend.rs`
//   (the open backend) and `database.rs` (which opens one) name them;
// - `unsafe` only in src/binding/node/ (clippy's `undocumented_unsafe_blocks` and
//   `multiple_unsafe_ops_per_block`, denied in Cargo.toml, hold each block to its reason);
// - a source file over 400 lines (unit tests, in `tests.rs` files, aside) is a warning: a hint to
//   look at it, never a reason to split it (rooms follow ideas);
// - the binding at most 30 % of the Rust lines.
// Prints the figures, each warning and each breach; exits 1 when there is a breach.

const fs = require('node:fs')
const path = require('node:path')

const root = path.resolve(path.join(__dirname, '..', 'src'))
const MAX_LINES = 400
const MAX_BINDING_SHARE = 0.3
const NODE_DIR = path.join(root, 'binding', 'node')

/** Every .rs file, keyed by its module path (`core::db::sqlite`). */
function modules(dir, prefix, out) {
  for (const entry of fs.readdirSync(dir, { withFileTypes: true })) {
    const full = path.join(dir, entry.name)
    if (entry.isDirectory()) modules(full, [...prefix, entry.name], out)
    else if (entry.name.endsWith('.rs')) {
      const stem = entry.name.slice(0, -3)
      const name = stem === 'mod' || (stem === 'lib' && prefix.length === 0) ? prefix : [...prefix, stem]
      out.set(name.join('::'), full)
    }
  }
  return out
}

const files = modules(root, [], new Map())

/** The paths a file uses: its `use` items (`{ a, b }` groups expanded) and the paths written
 * in its code (`super::raw::string(…)`); comments and test modules left out. */
function uses(text) {
  const body = text
    .split(/#\[cfg\(test\)\]/)[0]
    .replace(/\/\/.*$/gm, '')
    .replace(/"(?:[^"\\]|\\.)*"/g, '""')
  const found = []
  const re = /\buse\s+([^;]+);/g
  let m
  while ((m = re.exec(body))) expand(m[1].replace(/\s+/g, ''), found)
  const inline = /(?<![\w:])((?:crate|super|self)(?:::\w+)+)/g
  while ((m = inline.exec(body))) found.push(m[1])
  return found
}

function expand(spec, out) {
  const open = spec.indexOf('{')
  if (open < 0) return out.push(spec.replace(/ as .*$/, ''))
  const head = spec.slice(0, open)
  let depth = 0
  let start = open + 1
  for (let i = open + 1; i < spec.length; i++) {
    const c = spec[i]
    if (c === '{') depth++
    else if (c === '}' && depth-- === 0) {
      expand(head + spec.slice(start, i), out)
      break
    } else if (c === ',' && depth === 0) {
      expand(head + spec.slice(start, i), out)
      start = i + 1
    }
  }
}

/** The file a path in module `from` points into: its longest prefix that is a module. */
function target(from, spec) {
  let parts = spec.split('::').filter((p) => p && p !== 'self' || false)
  let base
  if (spec.startsWith('crate::')) {
    base = []
    parts = spec.split('::').slice(1)
  } else if (spec.startsWith('super::') || spec.startsWith('self::')) {
    base = from.split('::').filter(Boolean)
    parts = spec.split('::')
    while (parts[0] === 'super' || parts[0] === 'self') {
      if (parts.shift() === 'super') base = base.slice(0, -1)
    }
  } else if (files.has([from, spec.split('::')[0]].filter(Boolean).join('::'))) {
    base = from.split('::').filter(Boolean)
    parts = spec.split('::')
  } else return null
  const full = [...base, ...parts]
  for (let n = full.length; n >= 0; n--) {
    const key = full.slice(0, n).join('::')
    if (files.has(key)) return key
  }
  return null
}

const edges = new Map()
for (const [name, file] of files) {
  const to = new Set()
  for (const spec of uses(fs.readFileSync(file, 'utf8'))) {
    const t = target(name, spec)
    if (t !== null && t !== name) to.add(t)
  }
  edges.set(name, to)
}

/** The cycles of a graph (Map node → Set of nodes): its strongly connected components of more
 * than one node (Tarjan). */
function cyclesOf(graph) {
  let index = 0
  const stack = []
  const info = new Map()
  const found = []
  const visit = (v) => {
    info.set(v, { index, low: index, on: true })
    index++
    stack.push(v)
    for (const w of graph.get(v) || []) {
      if (!info.has(w)) {
        visit(w)
        info.get(v).low = Math.min(info.get(v).low, info.get(w).low)
      } else if (info.get(w).on) info.get(v).low = Math.min(info.get(v).low, info.get(w).index)
    }
    if (info.get(v).low === info.get(v).index) {
      const scc = []
      let w
      do {
        w = stack.pop()
        info.get(w).on = false
        scc.push(w)
      } while (w !== v)
      if (scc.length > 1) found.push(scc)
    }
  }
  for (const v of graph.keys()) if (!info.has(v)) visit(v)
  return found
}
const cycles = cyclesOf(edges)

const breaches = []
const warnings = []

// Floors, by folder.
const FLOORS = [
  // `core::metrics` is the package's own counters, which every floor counts into.
  ['base', ['core::error', 'core::value', 'core::input', 'core::config', 'core::page', 'core::stamp', 'core::abort', 'core::columns', 'core::logging', 'core::records', 'core::backlog', 'core::metrics', 'core']],
  ['db', ['core::db']],
  ['exec', ['core::exec']],
  ['services', ['core::workflow', 'core::cache', 'core::repo', 'core::admin']],
  ['binding', ['binding', 'binding::node', '']],
]
function folderOf(module) {
  const parts = module.split('::')
  if (parts[0] === 'core') return parts.length > 1 ? `core::${parts[1]}` : 'core'
  if (parts[0] === 'binding') return parts[1] === 'node' ? 'binding::node' : 'binding'
  return ''
}
function floorOf(folder) {
  return FLOORS.findIndex(([, folders]) => folders.includes(folder))
}
const upward = new Set()
const folderEdges = new Map()
for (const [from, tos] of edges) {
  if (path.basename(files.get(from)) === 'tests.rs') continue // unit tests see every floor
  for (const to of tos) {
    const [a, b] = [folderOf(from), folderOf(to)]
    if (a === b) continue
    if (!folderEdges.has(a)) folderEdges.set(a, new Set())
    folderEdges.get(a).add(b)
    if (floorOf(b) > floorOf(a)) upward.add(`${rel(files.get(from))} → ${b} (${FLOORS[floorOf(a)][0]} → ${FLOORS[floorOf(b)][0]})`)
  }
}
const folderCycles = cyclesOf(folderEdges)

// The storage seam.
const SEAM_OPENERS = new Set(['core::db::backend', 'core::db::database'])
function sideOf(module) {
  const parts = module.split('::')
  if (parts[0] !== 'core' || parts[1] !== 'db') return null
  if (parts[2] === 'sqlite' || parts[2] === 'postgres') return parts[2]
  return SEAM_OPENERS.has(parts.slice(0, 3).join('::')) ? 'opener' : 'common'
}
let seamBreaches = 0
for (const [from, tos] of edges) {
  if (path.basename(files.get(from)) === 'tests.rs') continue
  const a = sideOf(from)
  if (a === null || a === 'opener') continue
  for (const to of tos) {
    const b = sideOf(to)
    if (b !== 'sqlite' && b !== 'postgres') continue
    if (a === b) continue
    seamBreaches++
    breaches.push(`seam: ${rel(files.get(from))} (${a}) → ${to}`)
  }
}

for (const scc of cycles) {
  breaches.push(`import cycle: ${scc.map((m) => rel(files.get(m))).join(' ↔ ')}`)
}

// `unsafe`, where it may be and with its reason.
const unsafeUse = /\bunsafe\s*(\{|fn\b|impl\b|extern\b)/
let unsafeCount = 0
const unsafeDirs = new Set()
const lineCounts = { binding: 0, core: 0, other: 0 }
let longFiles = 0
for (const file of files.values()) {
  const lines = fs.readFileSync(file, 'utf8').split('\n')
  const area = file.startsWith(path.join(root, 'binding')) ? 'binding' : file.startsWith(path.join(root, 'core')) ? 'core' : 'other'
  lineCounts[area] += lines.length
  if (lines.length > MAX_LINES && path.basename(file) !== 'tests.rs') {
    longFiles++
    warnings.push(`${rel(file)}: ${lines.length} lines (over ${MAX_LINES}: worth a look)`)
  }
  lines.forEach((line, i) => {
    const code = line.replace(/\/\/.*$/, '')
    if (!unsafeUse.test(code)) return
    unsafeCount++
    unsafeDirs.add(path.dirname(file))
    if (!file.startsWith(NODE_DIR + path.sep)) breaches.push(`${rel(file)}:${i + 1}: unsafe outside src/binding/node/`)
  })
}
const rust = lineCounts.binding + lineCounts.core + lineCounts.other
const share = lineCounts.binding / rust
if (share > MAX_BINDING_SHARE) breaches.push(`the binding is ${(share * 100).toFixed(1)} % of the Rust lines (at most ${MAX_BINDING_SHARE * 100} %)`)

function rel(file) {
  return path.relative(path.join(root, '..'), file)
}

console.log(`files: ${files.size}; import cycles: ${cycles.length}; files over ${MAX_LINES} lines: ${longFiles}`)
console.log(`unsafe: ${unsafeCount} uses, in ${unsafeDirs.size} folder(s): ${[...unsafeDirs].map((d) => rel(d)).join(', ') || '-'}`)
console.log(`Rust lines: ${rust} (core ${lineCounts.core}, binding ${lineCounts.binding} = ${(share * 100).toFixed(1)} %)`)
console.log(`seam: core/db/sqlite and core/db/postgres behind store.rs; crossings: ${seamBreaches}`)
console.log(`floors: ${FLOORS.map(([name]) => name).join(' ← ')}; upward imports: ${upward.size}; folder cycles: ${folderCycles.length}`)
for (const u of upward) breaches.push(`upward import: ${u}`)
for (const c of folderCycles) breaches.push(`folder cycle: ${c.join(' ↔ ')}`)
for (const w of warnings) console.log(`warning: ${w}`)
for (const b of breaches) console.log(`breach: ${b}`)
process.exit(breaches.length ? 1 : 0)
