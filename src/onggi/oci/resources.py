"""``linux.resources``: the cgroup settings of the runtime spec (also the input of
``update``)."""

from __future__ import annotations

from . import _fields as f
from .model import Model

__all__ = ["Resources", "Memory", "Cpu", "BlockIO", "DeviceRule", "HugepageLimit",
           "WeightDevice", "ThrottleDevice"]

I64 = (1 << 63) - 1


class Memory(Model):
    __slots__ = ("limit", "reservation", "swap", "kernel", "kernel_tcp", "swappiness",
                 "disable_oom_killer", "use_hierarchy", "check_before_update")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Memory":
        m = cls(
            limit=f.integer(d, "limit", p, lo=-1),
            reservation=f.integer(d, "reservation", p, lo=-1),
            swap=f.integer(d, "swap", p, lo=-1),
            kernel=f.integer(d, "kernel", p, lo=-1),
            kernel_tcp=f.integer(d, "kernelTCP", p, lo=-1),
            swappiness=f.integer(d, "swappiness", p, lo=0),
            disable_oom_killer=f.boolean(d, "disableOOMKiller", p),
            use_hierarchy=f.boolean(d, "useHierarchy", p),
            check_before_update=f.boolean(d, "checkBeforeUpdate", p),
        )
        if m.swappiness is not None and m.swappiness > 100:
            raise f.bad(f"{p}.swappiness", f"{m.swappiness} is above 100")
        if m.limit is not None and m.limit > 0 and m.swap is not None and 0 < m.swap < m.limit:
            raise f.bad(f"{p}.swap", f"memory+swap limit {m.swap} is below the memory limit {m.limit}")
        return m


class Cpu(Model):
    __slots__ = ("shares", "quota", "burst", "period", "realtime_runtime", "realtime_period",
                 "cpus", "mems", "idle")

    @classmethod
    def parse(cls, d: dict, p: str) -> "Cpu":
        return cls(
            shares=f.integer(d, "shares", p, lo=0),
            quota=f.integer(d, "quota", p),
            burst=f.integer(d, "burst", p, lo=0),
            period=f.integer(d, "period", p, lo=0),
            realtime_runtime=f.integer(d, "realtimeRuntime", p),
            realtime_period=f.integer(d, "realtimePeriod", p, lo=0),
            cpus=f.string(d, "cpus", p),
            mems=f.string(d, "mems", p),
            idle=f.integer(d, "idle", p),
        )


class WeightDevice(Model):
    __slots__ = ("major", "minor", "weight", "leaf_weight")

    @classmethod
    def parse(cls, d: dict, p: str) -> "WeightDevice":
        return cls(major=f.integer(d, "major", p, required=True), minor=f.integer(d, "minor", p, required=True),
                   weight=f.integer(d, "weight", p, lo=0), leaf_weight=f.integer(d, "leafWeight", p, lo=0))


class ThrottleDevice(Model):
    __slots__ = ("major", "minor", "rate")

    @classmethod
    def parse(cls, d: dict, p: str) -> "ThrottleDevice":
        return cls(major=f.integer(d, "major", p, required=True), minor=f.integer(d, "minor", p, required=True),
                   rate=f.integer(d, "rate", p, required=True, lo=0))


class BlockIO(Model):
    __slots__ = ("weight", "leaf_weight", "weight_device", "throttle_read_bps_device",
                 "throttle_write_bps_device", "throttle_read_iops_device", "throttle_write_iops_device")

    @classmethod
    def parse(cls, d: dict, p: str) -> "BlockIO":
        def thr(key: str) -> list[ThrottleDevice]:
            return [ThrottleDevice.parse(x, xp) for x, xp in f.items(d, key, p)]

        return cls(
            weight=f.integer(d, "weight", p, lo=0),
            leaf_weight=f.integer(d, "leafWeight", p, lo=0),
            weight_device=[WeightDevice.parse(x, xp) for x, xp in f.items(d, "weightDevice", p)],
            throttle_read_bps_device=thr("throttleReadBpsDevice"),
            throttle_write_bps_device=thr("throttleWriteBpsDevice"),
            throttle_read_iops_device=thr("throttleReadIOPSDevice"),
            throttle_write_iops_device=thr("throttleWriteIOPSDevice"),
        )


class DeviceRule(Model):
    """A device cgroup rule: ``allow`` ``type`` (a, b, c) ``major:minor`` ``access`` (rwm)."""

    __slots__ = ("allow", "type", "major", "minor", "access")

    @classmethod
    def parse(cls, d: dict, p: str) -> "DeviceRule":
        t = f.string(d, "type", p, default="a")
        if t not in ("a", "b", "c"):
            raise f.bad(f"{p}.type", f"{t!r} is not one of a, b, c")
        access = f.string(d, "access", p, default="rwm") or "rwm"
        if not access or any(c not in "rwm" for c in access):
            raise f.bad(f"{p}.access", f"{access!r} is not a combination of r, w, m")
        if "allow" not in d:
            raise f.bad(f"{p}.allow", "is required")
        return cls(allow=f.boolean(d, "allow", p), type=t, major=f.integer(d, "major", p, lo=-1),
                   minor=f.integer(d, "minor", p, lo=-1), access=access)


class HugepageLimit(Model):
    __slots__ = ("page_size", "limit")

    @classmethod
    def parse(cls, d: dict, p: str) -> "HugepageLimit":
        return cls(page_size=f.string(d, "pageSize", p, required=True),
                   limit=f.integer(d, "limit", p, required=True, lo=0))


class Resources(Model):
    __slots__ = ("memory", "cpu", "pids_limit", "block_io", "hugepage_limits", "devices",
                 "network_class_id", "network_priorities", "rdma", "unified")

    @classmethod
    def parse(cls, d: dict, p: str = "linux.resources") -> "Resources":
        mem = f.child(d, "memory", p)
        cpu = f.child(d, "cpu", p)
        pids = f.child(d, "pids", p)
        bio = f.child(d, "blockIO", p)
        net = f.child(d, "network", p)
        unified = f.str_map(d, "unified", p)
        for k in unified:
            if "/" in k or k in ("", ".", "..") or "." not in k:
                raise f.bad(f"{p}.unified", f"{k!r} is not a cgroup v2 file name (controller.key)")
        return cls(
            memory=Memory.parse(mem, f"{p}.memory") if mem is not None else None,
            cpu=Cpu.parse(cpu, f"{p}.cpu") if cpu is not None else None,
            pids_limit=f.integer(pids, "limit", f"{p}.pids", required=True) if pids is not None else None,
            block_io=BlockIO.parse(bio, f"{p}.blockIO") if bio is not None else None,
            hugepage_limits=[HugepageLimit.parse(x, xp) for x, xp in f.items(d, "hugepageLimits", p)],
            devices=[DeviceRule.parse(x, xp) for x, xp in f.items(d, "devices", p)],
            network_class_id=f.integer(net, "classID", f"{p}.network") if net is not None else None,
            network_priorities=(
                [(f.string(x, "name", xp, required=True), f.integer(x, "priority", xp, required=True))
                 for x, xp in f.items(net, "priorities", f"{p}.network")] if net is not None else []
            ),
            rdma=f.child(d, "rdma", p) or {},
            unified=unified,
        )

    @classmethod
    def empty(cls) -> "Resources":
        return cls.parse({})
