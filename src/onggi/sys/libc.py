"""Thin ctypes wrappers over libc: namespaces, mounts, pivot_root, prctl, capabilities,
hostname, personality and a few raw syscalls. Linux only (x86_64 and aarch64 numbers).

Every wrapper raises ``OSError(errno, message)`` like :mod:`os`; callers add context."""

from __future__ import annotations

import ctypes
import os

__all__ = [
    "unshare", "setns", "mount", "umount2", "pivot_root", "sethostname", "setdomainname",
    "prctl", "capget", "capset", "personality", "ioprio_set", "sched_setattr", "close_range",
    "openat2", "syscall", "SYS", "join_session_keyring", "mount_setattr",
]

_libc = ctypes.CDLL(None, use_errno=True)
_syscall = _libc.syscall
_syscall.restype = ctypes.c_long

_MACHINE = os.uname().machine
# syscall numbers that glibc 2.36 has no wrapper for (or that we call raw on purpose)
SYS = {
    "x86_64": {"pivot_root": 155, "capget": 125, "capset": 126, "ioprio_set": 251,
               "sched_setattr": 314, "close_range": 436, "openat2": 437, "seccomp": 317,
               "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "keyctl": 250,
               "mount_setattr": 442},
    "aarch64": {"pivot_root": 41, "capget": 90, "capset": 91, "ioprio_set": 30,
                "sched_setattr": 274, "close_range": 436, "openat2": 437, "seccomp": 277,
                "pidfd_open": 434, "pidfd_send_signal": 424, "pidfd_getfd": 438, "keyctl": 219,
                "mount_setattr": 442},
}.get(_MACHINE, {})

# clone / unshare flags
CLONE_FS = 0x00000200
CLONE_NEWTIME = 0x00000080
CLONE_NEWNS = 0x00020000
CLONE_NEWCGROUP = 0x02000000
CLONE_NEWUTS = 0x04000000
CLONE_NEWIPC = 0x08000000
CLONE_NEWUSER = 0x10000000
CLONE_NEWPID = 0x20000000
CLONE_NEWNET = 0x40000000
NS_FLAGS = {"pid": CLONE_NEWPID, "network": CLONE_NEWNET, "mount": CLONE_NEWNS,
            "ipc": CLONE_NEWIPC, "uts": CLONE_NEWUTS, "user": CLONE_NEWUSER,
            "cgroup": CLONE_NEWCGROUP, "time": CLONE_NEWTIME}

# mount flags
MS_RDONLY = 1
MS_NOSUID = 2
MS_NODEV = 4
MS_NOEXEC = 8
MS_SYNCHRONOUS = 16
MS_REMOUNT = 32
MS_MANDLOCK = 64
MS_DIRSYNC = 128
MS_NOSYMFOLLOW = 256
MS_NOATIME = 1024
MS_NODIRATIME = 2048
MS_BIND = 4096
MS_MOVE = 8192
MS_REC = 16384
MS_SILENT = 32768
MS_UNBINDABLE = 1 << 17
MS_PRIVATE = 1 << 18
MS_SLAVE = 1 << 19
MS_SHARED = 1 << 20
MS_RELATIME = 1 << 21
MS_STRICTATIME = 1 << 24
MS_LAZYTIME = 1 << 25
MNT_DETACH = 2

# mount_setattr(2) attributes and flags
MOUNT_ATTR_RDONLY = 0x1
MOUNT_ATTR_NOSUID = 0x2
MOUNT_ATTR_NODEV = 0x4
MOUNT_ATTR_NOEXEC = 0x8
MOUNT_ATTR__ATIME = 0x70
MOUNT_ATTR_RELATIME = 0x0
MOUNT_ATTR_NOATIME = 0x10
MOUNT_ATTR_STRICTATIME = 0x20
MOUNT_ATTR_NODIRATIME = 0x80
MOUNT_ATTR_NOSYMFOLLOW = 0x200000
AT_EMPTY_PATH = 0x1000
AT_RECURSIVE = 0x8000
UMOUNT_NOFOLLOW = 8

# prctl
PR_SET_PDEATHSIG = 1
PR_SET_DUMPABLE = 4
PR_SET_KEEPCAPS = 8
PR_CAPBSET_READ = 23
PR_CAPBSET_DROP = 24
PR_SET_CHILD_SUBREAPER = 36
PR_SET_NO_NEW_PRIVS = 38
PR_CAP_AMBIENT = 47
PR_CAP_AMBIENT_RAISE = 2
PR_CAP_AMBIENT_CLEAR_ALL = 4

# openat2 resolve flags
RESOLVE_NO_XDEV = 0x01
RESOLVE_NO_MAGICLINKS = 0x02
RESOLVE_NO_SYMLINKS = 0x04
RESOLVE_BENEATH = 0x08
RESOLVE_IN_ROOT = 0x10


def _check(ret: int, what: str) -> int:
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"{what}: {os.strerror(e)}")
    return ret


def _b(s: str | bytes | None) -> bytes | None:
    return s.encode() if isinstance(s, str) else s


def syscall(name: str, *args: object) -> int:
    nr = SYS.get(name)
    if nr is None:
        raise OSError(38, f"{name}: no syscall number known for {_MACHINE}")
    return _check(_syscall(ctypes.c_long(nr), *args), name)


class _MountAttr(ctypes.Structure):
    _fields_ = [("attr_set", ctypes.c_uint64), ("attr_clr", ctypes.c_uint64),
                ("propagation", ctypes.c_uint64), ("userns_fd", ctypes.c_uint64)]


