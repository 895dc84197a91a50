#!/usr/bin/env bash
# Creates ./.venv with the pinned tools (moto server, cargo-lambda, cfn-lint). Idempotent:
# re-installs only when scripts/requirements.txt changed.
set -euo pipefail
cd "$(dirname "$0")/.."
stamp=.venv/.requirements.sha256
want=$(sha256sum scripts/requirements.txt | cut -d' ' -f1)
if [[ -x .venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
python3 -m venv .venv
.venv/bin/pip install --quiet --disable-pip-version-check -r scripts/requirements.txt
echo "$want" > "$stamp"
echo "venv ready: $(.venv/bin/pip show moto | grep ^Version)"
