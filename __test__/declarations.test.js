'use strict'
// The declarations (index.d.ts) and the runtime cannot drift: every class's declared members
// (methods, getters, statics, what header.d.ts merges into a class) are exactly the runtime's,
// every declared Promise method is traced on the diagnostics channel, and every declared paged
// call walks its pages with `for await`. (__test__/types/expectations.ts holds the types
// themselves, with tsc, in lint.)
const fs = require('node:fs')
const path = require('node:path')
const { addon } = require('./helpers')
const { PAGED, TRACE } = require('../lib/calls.js')

const DTS = fs.readFileSync(path.join(__dirname, '..', 'index.d.ts'), 'utf8')

/** Declared members of each class: name → {kind: 'method'|'getter', static, returns}. */
function declaredClasses() {
  const classes = new Map()
  const block = /^export (declare class|interface) ([A-Za-z]+)(?:<[^{]*>)?(?: extends [A-Za-z]+)? \{\n([\s\S]*?)^\}/gm
  const blocks = [...DTS.matchAll(block)]
  const classNames = new Set(blocks.filter((b) => b[1] === 'declare class').map((b) => b[2]))
  for (const [, kind, name, body] of blocks) {
    if (!classNames.has(name)) continue // an interface of its own, not merged into a class
    const members = classes.get(name) ?? new Map()
    for (const line of body.split('\n')) {
      const m = /^ {2}(static )?(get |set )?([A-Za-z_$][\w$]*|\[Symbol\.\w+\])(?:<[^(]*>)?\((.*)$/.exec(line)
      if (!m || m[3] === 'constructor') continue
      const [, isStatic, accessor, member, rest] = m
      const returns = /\): (.*)$/.exec(rest)?.[1] ?? ''
      members.set(`${isStatic ? 'static ' : ''}${member}`, { kind: accessor ? 'getter' : 'method', static: Boolean(isStatic), returns, from: kind })
    }
    classes.set(name, members)
  }
  return classes
}

/** The runtime's members of a class, as declaredClasses names them. */
function runtimeMembers(klass) {
  const members = new Map()
  const add = (target, prefix) => {
    for (const key of Reflect.ownKeys(target)) {
      if (key === 'constructor' || (prefix && ['length', 'name', 'prototype'].includes(key))) continue
      const d = Object.getOwnPropertyDescriptor(target, key)
      const name = key === Symbol.asyncDispose ? '[Symbol.asyncDispose]' : typeof key === 'symbol' ? `[${String(key)}]` : key
      if (typeof d.value === 'function') members.set(`${prefix}${name}`, { kind: 'method', fn: d.value })
      else if (d.get) members.set(`${prefix}${name}`, { kind: 'getter' })
    }
  }
  add(klass.prototype, '')
  add(klass, 'static ')
  return members
}

const classes = declaredClasses()

test('the declarations name the classes the package exports', () => {
  const exported = Object.keys(addon).filter((k) => typeof addon[k] === 'function' && /^[A-Z]/.test(k) && addon[k].prototype)
  const own = exported.filter((k) => !/^(PostgreSQL|InMemory)/.test(k))
  expect([...classes.keys()].sort()).toEqual(own.sort())
  expect(classes.size).toBeGreaterThan(8)
})

describe.each([...classes.keys()])('%s', (name) => {
  const declared = classes.get(name)
  const runtime = runtimeMembers(addon[name])

  test('declares exactly the members the runtime has, as methods or getters', () => {
    const shape = (members) => [...members].map(([member, { kind }]) => `${kind} ${member}`).sort()
    expect(shape(declared)).toEqual(shape(runtime))
  })

  test('traces every declared Promise method, and only those', () => {
    const traced = [...runtime].filter(([, m]) => m.fn && m.fn[TRACE]).map(([member]) => member).sort()
    const promised = [...declared].filter(([, m]) => m.kind === 'method' && /^(Promise|PagedCall)</.test(m.returns)).map(([member]) => member)
    // The disposal delegates to close(), which is traced itself.
    expect(traced).toEqual(promised.filter((m) => m !== '[Symbol.asyncDispose]').sort())
  })

  test('walks the pages of every declared paged call', () => {
    const paged = [...declared].filter(([, m]) => m.returns.startsWith('PagedCall<')).map(([member]) => member)
    for (const member of paged) expect(PAGED).toHaveProperty(member)
    for (const member of Object.keys(PAGED)) if (runtime.has(member)) expect(paged).toContain(member)
  })
})