def mount_setattr(fd: int, attr_set: int, attr_clr: int, recursive: bool = True) -> None:
    """Change the attributes of the mount ``fd`` names (and, recursively, of those below)."""
    attr = _MountAttr(attr_set, attr_clr, 0, 0)
    flags = AT_EMPTY_PATH | (AT_RECURSIVE if recursive else 0)
    syscall("mount_setattr", ctypes.c_int(fd), b"", ctypes.c_uint(flags), ctypes.byref(attr),
            ctypes.c_size_t(ctypes.sizeof(attr)))


def unshare(flags: int) -> None:
    _check(_libc.unshare(ctypes.c_int(flags)), "unshare")


def setns(fd: int, nstype: int = 0) -> None:
    _check(_libc.setns(ctypes.c_int(fd), ctypes.c_int(nstype)), "setns")


def mount(source: str | None, target: str, fstype: str | None, flags: int = 0,
          data: str | None = None) -> None:
    ret = _libc.mount(_b(source), _b(target), _b(fstype), ctypes.c_ulong(flags), _b(data))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {source or fstype} on {target}: {os.strerror(e)}")


def umount2(target: str, flags: int = 0) -> None:
    _check(_libc.umount2(_b(target), ctypes.c_int(flags)), f"umount {target}")


def pivot_root(new_root: str, put_old: str) -> None:
    syscall("pivot_root", _b(new_root), _b(put_old))


def sethostname(name: str) -> None:
    b = name.encode()
    _check(_libc.sethostname(b, ctypes.c_size_t(len(b))), "sethostname")


def setdomainname(name: str) -> None:
    b = name.encode()
    _check(_libc.setdomainname(b, ctypes.c_size_t(len(b))), "setdomainname")


def prctl(option: int, a2: int = 0, a3: int = 0, a4: int = 0, a5: int = 0) -> int:
    return _check(_libc.prctl(ctypes.c_int(option), ctypes.c_ulong(a2), ctypes.c_ulong(a3),
                              ctypes.c_ulong(a4), ctypes.c_ulong(a5)), f"prctl({option})")


class _CapHeader(ctypes.Structure):
    _fields_ = [("version", ctypes.c_uint32), ("pid", ctypes.c_int)]


class _CapData(ctypes.Structure):
    _fields_ = [("effective", ctypes.c_uint32), ("permitted", ctypes.c_uint32),
                ("inheritable", ctypes.c_uint32)]


_CAP_V3 = 0x20080522


def capget(pid: int = 0) -> tuple[int, int, int]:
    """(effective, permitted, inheritable) as 64-bit masks."""
    hdr = _CapHeader(_CAP_V3, pid)
    data = (_CapData * 2)()
    syscall("capget", ctypes.byref(hdr), data)
    return tuple(data[0].__getattribute__(k) | (data[1].__getattribute__(k) << 32)  # type: ignore[return-value]
                 for k in ("effective", "permitted", "inheritable"))


def capset(effective: int, permitted: int, inheritable: int) -> None:
    hdr = _CapHeader(_CAP_V3, 0)
    data = (_CapData * 2)()
    for i in (0, 1):
        sh = 32 * i
        data[i].effective = (effective >> sh) & 0xFFFFFFFF
        data[i].permitted = (permitted >> sh) & 0xFFFFFFFF
        data[i].inheritable = (inheritable >> sh) & 0xFFFFFFFF
    syscall("capset", ctypes.byref(hdr), data)


def personality(persona: int) -> int:
    return _check(_libc.personality(ctypes.c_ulong(persona)), "personality")


def ioprio_set(which: int, who: int, ioprio: int) -> None:
    syscall("ioprio_set", ctypes.c_int(which), ctypes.c_int(who), ctypes.c_int(ioprio))


class _SchedAttr(ctypes.Structure):
    _fields_ = [("size", ctypes.c_uint32), ("sched_policy", ctypes.c_uint32),
                ("sched_flags", ctypes.c_uint64), ("sched_nice", ctypes.c_int32),
                ("sched_priority", ctypes.c_uint32), ("sched_runtime", ctypes.c_uint64),
                ("sched_deadline", ctypes.c_uint64), ("sched_period", ctypes.c_uint64)]


def sched_setattr(policy: int, flags: int, nice: int, priority: int, runtime: int,
                  deadline: int, period: int) -> None:
    attr = _SchedAttr(ctypes.sizeof(_SchedAttr), policy, flags, nice, priority, runtime, deadline, period)
    syscall("sched_setattr", ctypes.c_int(0), ctypes.byref(attr), ctypes.c_uint(0))


def close_range(first: int, last: int = 0xFFFFFFFF, flags: int = 0) -> None:
    syscall("close_range", ctypes.c_uint(first), ctypes.c_uint(last), ctypes.c_uint(flags))


class _OpenHow(ctypes.Structure):
    _fields_ = [("flags", ctypes.c_uint64), ("mode", ctypes.c_uint64), ("resolve", ctypes.c_uint64)]


def join_session_keyring(name: str) -> int:
    """keyctl(KEYCTL_JOIN_SESSION_KEYRING, name): a new session keyring for a container."""
    return syscall("keyctl", ctypes.c_int(1), _b(name))


def openat2(dirfd: int, path: str, flags: int, mode: int = 0, resolve: int = 0) -> int:
    how = _OpenHow(flags, mode, resolve)
    ret = _syscall(ctypes.c_long(SYS["openat2"]), ctypes.c_int(dirfd), _b(path), ctypes.byref(how),
                   ctypes.c_size_t(ctypes.sizeof(how)))
    if ret < 0:
        e = ctypes.get_errno()
        raise OSError(e, os.strerror(e), path)
    return int(ret)
