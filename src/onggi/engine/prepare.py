"""Everything a container needs before the runtime creates it: the rootfs mounted on its
container layer, its network (netns and netavark, when the network package exists), its
/etc/hosts, /etc/resolv.conf and /etc/hostname, and the bundle's config.json (generated on
the first start, reused by later ones)."""

from __future__ import annotations

import json
import os
import shutil
from typing import Any

from ..errors import PermissionDenied
from .options import RunOptions, SpecContext
from .paths import Paths
from .state import Record

__all__ = ["prepare", "image_config", "store", "rootfs_of"]


def store(paths: Paths):  # noqa: ANN201
    from ..image.store_transport import open_store

    return open_store(paths.storage)


def image_config(paths: Paths, image_id: str) -> dict[str, Any]:
    from ..image.store_refs import manifest_parts

    s = store(paths)
    im = s.get(image_id)
    config, _ = manifest_parts(s.blobs, im.manifest)
    return json.loads(s.blobs.read_bytes(config.digest))


def rootfs_of(paths: Paths, cid: str) -> str:
    return os.path.join(paths.storage, "containers", cid, "merged")


def mount_rootfs(paths: Paths, cid: str) -> str:
    from ..image.snapshots_mount import mount_all

    target = rootfs_of(paths, cid)
    if not os.path.ismount(target):
        mount_all(store(paths).snapshots.mounts(cid), target)
    return target


def prepare(paths: Paths, rec: Record) -> tuple[str, bool, dict[str, Any]]:
    """Make container ``rec`` ready for the runtime. Returns (bundle dir, terminal,
    network setup JSON); on an error what was done here is undone."""
    opts = RunOptions.from_json(rec.options)
    bundle = paths.container_dir(rec.id)
    os.makedirs(paths.container_run_dir(rec.id), exist_ok=True)
    rootfs = mount_rootfs(paths, rec.id)
    from . import network as net

    setup = None
    try:
        image = image_config(paths, rec.image_id)
        exposed = list((image.get("config") or {}).get("ExposedPorts") or {}) if opts.publish_all else []
        from .pod_join import joined

        join = joined(paths, rec, opts)  # a pod's member or --network container:NAME
        if join is not None and join.hostname:
            opts.hostname = join.hostname  # the shared UTS namespace's (not stored)
        hostname = opts.hostname or rec.id[:12]
        if join is None or join.hosts is None:  # a network of its own
            setup = net.prepare(paths, rec.id, rec.name, opts, exposed_ports=exposed)
            netns, setup_json = setup.netns, setup.to_json()
            hosts, resolv, hostfile = net.write_etc_files(bundle, hostname, setup, opts)
        else:
            netns, setup_json = None, join.setup
            hosts, resolv, hostfile = join.hosts, join.resolv, _hostname_file(bundle, hostname)
        config_path = os.path.join(bundle, "config.json")
        if not os.path.exists(config_path) or rec.config.get("netns") != netns or join is not None:
            _write_spec(paths, rec, opts, image, SpecContext(
                container_id=rec.id, name=rec.name, rootfs=rootfs, bundle=bundle, netns=netns,
                share_namespaces=join.namespaces if join else {},
                hosts_file=hosts, resolv_conf=resolv, hostname_file=hostfile,
                init_path=shutil.which("catatonit") if opts.init else None), config_path)
        _check_program(rootfs, rec)
        return bundle, bool(opts.tty), setup_json
    except BaseException:
        from .cleanup import release_network, unmount_rootfs

        if setup is not None:
            release_network(paths, rec.id, setup.to_json())
        unmount_rootfs(paths, rec.id)
        raise


def _hostname_file(bundle: str, hostname: str) -> str:
    from ..files import atomic_write

    path = os.path.join(bundle, "hostname")
    atomic_write(path, hostname.encode(), durable=False)
    return path


def _write_spec(paths: Paths, rec: Record, opts: RunOptions, image: dict[str, Any], ctx: SpecContext,
                config_path: str) -> None:
    from .specgen import build_spec
    from .state import StateDB

    spec = build_spec(opts, image, ctx, paths)
    tmp = config_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(spec, f, indent=1)
    os.replace(tmp, config_path)
    cfg = dict(rec.config, args=spec["process"]["args"], netns=ctx.netns,
               env=spec["process"]["env"], user=spec["process"]["user"], cwd=spec["process"]["cwd"],
               hostname=spec["hostname"] or opts.hostname or "", mounts=spec["mounts"])
    if ctx.anonymous_volumes:
        cfg["anonymous_volumes"] = sorted(set(cfg.get("anonymous_volumes", []) + ctx.anonymous_volumes))
    rec.config = cfg
    db = StateDB(paths.db)
    try:
        db.update(rec.id, config=cfg)
    finally:
        db.close()


def _check_program(rootfs: str, rec: Record) -> None:
    """podman's 126: an entrypoint that exists but cannot be executed."""
    args = rec.config.get("args") or []
    if args:
        check_executable(rootfs, args[0])


def check_executable(rootfs: str, program: str) -> None:
    """PermissionDenied when ``program`` (a path in the container) is a directory or has
    no execute bit; a missing one is left to the runtime (127)."""
    if "/" not in program:
        return
    from ..sys.securejoin import open_in_root

    root = os.open(rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root, program, os.O_PATH | os.O_CLOEXEC)
    except Exception:
        return  # missing: the runtime says so (127)
    finally:
        os.close(root)
    try:
        import stat

        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode) or not st.st_mode & 0o111:
            raise PermissionDenied(f"{program}: permission denied: OCI permission denied")
    finally:
        os.close(fd)