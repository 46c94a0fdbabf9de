#!/usr/bin/env bash
# Pack-and-install smoke test: the package as npm users get it. Takes the release binary built
# for linux-x64-gnu (workflow-infra.linux-x64-gnu.node at the top of the repository), makes its
# platform package the napi-rs way (`napi artifacts`, `napi prepublish`), packs both packages,
# installs the two tarballs into a fresh project with no Rust toolchain on PATH, and checks
# there that the package works: a workflow on SQLite and on PostgreSQL, `npx workflow-infra
# migrate`, `status` and the demo, a TypeScript file under `strict`, and a Jest suite that requires the
# addon from two test files. Prints the tarballs' listings and sizes and the installed size.
#
#   bash scripts/smoke.sh            (WORKFLOW_TEST_PG_URL: a PostgreSQL server to use, optional)
#
# Ends with "smoke: N passed, N failed"; exits non-zero when a check failed.
set -uo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
binary="$root/workflow-infra.linux-x64-gnu.node"
napi="$root/node_modules/.bin/napi"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
passed=0
failed=0

check() { # check NAME COMMAND…: runs the command, counts it, shows its output on failure
  local name=$1 out
  shift
  if out=$("$@" 2>&1); then
    passed=$((passed + 1))
    printf 'ok    %s\n' "$name"
    [ -n "${SMOKE_VERBOSE:-}" ] && printf '%s\n' "$out"
  else
    failed=$((failed + 1))
    printf 'FAIL  %s\n%s\n' "$name" "$out" | sed 's/^/      /'
  fi
  return 0
}
finish() {
  echo "smoke: $passed passed, $failed failed"
  [ "$failed" -eq 0 ]
  exit $?
}

[ -f "$binary" ] || { echo "smoke: no $binary (run npm run build first)"; failed=1; finish; }
echo "== the binary"
node "$root/scripts/glibc-floor.js" "$binary"
check "glibc floor 2.17" node "$root/scripts/glibc-floor.js" "$binary"

echo "== the packages"
pkg="$work/pkg"
mkdir -p "$pkg/artifacts"
git -C "$root" archive HEAD | tar -x -C "$pkg"
cp "$binary" "$pkg/artifacts/"
# napi artifacts and prepublish want a binary for every target in napi.targets: here there is
# one, so they run on a copy of package.json that lists only linux-x64-gnu (and prepublish, with
# --skip-optional-publish, only fills optionalDependencies). The packed package.json keeps all.
cp "$pkg/package.json" "$work/package.json"
node -e "const f='$pkg/package.json', p=require(f); p.napi.targets=['x86_64-unknown-linux-gnu']; require('fs').writeFileSync(f, JSON.stringify(p, null, 2))"
"$napi" artifacts --cwd "$pkg" --output-dir artifacts >/dev/null 2>&1 || { failed=1; finish; }
# prepublish reads the release tag from git: the staged copy is a repository of its own.
git -C "$pkg" init -q && git -C "$pkg" -c user.email=smoke@localhost -c user.name=smoke commit -q --allow-empty -m smoke
"$napi" prepublish --cwd "$pkg" -t npm --skip-optional-publish >/dev/null || { failed=1; finish; }
node -e "const f='$pkg/package.json', p=require(f); p.napi.targets=require('$work/package.json').napi.targets; require('fs').writeFileSync(f, JSON.stringify(p, null, 2) + '\\n')"
main_tgz=$(cd "$pkg" && npm pack --silent --pack-destination "$work")
platform_tgz=$(cd "$pkg/npm/linux-x64-gnu" && npm pack --silent --pack-destination "$work")
for t in "$main_tgz" "$platform_tgz"; do
  printf '\n%s (%s bytes)\n' "$t" "$(stat -c %s "$work/$t")"
  tar -tvzf "$work/$t" | awk '{printf "  %10s  %s\n", $3, $6}'
done
echo
echo "optionalDependencies: $(node -p "Object.keys(require('$pkg/package.json').optionalDependencies).join(', ')")"

echo
echo "== a fresh project, no Rust toolchain on PATH"
app="$work/app"
mkdir -p "$app"
no_rust_path=$(printf %s "$PATH" | tr ':' '\n' | grep -v -e '\.cargo' -e rustup | paste -sd: -)
in_app() { (cd "$app" && env -u CARGO_HOME -u RUSTUP_HOME PATH="$no_rust_path" "$@"); }
check "no cargo or rustc on the project's PATH" in_app sh -c '! command -v cargo && ! command -v rustc'
in_app npm init -y >/dev/null
jest_version=$(node -p "require('$root/node_modules/jest/package.json').version")
ts_version=$(node -p "require('$root/node_modules/typescript/package.json').version")
check "npm install of the two tarballs" in_app npm install --no-audit --no-fund \
  "$work/$main_tgz" "$work/$platform_tgz" "jest@$jest_version" "typescript@$ts_version"
echo "installed size: $(du -sh "$app/node_modules/@pidea" | cut -f1) (node_modules/@pidea: $(ls "$app/node_modules/@pidea" | paste -sd' ' -))"

