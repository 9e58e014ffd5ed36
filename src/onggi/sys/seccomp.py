"""ctypes bindings to libseccomp (``libseccomp.so.2``, 2.5 or later).

The library is opened on first use, so importing this module costs nothing beyond
:mod:`ctypes`. A filter context is an opaque pointer held as a plain ``int``.

Every wrapper raises ``OSError(errno, message)``: libseccomp reports failures as negative
errno values, which become the ``OSError``'s errno. A missing library is
``OSError(ENOENT, "... libseccomp.so.2 ...")``.

Constants follow ``seccomp.h`` from libseccomp 2.5 (actions, comparison operators, filter
attributes); the notification helpers wrap ``SECCOMP_IOCTL_NOTIF_RECV`` / ``_SEND``
through libseccomp's ``seccomp_notify_receive`` / ``seccomp_notify_respond``.
"""

from __future__ import annotations

import ctypes
import errno
import os

__all__ = [
    "LIBRARY", "available", "version", "api_get", "init", "reset", "release", "arch_add",
    "arch_native", "arch_resolve_name", "syscall_resolve_name", "syscall_resolve_num",
    "rule_add", "attr_set", "attr_get", "load", "notify_fd", "export_bpf", "notify_receive",
    "notify_respond", "notify_id_valid", "Notification", "act_errno", "act_trace",
]

LIBRARY = "libseccomp.so.2"

# actions (seccomp.h)
ACT_KILL_PROCESS = 0x80000000
ACT_KILL_THREAD = 0x00000000
ACT_KILL = ACT_KILL_THREAD
ACT_TRAP = 0x00030000
ACT_NOTIFY = 0x7FC00000
ACT_LOG = 0x7FFC0000
ACT_ALLOW = 0x7FFF0000
_ACT_ERRNO = 0x00050000
_ACT_TRACE = 0x7FF00000

# enum scmp_compare
CMP_NE = 1
CMP_LT = 2
CMP_LE = 3
CMP_EQ = 4
CMP_GE = 5
CMP_GT = 6
CMP_MASKED_EQ = 7

# enum scmp_filter_attr
FLTATR_ACT_DEFAULT = 1
FLTATR_ACT_BADARCH = 2
FLTATR_CTL_NNP = 3
FLTATR_CTL_TSYNC = 4
FLTATR_API_TSKIP = 5
FLTATR_CTL_LOG = 6
FLTATR_CTL_SSB = 7  # SECCOMP_FILTER_FLAG_SPEC_ALLOW
FLTATR_CTL_OPTIMIZE = 8
FLTATR_API_SYSRAWRC = 9
FLTATR_CTL_WAITKILL = 10  # libseccomp 2.6+

# struct seccomp_notif_resp.flags
USER_NOTIF_FLAG_CONTINUE = 1

_NR_SCMP_ERROR = -1


def act_errno(code: int) -> int:
    """``SCMP_ACT_ERRNO(code)``: fail the syscall with ``code``."""
    return _ACT_ERRNO | (code & 0xFFFF)


def act_trace(code: int) -> int:
    """``SCMP_ACT_TRACE(code)``: notify a ptrace tracer, passing ``code``."""
    return _ACT_TRACE | (code & 0xFFFF)


class ArgCmp(ctypes.Structure):
    """``struct scmp_arg_cmp``."""

    _fields_ = [("arg", ctypes.c_uint), ("op", ctypes.c_int), ("datum_a", ctypes.c_uint64),
                ("datum_b", ctypes.c_uint64)]


class _Version(ctypes.Structure):
    _fields_ = [("major", ctypes.c_uint), ("minor", ctypes.c_uint), ("micro", ctypes.c_uint)]


class _SeccompData(ctypes.Structure):
    _fields_ = [("nr", ctypes.c_int), ("arch", ctypes.c_uint32),
                ("instruction_pointer", ctypes.c_uint64), ("args", ctypes.c_uint64 * 6)]


class _Notif(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("pid", ctypes.c_uint32), ("flags", ctypes.c_uint32),
                ("data", _SeccompData)]


class _NotifResp(ctypes.Structure):
    _fields_ = [("id", ctypes.c_uint64), ("val", ctypes.c_int64), ("error", ctypes.c_int32),
                ("flags", ctypes.c_uint32)]


class Notification:
    """One syscall held by the kernel for a seccomp agent (``struct seccomp_notif``)."""

    __slots__ = ("id", "pid", "flags", "nr", "arch", "instruction_pointer", "args")

    def __init__(self, n: _Notif) -> None:
        self.id: int = n.id
        self.pid: int = n.pid
        self.flags: int = n.flags
        self.nr: int = n.data.nr
        self.arch: int = n.data.arch
        self.instruction_pointer: int = n.data.instruction_pointer
        self.args: tuple[int, ...] = tuple(n.data.args)

    def __repr__(self) -> str:
        return f"Notification(id={self.id}, pid={self.pid}, nr={self.nr}, args={self.args})"


