"""Cgroup statistics in the shape of ``runc events --stats`` (its ``data`` object).

Keys follow runc's ``types.Stats`` JSON names: ``cpu.usage.{total,percpu,percpu_kernel,
percpu_user,kernel,user}`` and ``cpu.throttling.{periods,throttledPeriods,
throttledTime}`` (nanoseconds), ``memory.{cache,usage,swap,kernel,kernelTCP,raw}`` with
entries ``{limit,usage,max,failcnt}``, ``pids.{current,limit}``, ``blkio.<list>`` of
``{major,minor,op,value}``, ``hugetlb.<pagesize>.{usage,max,failcnt}`` and
``cpuset.{cpus,mems}``. Every key is always present (zero when the controller or file
is missing), which decodes the same as runc's ``omitempty`` output.

As in runc: v1 ``pids.limit`` is 0 when unlimited; v2 ``max`` limits read as 2^64-1;
v2 swap figures are reported as memory+swap, like v1's memsw.
"""

from __future__ import annotations

import os

from . import _fs

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

U64_MAX = (1 << 64) - 1

_V1_BLKIO = (
    ("ioServiceBytesRecursive", "io_service_bytes_recursive"),
    ("ioServicedRecursive", "io_serviced_recursive"),
    ("ioQueueRecursive", "io_queued_recursive"),
    ("ioServiceTimeRecursive", "io_service_time_recursive"),
    ("ioWaitTimeRecursive", "io_wait_time_recursive"),
    ("ioMergedRecursive", "io_merged_recursive"),
    ("ioTimeRecursive", "time_recursive"),
    ("sectorsRecursive", "sectors_recursive"),
)


def _entry(limit: int = 0, usage: int = 0, max_: int = 0, failcnt: int = 0) -> dict[str, Any]:
    return {"limit": limit, "usage": usage, "max": max_, "failcnt": failcnt}


def _empty() -> dict[str, Any]:
    return {
        "cpu": {
            "usage": {"total": 0, "percpu": [], "percpu_kernel": [], "percpu_user": [],
                      "kernel": 0, "user": 0},
            "throttling": {"periods": 0, "throttledPeriods": 0, "throttledTime": 0},
        },
        "cpuset": {"cpus": [], "mems": []},
        "memory": {"cache": 0, "usage": _entry(), "swap": _entry(), "kernel": _entry(),
                   "kernelTCP": _entry(), "raw": {}},
        "pids": {"current": 0, "limit": 0},
        "blkio": {key: [] for key, _ in _V1_BLKIO},
        "hugetlb": {},
    }


def _ints(text: str) -> list[int]:
    return [_fs.to_int(x) for x in text.split()]


def _file_int(d: str, name: str, maximum: int = 0) -> int:
    return _fs.to_int(_fs.read_or(os.path.join(d, name)), maximum)


def _listdir(d: str) -> list[str]:
    try:
        return os.listdir(d)
    except OSError:
        return []


# -- v1 ---------------------------------------------------------------------------------

def v1(paths: dict[str, str]) -> dict[str, Any]:
    """Statistics of a v1 cgroup from its controller -> directory map."""
    out = _empty()
    d = paths.get("cpuacct")
    if d:
        u = out["cpu"]["usage"]
        u["total"] = _file_int(d, "cpuacct.usage")
        u["percpu"] = _ints(_fs.read_or(os.path.join(d, "cpuacct.usage_percpu")))
        u["percpu_kernel"] = _ints(_fs.read_or(os.path.join(d, "cpuacct.usage_percpu_sys")))
        u["percpu_user"] = _ints(_fs.read_or(os.path.join(d, "cpuacct.usage_percpu_user")))
        ticks = _fs.keyed(_fs.read_or(os.path.join(d, "cpuacct.stat")))
        hz = os.sysconf("SC_CLK_TCK") or 100
        u["user"] = ticks.get("user", 0) * 1_000_000_000 // hz
        u["kernel"] = ticks.get("system", 0) * 1_000_000_000 // hz
    d = paths.get("cpu")
    if d:
        st = _fs.keyed(_fs.read_or(os.path.join(d, "cpu.stat")))
        out["cpu"]["throttling"] = {"periods": st.get("nr_periods", 0),
                                    "throttledPeriods": st.get("nr_throttled", 0),
                                    "throttledTime": st.get("throttled_time", 0)}
    d = paths.get("cpuset")
    if d:
        out["cpuset"] = {"cpus": _fs.range_list(_fs.read_or(os.path.join(d, "cpuset.cpus"))),
                         "mems": _fs.range_list(_fs.read_or(os.path.join(d, "cpuset.mems")))}
    d = paths.get("memory")
    if d:
        mem = out["memory"]
        for key, pre in (("usage", "memory"), ("swap", "memory.memsw"),
                         ("kernel", "memory.kmem"), ("kernelTCP", "memory.kmem.tcp")):
            mem[key] = _entry(_file_int(d, pre + ".limit_in_bytes"),
                              _file_int(d, pre + ".usage_in_bytes"),
                              _file_int(d, pre + ".max_usage_in_bytes"),
                              _file_int(d, pre + ".failcnt"))
        raw = _fs.keyed(_fs.read_or(os.path.join(d, "memory.stat")))
        mem["raw"] = raw
        mem["cache"] = raw.get("cache", 0)
    d = paths.get("pids")
    if d:
        out["pids"] = {"current": _file_int(d, "pids.current"), "limit": _file_int(d, "pids.max")}
    d = paths.get("blkio")
    if d:
        blk = out["blkio"]
        for key, name in _V1_BLKIO:
            # CFQ files first, then BFQ's, then the throttle layer's (always present).
            for pre in ("blkio.", "blkio.bfq.", "blkio.throttle."):
                entries = _blkio_v1(_fs.read_or(os.path.join(d, pre + name)))
                if entries:
                    blk[key] = entries
                    break
    d = paths.get("hugetlb")
    if d:
        for name in sorted(_listdir(d)):
            if name.startswith("hugetlb.") and name.endswith(".limit_in_bytes"):
                size = name[len("hugetlb."):-len(".limit_in_bytes")]
                pre = f"hugetlb.{size}."
                out["hugetlb"][size] = {"usage": _file_int(d, pre + "usage_in_bytes"),
                                        "max": _file_int(d, pre + "max_usage_in_bytes"),
                                        "failcnt": _file_int(d, pre + "failcnt")}
    return out


