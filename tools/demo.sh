#!/bin/bash
# The main job end to end, on an image built here from Debian's busybox-static:
#   1. onggi import: a root filesystem tarball becomes an image in onggi's local store;
#   2. onggi run: the engine makes a container of it (overlay rootfs, a bridge network,
#      a monitor process) and onggi-runtime runs it; its output comes back here;
#   3. onggi-runtime on its own: the same rootfs as a plain OCI bundle, as runc would run it.
set -euo pipefail
WORK=$(mktemp -d /tmp/onggi-demo.XXXXXX)
IMAGE=localhost/onggi-demo/busybox:latest
trap 'onggi rmi -f "$IMAGE" >/dev/null 2>&1 || true; rm -rf "$WORK"' EXIT
mkdir -p "$WORK/rootfs/bin" "$WORK/rootfs/etc" "$WORK/rootfs/tmp"
cp /bin/busybox "$WORK/rootfs/bin/busybox"
for app in sh echo cat hostname id ls ps mount uname ip wc; do ln -s busybox "$WORK/rootfs/bin/$app"; done
printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/:/bin/sh\n' > "$WORK/rootfs/etc/passwd"
printf 'root:x:0:\nnobody:x:65534:\n' > "$WORK/rootfs/etc/group"
tar -C "$WORK/rootfs" -cf "$WORK/rootfs.tar" .

echo "== onggi import + onggi run (the engine)"
onggi import -q "$WORK/rootfs.tar" "$IMAGE" -c 'CMD ["/bin/sh"]' >/dev/null
onggi images
onggi run --rm --name onggi-demo "$IMAGE" sh -c \
    'echo "hello from an onggi container"; echo "hostname: $(hostname)"; id;
     echo "pid 1 is: $(cat /proc/1/comm)"; ip -4 -o addr show eth0 | (read -r _ dev _ addr _; echo "$dev: $addr")'
echo "demo: onggi run exited with status $?"

echo "== onggi-runtime (the OCI runtime, on a bundle)"
cd "$WORK"
onggi-runtime spec
python3 - <<'PY'
import json
c = json.load(open("config.json"))
c["process"]["terminal"] = False
c["process"]["args"] = ["sh", "-c", 'echo "hello from onggi-runtime"; ps']
json.dump(c, open("config.json", "w"), indent=2)
PY
onggi-runtime run "onggi-demo-$$"
echo "demo: onggi-runtime run exited with status $?"
