#!/usr/bin/env bash
# Creates a venv with pinned tools. Idempotent: re-installs only when its requirements file changed.
#   bash scripts/venv.sh                          -> ./.venv: moto server, cargo-lambda, cfn-lint
#   bash scripts/venv.sh DIR REQUIREMENTS         -> DIR from REQUIREMENTS (e.g. .venv-checkov)
set -euo pipefail
cd "$(dirname "$0")/.."
venv=${1:-.venv}
requirements=${2:-scripts/requirements.txt}
stamp=$venv/.requirements.sha256
want=$(sha256sum "$requirements" | cut -d' ' -f1)
if [[ -x $venv/bin/python && -f $stamp && "$(cat "$stamp")" == "$want" ]]; then
  exit 0
fi
python3 -m venv "$venv"
"$venv"/bin/pip install --quiet --disable-pip-version-check -r "$requirements"
echo "$want" > "$stamp"
echo "venv ready: $venv ($requirements)"