def _blkio_v1(text: str) -> list[dict[str, Any]]:
    """``8:0 Read 4096`` (or ``8:0 4096``) lines; the ``Total`` line is skipped."""
    out = []
    for line in text.splitlines():
        f = line.split()
        if len(f) < 2 or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        op, value = (f[1], f[2]) if len(f) >= 3 else ("", f[1])
        out.append({"major": _fs.to_int(ma), "minor": _fs.to_int(mi), "op": op,
                    "value": _fs.to_int(value)})
    return out


# -- v2 ---------------------------------------------------------------------------------

def v2(d: str) -> dict[str, Any]:
    """Statistics of a v2 cgroup directory."""
    out = _empty()
    st = _fs.keyed(_fs.read_or(os.path.join(d, "cpu.stat")))
    u = out["cpu"]["usage"]
    u["total"] = st.get("usage_usec", 0) * 1000
    u["user"] = st.get("user_usec", 0) * 1000
    u["kernel"] = st.get("system_usec", 0) * 1000
    out["cpu"]["throttling"] = {"periods": st.get("nr_periods", 0),
                                "throttledPeriods": st.get("nr_throttled", 0),
                                "throttledTime": st.get("throttled_usec", 0) * 1000}
    out["cpuset"] = {
        "cpus": _fs.range_list(_fs.read_or(os.path.join(d, "cpuset.cpus.effective"))),
        "mems": _fs.range_list(_fs.read_or(os.path.join(d, "cpuset.mems.effective"))),
    }
    mem = out["memory"]
    events = _fs.keyed(_fs.read_or(os.path.join(d, "memory.events")))
    usage = _entry(_file_int(d, "memory.max", U64_MAX), _file_int(d, "memory.current"),
                   _file_int(d, "memory.peak"), events.get("max", 0))
    mem["usage"] = usage
    swap = _entry(_file_int(d, "memory.swap.max", U64_MAX), _file_int(d, "memory.swap.current"),
                  _file_int(d, "memory.swap.peak"),
                  _fs.keyed(_fs.read_or(os.path.join(d, "memory.swap.events"))).get("max", 0))
    swap["usage"] += usage["usage"]
    if swap["limit"] != U64_MAX and usage["limit"] != U64_MAX:
        swap["limit"] += usage["limit"]
    else:
        swap["limit"] = U64_MAX
    mem["swap"] = swap
    raw = _fs.keyed(_fs.read_or(os.path.join(d, "memory.stat")))
    mem["raw"] = raw
    mem["cache"] = raw.get("file", 0)
    out["pids"] = {"current": _file_int(d, "pids.current"), "limit": _file_int(d, "pids.max")}
    blk = out["blkio"]
    for line in _fs.read_or(os.path.join(d, "io.stat")).splitlines():
        f = line.split()
        if not f or ":" not in f[0]:
            continue
        ma, _, mi = f[0].partition(":")
        kv = dict(x.partition("=")[::2] for x in f[1:])
        for key, op, name in (("ioServiceBytesRecursive", "Read", "rbytes"),
                              ("ioServiceBytesRecursive", "Write", "wbytes"),
                              ("ioServiceBytesRecursive", "Discard", "dbytes"),
                              ("ioServicedRecursive", "Read", "rios"),
                              ("ioServicedRecursive", "Write", "wios"),
                              ("ioServicedRecursive", "Discard", "dios")):
            if name in kv:
                blk[key].append({"major": _fs.to_int(ma), "minor": _fs.to_int(mi), "op": op,
                                 "value": _fs.to_int(kv[name])})
    for name in sorted(_listdir(d)):
        if name.startswith("hugetlb.") and name.endswith(".current"):
            size = name[len("hugetlb."):-len(".current")]
            if "." in size:  # hugetlb.2MB.rsvd.current
                continue
            ev = _fs.keyed(_fs.read_or(os.path.join(d, f"hugetlb.{size}.events")))
            out["hugetlb"][size] = {"usage": _file_int(d, name), "max": 0,
                                    "failcnt": ev.get("max", 0)}
    return out
