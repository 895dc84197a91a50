#!/usr/bin/env bash
# npm ci in the given folder when its lockfile changed since the last install. Idempotent.
set -euo pipefail
cd "$(dirname "$0")/../$1"
stamp=node_modules/.lock.sha256
want=$(sha256sum package-lock.json | cut -d' ' -f1)
if [[ -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
npm ci --no-audit --no-fund --loglevel=error
echo "$want" > "$stamp"
