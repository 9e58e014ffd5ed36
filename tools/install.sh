#!/bin/bash
# Install onggi and everything its tests use on a Debian 12 machine, then (unless
# --no-demo) run the main job end to end: a busybox container run by onggi-runtime.
# Idempotent; run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
REPO=$(pwd)
PREFIX=${ONGGI_PREFIX:-/opt/onggi}
BINDIR=${ONGGI_BINDIR:-/usr/local/bin}  # where the commands are linked (a second checkout can use its own)
DEMO=1
[ "${1:-}" = "--no-demo" ] && DEMO=0

if [ "$(id -u)" != 0 ]; then
    echo "install.sh: run as root (sudo tools/install.sh)" >&2
    exit 1
fi

PKGS="python3 python3-venv busybox-static libseccomp2 runc crun podman skopeo umoci conmon
      catatonit containernetworking-plugins uidmap iproute2 procps docker-registry
      oci-image-tool apache2-utils zstd debootstrap chromium buildah openssl curl netavark
      aardvark-dns iptables"
missing=$(dpkg-query -W -f='${Package} ${Status}\n' $PKGS 2>/dev/null | grep -v "install ok installed" | cut -d' ' -f1 || true)
for p in $PKGS; do dpkg-query -W "$p" >/dev/null 2>&1 || missing="$missing $p"; done
if [ -n "$(echo $missing)" ]; then
    echo "install.sh: apt-get install $(echo $missing)"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing >/dev/null
fi

# Debian's python3 starts in about 10 ms (the runtime pays start-up on every command)
if [ ! -x "$PREFIX/venv/bin/python3" ]; then
    /usr/bin/python3 -m venv "$PREFIX/venv"
fi
"$PREFIX/venv/bin/pip" install -q --disable-pip-version-check -e "$REPO[test]"
SRC=$("$PREFIX/venv/bin/python3" -c 'import onggi, os; print(os.path.dirname(os.path.dirname(onggi.__file__)))')
# byte-compile now: the runtime runs with -IS and never writes bytecode itself
"$PREFIX/venv/bin/python3" -m compileall -q "$SRC/onggi" >/dev/null

# The launcher: -I (isolated) -S (no site: saves ~3 ms per command), path set by hand
cat > "$PREFIX/venv/bin/onggi-runtime" <<LAUNCH
#!$PREFIX/venv/bin/python3 -IS
import sys
sys.path.insert(0, "$SRC")
from onggi.cli.runtime import main
sys.exit(main())
LAUNCH
chmod 755 "$PREFIX/venv/bin/onggi-runtime"
mkdir -p "$BINDIR"
ln -sf "$PREFIX/venv/bin/onggi-runtime" "$BINDIR/onggi-runtime"
# onggi's own launcher, the same way (pip's console script runs site and imports re:
# ~10 ms of every command); the venv's site-packages added by hand for click and the rest
SITE=$("$PREFIX/venv/bin/python3" -c 'import sysconfig as s; print(s.get_paths()["purelib"])')
cat > "$PREFIX/venv/bin/onggi-cli" <<LAUNCH
#!$PREFIX/venv/bin/python3 -IS
import sys
sys.path[:0] = ["$SRC", "$SITE"]
from onggi.cli.main import main
sys.exit(main())
LAUNCH
chmod 755 "$PREFIX/venv/bin/onggi-cli"
ln -sf "$PREFIX/venv/bin/onggi-cli" "$BINDIR/onggi"
echo "install.sh: onggi-runtime and onggi installed in $BINDIR (code in $SRC)"

if [ "$DEMO" = 1 ]; then
    exec "$REPO/tools/demo.sh"
fi
