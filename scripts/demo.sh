#!/usr/bin/env bash
# Sets up, then runs the demo: an OpenDRS server on its SQLite store and a task between two
# throwaway local MariaDB servers. Add --keep to leave it serving until Ctrl-C.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
exec .venv/bin/opendrs demo "$@"
