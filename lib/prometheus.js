'use strict'
// The database's counters for Prometheus, done prom-client's way: `db.registerMetrics(registry,
// { labels })` registers the families in a prom-client Registry (each family once, however many
// databases feed it; each database's series told apart by its labels), in the Prometheus and the
// OpenMetrics content type alike; `db.toPrometheus({ labels })` is the same text for users
// without prom-client. The addon's own exposition (one database) is the one source of the
// figures: it is read family by family here.

/** Label names the exposition uses itself. */
const RESERVED = new Set(['backend', 'operation', 'code', 'state', 'le', 'quantile'])
const LABEL_NAME = /^[a-zA-Z_][a-zA-Z0-9_]*$/
const MAX_LABELS = 16
const MAX_VALUE = 1024

/** The WorkflowInfraError of a refused argument (naming it, never echoing its value). */
function refused(WorkflowInfraError, operation, argument, reason) {
  return new WorkflowInfraError(`Failed to ${operation}: ${argument} ${reason}`, {
    code: 'ERR_VALIDATION',
    meta: { operation, argument },
  })
}

/** The `labels` option as [name, value] pairs, checked. */
function labelsOf(options, operation, WorkflowInfraError) {
  if (options === undefined || options === null) return []
  if (typeof options !== 'object' || Array.isArray(options)) {
    throw refused(WorkflowInfraError, operation, 'options', `must be an object (got ${Array.isArray(options) ? 'array' : typeof options})`)
  }
  for (const key of Object.keys(options)) {
    if (key !== 'labels') throw refused(WorkflowInfraError, operation, 'options', 'has an unknown key (known: labels)')
  }
  const { labels } = options
  if (labels === undefined) return []
  if (labels === null || typeof labels !== 'object' || Array.isArray(labels)) {
    throw refused(WorkflowInfraError, operation, 'options.labels', `must be an object of label names to string values (got ${labels === null ? 'null' : Array.isArray(labels) ? 'array' : typeof labels})`)
  }
  const pairs = Object.entries(labels)
  if (pairs.length > MAX_LABELS) throw refused(WorkflowInfraError, operation, 'options.labels', `has more than ${MAX_LABELS} labels`)
  for (const [name, value] of pairs) {
    if (!LABEL_NAME.test(name) || name.startsWith('__')) {
      throw refused(WorkflowInfraError, operation, 'options.labels', 'has a name that is not a Prometheus label name ([a-zA-Z_][a-zA-Z0-9_]*, not starting with __)')
    }
    if (RESERVED.has(name)) {
      throw refused(WorkflowInfraError, operation, 'options.labels', `has a name the exposition uses itself (${[...RESERVED].join(', ')})`)
    }
    if (typeof value !== 'string') throw refused(WorkflowInfraError, operation, 'options.labels', `must have string values (got ${value === null ? 'null' : typeof value})`)
    if (value.length > MAX_VALUE) throw refused(WorkflowInfraError, operation, 'options.labels', `has a value longer than ${MAX_VALUE} characters`)
  }
  return pairs
}

