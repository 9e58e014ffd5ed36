"""cgroup v2 (unified hierarchy): one directory; controllers enabled top-down.

Conversions from the v1-shaped spec follow runc: ``cpu.shares`` -> ``cpu.weight``,
``blockIO.weight`` -> ``io.weight``, memory+swap -> ``memory.swap.max``; -1 is written
as ``max``. Things v2 has no file for (kernel memory, swappiness, the OOM-killer switch,
realtime CPU, net_cls/net_prio, blkio leaf weights) are refused with Unsupported rather
than silently dropped; so are device rules, which need an eBPF program onggi does not
load (``device_rules_supported`` is False so the runtime can decide first).
"""

from __future__ import annotations

import os

from . import _fs
from ._base import Manager
from ..errors import InvalidArgument, OnggiError, Unavailable, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..oci.resources import BlockIO, Cpu, Memory, Resources

F = "linux.resources"

FREEZE_TIMEOUT = 5.0  # seconds to wait for cgroup.events to say "frozen 1"


def shares_to_weight(shares: int) -> int:
    """cpu.shares [2, 262144] -> cpu.weight [1, 10000], runc's formula."""
    shares = min(max(shares, 2), 262144)
    return 1 + ((shares - 2) * 9999) // 262142


def blkio_to_io_weight(weight: int) -> int:
    """blkio.weight [10, 1000] -> io.weight [1, 10000], runc's formula."""
    weight = min(max(weight, 10), 1000)
    return 1 + ((weight - 10) * 9999) // 990


def swap_max(limit: int, swap: int) -> int | None:
    """memory+swap (v1 semantics) -> memory.swap.max; None when not set; -1 unlimited."""
    if limit == -1 and swap == 0:
        return -1  # unlimited memory: unlimited swap too
    if swap == 0:
        return None
    if swap < 0:
        return -1
    if limit <= 0:
        raise InvalidArgument(f"{F}.memory.swap: cgroup v2 needs a memory limit to derive "
                              "the swap limit from memory+swap")
    if swap < limit:
        raise InvalidArgument(f"{F}.memory.swap: memory+swap {swap} is below the memory "
                              f"limit {limit}")
    return swap - limit


def _max(v: int) -> str:
    return "max" if v < 0 else str(v)


def needed_controllers(r: Resources) -> dict[str, str]:
    """Controller -> the first spec field needing it; Unsupported for fields v2 lacks."""
    need: dict[str, str] = {}
    m = r.memory
    if m is not None:
        for value, key in ((m.kernel, "kernel"), (m.kernel_tcp, "kernelTCP")):
            if value:
                raise Unsupported(f"{F}.memory.{key}: kernel memory limits do not exist on cgroup v2")
        if m.swappiness is not None:
            raise Unsupported(f"{F}.memory.swappiness: there is no per-cgroup swappiness on cgroup v2")
        if m.disable_oom_killer:
            raise Unsupported(f"{F}.memory.disableOOMKiller: cgroup v2 cannot disable the OOM killer")
        if m.limit or m.reservation or m.swap:
            need["memory"] = f"{F}.memory"
    c = r.cpu
    if c is not None:
        if c.realtime_runtime or c.realtime_period:
            raise Unsupported(f"{F}.cpu.realtimeRuntime: realtime CPU limits need cgroup v1")
        if c.shares or c.quota or c.period or c.burst is not None or c.idle is not None:
            need["cpu"] = f"{F}.cpu"
        if c.cpus or c.mems:
            need["cpuset"] = f"{F}.cpu.cpus" if c.cpus else f"{F}.cpu.mems"
    if r.pids_limit:
        need["pids"] = f"{F}.pids.limit"
    b = r.block_io
    if b is not None:
        if b.leaf_weight or any(wd.leaf_weight for wd in b.weight_device or ()):
            raise Unsupported(f"{F}.blockIO.leafWeight: leaf weights do not exist on cgroup v2")
        if (b.weight or b.weight_device or b.throttle_read_bps_device or b.throttle_write_bps_device
                or b.throttle_read_iops_device or b.throttle_write_iops_device):
            need["io"] = f"{F}.blockIO"
    if r.hugepage_limits:
        need["hugetlb"] = f"{F}.hugepageLimits"
    if r.devices:
        raise Unsupported(f"{F}.devices: device rules on cgroup v2 need an eBPF program, "
                          "which onggi does not load")
    if r.network_class_id is not None or r.network_priorities:
        raise Unsupported(f"{F}.network: net_cls/net_prio do not exist on cgroup v2")
    if r.rdma:
        need["rdma"] = f"{F}.rdma"
    for key in r.unified or {}:
        if "/" in key or key in (".", "..") or "." not in key:
            raise InvalidArgument(f"{F}.unified: {key!r} is not a cgroup v2 file name")
        ctrl = key.partition(".")[0]
        if ctrl != "cgroup":
            need.setdefault(ctrl, f"{F}.unified.{key}")
    return need


