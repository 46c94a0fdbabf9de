// @ts-check
'use strict'
// `WorkflowCache`: the planned synchronous in-process cache, over lru-cache.
//
// - Eviction weighs recency and frequency: a segmented LRU of two lru-caches. New entries go on
//   probation; an entry read (or rewritten) again moves to the protected segment, which keeps up
//   to 80 % of the room, its least recent entry going back on probation. A full cache evicts the
//   least recent entry on probation, so a one-off scan cannot push out what is read often.
// - `maxSize` is exact: the two segments together never hold more.
// - Time to live needs no timer (nothing keeps the process alive). Expiry times wait in a queue
//   (see `Schedule`), swept at every call, so an expired entry is never returned, `size()` counts
//   live entries only, and every expiry is counted.
// - Values are kept as they are (`get` returns the object that was set); metadata is kept as data,
//   copied in and out.

const { LRUCache } = require('lru-cache')

const DEFAULT_MAX_SIZE = 1000
const DEFAULT_TTL = 300000
const MAX_SIZE_LIMIT = 2 ** 32 - 1
/** How deep metadata may nest (as the addon reads any other input). */
const MAX_DEPTH = 65
/** Methods bound to each instance, so `const { get } = cache` works. */
const BOUND = ['get', 'set', 'has', 'delete']

/**
 * The clock reads and expiry checks use: Date.now() costs as much as a whole lookup, so a reading
 * serves up to CLOCK_REUSES calls within one synchronous turn, and the next turn reads afresh.
 * An entry may thus outlive its TTL by the time a turn spends between two readings (as lru-cache's
 * entries may by its `ttlResolution`); `set` stamps entries with Date.now() itself.
 */
const CLOCK_REUSES = 63
let clockNow = 0
let clockLeft = 0
let clockReset = false
const resetClock = () => {
  clockLeft = 0
  clockReset = false
}
function recentNow() {
  if (clockLeft > 0) {
    clockLeft--
    return clockNow
  }
  clockNow = Date.now()
  clockLeft = CLOCK_REUSES
  if (!clockReset) {
    clockReset = true
    queueMicrotask(resetClock)
  }
  return clockNow
}

/** One entry. `queuedAt` is the earliest time the schedule holds for it (undefined: none). */
class Entry {
  /**
   * @param {string | number} key
   * @param {unknown} value
   * @param {number} timestamp
   * @param {number} expiresAt
   * @param {unknown} metadata
   */
  constructor(key, value, timestamp, expiresAt, metadata) {
    this.key = key
    this.value = value
    this.timestamp = timestamp
    this.expiresAt = expiresAt
    this.metadata = metadata
    /** @type {number | undefined} */
    this.queuedAt = undefined
    this.live = true
    this.protected = false
  }
}

/**
 * When entries expire, soonest first, without a timer. Times mostly arrive in order (one default
 * TTL), so they queue in a FIFO; one that would break its order goes to a binary heap. Removal is
 * lazy: a time counts only while its entry is live and still queued for that time. An entry whose
 * expiry moved later keeps its earlier time, and is queued again when that time comes. The queue is
 * rebuilt when stale times outnumber the entries.
 */
class Schedule {
  constructor() {
    /** @type {number[]} */ this.fifoAt = []
    /** @type {Entry[]} */ this.fifoOf = []
    /** Where the FIFO starts (the slots before it are spent). */
    this.head = 0
    /** @type {number[]} */ this.heapAt = []
    /** @type {Entry[]} */ this.heapOf = []
    /** The soonest time held, or earlier (Infinity: none). */
    this.next = Infinity
  }

  clear() {
    this.fifoAt = []
    this.fifoOf = []
    this.head = 0
    this.heapAt = []
    this.heapOf = []
    this.next = Infinity
  }

  get length() {
    return this.fifoAt.length - this.head + this.heapAt.length
  }

  /**
   * @param {Entry} entry
   * @param {number} at
   */
  push(entry, at) {
    entry.queuedAt = at
    const fifo = this.fifoAt
    if (fifo.length === this.head || at >= fifo[fifo.length - 1]) {
      fifo.push(at)
      this.fifoOf.push(entry)
    } else {
      heapPush(this.heapAt, this.heapOf, at, entry)
    }
    if (at < this.next) this.next = at
  }