_lib: ctypes.CDLL | None = None

_P = ctypes.c_void_p
_I = ctypes.c_int
_U32 = ctypes.c_uint32
# name -> (restype, argtypes); only _REQUIRED must exist, the notify ones came in 2.4/2.5
_PROTOS: dict[str, tuple[object, list[object]]] = {
    "seccomp_init": (_P, [_U32]),
    "seccomp_reset": (_I, [_P, _U32]),
    "seccomp_release": (None, [_P]),
    "seccomp_arch_add": (_I, [_P, _U32]),
    "seccomp_arch_native": (_U32, []),
    "seccomp_arch_resolve_name": (_U32, [ctypes.c_char_p]),
    "seccomp_syscall_resolve_name": (_I, [ctypes.c_char_p]),
    "seccomp_syscall_resolve_num_arch": (_P, [_U32, _I]),
    "seccomp_rule_add_array": (_I, [_P, _U32, _I, ctypes.c_uint, ctypes.POINTER(ArgCmp)]),
    "seccomp_attr_set": (_I, [_P, _I, _U32]),
    "seccomp_attr_get": (_I, [_P, _I, ctypes.POINTER(_U32)]),
    "seccomp_load": (_I, [_P]),
    "seccomp_export_bpf": (_I, [_P, _I]),
    "seccomp_version": (ctypes.POINTER(_Version), []),
    "seccomp_api_get": (ctypes.c_uint, []),

    "seccomp_notify_fd": (_I, [_P]),
    "seccomp_notify_alloc": (_I, [ctypes.POINTER(ctypes.POINTER(_Notif)),
                                  ctypes.POINTER(ctypes.POINTER(_NotifResp))]),
    "seccomp_notify_free": (None, [ctypes.POINTER(_Notif), ctypes.POINTER(_NotifResp)]),
    "seccomp_notify_receive": (_I, [_I, ctypes.POINTER(_Notif)]),
    "seccomp_notify_respond": (_I, [_I, ctypes.POINTER(_NotifResp)]),
    "seccomp_notify_id_valid": (_I, [_I, ctypes.c_uint64]),
}
_REQUIRED = ("seccomp_init", "seccomp_rule_add_array", "seccomp_load", "seccomp_version")


def _open() -> ctypes.CDLL:
    global _lib
    if _lib is not None:
        return _lib
    try:
        lib = ctypes.CDLL(LIBRARY, use_errno=True)
    except OSError as e:
        raise OSError(errno.ENOENT, f"seccomp needs {LIBRARY} (libseccomp 2.5 or later; Debian "
                                    f"package libseccomp2), which cannot be loaded: {e}") from None
    for name, (restype, argtypes) in _PROTOS.items():
        try:
            fn = getattr(lib, name)
        except AttributeError:
            if name in _REQUIRED:
                raise OSError(errno.ENOSYS, f"{LIBRARY} has no {name}: too old") from None
            continue
        fn.restype = restype
        fn.argtypes = argtypes
    _lib = lib
    return lib


def _fn(name: str) -> ctypes._CFuncPtr:  # type: ignore[name-defined]
    lib = _open()
    try:
        return getattr(lib, name)
    except AttributeError:
        raise OSError(errno.ENOSYS, f"{name}: not in this {LIBRARY} (v{_vstr()}): too old") from None


def _vstr() -> str:
    return ".".join(map(str, version()))


def _rc(ret: int, what: str) -> int:
    if ret < 0:
        raise OSError(-ret, f"{what}: {os.strerror(-ret)}")
    return ret


def available() -> bool:
    """Whether libseccomp can be loaded (never raises)."""
    try:
        _open()
    except OSError:
        return False
    return True


def version() -> tuple[int, int, int]:
    v = _fn("seccomp_version")().contents
    return (v.major, v.minor, v.micro)


def api_get() -> int:
    """The API level libseccomp found for this kernel (6 or more: user notification)."""
    return int(_fn("seccomp_api_get")())


def init(default_action: int) -> int:
    """A new filter context (``seccomp_init``); free it with :func:`release`."""
    ctx = _fn("seccomp_init")(default_action)
    if not ctx:
        raise OSError(errno.EINVAL, f"seccomp_init({default_action:#x}): libseccomp refused the "
                                    "default action")
    return int(ctx)


def reset(ctx: int, default_action: int) -> None:
    _rc(_fn("seccomp_reset")(ctx, default_action), "seccomp_reset")


def release(ctx: int) -> None:
    _fn("seccomp_release")(ctx)


def arch_native() -> int:
    return int(_fn("seccomp_arch_native")())


def arch_resolve_name(name: str) -> int:
    """libseccomp's token for an architecture name such as ``x86_64`` (lower case)."""
    token = _fn("seccomp_arch_resolve_name")(name.encode())
    if not token:
        raise OSError(errno.EINVAL, f"unknown seccomp architecture {name!r}")
    return int(token)


