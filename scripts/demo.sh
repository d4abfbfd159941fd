#!/usr/bin/env bash
# `npm run demo`: set-up, then the seed scenario on two sandbox hosts through the SDK, then tear-down.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec node --import tsx scripts/demo.ts "$@"