class V2Manager(Manager):
    """cgroup v2: ``paths`` is ``{"": dir}`` (runc's shape); ``root`` is the hierarchy's
    mount point, needed by ``create`` to enable controllers from the top down."""

    version = "v2"
    device_rules_supported = False

    def __init__(self, path: str, root: str = "/sys/fs/cgroup") -> None:
        super().__init__({"": path})
        self._dir = path
        self._root = os.path.normpath(root)

    def _file(self, name: str) -> str:
        return os.path.join(self._dir, name)

    # -- create / apply --------------------------------------------------------------

    def create(self, resources: Resources | None = None) -> None:
        """Make the directory (and its parents), enabling every available controller in
        each ancestor's ``cgroup.subtree_control`` on the way down. Controllers that
        cannot be enabled are skipped here; ``resources`` (or a later ``apply``) reports
        the ones it needs as Unsupported."""
        if resources is not None:
            needed_controllers(resources)  # refuse what v2 cannot do before any mkdir
        rel = os.path.relpath(self._dir, self._root)
        if rel.startswith(".."):
            raise InvalidArgument(f"cgroup {self._dir} is outside the hierarchy {self._root}")
        cur = self._root
        for name in rel.split("/"):
            _enable_all(cur)
            cur = os.path.join(cur, name)
            try:
                os.mkdir(cur)
            except FileExistsError:
                pass
            except OSError as e:
                raise _fs.error(e, f"cannot create cgroup {cur}") from None
        if resources is not None:
            self._check(resources)

    def _check(self, r: Resources) -> dict[str, str]:
        need = needed_controllers(r)
        if need:
            enabled = _fs.read_or(self._file("cgroup.controllers")).split()
            for ctrl, field in need.items():
                if ctrl not in enabled:
                    raise Unsupported(
                        f"{field}: needs the {ctrl} controller, which is not enabled for "
                        f"{self._dir} (cgroup.controllers: {' '.join(enabled) or 'none'})")
        return need

    def apply(self, resources: Resources) -> None:
        """Write every set field; everything unsupported is reported before writing."""
        r = resources
        need = self._check(r)
        if "memory" in need and r.memory is not None:
            self._memory(r.memory)
        if r.cpu is not None:
            self._cpu(r.cpu)
        if r.pids_limit:
            _fs.write(self._file("pids.max"), _max(r.pids_limit), f"{F}.pids.limit")
        if "io" in need and r.block_io is not None:
            self._io(r.block_io)
        for i, h in enumerate(r.hugepage_limits or ()):
            _fs.write(self._file(f"hugetlb.{h.page_size}.max"), h.limit, f"{F}.hugepageLimits[{i}]")
        if r.rdma:
            for line in _fs.rdma_lines(r.rdma, f"{F}.rdma"):
                _fs.write(self._file("rdma.max"), line, f"{F}.rdma")
        for key, value in (r.unified or {}).items():
            _fs.write(self._file(key), value, f"{F}.unified.{key}")

    def _memory(self, m: Memory) -> None:
        f = f"{F}.memory"
        limit = m.limit or 0
        sw = swap_max(limit, m.swap or 0)
        if m.check_before_update and limit > 0:
            used = _fs.to_int(_fs.read(self._file("memory.current"), f"{f}.limit"))
            if used > limit:
                raise InvalidArgument(f"{f}.limit: {limit} is below the current usage {used} "
                                      f"of {self._dir} (checkBeforeUpdate)")
        if sw is not None:
            path = self._file("memory.swap.max")
            if _fs.exists(path):
                _fs.write(path, _max(sw), f"{f}.swap")
            elif m.swap:  # asked for explicitly: say why it cannot be done
                raise Unsupported(f"{f}.swap: {path} does not exist (no swap accounting)")
        if limit:
            _fs.write(self._file("memory.max"), _max(limit), f"{f}.limit")
        if m.reservation:
            _fs.write(self._file("memory.low"), _max(m.reservation), f"{f}.reservation")

    def _cpu(self, c: Cpu) -> None:
        f = f"{F}.cpu"
        if c.shares:
            _fs.write(self._file("cpu.weight"), shares_to_weight(c.shares), f"{f}.shares")
        if c.quota or c.period:
            if c.quota:
                quota = _max(c.quota)
            else:  # only the period changes: keep the current quota
                quota = _fs.read_or(self._file("cpu.max"), "max").split(" ")[0] or "max"
            value = f"{quota} {c.period}" if c.period else quota
            _fs.write(self._file("cpu.max"), value, f"{f}.quota" if c.quota else f"{f}.period")
        if c.burst is not None:
            _fs.write(self._file("cpu.max.burst"), c.burst, f"{f}.burst")
        if c.idle is not None:
            _fs.write(self._file("cpu.idle"), c.idle, f"{f}.idle")
        if c.cpus:
            _fs.write(self._file("cpuset.cpus"), c.cpus, f"{f}.cpus")
        if c.mems:
            _fs.write(self._file("cpuset.mems"), c.mems, f"{f}.mems")

    def _io(self, b: BlockIO) -> None:
        f = f"{F}.blockIO"
        bfq = _fs.exists(self._file("io.bfq.weight"))
        if b.weight:
            if bfq:
                _fs.write(self._file("io.bfq.weight"), b.weight, f"{f}.weight")
            else:
                _fs.write(self._file("io.weight"), blkio_to_io_weight(b.weight), f"{f}.weight")
        for i, wd in enumerate(b.weight_device or ()):
            if wd.weight:
                dev = f"{wd.major}:{wd.minor}"
                if bfq:
                    _fs.write(self._file("io.bfq.weight"), f"{dev} {wd.weight}",
                              f"{f}.weightDevice[{i}]")
                else:
                    _fs.write(self._file("io.weight"), f"{dev} {blkio_to_io_weight(wd.weight)}",
                              f"{f}.weightDevice[{i}]")
        for key, name, devs in (
            ("throttleReadBpsDevice", "rbps", b.throttle_read_bps_device),
            ("throttleWriteBpsDevice", "wbps", b.throttle_write_bps_device),
            ("throttleReadIOPSDevice", "riops", b.throttle_read_iops_device),
            ("throttleWriteIOPSDevice", "wiops", b.throttle_write_iops_device),
        ):
            for i, td in enumerate(devs or ()):
                rate = "max" if not td.rate else td.rate  # 0 clears the limit, as on v1
                _fs.write(self._file("io.max"), f"{td.major}:{td.minor} {name}={rate}",
                          f"{f}.{key}[{i}]")

    # -- freezer ---------------------------------------------------------------------

    def freeze(self) -> None:
        """Write ``cgroup.freeze`` and wait for ``cgroup.events`` to say ``frozen 1``."""
        _fs.write(self._file("cgroup.freeze"), 1, "freeze")
        import time

        deadline = time.monotonic() + FREEZE_TIMEOUT
        delay = 0.0002
        events = self._file("cgroup.events")
        while _fs.keyed(_fs.read(events)).get("frozen") != 1:
            if time.monotonic() > deadline:
                self.thaw()
                raise Unavailable(f"cannot freeze {self._dir}: {events} does not say frozen "
                                  f"after {FREEZE_TIMEOUT:g}s; thawed again")
            time.sleep(delay)
            delay = min(delay * 2, 0.01)

    def thaw(self) -> None:
        _fs.write(self._file("cgroup.freeze"), 0, "thaw")

    def state(self) -> str:
        try:
            v = _fs.read(self._file("cgroup.freeze"))
        except OnggiError:
            return "thawed"  # kernels before 5.2 have no freezer on v2
        return "frozen" if v == "1" else "thawed"

    # -- reading ---------------------------------------------------------------------

    def stats(self) -> dict[str, Any]:
        from . import stats  # only `events --stats` reads these

        return stats.v2(self._dir)

    def oom_kill_count(self) -> int:
        return _fs.keyed(_fs.read_or(self._file("memory.events"))).get("oom_kill", 0)

    def mounts_for_container(self) -> list[tuple[str, str]]:
        """``[("", dir)]``: for a container without a cgroup namespace the runtime bind
        mounts this directory at ``/sys/fs/cgroup`` (the whole unified hierarchy)."""
        return [("", self._dir)]


def _enable_all(d: str) -> None:
    """Enable in ``d/cgroup.subtree_control`` each controller of ``d/cgroup.controllers``
    not enabled yet: all in one write, or one by one when the batch is refused (e.g.
    ``cpu`` while a realtime task runs); refusals are left for ``apply`` to report."""
    avail = _fs.read_or(os.path.join(d, "cgroup.controllers")).split()
    if not avail:
        return
    path = os.path.join(d, "cgroup.subtree_control")
    have = _fs.read_or(path).split()
    want = ["+" + c for c in avail if c not in have]
    if not want:
        return
    try:
        _fs.write(path, " ".join(want))
    except OnggiError:
        for w in want:
            try:
                _fs.write(path, w)
            except OnggiError:
                pass
