"""cgroup v1 (legacy and hybrid hosts): one directory per mounted hierarchy.

Field semantics follow runc: a zero value means "not set" for the integer limits
(``shares``, ``quota``, ``period``, memory sizes, ``pids.limit``, blkio weights), and
-1 means unlimited (written as ``-1``, which the v1 kernel accepts).
"""

from __future__ import annotations

import os

from . import _fs
from ._base import Manager
from ..errors import InvalidArgument, Unavailable, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..oci.resources import BlockIO, Cpu, Memory, Resources

F = "linux.resources"

FREEZE_TIMEOUT = 5.0  # seconds to wait for freezer.state to reach FROZEN


def needed_controllers(r: Resources) -> dict[str, str]:
    """Controller -> the first spec field that needs it, for the fields that are set."""
    need: dict[str, str] = {}
    m = r.memory
    if m is not None and (m.limit or m.reservation or m.swap or m.kernel or m.kernel_tcp
                          or m.swappiness is not None or m.disable_oom_killer):
        need["memory"] = f"{F}.memory"
    c = r.cpu
    if c is not None:
        if (c.shares or c.quota or c.period or c.burst or c.realtime_runtime
                or c.realtime_period or c.idle is not None):
            need["cpu"] = f"{F}.cpu"
        if c.cpus or c.mems:
            need["cpuset"] = f"{F}.cpu.cpus" if c.cpus else f"{F}.cpu.mems"
    if r.pids_limit:
        need["pids"] = f"{F}.pids.limit"
    b = r.block_io
    if b is not None and (b.weight or b.leaf_weight or b.weight_device or b.throttle_read_bps_device
                          or b.throttle_write_bps_device or b.throttle_read_iops_device
                          or b.throttle_write_iops_device):
        need["blkio"] = f"{F}.blockIO"
    if r.hugepage_limits:
        need["hugetlb"] = f"{F}.hugepageLimits"
    if r.devices:
        need["devices"] = f"{F}.devices"
    if r.network_class_id is not None:
        need["net_cls"] = f"{F}.network.classID"
    if r.network_priorities:
        need["net_prio"] = f"{F}.network.priorities"
    if r.rdma:
        need["rdma"] = f"{F}.rdma"
    return need


def _num(v: int) -> str:
    return "-1" if v < 0 else str(v)


def _dev(major: int | None, minor: int | None) -> str:
    ma = "*" if major is None or major < 0 else str(major)
    mi = "*" if minor is None or minor < 0 else str(minor)
    return f"{ma}:{mi}"


