#!/usr/bin/env bash
# Sets up, then runs lint, type checks and the test suite (slow soak/bench runs excluded).
# Integration tests start their own throwaway MariaDB, PostgreSQL and Redis servers.
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh
.venv/bin/ruff check src tests bench
.venv/bin/mypy
exec .venv/bin/pytest -m "not slow" -q -p no:cacheprovider "$@"
