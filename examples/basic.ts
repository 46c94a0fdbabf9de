// Type-checked by `npm run lint` (tsc --noEmit -p examples): the README's usage, with types.
import { WorkflowDatabase, ERR_CLOSED, type DatabaseConfig, type WorkflowInfraError } from '..'

async function main(): Promise<void> {
  const config: DatabaseConfig = {
    type: 'postgresql',
    host: 'localhost',
    port: '5432',
    database: 'pidea',
    username: 'pidea',
    password: 'from-your-secret-store',
    fallback: { type: 'sqlite', database: './data/workflow.db' },
  }
  const db = await WorkflowDatabase.connect(config)
  const type: 'postgresql' | 'sqlite' | 'memory' = db.getType()
  const status = await db.status()
  for (const table of status.tables) console.log(table.name, table.rows ?? 'missing')
  const migrations = await db.migrationStatus()
  const applied: Date | null = migrations[0].appliedAt
  console.log(type, applied, (await db.seed()).executions)
  await db.close()
  try {
    await db.migrate()
  } catch (e) {
    const err = e as WorkflowInfraError
    if (err.code === ERR_CLOSED) console.log(err.message, err.cause?.code)
  }
}

void main()
