"""``system info``, ``system df``, ``system prune`` and ``version``: what the host and
the engine hold (podman's field names), the space it takes, and removing what nothing
uses (stopped containers, unused networks, dangling or unused images, unused volumes),
ending with the image store's own garbage collection."""

from __future__ import annotations

import os
import platform
import sys
import time
from dataclasses import dataclass, field
from typing import Any

from .paths import Paths
from .state import LIVE, PAUSED, RUNNING, StateDB

__all__ = ["version_doc", "info_doc", "disk_usage", "prune", "PruneReport"]

API_VERSION = "4.3.1"  # the podman API level onggi's commands follow


def _arch() -> str:
    m = platform.machine()
    return {"x86_64": "amd64", "aarch64": "arm64", "armv7l": "arm", "i686": "386"}.get(m, m)


def version_doc() -> dict[str, Any]:
    """podman's ``version --format json`` with Python in Go's place."""
    from .. import __version__

    built = os.path.getmtime(os.path.dirname(os.path.dirname(__file__)))  # the package's directory
    return {"Client": {"APIVersion": API_VERSION, "Version": __version__,
                       "PythonVersion": platform.python_version(), "GitCommit": "",
                       "BuiltTime": time.strftime("%a %b %d %H:%M:%S %Y", time.gmtime(built)),
                       "Built": int(built), "OsArch": f"linux/{_arch()}", "Os": "linux"}}


def _meminfo() -> dict[str, int]:
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v.split()[0]) * 1024
    return out


def _os_release() -> dict[str, str]:
    out = {}
    try:
        with open("/etc/os-release") as f:
            for line in f:
                k, eq, v = line.strip().partition("=")
                if eq:
                    out[k] = v.strip('"')
    except OSError:
        pass
    return out


def _uptime() -> str:
    """podman's text: ``1h 2m 3.45s (Approximately 0.04 days)``."""
    with open("/proc/uptime") as f:
        secs = float(f.read().split()[0])
    h, rest = divmod(secs, 3600)
    m, s = divmod(rest, 60)
    return f"{int(h)}h {int(m)}m {s:.2f}s (Approximately {secs / 86400:.2f} days)"


def _runtimes() -> dict[str, Any]:
    import shutil

    out: dict[str, Any] = {"onggi-runtime": {"path": "(in-process)", "package": "onggi"}}
    for name in ("runc", "crun"):
        p = shutil.which(name)
        if p:
            out[name] = {"path": p}
    return out


def info_doc(paths: Paths, db: StateDB) -> dict[str, Any]:
    """podman's ``info`` document (host, store, version), for the fields onggi has."""
    from ..cgroups import detect
    from .prepare import store

    mem = _meminfo()
    rel = _os_release()
    recs = db.all()
    uname = os.uname()
    try:
        images = len(store(paths).images())
    except OSError:
        images = 0
    return {
        "host": {
            "arch": _arch(), "buildahVersion": "", "cgroupManager": "cgroupfs",
            "cgroupVersion": "v2" if detect() == "v2" else "v1",
            "cpus": os.cpu_count() or 1, "distribution": {"distribution": rel.get("ID", ""),
                                                          "version": rel.get("VERSION_ID", "")},
            "hostname": uname.nodename, "kernel": uname.release, "os": "linux",
            "memFree": mem.get("MemAvailable", mem.get("MemFree", 0)), "memTotal": mem.get("MemTotal", 0),
            "swapFree": mem.get("SwapFree", 0), "swapTotal": mem.get("SwapTotal", 0),
            "networkBackend": "netavark", "ociRuntime": {"name": "onggi-runtime", "package": "onggi"},
            "runtimes": _runtimes(), "uptime": _uptime(),
        },
        "store": {
            "graphRoot": paths.storage, "runRoot": paths.run, "engineRoot": paths.root,
            "volumePath": paths.volumes,
            "containerStore": {"number": len(recs),
                               "paused": sum(r.state == PAUSED for r in recs),
                               "running": sum(r.state == RUNNING for r in recs),
                               "stopped": sum(r.state not in LIVE for r in recs)},
            "imageStore": {"number": images},
        },
        "version": {**version_doc()["Client"], "Python": sys.version.split()[0]},
    }


def tree_size(path: str) -> int:
    """Bytes in the regular files under ``path`` (each inode once; not following links)."""
    total, seen = 0, set()
    for root, dirs, files in os.walk(path):
        for name in files:
            try:
                st = os.lstat(os.path.join(root, name))
            except OSError:
                continue
            if (st.st_dev, st.st_ino) not in seen:
                seen.add((st.st_dev, st.st_ino))
                total += st.st_blocks * 512 if st.st_size > st.st_blocks * 512 else st.st_size
    return total


def container_size(paths: Paths, cid: str) -> int:
    """What the container wrote: its writable layer (the overlay upper directory)."""
    from .prepare import store

    try:
        for m in store(paths).snapshots.mounts(cid):
            for o in m.options:
                if o.startswith("upperdir="):
                    return tree_size(os.path.join(m.cwd or "/", o[len("upperdir="):]))
    except Exception:  # noqa: BLE001 - no snapshot (removed underneath): nothing written
        return 0
    return 0


