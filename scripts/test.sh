#!/usr/bin/env bash
# `npm test`: set-up, typecheck, then every suite (unit, api, integration on real sandbox hosts).
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
echo "== typecheck"
npx tsc --noEmit -p tsconfig.json
echo "== tests"
npx vitest run "$@"
