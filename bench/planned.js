'use strict'
// The planned JavaScript design (the repositories, services, events and cache PIDEA had planned), written out as a user would
// have it: one query per call, a read-modify-write for every finishing event, PIDEA's EventBus,
// and the timer-per-entry WorkflowCache. Only what the benchmark drives is here. It runs on
// node-postgres (`pg` Pool) or on better-sqlite3 behind the same `query(sql, params)` seam;
// the SQL is the planned PostgreSQL SQL, rewritten to `?` placeholders for SQLite.

const { randomUUID } = require('node:crypto')

/** `query(sql, params)` → rows, over a pg Pool. */
function pgConnection(pool) {
  return { query: async (sql, params) => (await pool.query(sql, params)).rows }
}

/** `query(sql, params)` → rows, over better-sqlite3 (Dates as ISO text, objects as JSON). */
function sqliteConnection(db) {
  const cache = new Map()
  const value = (v) => (v instanceof Date ? v.toISOString() : v !== null && typeof v === 'object' ? JSON.stringify(v) : v === undefined ? null : v)
  return {
    query: async (sql, params = []) => {
      let stmt = cache.get(sql)
      if (!stmt) {
        const order = []
        const text = sql.replace(/\$(\d+)/g, (_, n) => {
          order.push(Number(n) - 1)
          return '?'
        })
        stmt = { s: db.prepare(text), order }
        cache.set(sql, stmt)
      }
      const bound = stmt.order.map((i) => value(params[i]))
      return stmt.s.reader ? stmt.s.all(bound) : (stmt.s.run(bound), [])
    },
  }
}

