'use strict'
// Reading Prometheus and OpenMetrics text strictly, for the tests of the package's metrics.

/**
 * Parses Prometheus text exposition (0.0.4), or with `openMetrics` OpenMetrics 1.0 text,
 * strictly: every sample belongs to the family declared by the HELP and TYPE lines just before
 * it, no family is declared twice, label values are quoted, values are numbers, and each
 * histogram's buckets are cumulative and end at `+Inf` = `_count`. OpenMetrics also: the text
 * ends with `# EOF` and has nothing after it, no blank lines, and a counter family is named
 * without `_total` while its samples are `<family>_total`.
 * Returns {families: {name: type}, samples: [{name, labels, value}]}; throws on the first fault.
 */
function parseExposition(text, { openMetrics = false } = {}) {
  const families = {}
  const helps = new Set()
  const samples = []
  const lines = text.split('\n')
  if (lines.pop() !== '') throw new Error('the text must end with a newline')
  if (openMetrics && lines.pop() !== '# EOF') throw new Error('OpenMetrics text must end with # EOF')
  let current = null
  for (const line of lines) {
    if (line === '# EOF') throw new Error('# EOF before the end')
    if (openMetrics && line === '') throw new Error('a blank line in OpenMetrics text')
    let m
    if ((m = /^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) .+$/.exec(line))) {
      if (helps.has(m[1])) throw new Error(`HELP twice for ${m[1]}`)
      helps.add(m[1])
    } else if ((m = /^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge|histogram|summary|untyped)$/.exec(line))) {
      if (families[m[1]]) throw new Error(`TYPE twice for ${m[1]}`)
      if (openMetrics && m[2] === 'counter' && m[1].endsWith('_total')) throw new Error(`OpenMetrics counter family named with _total: ${m[1]}`)
      families[m[1]] = m[2]
      current = m[1]
    } else if ((m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line))) {
      const [, name, rawLabels = '', value] = m
      const labels = {}
      for (const pair of rawLabels ? rawLabels.split(/,(?=[a-zA-Z_])/) : []) {
        const l = /^([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"$/.exec(pair)
        if (!l) throw new Error(`bad label ${pair} in ${line}`)
        labels[l[1]] = l[2]
      }
      const suffixes = openMetrics ? /_(bucket|sum|count|total|created)$/ : /_(bucket|sum|count)$/
      const family = families[name] && !(openMetrics && families[name] === 'counter') ? name : name.replace(suffixes, '')
      if (!families[family]) throw new Error(`sample before its TYPE: ${line}`)
      if (family !== current) throw new Error(`sample away from its family's TYPE: ${line}`)
      if (openMetrics && families[family] === 'counter' && !/_(total|created)$/.test(name)) throw new Error(`OpenMetrics counter sample without _total: ${line}`)
      // Go's ParseFloat, as Prometheus reads values: special values in any case.
      if (!Number.isFinite(Number(value)) && !/^([+-]?inf(inity)?|nan)$/i.test(value)) throw new Error(`bad value in ${line}`)
      samples.push({ name, labels, value: Number(value), family })
    } else if (line !== '' && !line.startsWith('#')) {
      throw new Error(`not exposition: ${line}`)
    }
  }
  for (const [family, type] of Object.entries(families)) {
    if (type !== 'histogram') continue
    const series = new Map()
    for (const s of samples.filter((x) => x.family === family)) {
      const { le, ...rest } = s.labels
      const key = JSON.stringify(rest)
      if (!series.has(key)) series.set(key, { buckets: [], count: null })
      if (s.name.endsWith('_bucket')) series.get(key).buckets.push([le, s.value])
      if (s.name.endsWith('_count')) series.get(key).count = s.value
    }
    for (const { buckets, count } of series.values()) {
      for (let i = 1; i < buckets.length; i++) if (buckets[i][1] < buckets[i - 1][1]) throw new Error(`${family}: buckets not cumulative`)
      if (buckets[buckets.length - 1][0] !== '+Inf' || buckets[buckets.length - 1][1] !== count) throw new Error(`${family}: +Inf differs from _count`)
    }
  }
  return { families, samples }
}

module.exports = { parseExposition }
