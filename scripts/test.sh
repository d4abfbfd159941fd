#!/usr/bin/env bash
# `npm test`: set-up, lint, format check, typecheck, then every suite (unit, api, integration on real sandbox hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint"
npx eslint .
npm run --silent lint:spec
echo "== format"
npx prettier --check . >/dev/null || { npx prettier --check . ; echo "run 'npm run format'"; exit 1; }
echo "== typecheck"
npx tsc --noEmit -p tsconfig.json
npx tsc --noEmit -p sdk   # the SDK under the strict settings its consumers may use
echo "== tests"
report=$(mktemp)
trap 'rm -f "$report"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?
# One plain closing line with the counts, whatever the reporter printed above.
node -e '
  const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
  const skipped = r.numPendingTests + r.numTodoTests;
  console.log(`tests: ${r.numPassedTests} passed, ${r.numFailedTests} failed` + (skipped ? `, ${skipped} skipped` : ""));
' "$report" || true
exit $status
