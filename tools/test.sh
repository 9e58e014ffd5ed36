#!/bin/bash
# Run the whole test suite (installs what it needs first). Root is needed for the
# integration and interop tests; they skip, saying why, without it.
set -euo pipefail
cd "$(dirname "$0")/.."
PREFIX=${ONGGI_PREFIX:-/opt/onggi}
if [ "$(id -u)" = 0 ]; then
    tools/install.sh --no-demo
fi
exec "$PREFIX/venv/bin/python3" -m pytest tests -q "$@"