  /** The entry of the soonest time, if it is before `now` (undefined: none). */
  popBefore(now) {
    const fifo = this.fifoAt.length > this.head ? this.fifoAt[this.head] : Infinity
    const heap = this.heapAt.length > 0 ? this.heapAt[0] : Infinity
    if (Math.min(fifo, heap) >= now) {
      this.next = Math.min(fifo, heap)
      return undefined
    }
    let at, entry
    if (fifo <= heap) {
      at = fifo
      entry = this.fifoOf[this.head]
      this.fifoOf[this.head++] = /** @type {any} */ (undefined)
      if (this.head > 1024 && this.head * 2 > this.fifoAt.length) this.#compact()
    } else {
      at = heap
      entry = heapPop(this.heapAt, this.heapOf)
    }
    return entry.live && entry.queuedAt === at ? entry : null
  }

  /** Keeps only the times that count (at most one per live entry). */
  rebuild() {
    const keep = (/** @type {number} */ at, /** @type {Entry} */ e) => e !== undefined && e.live && e.queuedAt === at
    const fifoAt = []
    const fifoOf = []
    for (let i = this.head; i < this.fifoAt.length; i++) {
      if (keep(this.fifoAt[i], this.fifoOf[i])) {
        fifoAt.push(this.fifoAt[i])
        fifoOf.push(this.fifoOf[i])
      }
    }
    const heap = this.heapAt.map((at, i) => /** @type {[number, Entry]} */ ([at, this.heapOf[i]])).filter(([at, e]) => keep(at, e))
    heap.sort((a, b) => a[0] - b[0]) // a sorted array is a heap
    this.fifoAt = fifoAt
    this.fifoOf = fifoOf
    this.head = 0
    this.heapAt = heap.map((h) => h[0])
    this.heapOf = heap.map((h) => h[1])
  }

  #compact() {
    this.fifoAt = this.fifoAt.slice(this.head)
    this.fifoOf = this.fifoOf.slice(this.head)
    this.head = 0
  }
}

/**
 * @param {number[]} at
 * @param {Entry[]} of
 * @param {number} time
 * @param {Entry} entry
 */
function heapPush(at, of, time, entry) {
  let i = at.length
  at.push(time)
  of.push(entry)
  while (i > 0) {
    const parent = (i - 1) >> 1
    if (at[parent] <= time) break
    at[i] = at[parent]
    of[i] = of[parent]
    i = parent
  }
  at[i] = time
  of[i] = entry
}

/**
 * @param {number[]} at
 * @param {Entry[]} of
 * @returns {Entry}
 */
function heapPop(at, of) {
  const top = of[0]
  const time = /** @type {number} */ (at.pop())
  const entry = /** @type {Entry} */ (of.pop())
  const n = at.length
  if (n > 0) {
    let i = 0
    for (;;) {
      let child = 2 * i + 1
      if (child >= n) break
      if (child + 1 < n && at[child + 1] < at[child]) child++
      if (at[child] >= time) break
      at[i] = at[child]
      of[i] = of[child]
      i = child
    }
    at[i] = time
    of[i] = entry
  }
  return top
}

/** What cannot be kept as data, thrown while copying it. */
class Unstorable {
  /** @param {string} what */
  constructor(what) {
    this.what = what
  }
}

/**
 * A copy of `v` as data: primitives, Dates, arrays and objects' own enumerable string-keyed
 * properties (an Error keeps its name and message). Throws Unstorable for a function, a symbol, a
 * bigint, a cycle or nesting beyond MAX_DEPTH, or a getter that throws.
 * @param {unknown} v
 * @param {number} depth
 * @returns {unknown}
 */
function toData(v, depth) {
  switch (typeof v) {
    case 'undefined':
    case 'boolean':
    case 'number':
    case 'string':
      return v
    case 'object':
      break
    default:
      throw new Unstorable(typeof v)
  }
  if (v === null) return null
  if (depth > MAX_DEPTH) throw new Unstorable('value nested too deep (or circular)')
  try {
    if (v instanceof Date) return new Date(v.getTime())
    if (v instanceof Error) {
      const text = (/** @type {unknown} */ s) => (typeof s === 'string' ? s : undefined)
      return { name: text(v.name), message: text(v.message) }
    }
    if (Array.isArray(v)) return v.map((item) => toData(item, depth + 1))
    /** @type {Record<string, unknown>} */
    const out = {}
    for (const key of Object.keys(v)) {
      Object.defineProperty(out, key, { value: toData(/** @type {any} */ (v)[key], depth + 1), enumerable: true, writable: true, configurable: true })
    }
    return out
  } catch (err) {
    if (err instanceof Unstorable) throw err
    throw new Unstorable('a value whose reading threw')
  }
}

