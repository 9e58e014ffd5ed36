#!/bin/bash
# The main job end to end: build an OCI bundle from Debian's busybox-static, run a
# container in it with onggi-runtime, and print what it sees from inside.
set -euo pipefail
BUNDLE=$(mktemp -d /tmp/onggi-demo.XXXXXX)
trap 'rm -rf "$BUNDLE"' EXIT
mkdir -p "$BUNDLE/rootfs/bin"
cp /bin/busybox "$BUNDLE/rootfs/bin/busybox"
for app in sh echo cat hostname id ls ps mount uname; do ln -s busybox "$BUNDLE/rootfs/bin/$app"; done
cd "$BUNDLE"
onggi-runtime spec
# run a shell script instead of an interactive sh, without a terminal
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c",
    'echo "hello from an onggi container"; echo "hostname: $(hostname)"; id; '
    'echo "pid 1 is: $(cat /proc/1/comm)"; ps']
json.dump(c, open("config.json", "w"), indent=2)
PY
onggi-runtime run "onggi-demo-$$"
echo "demo: container exited with status $?"