def arch_add(ctx: int, arch_token: int) -> bool:
    """Add an architecture to the filter; False if it was already there."""
    ret = _fn("seccomp_arch_add")(ctx, arch_token)
    if ret == -errno.EEXIST:
        return False
    _rc(ret, f"seccomp_arch_add({arch_token:#x})")
    return True


def syscall_resolve_name(name: str) -> int | None:
    """The native syscall number for ``name`` (negative for libseccomp's pseudo-syscalls),
    or None if libseccomp does not know the name."""
    nr = _fn("seccomp_syscall_resolve_name")(name.encode())
    return None if nr == _NR_SCMP_ERROR else int(nr)


def syscall_resolve_num(nr: int, arch_token: int = 0) -> str | None:
    """The name of syscall ``nr`` on an architecture (0: native), or None."""
    fn = _fn("seccomp_syscall_resolve_num_arch")
    p = fn(arch_token, nr)
    if not p:
        return None
    try:
        return ctypes.string_at(p).decode()
    finally:
        ctypes.CDLL(None).free(ctypes.c_void_p(p))


def rule_add(ctx: int, action: int, nr: int,
             conds: list[tuple[int, int, int, int]] | tuple[()] = ()) -> None:
    """Add one rule; ``conds`` holds ``(arg index, CMP_*, datum_a, datum_b)`` tuples, all of
    which must match (for ``CMP_MASKED_EQ`` datum_a is the mask, datum_b the value)."""
    n = len(conds)
    arr = (ArgCmp * max(n, 1))(*[ArgCmp(a, op, x & 0xFFFFFFFFFFFFFFFF, y & 0xFFFFFFFFFFFFFFFF)
                                 for a, op, x, y in conds])
    _rc(_fn("seccomp_rule_add_array")(ctx, action, nr, n, arr),
        f"seccomp_rule_add(syscall {nr}, action {action:#x})")


def attr_set(ctx: int, attr: int, value: int) -> None:
    _rc(_fn("seccomp_attr_set")(ctx, attr, value), f"seccomp_attr_set({attr}, {value})")


def attr_get(ctx: int, attr: int) -> int:
    v = _U32()
    _rc(_fn("seccomp_attr_get")(ctx, attr, ctypes.byref(v)), f"seccomp_attr_get({attr})")
    return v.value


def load(ctx: int) -> None:
    """Load the filter into the kernel for the calling thread (all threads with TSYNC)."""
    _rc(_fn("seccomp_load")(ctx), "seccomp_load")


def notify_fd(ctx: int) -> int:
    """The user-notification fd of a loaded filter that uses ``SCMP_ACT_NOTIFY``."""
    return _rc(_fn("seccomp_notify_fd")(ctx), "seccomp_notify_fd")


def export_bpf(ctx: int, fd: int) -> None:
    """Write the filter as raw BPF (8-byte ``struct sock_filter`` entries) to ``fd``."""
    _rc(_fn("seccomp_export_bpf")(ctx, fd), "seccomp_export_bpf")


def notify_receive(fd: int) -> Notification:
    """Wait for the next notification on a listener fd (``SECCOMP_IOCTL_NOTIF_RECV``)."""
    req = ctypes.POINTER(_Notif)()
    resp = ctypes.POINTER(_NotifResp)()
    _rc(_fn("seccomp_notify_alloc")(ctypes.byref(req), ctypes.byref(resp)), "seccomp_notify_alloc")
    try:
        _rc(_fn("seccomp_notify_receive")(fd, req), "seccomp_notify_receive")
        return Notification(req.contents)
    finally:
        _fn("seccomp_notify_free")(req, resp)


def notify_respond(fd: int, notif_id: int, val: int = 0, error: int = 0, flags: int = 0) -> None:
    """Answer a notification (``SECCOMP_IOCTL_NOTIF_SEND``). ``error`` is a positive errno
    (0: the syscall returns ``val``); ``flags=USER_NOTIF_FLAG_CONTINUE`` lets it run."""
    req = ctypes.POINTER(_Notif)()
    resp = ctypes.POINTER(_NotifResp)()
    _rc(_fn("seccomp_notify_alloc")(ctypes.byref(req), ctypes.byref(resp)), "seccomp_notify_alloc")
    try:
        r = resp.contents
        r.id, r.val, r.error, r.flags = notif_id, val, -abs(error), flags
        _rc(_fn("seccomp_notify_respond")(fd, resp), "seccomp_notify_respond")
    finally:
        _fn("seccomp_notify_free")(req, resp)


def notify_id_valid(fd: int, notif_id: int) -> bool:
    """Whether the task behind a notification still waits for its answer."""
    ret = _fn("seccomp_notify_id_valid")(fd, notif_id)
    if ret == -errno.ENOENT:
        return False
    _rc(ret, "seccomp_notify_id_valid")
    return True
