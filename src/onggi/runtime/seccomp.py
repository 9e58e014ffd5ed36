"""``linux.seccomp``: compile the spec's profile into a libseccomp filter, load it, and hand
the user-notification fd to a seccomp agent.

Compiling (plan) and loading (apply) are separate steps: :func:`compile_filter` runs
before the container's process is forked, so every error in the profile surfaces before
anything is started; :func:`load` is the last thing the container's init does before
``execve`` (after ``no_new_privs``, which the runtime controls itself: the filter never
sets it).

Semantics follow runc:

- syscall names that libseccomp does not know on this architecture are skipped;
- a rule whose action equals the default action is skipped;
- a rule whose ``args`` compare one argument index more than once becomes one rule per
  comparison (any may match); otherwise its comparisons form one rule (all must match);
- ``errnoRet`` defaults to EPERM for ``SCMP_ACT_ERRNO`` and ``SCMP_ACT_TRACE``;
- ``SCMP_ACT_NOTIFY`` may not be the default action nor apply to ``write``: the runtime
  still has to talk to its parent after loading the filter.

Not done (runc 1.1 does it): the ``-ENOSYS`` stub for syscalls newer than the profile.
"""

from __future__ import annotations

import errno
import struct

from ..errors import InvalidArgument, PermissionDenied, Unavailable, Unsupported
from ..oci import jsonio
from ..sys import seccomp as _sc

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..oci.linux import Seccomp, SyscallRule

__all__ = ["Filter", "compile_filter", "load", "send_notify_fd", "OCI_VERSION"]

OCI_VERSION = "1.1.0"
_P = "linux.seccomp"

_FIXED_ACTIONS = {
    "SCMP_ACT_KILL": _sc.ACT_KILL_THREAD,
    "SCMP_ACT_KILL_THREAD": _sc.ACT_KILL_THREAD,
    "SCMP_ACT_KILL_PROCESS": _sc.ACT_KILL_PROCESS,
    "SCMP_ACT_TRAP": _sc.ACT_TRAP,
    "SCMP_ACT_ALLOW": _sc.ACT_ALLOW,
    "SCMP_ACT_LOG": _sc.ACT_LOG,
    "SCMP_ACT_NOTIFY": _sc.ACT_NOTIFY,
}
_OPS = {
    "SCMP_CMP_NE": _sc.CMP_NE, "SCMP_CMP_LT": _sc.CMP_LT, "SCMP_CMP_LE": _sc.CMP_LE,
    "SCMP_CMP_EQ": _sc.CMP_EQ, "SCMP_CMP_GE": _sc.CMP_GE, "SCMP_CMP_GT": _sc.CMP_GT,
    "SCMP_CMP_MASKED_EQ": _sc.CMP_MASKED_EQ,
}
# spec flag -> (libseccomp attribute, what it needs)
_FLAGS = {
    "SECCOMP_FILTER_FLAG_TSYNC": (_sc.FLTATR_CTL_TSYNC, "libseccomp 2.2"),
    "SECCOMP_FILTER_FLAG_LOG": (_sc.FLTATR_CTL_LOG, "libseccomp 2.4 and Linux 4.14"),
    "SECCOMP_FILTER_FLAG_SPEC_ALLOW": (_sc.FLTATR_CTL_SSB, "libseccomp 2.4 and Linux 4.17"),
    "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV": (_sc.FLTATR_CTL_WAITKILL,
                                               "libseccomp 2.6 and Linux 5.19"),
}
_NOTIFY_API_LEVEL = 6
_OPTIMIZE_OVER = 32  # rules; a binary tree pays off beyond this (libseccomp <= 2.5.4 needs > 0)


class Filter:
    """A compiled filter: the libseccomp context plus what loading it implies.

    ``notify`` tells whether loading yields a user-notification fd; ``skipped`` lists the
    syscall names libseccomp did not know. The context is freed by :meth:`close` (also on
    garbage collection); a forked child may load its inherited copy.
    """

    __slots__ = ("_ctx", "notify", "listener_path", "listener_metadata", "skipped", "__weakref__")

    def __init__(self, ctx: int, notify: bool, listener_path: str | None, listener_metadata: str,
                 skipped: list[str]) -> None:
        self._ctx: int | None = ctx
        self.notify = notify
        self.listener_path = listener_path
        self.listener_metadata = listener_metadata
        self.skipped = skipped

    @property
    def ctx(self) -> int:
        if self._ctx is None:
            raise ValueError("seccomp filter already closed")
        return self._ctx

    def export_bpf(self, fd: int) -> None:
        """Write the compiled BPF program to ``fd`` (for tests and ``--debug`` dumps)."""
        _sc.export_bpf(self.ctx, fd)

    def close(self) -> None:
        ctx, self._ctx = self._ctx, None
        if ctx is not None:
            _sc.release(ctx)

    def __enter__(self) -> "Filter":
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __del__(self) -> None:
        try:
            self.close()
        except Exception:  # interpreter shutdown: nothing sensible left to do
            pass