/**
 * Defines `WorkflowCache` on the addon's exports, over its error class and its log (for the
 * default logger). Defined at every evaluation of this file: the class holds nothing native, and
 * each evaluation (each of Jest's module registries) gets a class of its own realm.
 * @param {Record<string | symbol, any>} exports
 * @param {{ log: (logger: object | null, level: string, message: string, fields?: object) => void }} internal
 */
function addCache(exports, internal) {
  const { WorkflowInfraError } = exports

  /** A refused argument, named, never echoing its value. */
  const refused = (/** @type {string} */ operation, /** @type {string} */ argument, /** @type {string} */ reason) =>
    new WorkflowInfraError(`Failed to ${operation}: ${argument} ${reason}`, {
      code: 'ERR_VALIDATION',
      meta: { operation, argument },
    })

  /** What `v` is, as a message names it (never throws: a revoked Proxy is unreadable). */
  const kind = (/** @type {unknown} */ v) => {
    try {
      return v === null ? 'null' : Array.isArray(v) ? 'array' : typeof v
    } catch {
      return 'an unreadable value'
    }
  }

  /**
   * A TTL argument: undefined when absent, else ms (0 or Infinity: Infinity, never).
   * @param {unknown} v
   */
  const lifetime = (v, /** @type {string} */ operation, /** @type {string} */ argument) => {
    if (v === undefined || v === null) return undefined
    if (typeof v === 'number' && (v === Infinity || v === 0)) return Infinity
    if (typeof v === 'number' && Number.isFinite(v) && v > 0) return Math.ceil(v)
    throw refused(operation, argument, 'must be a positive number of milliseconds (0 or Infinity: no expiry)')
  }

  /** `{ maxSize, ttl, logger }` of the constructor and setConfig, read and checked. */
  const limits = (/** @type {unknown} */ options, /** @type {string} */ operation, /** @type {string} */ name) => {
    if (kind(options) !== 'object') throw refused(operation, name, `must be an object, not ${kind(options)}`)
    /** @type {any} */ const o = options
    let maxSize, ttl, logger
    try {
      ;({ maxSize, ttl, logger } = o)
    } catch {
      throw refused(operation, name, 'could not be read')
    }
    if (maxSize !== undefined && maxSize !== null) {
      if (typeof maxSize !== 'number' || !Number.isInteger(maxSize) || maxSize < 1 || maxSize > MAX_SIZE_LIMIT) {
        throw refused(operation, `${name}.maxSize`, `must be a whole number from 1 to ${MAX_SIZE_LIMIT}`)
      }
    } else {
      maxSize = undefined
    }
    ttl = lifetime(ttl, operation, `${name}.ttl`)
    if (logger !== undefined && logger !== null && typeof logger !== 'object') {
      throw refused('use logger', 'logger', 'must be an object with info/debug/warn/error methods')
    }
    return { maxSize, ttl, logger }
  }

  /** @param {unknown} key */
  const checkKey = (key, /** @type {string} */ operation) => {
    if (typeof key === 'string' || (typeof key === 'number' && key === key)) return
    throw refused(operation, 'key', 'must be a string or a number')
  }

  /** A fresh copy of stored metadata for a reader (`{}` when none was given). */
  const metadataOut = (/** @type {unknown} */ m) => (m === undefined ? {} : toData(m, 0))

  /** @param {Entry} e */
  const metadataView = (e) => ({
    timestamp: e.timestamp,
    expiresAt: e.expiresAt,
    metadata: metadataOut(e.metadata),
  })

  /** The logger `logger` shows when none was given: it writes to the addon's own log. */
  let addonLogger
  const defaultLogger = () =>
    (addonLogger ??= Object.fromEntries(
      ['error', 'warn', 'info', 'debug'].map((level) => [level, (/** @type {unknown} */ message, /** @type {any} */ meta) => internal.log(null, level, String(message ?? ''), meta)]),
    ))

  /** Two lru-caches holding at most `max` between them (their room grows as entries come). */
  const segment = (/** @type {number} */ max) => {
    /** @type {LRUCache<string | number, Entry>} */
    const lru = new LRUCache({ maxSize: max, sizeCalculation: () => 1 })
    return lru
  }

  /**
   * An in-process cache with the planned synchronous API.
   * @template {string | number} [K=string | number]
   * @template [V=unknown]
   */
  class WorkflowCache {
    #probation
    #protected
    #maxSize
    /** Entries the protected segment keeps at most. */
    #room
    /** The default time to live in ms (Infinity: no expiry). */
    #ttl
    /** @type {object | null} */
    #logger = null
    #schedule = new Schedule()
    #hits = 0
    #misses = 0
    #sets = 0
    #deletes = 0
    #evictions = 0
    #expirations = 0

    /**
     * `maxSize` (default 1000), `ttl` in ms (default 300000; 0 or Infinity: no expiry), `logger`
     * (default: the addon's own log).
     * @param {{ maxSize?: number, ttl?: number, logger?: object | null }} [options]
     */
    constructor(options) {
      const { maxSize, ttl, logger } = options === undefined || options === null ? {} : limits(options, 'create workflow cache', 'options')
      this.#maxSize = maxSize ?? DEFAULT_MAX_SIZE
      this.#room = Math.max(1, Math.floor((this.#maxSize * 4) / 5))
      this.#ttl = ttl ?? DEFAULT_TTL
      this.#logger = logger ?? null
      this.#probation = segment(this.#maxSize)
      this.#protected = segment(this.#maxSize)
      if (new.target === WorkflowCache) {
        // Own, non-enumerable: a subclass's instances keep the prototype's, so overrides hold.
        for (const name of BOUND) {
          Object.defineProperty(this, name, { value: this[name].bind(this), writable: true, configurable: true })
        }
      }
    }

    /**
     * Stores `value` itself (options: `ttl` ms, 0 or Infinity: never; `metadata`, kept as data);
     * false, with a warning, when the metadata holds a function, a symbol or a bigint.
     * @param {K} key
     * @param {V} value
     * @param {{ ttl?: number, metadata?: unknown }} [options]
     * @returns {boolean}
     */
    set(key, value, options) {
      checkKey(key, 'set cache entry')
      let ttl = this.#ttl
      let metadata
      if (options !== undefined && options !== null) {
        if (kind(options) !== 'object') throw refused('set cache entry', 'options', `must be an object, not ${kind(options)}`)
        let given
        try {
          given = options.ttl
          metadata = options.metadata ?? undefined
        } catch {
          throw refused('set cache entry', 'options', 'could not be read')
        }
        ttl = lifetime(given, 'set cache entry', 'options.ttl') ?? ttl
        if (metadata !== undefined) {
          try {
            metadata = toData(metadata, 0)
          } catch (err) {
            if (!(err instanceof Unstorable)) throw err
            this.#log('warn', 'WorkflowCache: value not cached', { reason: err.what })
            return false
          }
        }
      }
      const now = Date.now()
      if (this.#schedule.next < now) this.#sweep(now)
      this.#sets++
      const expiresAt = now + ttl
      const e = this.#touch(key)
      if (e !== undefined) {
        e.value = value
        e.timestamp = now
        e.metadata = metadata
        this.#expireAt(e, expiresAt)
        return true
      }
      if (this.#probation.size + this.#protected.size >= this.#maxSize) this.#evictOne()
      const entry = new Entry(key, value, now, expiresAt, metadata)
      this.#probation.set(key, entry)
      if (expiresAt !== Infinity) this.#queue(entry, expiresAt)
      return true
    }

    /**
     * The stored value (the same object that was set), or null on a miss (see `has`).
     * @param {K} key
     * @returns {V | null}
     */
    get(key) {
      const now = recentNow()
      if (this.#schedule.next < now) this.#sweep(now)
      const e = this.#touch(key)
      if (e === undefined) {
        checkKey(key, 'get cache entry')
        this.#misses++
        return null
      }
      this.#hits++
      return /** @type {V} */ (e.value)
    }

    /**
     * Whether a live entry exists (a stored null or undefined counts).
     * @param {K} key
     * @returns {boolean}
     */
    has(key) {
      checkKey(key, 'read cache entry')
      this.#sweepNow()
      return this.#protected.has(key) || this.#probation.has(key)
    }

    /**
     * Removes an entry; true when it existed.
     * @param {K} key
     * @returns {boolean}
     */
    delete(key) {
      checkKey(key, 'delete cache entry')
      this.#sweepNow()
      const e = this.#find(key)
      if (e === undefined) return false
      this.#remove(e)
      this.#deletes++
      return true
    }

    /** Removes every entry (counted as deletes; stats are kept). */
    clear() {
      const previousSize = this.size()
      this.#deletes += previousSize
      for (const segment of [this.#protected, this.#probation]) {
        for (const e of segment.values()) release(e)
        segment.clear()
      }
      this.#schedule.clear()
      this.#log('info', 'WorkflowCache: Cache cleared', { previousSize })
    }

    /** Counters; `sets = size + deletes + evictions + expirations + rewrites of a live key`. */
    getStats() {
      const size = this.size()
      const hits = this.#hits
      const misses = this.#misses
      const total = hits + misses
      return {
        hits,
        misses,
        sets: this.#sets,
        deletes: this.#deletes,
        evictions: this.#evictions,
        expirations: this.#expirations,
        size,
        maxSize: this.#maxSize,
        hitRate: total === 0 ? 0 : Math.round((hits * 10000) / total) / 100,
        totalRequests: total,
      }
    }

    /**
     * Live keys, the most valuable first.
     * @returns {K[]}
     */
    keys() {
      return this.#live().map((e) => /** @type {K} */ (e.key))
    }

    /**
     * Live values (the stored values themselves).
     * @returns {V[]}
     */
    values() {
      return this.#live().map((e) => /** @type {V} */ (e.value))
    }

    /** Live entries: `{key, value, timestamp, expiresAt, metadata}`. */
    entries() {
      return this.#live().map((e) => ({ key: /** @type {K} */ (e.key), value: /** @type {V} */ (e.value), ...metadataView(e) }))
    }

    /**
     * Removes expired entries now; returns how many (they also go at every other call).
     * @returns {number}
     */
    cleanup() {
      const before = this.#expirations
      this.#sweepNow()
      const removed = this.#expirations - before
      if (removed > 0) this.#log('info', 'WorkflowCache: Expired entries removed', { removed })
      return removed
    }

    /**
     * Changes `maxSize` (a smaller size evicts at once), the default `ttl` of later sets, and the
     * `logger`.
     * @param {{ maxSize?: number, ttl?: number, logger?: object | null }} config
     */
    setConfig(config) {
      const { maxSize, ttl, logger } = limits(config, 'configure workflow cache', 'config')
      if (logger !== undefined) this.#logger = logger
      if (ttl !== undefined) this.#ttl = ttl
      if (maxSize === undefined) return
      this.#sweepNow()
      // The segments are rebuilt in their order, least recent first, at the new size.
      const old = [this.#probation, this.#protected]
      this.#maxSize = maxSize
      this.#room = Math.max(1, Math.floor((maxSize * 4) / 5))
      this.#probation = segment(maxSize)
      this.#protected = segment(maxSize)
      old.forEach((from, i) => {
        const to = i === 0 ? this.#probation : this.#protected
        for (const e of [...from.values()].reverse()) to.set(e.key, e)
      })
      while (this.#probation.size + this.#protected.size > maxSize) this.#evictOne()
    }

    /** The planned `maxSize` member: the most entries kept. */
    get maxSize() {
      return this.#maxSize
    }

    /** The planned `ttl` member: the default time to live in ms (Infinity: no expiry). */
    get ttl() {
      return this.#ttl
    }

    /** The planned `stats` member: the counters of `getStats()`. */
    get stats() {
      return this.getStats()
    }

    /** The logger given, or one that writes to the addon's own log. */
    get logger() {
      return this.#logger ?? defaultLogger()
    }

    /**
     * The number of live entries.
     * @returns {number}
     */
    size() {
      this.#sweepNow()
      return this.#probation.size + this.#protected.size
    }

    /** `size() >= maxSize`. */
    isFull() {
      return this.size() >= this.#maxSize
    }

    /**
     * `{timestamp, expiresAt, metadata}` of a live entry, or null.
     * @param {K} key
     */
    getMetadata(key) {
      checkKey(key, 'read cache entry')
      this.#sweepNow()
      const e = this.#find(key)
      return e === undefined ? null : metadataView(e)
    }

    /**
     * Merges `metadata` into a live entry's metadata; false when there is no such entry.
     * @param {K} key
     * @param {Record<string, unknown>} metadata
     * @returns {boolean}
     */
    updateMetadata(key, metadata) {
      const operation = 'update cache metadata'
      if (kind(metadata) !== 'object') throw refused(operation, 'metadata', 'must be an object')
      let patch
      try {
        patch = /** @type {Record<string, unknown>} */ (toData(metadata, 0))
      } catch (err) {
        if (!(err instanceof Unstorable)) throw err
        throw refused(operation, 'metadata', `contains a ${err.what}, which cannot be kept as data`)
      }
      if (patch instanceof Date) throw refused(operation, 'metadata', 'must be an object')
      checkKey(key, operation)
      this.#sweepNow()
      const e = this.#find(key)
      if (e === undefined) return false
      const current = typeof e.metadata === 'object' && e.metadata !== null && !Array.isArray(e.metadata) ? e.metadata : {}
      e.metadata = { ...current, ...patch }
      return true
    }

    /**
     * Sets a live entry's expiry to `ttl` ms from now (0 or Infinity: never); false when there is
     * no such entry.
     * @param {K} key
     * @param {number} ttl
     * @returns {boolean}
     */
    setExpirationTimer(key, ttl) {
      const operation = 'set cache expiry'
      const ms = lifetime(ttl, operation, 'ttl')
      if (ms === undefined) throw refused(operation, 'ttl', 'is required')
      checkKey(key, operation)
      return this.#reschedule(key, ms)
    }

    /**
     * Makes a live entry never expire; false when there is no such entry.
     * @param {K} key
     * @returns {boolean}
     */
    clearExpirationTimer(key) {
      checkKey(key, 'clear cache expiry')
      return this.#reschedule(key, Infinity)
    }

    /** Evicts the entry the cache values least (the least recent of those read once). */
    evictOldest() {
      this.#sweepNow()
      this.#evictOne()
    }

    // ---- inside --------------------------------------------------------------------------------

    /** The entry of `key`, without touching recency (undefined: none). */
    #find(/** @type {string | number} */ key) {
      return this.#protected.peek(key) ?? this.#probation.peek(key)
    }

    /** A read or rewrite of `key`: its entry, made most recent (promoted from probation). */
    #touch(/** @type {string | number} */ key) {
      return this.#protected.get(key) ?? this.#promote(key)
    }

    /** The entry of `key` if it is on probation, moved to the protected segment. */
    #promote(/** @type {string | number} */ key) {
      const e = this.#probation.peek(key)
      if (e === undefined) return undefined
      this.#probation.delete(key)
      this.#protected.set(key, e)
      e.protected = true
      if (this.#protected.size > this.#room) {
        const demoted = /** @type {Entry} */ (this.#protected.pop())
        demoted.protected = false
        this.#probation.set(demoted.key, demoted)
      }
      return e
    }

    /** Live entries: protected, then probation, each most recent first. */
    #live() {
      this.#sweepNow()
      return [...this.#protected.values(), ...this.#probation.values()]
    }

    #evictOne() {
      const victim = this.#probation.size > 0 ? this.#probation.pop() : this.#protected.pop()
      if (victim === undefined) return
      release(victim)
      this.#evictions++
    }

    /** @param {Entry} e */
    #remove(e) {
      ;(e.protected ? this.#protected : this.#probation).delete(e.key)
      release(e)
    }

    #reschedule(/** @type {string | number} */ key, /** @type {number} */ ms) {
      const now = Date.now()
      this.#sweep(now)
      const e = this.#find(key)
      if (e === undefined) return false
      this.#expireAt(e, now + ms)
      return true
    }

    /** @param {Entry} e */
    #expireAt(e, /** @type {number} */ at) {
      e.expiresAt = at
      if (at !== Infinity && (e.queuedAt === undefined || at < e.queuedAt)) this.#queue(e, at)
    }

    /** @param {Entry} e */
    #queue(e, /** @type {number} */ at) {
      const schedule = this.#schedule
      schedule.push(e, at)
      if (schedule.length > 2 * (this.#probation.size + this.#protected.size) + 64) schedule.rebuild()
    }

    #sweepNow() {
      const now = recentNow()
      if (this.#schedule.next < now) this.#sweep(now)
    }

    /** Removes what expired before `now`, counting each. */
    #sweep(/** @type {number} */ now) {
      const schedule = this.#schedule
      for (;;) {
        const e = schedule.popBefore(now)
        if (e === undefined) return
        if (e === null) continue
        e.queuedAt = undefined
        if (e.expiresAt < now) {
          this.#remove(e)
          this.#expirations++
        } else if (e.expiresAt !== Infinity) {
          schedule.push(e, e.expiresAt)
        }
      }
    }

    #log(/** @type {string} */ level, /** @type {string} */ message, /** @type {object} */ fields) {
      internal.log(this.#logger, level, message, fields)
    }
  }

  exports.WorkflowCache = WorkflowCache
}

/**
 * An entry that left: what it held is let go at once (the schedule may still name it).
 * @param {Entry} e
 */
function release(e) {
  e.live = false
  e.value = undefined
  e.metadata = undefined
}

module.exports = { addCache }