cat >"$app/workflow.js" <<'JS'
// One workflow through the event handlers, on the database given as a URL.
const w = require('@pidea/workflow-infra')
;(async () => {
  const db = await w.WorkflowDatabase.connect({ url: process.argv[2] })
  const repository = new w.WorkflowRepository(new w.WorkflowExecutionRepository(db), new w.WorkflowMetricsRepository(db))
  const bus = new w.WorkflowEventService(db)
  const handlers = new w.WorkflowEventHandlers(repository, bus)
  await handlers.initialize()
  const row = await repository.saveExecution({ workflowId: 'smoke', workflowName: 'Smoke', taskId: 'task_smoke_1' })
  await bus.publish('workflow.execution.started', { executionId: row.execution_id })
  await bus.publish('workflow.execution.completed', { taskId: 'task_smoke_1', result: { ok: true } })
  const done = await repository.getExecutionWithMetrics(row.execution_id)
  handlers.dispose()
  await db.close()
  if (done.status !== 'completed' || done.metrics.length < 3) throw new Error(`unexpected: ${done.status}, ${done.metrics.length} metrics`)
  console.log(`${db.getType()}: ${done.status}, ${done.metrics.length} metrics`)
})().catch((e) => { console.error(e); process.exit(1) })
JS
check "a workflow on SQLite" in_app node workflow.js "sqlite://$app/data/smoke.db"
cat >"$app/esm.mjs" <<'JS'
// The ES module entry of the installed package: named imports, the runtime-added names too.
import { WorkflowDatabase, WorkflowExecutionRepository, registerWorkflowServices, InMemoryWorkflowMetricsRepository } from '@pidea/workflow-infra'
const db = await WorkflowDatabase.connect({ type: 'memory' })
const row = await new WorkflowExecutionRepository(db).create({ workflowId: 'esm', workflowName: 'ESM' })
await db.close()
if (row.workflow_id !== 'esm' || typeof registerWorkflowServices !== 'function' || typeof InMemoryWorkflowMetricsRepository !== 'function') throw new Error('ESM entry incomplete')
console.log('import: ok')
JS
check "import by name from an ES module" in_app node esm.mjs
if [ -n "${WORKFLOW_TEST_PG_URL:-}" ]; then
  smoke_db="workflow_infra_smoke_$$"
  base=${WORKFLOW_TEST_PG_URL%/*}
  if psql "$base/postgres" -qc "CREATE DATABASE $smoke_db" >/dev/null 2>&1; then
    check "a workflow on PostgreSQL" in_app node workflow.js "$base/$smoke_db"
    psql "$base/postgres" -qc "DROP DATABASE IF EXISTS $smoke_db WITH (FORCE)" >/dev/null 2>&1
  else
    check "a PostgreSQL database for the smoke test" false
  fi
else
  echo "SKIPPED: a workflow on PostgreSQL (WORKFLOW_TEST_PG_URL is not set)"
fi
check "npx workflow-infra migrate" in_app npx --no-install workflow-infra migrate
check "npx workflow-infra status" in_app npx --no-install workflow-infra status
check "npx workflow-infra demo" in_app npx --no-install workflow-infra demo --workflows 20

cat >"$app/typed.ts" <<'TS'
import { WorkflowDatabase, registerWorkflowServices, type WorkflowExecutionRow, type WorkflowInfraError } from '@pidea/workflow-infra'

async function main(): Promise<WorkflowExecutionRow | null> {
  const db: WorkflowDatabase = await WorkflowDatabase.connect({ type: 'memory' })
  const registered: Promise<WorkflowDatabase> = registerWorkflowServices({ getContainer: () => ({ register() {}, resolve() {} }) })
  void registered.catch((e: WorkflowInfraError) => e.code)
  return null
}
void main()
TS
cat >"$app/tsconfig.json" <<'JSON'
{ "compilerOptions": { "strict": true, "noEmit": true, "target": "ES2022", "module": "commonjs", "moduleResolution": "node", "types": [] }, "files": ["typed.ts"] }
JSON
check "TypeScript under strict" in_app npx --no-install tsc -p .

mkdir -p "$app/test"
for n in one two; do
  cat >"$app/test/$n.test.js" <<JS
const { WorkflowDatabase, WorkflowExecutionRepository } = require('@pidea/workflow-infra')
test('the addon works from test file $n', async () => {
  const db = await WorkflowDatabase.connect({ type: 'memory' })
  const row = await new WorkflowExecutionRepository(db).create({ workflowId: '$n', workflowName: '$n' })
  expect(row.workflow_id).toBe('$n')
  await db.close()
})
JS
done
check "Jest, the addon required from two test files" in_app npx --no-install jest --ci test/

# Without the platform package: the loader's error names what it looked for.
mv "$app/node_modules/@pidea/workflow-infra-linux-x64-gnu" "$work/platform-aside"
cat >"$app/missing.js" <<'JS'
try {
  require('@pidea/workflow-infra')
  throw new Error('loaded without its platform package')
} catch (err) {
  const chain = []
  for (let e = err; e; e = e.cause) chain.push(e.message)
  console.log(chain.join('\n  caused by: '))
  if (!/Cannot find native binding/.test(err.message) || !chain.some((m) => m.includes('@pidea/workflow-infra-linux-x64-gnu'))) process.exit(1)
}
JS
check "without a binary, the error names the missing package" in_app node missing.js
mv "$work/platform-aside" "$app/node_modules/@pidea/workflow-infra-linux-x64-gnu"

finish