class V1Manager(Manager):
    """cgroup v1: ``paths`` maps each controller (``cpu``, ``memory``, ``name=systemd``,
    and ``""`` for a hybrid host's empty unified hierarchy) to its directory."""

    version = "v1"
    device_rules_supported = True

    def _dir(self, controller: str, field: str) -> str:
        d = self._paths.get(controller)
        if d is None:
            raise Unsupported(f"{field}: needs the {controller} cgroup controller, "
                              "which is not mounted on this host")
        return d

    def _procs_dir(self) -> str:
        for c in ("pids", "freezer", "memory", "cpu", "devices", "name=systemd"):
            if c in self._paths:
                return self._paths[c]
        return self._dirs()[0]

    # -- create / apply --------------------------------------------------------------

    def create(self, resources: Resources | None = None) -> None:
        """Make the directory in every hierarchy; fill a new cpuset's empty
        ``cpuset.cpus``/``cpuset.mems`` from its parent (otherwise no task may join)."""
        if resources is not None:
            self._check(resources)
        for d in self._dirs():
            _fs.mkdir_p(d)
        if "cpuset" in self._paths:
            _fill_cpuset(self._paths["cpuset"])

    def _check(self, r: Resources) -> dict[str, str]:
        need = needed_controllers(r)
        for ctrl, field in need.items():
            self._dir(ctrl, field)
        if r.unified:
            raise Unsupported(f"{F}.unified: needs cgroup v2; this host uses cgroup v1")
        return need

    def apply(self, resources: Resources) -> None:
        """Write every set field of ``resources``; missing controllers are reported
        before anything is written."""
        r = resources
        need = self._check(r)
        if r.memory is not None and "memory" in need:
            self._memory(r.memory)
        if r.cpu is not None:
            self._cpu(r.cpu)
        if r.pids_limit:
            _fs.write(os.path.join(self._paths["pids"], "pids.max"),
                      "max" if r.pids_limit < 0 else r.pids_limit, f"{F}.pids.limit")
        if r.block_io is not None:
            self._blkio(r.block_io)
        for i, h in enumerate(r.hugepage_limits or ()):
            _fs.write(os.path.join(self._paths["hugetlb"], f"hugetlb.{h.page_size}.limit_in_bytes"),
                      h.limit, f"{F}.hugepageLimits[{i}]")
        if r.devices:
            d = self._paths["devices"]
            _fs.write(os.path.join(d, "devices.deny"), "a", f"{F}.devices")
            for i, rule in enumerate(r.devices):
                line = f"{rule.type} {_dev(rule.major, rule.minor)} {rule.access}"
                name = "devices.allow" if rule.allow else "devices.deny"
                _fs.write(os.path.join(d, name), line, f"{F}.devices[{i}]")
        if r.network_class_id is not None:
            _fs.write(os.path.join(self._paths["net_cls"], "net_cls.classid"),
                      r.network_class_id, f"{F}.network.classID")
        for i, (ifname, prio) in enumerate(r.network_priorities or ()):
            _fs.write(os.path.join(self._paths["net_prio"], "net_prio.ifpriomap"),
                      f"{ifname} {prio}", f"{F}.network.priorities[{i}]")
        if r.rdma:
            for line in _fs.rdma_lines(r.rdma, f"{F}.rdma"):
                _fs.write(os.path.join(self._paths["rdma"], "rdma.max"), line, f"{F}.rdma")

    def _memory(self, m: Memory) -> None:
        f = f"{F}.memory"
        d = self._paths["memory"]
        lim_file = os.path.join(d, "memory.limit_in_bytes")
        sw_file = os.path.join(d, "memory.memsw.limit_in_bytes")
        limit = m.limit or 0
        swap = m.swap or 0
        if limit == -1 and swap == 0 and _fs.exists(sw_file):
            swap = -1  # unlimited memory means unlimited memory+swap too (runc)
        if m.check_before_update and limit > 0:
            used = _fs.to_int(_fs.read(os.path.join(d, "memory.usage_in_bytes"), f"{f}.limit"))
            if used > limit:
                raise InvalidArgument(f"{f}.limit: {limit} is below the current usage {used} "
                                      f"of {d} (checkBeforeUpdate)")
        if limit and swap:
            # The kernel keeps limit <= memsw at every step: raise memsw first when it
            # grows past the current limit, otherwise lower the limit first.
            cur = _fs.to_int(_fs.read(lim_file, f"{f}.limit"))
            if swap < 0 or swap >= cur:
                _fs.write(sw_file, _num(swap), f"{f}.swap")
                _fs.write(lim_file, _num(limit), f"{f}.limit")
            else:
                _fs.write(lim_file, _num(limit), f"{f}.limit")
                _fs.write(sw_file, _num(swap), f"{f}.swap")
        elif limit:
            _fs.write(lim_file, _num(limit), f"{f}.limit")
        elif swap:
            _fs.write(sw_file, _num(swap), f"{f}.swap")
        if m.reservation:
            _fs.write(os.path.join(d, "memory.soft_limit_in_bytes"), _num(m.reservation),
                      f"{f}.reservation")
        if m.kernel:
            _fs.write(os.path.join(d, "memory.kmem.limit_in_bytes"), _num(m.kernel), f"{f}.kernel")
        if m.kernel_tcp:
            _fs.write(os.path.join(d, "memory.kmem.tcp.limit_in_bytes"), _num(m.kernel_tcp),
                      f"{f}.kernelTCP")
        if m.swappiness is not None:
            _fs.write(os.path.join(d, "memory.swappiness"), m.swappiness, f"{f}.swappiness")
        if m.disable_oom_killer:
            _fs.write(os.path.join(d, "memory.oom_control"), 1, f"{f}.disableOOMKiller")

    def _cpu(self, c: Cpu) -> None:
        f = f"{F}.cpu"
        if c.cpus:
            _fs.write(os.path.join(self._paths["cpuset"], "cpuset.cpus"), c.cpus, f"{f}.cpus")
        if c.mems:
            _fs.write(os.path.join(self._paths["cpuset"], "cpuset.mems"), c.mems, f"{f}.mems")
        d = self._paths.get("cpu")
        if d is None:
            return
        if c.realtime_period:
            _fs.write(os.path.join(d, "cpu.rt_period_us"), c.realtime_period, f"{f}.realtimePeriod")
        if c.realtime_runtime:
            _fs.write(os.path.join(d, "cpu.rt_runtime_us"), c.realtime_runtime,
                      f"{f}.realtimeRuntime")
        if c.shares:
            path = os.path.join(d, "cpu.shares")
            _fs.write(path, c.shares, f"{f}.shares")
            got = _fs.to_int(_fs.read(path, f"{f}.shares"))
            if got != c.shares:  # the kernel clamps to [2, 262144] instead of failing
                raise InvalidArgument(f"{f}.shares: {c.shares} is out of range: "
                                      f"{path} accepted it as {got} (allowed: 2 to 262144)")
        period_file = os.path.join(d, "cpu.cfs_period_us")
        retry_period = False
        if c.period:
            try:
                _fs.write(period_file, c.period, f"{f}.period")
            except InvalidArgument:
                # A shorter period can be refused while the old quota/new period ratio
                # exceeds the parent's; retry once the new quota is in place.
                if not c.quota:
                    raise
                retry_period = True
        if c.quota:
            _fs.write(os.path.join(d, "cpu.cfs_quota_us"), _num(c.quota), f"{f}.quota")
            if retry_period:
                _fs.write(period_file, c.period, f"{f}.period")
        if c.burst is not None:
            _fs.write(os.path.join(d, "cpu.cfs_burst_us"), c.burst, f"{f}.burst")
        if c.idle is not None:
            _fs.write(os.path.join(d, "cpu.idle"), c.idle, f"{f}.idle")

    def _blkio(self, b: BlockIO) -> None:
        f = f"{F}.blockIO"
        d = self._paths["blkio"]
        # CFQ's blkio.weight is gone from current kernels; BFQ has blkio.bfq.weight.
        bfq = not _fs.exists(os.path.join(d, "blkio.weight")) and _fs.exists(
            os.path.join(d, "blkio.bfq.weight"))
        pre = "blkio.bfq." if bfq else "blkio."
        if b.weight:
            _fs.write(os.path.join(d, pre + "weight"), b.weight, f"{f}.weight")
        if b.leaf_weight:
            _fs.write(os.path.join(d, "blkio.leaf_weight"), b.leaf_weight, f"{f}.leafWeight")
        for i, wd in enumerate(b.weight_device or ()):
            dev = _dev(wd.major, wd.minor)
            if wd.weight:
                _fs.write(os.path.join(d, pre + "weight_device"), f"{dev} {wd.weight}",
                          f"{f}.weightDevice[{i}].weight")
            if wd.leaf_weight:
                _fs.write(os.path.join(d, "blkio.leaf_weight_device"), f"{dev} {wd.leaf_weight}",
                          f"{f}.weightDevice[{i}].leafWeight")
        for key, name, devs in (
            ("throttleReadBpsDevice", "read_bps_device", b.throttle_read_bps_device),
            ("throttleWriteBpsDevice", "write_bps_device", b.throttle_write_bps_device),
            ("throttleReadIOPSDevice", "read_iops_device", b.throttle_read_iops_device),
            ("throttleWriteIOPSDevice", "write_iops_device", b.throttle_write_iops_device),
        ):
            for i, td in enumerate(devs or ()):
                _fs.write(os.path.join(d, "blkio.throttle." + name),
                          f"{_dev(td.major, td.minor)} {td.rate}", f"{f}.{key}[{i}]")

    # -- freezer ---------------------------------------------------------------------

    def _freezer(self) -> str:
        return os.path.join(self._dir("freezer", "freezer"), "freezer.state")

    def freeze(self) -> None:
        """Freeze every process and wait until the kernel reports FROZEN."""
        path = self._freezer()
        _fs.write(path, "FROZEN")
        import time

        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.0002
        tries = 0
        while True:
            st = _fs.read(path)
            if st == "FROZEN":
                return
            if time.monotonic() > deadline:
                break
            tries += 1
            if tries % 20 == 0:  # a task stuck mid-fork can stall FREEZING: kick it
                _fs.write(path, "THAWED")
                _fs.write(path, "FROZEN")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)
        _fs.write(path, "THAWED")
        raise Unavailable(f"cannot freeze {path}: still {st} after {FREEZE_TIMEOUT:g}s; thawed again")

    def thaw(self) -> None:
        _fs.write(self._freezer(), "THAWED")

    def state(self) -> str:
        """``frozen`` when this cgroup itself was frozen, else ``thawed``."""
        path = self._freezer()
        st = _fs.read(path)
        self_freezing = _fs.read_or(os.path.join(os.path.dirname(path), "freezer.self_freezing"))
        if self_freezing:
            return "frozen" if self_freezing == "1" else "thawed"
        return "thawed" if st == "THAWED" else "frozen"

    # -- reading ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        from . import stats  # only `events --stats` reads these

        return stats.v1(self._paths)

    def oom_kill_count(self) -> int:
        d = self._paths.get("memory")
        if d is None:
            return 0
        return _fs.keyed(_fs.read_or(os.path.join(d, "memory.oom_control"))).get("oom_kill", 0)

    def mounts_for_container(self) -> list[tuple[str, str]]:
        """``(name, host dir)`` per hierarchy, for a container without a cgroup namespace:
        the runtime mounts ``host dir`` at ``/sys/fs/cgroup/<name>`` (name as the host
        names it: ``memory``, ``cpu,cpuacct``, ``systemd``) and links each controller of
        a combined name (``cpu`` -> ``cpu,cpuacct``). The hybrid unified dir is left out."""
        by_dir: dict[str, list[str]] = {}
        for ctrl, d in self._paths.items():
            if ctrl:
                by_dir.setdefault(d, []).append(ctrl[5:] if ctrl.startswith("name=") else ctrl)
        return [(",".join(names), d) for d, names in by_dir.items()]


def _fill_cpuset(leaf: str) -> None:
    """Copy cpus/mems down from the nearest ancestor that has them to ``leaf``."""
    chain = []
    cur = leaf
    while True:
        cpus = _fs.read_or(os.path.join(cur, "cpuset.cpus"), "")
        mems = _fs.read_or(os.path.join(cur, "cpuset.mems"), "")
        if cpus and mems:
            break
        if not _fs.exists(os.path.join(cur, "cpuset.cpus")):
            return  # not a cpuset cgroup (fake tree, or we walked off the hierarchy)
        chain.append((cur, cpus, mems))
        parent = os.path.dirname(cur)
        if parent == cur:
            return
        cur = parent
    for d, own_cpus, own_mems in reversed(chain):
        if not own_cpus:
            _fs.write(os.path.join(d, "cpuset.cpus"), cpus, f"{F}.cpu.cpus")
        else:
            cpus = own_cpus
        if not own_mems:
            _fs.write(os.path.join(d, "cpuset.mems"), mems, f"{F}.cpu.mems")
        else:
            mems = own_mems
