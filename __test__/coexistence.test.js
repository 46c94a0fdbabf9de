'use strict'
// Beside PIDEA's own tables: a database holding a `workflow_executions` of someone else's is
// refused before anything changes; the package works in a file or schema of its own; two
// schemas of one database see neither each other's rows, events nor invalidations; a migration
// that fails partway leaves nothing. The DDL below has the columns of PIDEA's init scripts.
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const os = require('node:os')
const path = require('node:path')
const { addon, cleanup, freshPgDatabase, pgAvailable, psql } = require('./helpers')

const { WorkflowDatabase, WorkflowExecutionRepository, WorkflowEventService, WorkflowCacheService } = addon

const PIDEA_WORKFLOW_EXECUTIONS = `
CREATE TABLE workflow_executions (
    id TEXT PRIMARY KEY,
    execution_id TEXT UNIQUE NOT NULL,
    workflow_id TEXT NOT NULL,
    workflow_name TEXT,
    workflow_version TEXT DEFAULT '1.0.0',
    project_id TEXT,
    task_id TEXT,
    user_id TEXT NOT NULL DEFAULT 'me',
    status TEXT NOT NULL,
    strategy TEXT,
    priority INTEGER DEFAULT 1,
    estimated_time INTEGER,
    actual_duration INTEGER,
    start_time TEXT NOT NULL,
    end_time TEXT,
    result_data TEXT,
    error_message TEXT,
    metadata TEXT,
    created_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP,
    updated_at TEXT NOT NULL DEFAULT CURRENT_TIMESTAMP
);
CREATE TABLE tasks (id TEXT PRIMARY KEY, title TEXT NOT NULL);
INSERT INTO workflow_executions (id, execution_id, workflow_id, status, start_time)
    VALUES ('1', 'pidea_exec_1', 'wf', 'completed', '2026-01-01T00:00:00Z');`

const dirs = []
afterAll(() => {
  while (dirs.length) fs.rmSync(dirs.pop(), { recursive: true, force: true })
  cleanup()
})

function sqlite(file, sql) {
  return execFileSync('sqlite3', [file, sql], { encoding: 'utf8' }).trim()
}

/** What must not change: the bytes, the journal mode, the tables (and no WAL files). */
function snapshot(file) {
  return {
    bytes: fs.readFileSync(file).toString('base64'),
    journal: sqlite(file, 'PRAGMA journal_mode'),
    tables: sqlite(file, "SELECT group_concat(name, ',') FROM (SELECT name FROM sqlite_master ORDER BY name)"),
    siblings: fs.readdirSync(path.dirname(file)).sort(),
  }
}

/** An error with no SQL text anywhere in its message or cause chain. */
function expectNoSql(err) {
  for (let e = err; e; e = e.cause) {
    expect(e.message).not.toMatch(/\b(CREATE|SELECT|INSERT|UPDATE|DELETE)\b/)
  }
}