const snake = (s) => s.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`)

class PlannedExecutionRepository {
  constructor(db) {
    this.db = db
  }
  async create(e) {
    const rows = await this.db.query(
      `INSERT INTO workflow_executions (execution_id, workflow_id, workflow_name, workflow_version, task_id, user_id,
         status, strategy, priority, estimated_duration, start_time, metadata)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING *`,
      [e.executionId || `exec_${randomUUID()}`, e.workflowId, e.workflowName, e.workflowVersion || '1.0.0', e.taskId, e.userId,
        e.status || 'pending', e.strategy, e.priority || 1, e.estimatedDuration, e.startTime || new Date(), JSON.stringify(e.metadata || {})],
    )
    return rows[0]
  }
  async findByExecutionId(id) {
    const rows = await this.db.query('SELECT * FROM workflow_executions WHERE execution_id = $1', [id])
    return rows[0] || null
  }
  async update(id, updates) {
    const keys = Object.keys(updates)
    const sets = keys.map((k, i) => `${snake(k)} = $${i + 2}`)
    const values = keys.map((k) => (['resultData', 'errorData', 'metadata'].includes(k) ? JSON.stringify(updates[k]) : updates[k]))
    const rows = await this.db.query(`UPDATE workflow_executions SET ${sets.join(', ')} WHERE execution_id = $1 RETURNING *`, [id, ...values])
    return rows[0]
  }
}

class PlannedMetricsRepository {
  constructor(db) {
    this.db = db
  }
  async recordMetric(m) {
    const rows = await this.db.query(
      `INSERT INTO workflow_metrics (execution_id, metric_name, metric_value, metric_unit, metric_type, metric_category, metadata)
       VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING *`,
      [m.executionId, m.metricName, m.metricValue, m.metricUnit, m.metricType || 'performance', m.metricCategory, JSON.stringify(m.metadata || {})],
    )
    return rows[0]
  }
  async getMetricsForExecution(id, { limit = 100, offset = 0 } = {}) {
    return this.db.query('SELECT * FROM workflow_metrics WHERE execution_id = $1 ORDER BY recorded_at DESC LIMIT $2 OFFSET $3', [id, limit, offset])
  }
}

/** WorkflowRepository, logger silent. */
class PlannedWorkflowRepository {
  constructor(executions, metrics) {
    this.executionRepository = executions
    this.metricsRepository = metrics
  }
  async saveExecution(execution) {
    const saved = await this.executionRepository.create(execution)
    await this.recordExecutionMetrics(saved.execution_id, {
      metricName: 'execution_started', metricValue: 1, metricUnit: 'count', metricType: 'performance', metricCategory: 'execution_status', metadata: { status: 'started' },
    })
    return saved
  }
  async updateExecution(id, updates) {
    const result = await this.executionRepository.update(id, updates)
    if (updates.status === 'completed' && updates.actualDuration) {
      await this.recordExecutionMetrics(id, { metricName: 'execution_duration', metricValue: updates.actualDuration, metricUnit: 'milliseconds', metricType: 'performance', metricCategory: 'execution_time', metadata: { status: 'completed' } })
      await this.recordExecutionMetrics(id, { metricName: 'execution_completed', metricValue: 1, metricUnit: 'count', metricType: 'performance', metricCategory: 'execution_status', metadata: { status: 'completed' } })
    }
    return result
  }
  async recordExecutionMetrics(executionId, metric) {
    return this.metricsRepository.recordMetric({ executionId, ...metric })
  }
  async getExecutionWithMetrics(id) {
    const execution = await this.executionRepository.findByExecutionId(id)
    if (!execution) return null
    return { ...execution, metrics: await this.metricsRepository.getMetricsForExecution(id) }
  }
}

/** WorkflowEventHandlers: the events the lifecycle uses. */
class PlannedEventHandlers {
  constructor(repo, bus) {
    this.repo = repo
    this.bus = bus
  }
  async initialize() {
    const on = (t, f) => this.bus.subscribe(t, f.bind(this))
    on('workflow.execution.started', this.started)
    on('workflow.execution.completed', this.completed)
    on('workflow.step.started', this.stepStarted)
    on('workflow.step.completed', this.stepCompleted)
    on('handler.execution.started', this.handlerStarted)
    on('handler.execution.completed', this.handlerCompleted)
  }
  metric(id, name, value, unit, category, metadata) {
    return this.repo.recordExecutionMetrics(id, { metricName: name, metricValue: value, metricUnit: unit, metricType: 'performance', metricCategory: category, metadata })
  }
  async started(e) {
    await this.repo.updateExecution(e.executionId, { status: 'running', startTime: new Date() })
    await this.metric(e.executionId, 'workflow_start_time', Date.now(), 'timestamp', 'timing', { event: 'execution_started' })
  }
  async completed(e) {
    const execution = await this.repo.getExecutionWithMetrics(e.executionId)
    if (!execution) return
    const endTime = new Date()
    const actualDuration = endTime - new Date(execution.start_time)
    await this.repo.updateExecution(e.executionId, { status: 'completed', endTime, actualDuration, resultData: e.result })
    await this.metric(e.executionId, 'workflow_completion_time', endTime.getTime(), 'timestamp', 'timing', { event: 'execution_completed' })
    await this.metric(e.executionId, 'workflow_total_duration', actualDuration, 'milliseconds', 'duration', { event: 'execution_completed' })
  }
  async stepStarted(e) {
    await this.metric(e.executionId, 'step_started', Date.now(), 'timestamp', 'step_timing', { stepId: e.stepId, stepName: e.stepName, event: 'step_started' })
  }
  async stepCompleted(e) {
    await this.metric(e.executionId, 'step_completed', Date.now(), 'timestamp', 'step_timing', { stepId: e.stepId, stepName: e.stepName, event: 'step_completed' })
    if (e.duration) await this.metric(e.executionId, 'step_duration', e.duration, 'milliseconds', 'step_duration', { stepId: e.stepId, stepName: e.stepName })
  }
  async handlerStarted(e) {
    await this.metric(e.executionId, 'handler_started', Date.now(), 'timestamp', 'handler_timing', { handlerType: e.handlerType, event: 'handler_started' })
  }
  async handlerCompleted(e) {
    await this.metric(e.executionId, 'handler_completed', Date.now(), 'timestamp', 'handler_timing', { handlerType: e.handlerType, event: 'handler_completed' })
    if (e.duration) await this.metric(e.executionId, 'handler_duration', e.duration, 'milliseconds', 'handler_duration', { handlerType: e.handlerType })
  }
}

/** PIDEA's EventBus, without the payload logging. */
class PlannedEventBus {
  constructor() {
    this.handlers = new Map()
  }
  subscribe(name, handler) {
    if (!this.handlers.has(name)) this.handlers.set(name, [])
    this.handlers.get(name).push(handler)
  }
  async publish(name, data) {
    const results = (this.handlers.get(name) || []).map((h) => {
      try {
        return h(data)
      } catch (e) {
        return Promise.reject(e)
      }
    })
    await Promise.allSettled(results)
  }
}

/** WorkflowCache: a Map, a setTimeout per entry, FIFO eviction, a logger per call. */
class PlannedWorkflowCache {
  constructor(options = {}) {
    this.maxSize = options.maxSize || 1000
    this.ttl = options.ttl || 300000
    this.logger = options.logger || console
    this.cache = new Map()
    this.timers = new Map()
    this.stats = { hits: 0, misses: 0, sets: 0, deletes: 0, evictions: 0 }
  }
  set(key, value, options = {}) {
    try {
      const ttl = options.ttl || this.ttl
      if (this.cache.size >= this.maxSize) this.evictOldest()
      const timestamp = Date.now()
      this.cache.set(key, { value, timestamp, expiresAt: timestamp + ttl, metadata: options.metadata || {} })
      this.setExpirationTimer(key, ttl)
      this.stats.sets++
      this.logger.debug('WorkflowCache: Cache entry set', { key, ttl })
      return true
    } catch (error) {
      this.logger.error('WorkflowCache: Failed to set cache entry', { key, error: error.message })
      return false
    }
  }
  get(key) {
    const entry = this.cache.get(key)
    if (!entry) {
      this.stats.misses++
      return null
    }
    if (Date.now() > entry.expiresAt) {
      this.delete(key)
      this.stats.misses++
      return null
    }
    this.stats.hits++
    this.logger.debug('WorkflowCache: Cache hit', { key })
    return entry.value
  }
  delete(key) {
    const had = this.cache.delete(key)
    this.clearExpirationTimer(key)
    if (had) this.stats.deletes++
    return had
  }
  setExpirationTimer(key, ttl) {
    this.clearExpirationTimer(key)
    this.timers.set(key, setTimeout(() => {
      this.delete(key)
      this.stats.evictions++
    }, ttl))
  }
  clearExpirationTimer(key) {
    const t = this.timers.get(key)
    if (t) {
      clearTimeout(t)
      this.timers.delete(key)
    }
  }
  evictOldest() {
    let oldestKey = null
    let oldest = Date.now()
    for (const [k, e] of this.cache) {
      if (e.timestamp < oldest) {
        oldest = e.timestamp
        oldestKey = k
      }
    }
    if (oldestKey !== null) {
      this.delete(oldestKey)
      this.stats.evictions++
    }
  }
  clear() {
    for (const t of this.timers.values()) clearTimeout(t)
    this.timers.clear()
    this.cache.clear()
  }
}

module.exports = {
  pgConnection,
  sqliteConnection,
  PlannedExecutionRepository,
  PlannedMetricsRepository,
  PlannedWorkflowRepository,
  PlannedEventHandlers,
  PlannedEventBus,
  PlannedWorkflowCache,
}
