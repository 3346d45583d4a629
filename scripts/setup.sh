#!/usr/bin/env bash
# Installs what OpenDRS needs on Debian 12: database servers (for the demo and the tests)
# when missing, a virtualenv in .venv, and the pinned Python dependencies.
set -euo pipefail
cd "$(dirname "$0")/.."

need=()
[ -x /usr/sbin/mariadbd ] || need+=(mariadb-server mariadb-client)
compgen -G "/usr/lib/postgresql/*/bin/postgres" >/dev/null || need+=(postgresql postgresql-contrib)
command -v redis-server >/dev/null || need+=(redis-server)
python3 -c 'import ensurepip, venv' 2>/dev/null || need+=(python3-venv)
command -v gcc >/dev/null || need+=(build-essential python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  echo "setup: installing ${need[*]}"
  SUDO=""
  [ "$(id -u)" -eq 0 ] || SUDO="sudo"
  $SUDO apt-get update -y -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}"
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --disable-pip-version-check --upgrade "pip>=24" 2>/dev/null || true
.venv/bin/python -m pip install -q --disable-pip-version-check -r requirements.lock
.venv/bin/python -m pip install -q --disable-pip-version-check --no-deps --no-build-isolation -e . 2>/dev/null \
  || .venv/bin/python -m pip install -q --disable-pip-version-check --no-deps -e .
echo "setup: done ($(.venv/bin/python --version))"