describe('sqlite', () => {
  let dir, file
  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'wfi_coexist_'))
    dirs.push(dir)
    file = path.join(dir, 'pidea-dev.db')
    sqlite(file, PIDEA_WORKFLOW_EXECUTIONS)
  })

  test('a file with PIDEA’s workflow_executions is refused, and left exactly as it was', async () => {
    const before = snapshot(file)
    expect(before.journal).toBe('delete')
    const err = await WorkflowDatabase.connect({ type: 'sqlite', database: file }).catch((e) => e)
    expect(err.code).toBe('ERR_MIGRATION')
    expect(err.message).toMatch(/^Failed to connect to database: table workflow_executions already exists/)
    expect(err.message).toMatch(/SQLite file of its own/)
    expectNoSql(err)
    expect(snapshot(file)).toEqual(before)
  })

  test('a file of its own beside PIDEA’s works', async () => {
    const before = snapshot(file)
    const db = await WorkflowDatabase.connect({ type: 'sqlite', database: path.join(dir, 'workflow-infra.db') })
    const repo = new WorkflowExecutionRepository(db)
    await repo.create({ executionId: 'pidea_exec_1', workflowId: 'w', workflowName: 'W' })
    expect(await repo.findAll()).toHaveLength(1)
    await db.close()
    expect(snapshot(file).bytes).toEqual(before.bytes)
  })

  test('a migration that fails partway leaves nothing behind', async () => {
    // One of 002's index names, taken by an index of someone else's: 002 fails after its table.
    const other = path.join(dir, 'other.db')
    sqlite(other, 'CREATE TABLE other (x TEXT); CREATE INDEX idx_workflow_executions_status ON other(x);')
    const before = snapshot(other)
    const err = await WorkflowDatabase.connect({ type: 'sqlite', database: other }).catch((e) => e)
    expect(err.code).toBe('ERR_MIGRATION')
    expect(err.message).toMatch(/^Failed to connect to database: migration 2 failed: /)
    expectNoSql(err)
    const after = snapshot(other)
    expect(after.tables).toBe(before.tables)
    expect(after.journal).toBe(before.journal)
    expect(after.siblings).toEqual(before.siblings)
  })
})

const describePg = pgAvailable() ? describe : describe.skip

