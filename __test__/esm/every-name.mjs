// Imported by __test__/esm.test.js in a process of its own: every name the package exports,
// by name, from the ES module entry, and the same objects as require() gives.
import { createRequire } from 'node:module'
import * as esm from '@pidea/workflow-infra'
import { registerWorkflowServices, WorkflowDatabase, PostgreSQLWorkflowExecutionRepository, InMemoryHandlerRegistryRepository } from '@pidea/workflow-infra'

const cjs = createRequire(import.meta.url)('@pidea/workflow-infra')
const names = Object.keys(cjs).filter((n) => !n.startsWith('__'))
const missing = names.filter((n) => !(n in esm))
const different = names.filter((n) => n in esm && esm[n] !== cjs[n])
const db = await WorkflowDatabase.connect({ type: 'memory' })
const row = await new PostgreSQLWorkflowExecutionRepository(db).create({ workflowId: 'w', workflowName: 'W' })
await db.close()
console.log(
  JSON.stringify({
    names: names.length,
    missing,
    different,
    extra: Object.keys(esm).filter((n) => !names.includes(n)),
    register: typeof registerWorkflowServices,
    inMemory: typeof InMemoryHandlerRegistryRepository,
    created: row.workflow_id,
  }),
)
