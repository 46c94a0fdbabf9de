'use strict'
// Disk full: SQLite on a small tmpfs of its own (mounting one needs root).
const { execFileSync } = require('node:child_process')
const fs = require('node:fs')
const path = require('node:path')
const { ADDON, node, tempDir } = require('./lib')

const SIZE_MIB = 24

/** Whether this process may mount a tmpfs (root on Linux); the reason when it may not. */
function whyNoTmpfs() {
  if (process.platform !== 'linux') return 'mounting a tmpfs needs Linux'
  if (typeof process.getuid !== 'function' || process.getuid() !== 0) return 'mounting a tmpfs needs root'
  return null
}

/**
 * A child fills the disk through the API (8 creates in flight, until 50 have been refused), then
 * deletes 300 of its rows on the full disk and closes (health() must say "disk full" meanwhile).
 * Then the room a 4 MiB filler file took is given back, the database is opened again, and every
 * acknowledged row not deleted must be there, no deleted one, a create must work and health()
 * must say ok.
 */
function fillScript(file, filler) {
  return `
    const fs = require('node:fs')
    const w = require(${JSON.stringify(ADDON)})
    const file = ${JSON.stringify(file)}
    ;(async () => {
      let db = await w.WorkflowDatabase.connect({ type: 'sqlite', database: file })
      let repo = new w.WorkflowExecutionRepository(db)
      const acked = [], codes = {}
      let refused = 0, n = 0
      // Filled until 50 creates were refused and the disk is still full: a refusal gives the
      // reserve back and truncates the WAL, which can leave room enough to take the reserve
      // again (then the disk is not full, and health() rightly says ok): fill on until it is.
      let batches = 0
      while (refused < 50 || (refused < 5000 && !(await db.health()).diskFull)) {
        if (++batches > 100000) break
        const ids = Array.from({ length: 8 }, () => 'd' + n++)
        const out = await Promise.allSettled(ids.map((id) =>
          repo.create({ executionId: id, workflowId: 'disk', workflowName: 'Disk', metadata: { pad: 'x'.repeat(2000) } })))
        out.forEach((r, i) => {
          if (r.status === 'fulfilled') return acked.push(ids[i])
          refused++
          const key = r.reason.code + ' ' + r.reason.message
          codes[key] = (codes[key] || 0) + 1
        })
      }
      const full = await db.health()
      const deleted = acked.slice(0, 300)
      let deleteFailures = 0
      for (const id of deleted) await repo.delete(id).catch(() => deleteFailures++)
      await db.close()
      fs.rmSync(${JSON.stringify(filler)})
      db = await w.WorkflowDatabase.connect({ type: 'sqlite', database: file })
      repo = new w.WorkflowExecutionRepository(db)
      const stored = new Set((await repo.findByWorkflowId('disk', { limit: 100000 })).map((r) => r.execution_id))
      const createAfterReopen = await repo.create({ workflowId: 'disk', workflowName: 'Disk' }).then(() => 'ok', (e) => e.code + ' ' + e.message)
      const after = await db.health()
      await db.close()
      console.log(JSON.stringify({
        acknowledged: acked.length, refused, codes, deletes: deleted.length, deleteFailures,
        lost: acked.slice(300).filter((id) => !stored.has(id)).length,
        deletedButThere: deleted.filter((id) => stored.has(id)).length,
        createAfterReopen,
        healthWhileFull: full.ok ? 'ok' : full.diskFull ? 'disk full' : full.error.code,
        healthAfterReopen: after.ok ? 'ok' : after.error.code,
      }))
    })().catch((e) => { console.error(e.code, e.message); process.exit(1) })`
}

async function diskFull() {
  const name = `disk full (SQLite on a ${SIZE_MIB} MiB tmpfs)`
  const skip = whyNoTmpfs()
  if (skip) return { name, skipped: skip, figures: {}, failures: [] }
  const mount = tempDir('tmpfs')
  try {
    execFileSync('mount', ['-t', 'tmpfs', '-o', `size=${SIZE_MIB}m`, 'tmpfs', mount], { stdio: 'pipe' })
  } catch (err) {
    return { name, skipped: `cannot mount a tmpfs (${String(err.stderr || err.message).trim()})`, figures: {}, failures: [] }
  }
  try {
    const file = path.join(mount, 'full.db')
    const filler = path.join(mount, 'filler')
    fs.writeFileSync(filler, Buffer.alloc(4 << 20, 1))
    const r = await node(fillScript(file, filler))
    const failures = []
    let figures = {}
    try {
      figures = JSON.parse(r.stdout.trim().split('\n').pop())
    } catch {
      return { name, figures, failures: [`the child failed (exit ${r.code}, signal ${r.signal}): ${r.stderr.slice(-500)}`] }
    }
    const full = 'ERR_DB Failed to create workflow execution: the disk is full'
    const others = Object.keys(figures.codes).filter((k) => k !== full)
    if (others.length) failures.push(`refused with something else than "the disk is full": ${others.join('; ')}`)
    if (figures.deleteFailures) failures.push(`${figures.deleteFailures} deletes failed on the full disk`)
    if (figures.lost) failures.push(`${figures.lost} acknowledged rows are missing`)
    if (figures.deletedButThere) failures.push(`${figures.deletedButThere} deleted rows came back`)
    if (figures.healthWhileFull !== 'disk full') failures.push(`health() on the full disk said ${figures.healthWhileFull}`)
    if (figures.healthAfterReopen !== 'ok') failures.push(`health() after room was made said ${figures.healthAfterReopen}`)
    if (figures.createAfterReopen !== 'ok') failures.push(`a create after room was made and the file reopened: ${figures.createAfterReopen}`)
    const check = execFileSync('sqlite3', [file, 'PRAGMA integrity_check'], { encoding: 'utf8' }).trim()
    if (check !== 'ok') failures.push(`integrity_check: ${check}`)
    delete figures.codes
    return { name, figures, failures }
  } finally {
    try {
      execFileSync('umount', [mount], { stdio: 'pipe' })
    } catch (err) {
      console.log(`      could not unmount ${mount}: ${String(err.stderr || err.message).trim()}`)
    }
  }
}

module.exports = { diskFull }