describePg('postgresql', () => {
  let url, name
  const tables = () =>
    psql(
      "SELECT coalesce(string_agg(table_schema || '.' || table_name, ',' ORDER BY 1), '') FROM information_schema.tables WHERE table_schema NOT IN ('pg_catalog', 'information_schema')",
      name,
    )
  const schemas = () => psql("SELECT string_agg(nspname, ',' ORDER BY 1) FROM pg_namespace WHERE nspname NOT LIKE 'pg\\_%'", name)
  beforeEach(() => {
    url = freshPgDatabase()
    name = new URL(url).pathname.slice(1)
    psql(PIDEA_WORKFLOW_EXECUTIONS, name)
  })

  test('a database with PIDEA’s workflow_executions is refused, and left as it was', async () => {
    const before = { tables: tables(), schemas: schemas() }
    const err = await WorkflowDatabase.connect({ url }).catch((e) => e)
    expect(err.code).toBe('ERR_MIGRATION')
    expect(err.message).toMatch(/^Failed to connect to database: table workflow_executions already exists/)
    expect(err.message).toMatch(/`schema` option/)
    expectNoSql(err)
    expect({ tables: tables(), schemas: schemas() }).toEqual(before)
    expect(before.tables).not.toContain('workflow_infra_migrations')
  })

  test('with `schema` it works beside PIDEA’s table, which it never touches', async () => {
    const db = await WorkflowDatabase.connect({ url, schema: 'workflow_infra' })
    const repo = new WorkflowExecutionRepository(db)
    await repo.create({ executionId: 'pidea_exec_1', workflowId: 'w', workflowName: 'W' })
    expect(await repo.findAll()).toHaveLength(1)
    expect(psql('SELECT count(*) FROM public.workflow_executions', name)).toBe('1')
    expect(psql('SELECT count(*) FROM workflow_infra.workflow_executions', name)).toBe('1')
    expect(tables()).toMatch(/workflow_infra\.workflow_infra_migrations/)
    expect(tables()).not.toMatch(/public\.workflow_infra_migrations/)
    expect(db.getConnectionStatus().schema).toBe('workflow_infra')
    await db.close()
    // Connecting again finds its own tables.
    const again = await WorkflowDatabase.connect({ url, schema: 'workflow_infra' })
    expect(await new WorkflowExecutionRepository(again).findAll()).toHaveLength(1)
    await again.close()
  })

  test('two schemas see neither each other’s rows, events nor invalidations', async () => {
    const [a, a2, b] = await Promise.all([
      WorkflowDatabase.connect({ url, schema: 'wfi_a' }),
      WorkflowDatabase.connect({ url, schema: 'wfi_a' }),
      WorkflowDatabase.connect({ url, schema: 'wfi_b' }),
    ])
    try {
      const [repoA, repoB] = [new WorkflowExecutionRepository(a), new WorkflowExecutionRepository(b)]
      await repoA.create({ executionId: 'same', workflowId: 'wa', workflowName: 'A' })
      await repoB.create({ executionId: 'same', workflowId: 'wb', workflowName: 'B' })
      expect((await repoA.findAll()).map((r) => r.workflow_id)).toEqual(['wa'])
      expect((await repoB.findAll()).map((r) => r.workflow_id)).toEqual(['wb'])

      // Events: a2 (same schema) hears a's; b does not.
      const [busA, busA2, busB] = [a, a2, b].map((db) => new WorkflowEventService(db, { distributed: true }))
      await Promise.all([busA.ready(), busA2.ready(), busB.ready()])
      const heard = { a2: [], b: [] }
      busA2.subscribe('ping', (e) => heard.a2.push(e))
      busB.subscribe('ping', (e) => heard.b.push(e))
      await busA.publish('ping', { n: 1 })

      // Invalidations: a2's cache of 'same' is dropped by a's update; b's is not.
      const [cacheA2, cacheB] = [new WorkflowCacheService(a2), new WorkflowCacheService(b)]
      await Promise.all([cacheA2.ready(), cacheB.ready()])
      await cacheA2.getExecution('same')
      await cacheB.getExecution('same')
      await repoA.update('same', { priority: 7 })

      const deadline = Date.now() + 3000
      while ((heard.a2.length === 0 || cacheA2.getStats().invalidations === 0) && Date.now() < deadline) {
        await new Promise((r) => setTimeout(r, 20))
      }
      await new Promise((r) => setTimeout(r, 300)) // room for anything that should not come
      expect(heard.a2).toEqual([{ n: 1 }])
      expect(heard.b).toEqual([])
      expect(cacheA2.getStats().invalidations).toBe(1)
      expect(cacheB.getStats().invalidations).toBe(0)
      expect((await cacheB.getExecution('same')).priority).toBe(1)
      for (const bus of [busA, busA2, busB]) bus.dispose()
    } finally {
      await Promise.all([a, a2, b].map((db) => db.close()))
    }
  })

  test('a migration that fails partway leaves nothing behind', async () => {
    psql('CREATE SCHEMA wfi_partial; CREATE TABLE wfi_partial.other (x text); CREATE INDEX idx_workflow_executions_status ON wfi_partial.other (x)', name)
    const before = tables()
    const err = await WorkflowDatabase.connect({ url, schema: 'wfi_partial' }).catch((e) => e)
    expect(err.code).toBe('ERR_MIGRATION')
    expect(err.message).toMatch(/^Failed to connect to database: migration 2 failed: /)
    expectNoSql(err)
    expect(tables()).toBe(before)
  })

  test('a schema that is refused is not created', async () => {
    psql('CREATE SCHEMA wfi_taken; CREATE TABLE wfi_taken.handler_registry (id int)', name)
    const before = { tables: tables(), schemas: schemas() }
    const err = await WorkflowDatabase.connect({ url, schema: 'wfi_taken' }).catch((e) => e)
    expect(err.code).toBe('ERR_MIGRATION')
    expect(err.message).toMatch(/table handler_registry already exists/)
    expect({ tables: tables(), schemas: schemas() }).toEqual(before)
    const fresh = await WorkflowDatabase.connect({ url, schema: 'wfi_new', migrate: false }).catch((e) => e)
    expect(fresh).toBeInstanceOf(WorkflowDatabase)
    await fresh.close()
    expect(schemas()).not.toContain('wfi_new')
  })

  test('a bad schema name is refused without echoing it', async () => {
    for (const schema of ['Bad-Name; DROP', 'pg_x', 7]) {
      const err = await WorkflowDatabase.connect({ url, schema }).catch((e) => e)
      expect(err.code).toBe('ERR_VALIDATION')
      expect(err.message).not.toContain('DROP')
    }
  })
})