def _action(name: str, errno_ret: int | None, p: str, errno_key: str = "errnoRet") -> int:
    """libseccomp's value for a spec action; ``p`` is the object holding it."""
    if name == "SCMP_ACT_ERRNO" or name == "SCMP_ACT_TRACE":
        code = errno.EPERM if errno_ret is None else errno_ret
        if not 0 <= code <= 0xFFFF:
            raise InvalidArgument(f"config.json: {p}.{errno_key}: {code} does not fit seccomp's "
                                  "16-bit return data")
        return _sc.act_errno(code) if name == "SCMP_ACT_ERRNO" else _sc.act_trace(code)
    if errno_ret is not None:
        raise InvalidArgument(f"config.json: {p}.{errno_key}: {name} takes no errno (only "
                              "SCMP_ACT_ERRNO and SCMP_ACT_TRACE do)")
    try:
        return _FIXED_ACTIONS[name]
    except KeyError:
        raise InvalidArgument(f"config.json: {p}: unknown seccomp action {name!r}") from None


def _conditions(args: list[tuple[int, int, int, str]]) -> list[list[tuple[int, int, int, int]]]:
    """The argument comparisons of one spec rule, grouped into libseccomp rules."""
    conds = [(index, _OPS[op], value, value_two) for index, value, value_two, op in args]
    if not conds:
        return [[]]
    indices = [c[0] for c in conds]
    if len(set(indices)) < len(indices):
        return [[c] for c in conds]
    return [conds]


def compile_filter(seccomp: Seccomp) -> Filter:
    """Build (not load) the filter ``seccomp`` describes; InvalidArgument / Unsupported
    naming the field on a bad or unsupported profile."""
    default = _action(seccomp.default_action, seccomp.default_errno_ret, _P, "defaultErrnoRet")
    if default == _sc.ACT_NOTIFY:
        raise Unsupported(f"config.json: {_P}.defaultAction: SCMP_ACT_NOTIFY cannot be the default "
                          "action (the runtime must still run syscalls after loading the filter)")
    notify = any(r.action == "SCMP_ACT_NOTIFY" for r in seccomp.syscalls)
    try:
        if notify and _sc.api_get() < _NOTIFY_API_LEVEL:
            raise Unsupported(f"config.json: {_P}: SCMP_ACT_NOTIFY needs libseccomp 2.5 and Linux "
                              f"5.7 or later (libseccomp API level {_sc.api_get()}, need "
                              f"{_NOTIFY_API_LEVEL})")
        ctx = _sc.init(default)
    except OSError as e:
        raise Unsupported(f"config.json: {_P}: {e.strerror or e}") from None
    try:
        skipped = _build(ctx, seccomp, default)
    except BaseException:
        _sc.release(ctx)
        raise
    return Filter(ctx, notify, seccomp.listener_path, seccomp.listener_metadata or "", skipped)


def _build(ctx: int, seccomp: Seccomp, default: int) -> list[str]:
    for i, arch in enumerate(seccomp.architectures):
        p = f"{_P}.architectures[{i}]"
        if not arch.startswith("SCMP_ARCH_"):
            raise InvalidArgument(f"config.json: {p}: {arch!r} is not an SCMP_ARCH_* name")
        try:
            token = _sc.arch_resolve_name(arch[len("SCMP_ARCH_"):].lower())
        except OSError:
            raise InvalidArgument(f"config.json: {p}: architecture {arch!r} is unknown to "
                                  f"libseccomp {'.'.join(map(str, _sc.version()))}") from None
        try:
            _sc.arch_add(ctx, token)
        except OSError as e:
            raise Unsupported(f"config.json: {p}: cannot add {arch}: {e.strerror}") from None
    for i, flag in enumerate(seccomp.flags):
        p = f"{_P}.flags[{i}]"
        if flag not in _FLAGS:
            raise InvalidArgument(f"config.json: {p}: unknown seccomp flag {flag!r}")
        attr, needs = _FLAGS[flag]
        try:
            _sc.attr_set(ctx, attr, 1)
        except OSError as e:
            raise Unsupported(f"config.json: {p}: {flag} needs {needs} (libseccomp "
                              f"{'.'.join(map(str, _sc.version()))}: {e.strerror})") from None
    # the runtime sets no_new_privs itself, as process.noNewPrivileges says
    _sc.attr_set(ctx, _sc.FLTATR_CTL_NNP, 0)
    try:  # seccomp_load then reports the kernel's errno instead of ECANCELED
        _sc.attr_set(ctx, _sc.FLTATR_API_SYSRAWRC, 1)
    except OSError:
        pass
    n_rules: int = sum(len(r.names) for r in seccomp.syscalls)
    if n_rules > _OPTIMIZE_OVER:
        try:
            _sc.attr_set(ctx, _sc.FLTATR_CTL_OPTIMIZE, 2)
        except OSError:
            pass
    skipped: list[str] = []
    for i, rule in enumerate(seccomp.syscalls):
        _add_rule(ctx, rule, f"{_P}.syscalls[{i}]", default, skipped)
    return skipped