def _percent(part: int, whole: int) -> str:
    return f"{part * 100 // whole if whole else 0}%"


def disk_usage(paths: Paths, db: StateDB) -> dict[str, list[dict[str, Any]]]:
    """podman's ``system df -v`` rows: Images, Containers, Volumes."""
    from ..image.commands import image_size
    from . import volumes as V
    from .prepare import store
    from .query import command_text

    st = store(paths)
    recs = db.all()
    used_by: dict[str, int] = {}
    for r in recs:
        used_by[r.image_id] = used_by.get(r.image_id, 0) + 1
    from ..image.store_refs import manifest_parts

    images, layers_of, count = [], {}, {}  # layer digest -> how many images have it
    for im in st.images():
        _, layers = manifest_parts(st.blobs, im.manifest)
        layers_of[im.id] = {str(x.digest): x.size or 0 for x in layers}
        for d in layers_of[im.id]:
            count[d] = count.get(d, 0) + 1
    for im in st.images():
        iid = im.id.partition(":")[2]
        shared = sum(size for d, size in layers_of[im.id].items() if count[d] > 1)
        size = image_size(st, im)
        images.append({"Repository": im.names[0].rsplit(":", 1)[0] if im.names else "<none>",
                       "Tag": im.names[0].rsplit(":", 1)[1] if im.names else "<none>",
                       "ImageID": iid, "Created": im.created, "Size": size, "SharedSize": shared,
                       "UniqueSize": size - shared,
                       "Containers": used_by.get(iid, 0) + used_by.get(str(im.id), 0)})
    containers = [{"ContainerID": r.id, "Image": r.image, "Command": command_text(r), "Names": r.name,
                   "Size": container_size(paths, r.id), "Created": r.created, "Status": r.state,
                   "LocalVolumes": len((r.config or {}).get("volumes", []) or [])} for r in recs]
    vols = []
    for v in V.list_volumes(paths):
        users = V.live_users(paths, v)
        vols.append({"VolumeName": v.name, "Links": len(users),
                     "Size": tree_size(os.path.join(paths.volumes, v.name))})
    return {"Images": images, "Containers": containers, "Volumes": vols}


def summary(du: dict[str, list[dict[str, Any]]]) -> list[dict[str, Any]]:
    """podman's ``system df`` rows: TYPE TOTAL ACTIVE SIZE RECLAIMABLE."""
    im, ct, vo = du["Images"], du["Containers"], du["Volumes"]

    def row(kind: str, items: list[dict], active: list[bool]) -> dict[str, Any]:
        size = sum(i["Size"] for i in items)
        free = sum(i["Size"] for i, a in zip(items, active) if not a)
        return {"Type": kind, "Total": len(items), "Active": sum(active), "Size": size,
                "Reclaimable": free, "RecPercent": _percent(free, size)}

    return [row("Images", im, [i["Containers"] > 0 for i in im]),
            row("Containers", ct, [c["Status"] in LIVE for c in ct]),
            row("Local Volumes", vo, [v["Links"] > 0 for v in vo])]


@dataclass
class PruneReport:
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    images: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)
    reclaimed: int = 0
    store: Any = None       # the image store's GC result
    errors: list[str] = field(default_factory=list)


def prune(paths: Paths, db: StateDB, all_images: bool = False, volumes: bool = False,
          dry_run: bool = False) -> PruneReport:
    """Remove stopped containers, unused networks, dangling images (every unused one with
    ``all_images``), unused volumes with ``volumes``; then GC the image store."""
    from ..errors import OnggiError
    from . import containers as C
    from . import volumes as V
    from .network import crud
    from .prepare import store

    rep = PruneReport()
    before = disk_usage(paths, db)
    sizes = {c["ContainerID"]: c["Size"] for c in before["Containers"]}
    if not dry_run:
        rep.containers = C.prune(paths, db)
    else:
        rep.containers = [r.id for r in db.all() if r.state in ("exited", "created")]
    rep.reclaimed += sum(sizes.get(c, 0) for c in rep.containers)
    if not dry_run:
        rep.networks = crud.prune(paths)
    else:
        rep.networks = [n.name for n in crud.list_networks(paths)
                        if n.name != crud.DEFAULT_NAME and not crud.users(paths, n.name)]
    st = store(paths)
    used = {r.image_id for r in db.all()} | {r.image_id.partition(":")[2] for r in db.all()}
    used |= {str(c.image) for c in st.snapshots.containers() if c.image}  # the store's own users
    for im in st.images():
        iid = im.id.partition(":")[2]
        if iid in used or str(im.id) in used or (im.names and not all_images):
            continue
        try:
            if not dry_run:
                st.remove(str(im.id), force=True)
            rep.images.append(iid)
        except OnggiError as e:
            rep.errors.append(f"image {iid[:12]}: {e}")
    if volumes:
        vsizes = {v["VolumeName"]: v["Size"] for v in before["Volumes"]}
        rep.volumes = V.prune(paths) if not dry_run else \
            [v["VolumeName"] for v in before["Volumes"] if not v["Links"]]
        rep.reclaimed += sum(vsizes.get(v, 0) for v in rep.volumes)
    rep.store = st.gc(dry_run=dry_run)
    rep.reclaimed += rep.store.freed_bytes
    return rep
