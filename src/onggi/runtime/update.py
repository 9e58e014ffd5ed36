"""``update``: change a running container's resources (``--resources FILE`` with a
``linux.resources`` object, or runc's individual flags)."""

from __future__ import annotations

from ..errors import FailedPrecondition, InvalidArgument, Unsupported
from ..oci import jsonio
from ..oci.resources import Resources
from . import status as st
from .cgroup import manager_for
from .state import Container

# flag -> (section, key) of linux.resources
_FLAGS = {
    "memory": ("memory", "limit"), "memory_swap": ("memory", "swap"),
    "memory_reservation": ("memory", "reservation"), "kernel_memory": ("memory", "kernel"),
    "kernel_memory_tcp": ("memory", "kernelTCP"), "cpu_shares": ("cpu", "shares"),
    "cpu_quota": ("cpu", "quota"), "cpu_period": ("cpu", "period"),
    "cpu_rt_period": ("cpu", "realtimePeriod"), "cpu_rt_runtime": ("cpu", "realtimeRuntime"),
    "cpuset_cpus": ("cpu", "cpus"), "cpuset_mems": ("cpu", "mems"), "pids_limit": ("pids", "limit"),
    "blkio_weight": ("blockIO", "weight"),
}
_STRINGS = {"cpuset_cpus", "cpuset_mems"}


def _size(flag: str, text: str) -> int:
    t = text.strip().lower()
    if t == "-1":
        return -1
    mult = 1
    for suffix, m in (("k", 1024), ("m", 1024**2), ("g", 1024**3), ("t", 1024**4)):
        if t.endswith(suffix + "b") or t.endswith(suffix):
            t = t[: -len(suffix + "b")] if t.endswith(suffix + "b") else t[:-1]
            mult = m
            break
    if t.endswith("b"):
        t = t[:-1]
    try:
        return int(t) * mult
    except ValueError:
        raise InvalidArgument(f"--{flag.replace('_', '-')}: invalid value {text!r}") from None


def resources_from_flags(o: dict) -> dict:
    res: dict = {}
    for flag, (section, key) in _FLAGS.items():
        v = o.get(flag)
        if v is None:
            continue
        if flag in _STRINGS:
            val: object = v
        elif section == "memory":
            val = _size(flag, v)
        else:
            try:
                val = int(v)
            except ValueError:
                raise InvalidArgument(f"--{flag.replace('_', '-')}: invalid value {v!r}") from None
        res.setdefault(section, {})[key] = val
    return res


def update(root: str, cid: str, resources: dict) -> None:
    r = Resources.parse(resources, "resources")
    c = Container.load(root, cid)
    try:
        if c.status not in (st.CREATED, st.RUNNING, st.PAUSED):
            raise FailedPrecondition(f"cannot update container {cid}: it is {c.status}")
        mgr = manager_for(c)
        mgr.apply(r)
        # keep the saved config in step, so that state and a later exec see the new values
        lin = c.config.setdefault("linux", {})
        cur = lin.setdefault("resources", {})
        for k, v in resources.items():
            if isinstance(v, dict) and isinstance(cur.get(k), dict):
                cur[k].update(v)
            else:
                cur[k] = v
        c.save()
    finally:
        c.unlock()


def update_from_cli(root: str, cid: str, o: dict) -> None:
    if o.get("l3_cache_schema") or o.get("mem_bw_schema"):
        raise Unsupported("update: Intel RDT (--l3-cache-schema, --mem-bw-schema) is not supported")
    if o.get("resources"):
        path = o["resources"]
        if path == "-":
            import sys

            data = sys.stdin.buffer.read()
        else:
            try:
                with open(path, "rb") as f:
                    data = f.read()
            except OSError as e:
                raise InvalidArgument(f"--resources {path}: {e.strerror}") from None
        res = jsonio.loads(data, f"--resources {path}")
        if not isinstance(res, dict):
            raise InvalidArgument(f"--resources {path}: expected a JSON object")
    else:
        res = resources_from_flags(o)
    update(root, cid, res)