/** A label value as the exposition writes it. */
const escape = (value) => value.replace(/\\/g, '\\\\').replace(/"/g, '\\"').replace(/\n/g, '\\n')

/** The addon's exposition with `pairs` added to every sample's labels. */
function withLabels(text, pairs) {
  if (pairs.length === 0) return text
  const extra = pairs.map(([name, value]) => `${name}="${escape(value)}"`).join(',')
  return text.replace(/^(workflow_infra_[a-z_]+)\{/gm, `$1{${extra},`)
}

/** The families of the addon's exposition: name → {help, type, samples: [{name, labels, value}]}. */
function parse(text) {
  const families = new Map()
  /** @type {{ name: string, help: string, type: string, samples: { name: string, labels: Record<string, string>, value: number }[] } | undefined} */
  let family
  for (const line of text.split('\n')) {
    if (line.startsWith('# HELP ')) {
      const at = line.indexOf(' ', 7)
      family = { name: line.slice(7, at), help: line.slice(at + 1), type: 'untyped', samples: [] }
      families.set(family.name, family)
    } else if (family === undefined) {
      continue // nothing before the first family (the addon's text starts with one)
    } else if (line.startsWith('# TYPE ')) {
      family.type = line.slice(line.lastIndexOf(' ') + 1)
    } else if (line !== '') {
      const open = line.indexOf('{')
      const close = line.lastIndexOf('}')
      /** @type {Record<string, string>} */
      const labels = {}
      for (const m of line.slice(open + 1, close).matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) {
        labels[m[1]] = m[2].replace(/\\(.)/g, (_, c) => (c === 'n' ? '\n' : c))
      }
      family.samples.push({ name: line.slice(0, open), labels, value: Number(line.slice(close + 2)) })
    }
  }
  return families
}

/** The sources (database, labels) of each registry, and the families registered in it. */
const registries = new WeakMap()

/** A prom-client metric (what Registry#registerMetric takes) for one family of every source. */
function familyMetric(name, help, type, state) {
  return {
    name,
    help,
    type,
    aggregator: 'sum',
    get() {
      const values = []
      for (const family of state.collect().map((families) => families.get(name))) {
        for (const sample of family?.samples ?? []) {
          // A counter's samples take the family's name (prom-client adds `_total` for
          // OpenMetrics); a histogram's name their part (`_bucket`, `_sum`, `_count`).
          values.push(type === 'counter' ? { labels: sample.labels, value: sample.value } : { metricName: sample.name, labels: sample.labels, value: sample.value })
        }
      }
      return { name: this.name, help, type, aggregator: 'sum', values }
    },
    reset() {},
  }
}

/** Adds registerMetrics and toPrometheus({labels}) to WorkflowDatabase. */
function addPrometheus({ WorkflowDatabase, WorkflowInfraError }) {
  const proto = WorkflowDatabase.prototype
  if (proto.registerMetrics !== undefined) return // added already (this file evaluated again)
  const exposition = proto.toPrometheus

  Object.defineProperty(proto, 'toPrometheus', {
    configurable: true,
    writable: true,
    value: function toPrometheus(options) {
      const pairs = labelsOf(options, 'render the metrics', WorkflowInfraError)
      return withLabels(exposition.call(this), pairs)
    },
  })

  Object.defineProperty(proto, 'registerMetrics', {
    configurable: true,
    writable: true,
    value: function registerMetrics(registry, options) {
      const operation = 'register the metrics'
      if (registry === null || typeof registry !== 'object' || typeof registry.registerMetric !== 'function') {
        throw refused(WorkflowInfraError, operation, 'registry', 'must be a prom-client Registry (an object with registerMetric)')
      }
      const pairs = labelsOf(options, operation, WorkflowInfraError)
      const key = JSON.stringify(Object.fromEntries(pairs.slice().sort(([a], [b]) => (a < b ? -1 : 1))))
      const text = exposition.call(this) // ERR_CLOSED on a closed database
      let state = registries.get(registry)
      if (state === undefined) {
        state = {
          sources: [],
          families: new Set(),
          collect() {
            // Each database once per collection; a closed one is left out (and forgotten).
            if (state.cache === undefined) {
              state.cache = []
              for (const source of state.sources.slice()) {
                let text
                try {
                  text = exposition.call(source.db)
                } catch {
                  state.sources.splice(state.sources.indexOf(source), 1)
                  continue
                }
                state.cache.push(parse(withLabels(text, source.pairs)))
              }
              queueMicrotask(() => (state.cache = undefined))
            }
            return state.cache
          },
        }
        registries.set(registry, state)
      }
      if (state.sources.some((s) => s.db === this)) {
        throw refused(WorkflowInfraError, operation, 'registry', 'already holds this database')
      }
      if (state.sources.some((s) => s.key === key)) {
        throw refused(WorkflowInfraError, operation, 'options.labels', 'must tell this database apart from the others in the registry (another has the same labels)')
      }
      for (const [name, family] of parse(text)) {
        if (state.families.has(name)) continue
        registry.registerMetric(familyMetric(name, family.help, family.type, state))
        state.families.add(name)
      }
      const source = { db: this, pairs, key }
      state.sources.push(source)
      return function unregister() {
        const at = state.sources.indexOf(source)
        if (at >= 0) state.sources.splice(at, 1)
        if (state.sources.length === 0 && typeof registry.removeSingleMetric === 'function') {
          for (const name of state.families) registry.removeSingleMetric(name)
          state.families.clear()
        }
      }
    },
  })
}

module.exports = { addPrometheus, parse, withLabels }