def _add_rule(ctx: int, rule: SyscallRule, p: str, default: int, skipped: list[str]) -> None:
    names: list[str] = rule.names
    action: str = rule.action
    for j, name in enumerate(names):
        if not name:
            raise InvalidArgument(f"config.json: {p}.names[{j}]: empty syscall name")
        if action == "SCMP_ACT_NOTIFY" and name == "write":
            raise Unsupported(f"config.json: {p}.names[{j}]: SCMP_ACT_NOTIFY cannot be used for "
                              "write (the runtime needs it to hand over the notify fd)")
    act = _action(action, rule.errno_ret, p)
    if act == default:
        return
    groups = _conditions(rule.args)
    for j, name in enumerate(names):
        nr = _sc.syscall_resolve_name(name)
        if nr is None:
            skipped.append(name)
            continue
        for conds in groups:
            try:
                _sc.rule_add(ctx, act, nr, conds)
            except OSError as e:
                raise InvalidArgument(f"config.json: {p}.names[{j}]: libseccomp refused the rule "
                                      f"for {name!r}: {e.strerror}") from None


def load(filt: Filter) -> int | None:
    """Load ``filt`` into the calling process; returns the notify fd when the filter uses
    SCMP_ACT_NOTIFY, else None. Needs no_new_privs set or CAP_SYS_ADMIN."""
    try:
        _sc.load(filt.ctx)
    except OSError as e:
        if e.errno in (errno.EPERM, errno.EACCES):
            raise PermissionDenied(f"{_P}: loading the filter: {e.strerror} (the process needs "
                                   "no_new_privs or CAP_SYS_ADMIN)") from None
        raise Unsupported(f"{_P}: the kernel refused the filter: {e.strerror}") from None
    if not filt.notify:
        return None
    try:
        return _sc.notify_fd(filt.ctx)
    except OSError as e:
        raise Unsupported(f"{_P}: no notify fd after loading the filter: {e.strerror}") from None


def send_notify_fd(listener_path: str, fd: int, state_json: str, metadata: str = "",
                   pid: int | None = None) -> None:
    """Send the container process state and ``fd`` (as ``seccompFd``, SCM_RIGHTS) to the
    seccomp agent listening on the unix socket ``listener_path``; one message, one
    connection. ``state_json`` is the container's state (``onggi-runtime state``); ``pid``
    defaults to its ``pid``."""
    state = jsonio.loads(state_json, "container state")
    if not isinstance(state, dict):
        raise InvalidArgument("container state: expected a JSON object")
    if pid is None:
        pid = state.get("pid")
        if not isinstance(pid, int):
            raise InvalidArgument("container state: no pid to send to the seccomp agent")
    msg: dict[str, object] = {"ociVersion": state.get("ociVersion") or OCI_VERSION,
                              "fds": ["seccompFd"], "pid": pid}
    if metadata:
        msg["metadata"] = metadata
    msg["state"] = state
    data = jsonio.dumps(msg).encode()

    import _socket  # the C module: the socket package would import enum

    where = f"{_P}.listenerPath: seccomp agent at {listener_path}"
    try:
        s = _socket.socket(_socket.AF_UNIX, _socket.SOCK_STREAM | _socket.SOCK_CLOEXEC)
    except OSError as e:
        raise Unavailable(f"{where}: cannot create a socket: {e.strerror}") from None
    try:
        try:
            s.connect(listener_path)
        except OSError as e:
            raise Unavailable(f"{where}: cannot connect: {e.strerror}") from None
        try:
            rights = [(_socket.SOL_SOCKET, _socket.SCM_RIGHTS, struct.pack("i", fd))]
            sent = s.sendmsg([data], rights)
            while sent < len(data):  # fds go with the first part only
                sent += s.send(data[sent:])
        except OSError as e:
            raise Unavailable(f"{where}: cannot send the notify fd: {e.strerror}") from None
    finally:
        s.close()
