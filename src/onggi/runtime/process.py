"""The last steps before the user's program runs, shared by the container's init and by
``exec``: rlimits, scheduling, user and groups, capabilities, no_new_privs, seccomp,
umask, cwd, fd hygiene, and the exec itself (through the sealed trampoline)."""

from __future__ import annotations

import errno
import os
import resource

from ..errors import InvalidArgument, NotFound, PermissionDenied
from ..oci.tables import CAPABILITIES, IOPRIO_CLASSES, RLIMITS, SCHED_FLAGS, SCHED_POLICIES
from ..sys import libc as L
from ..sys import trampoline
from ..sys.securejoin import open_in_root

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..oci.spec import Process

CLOSE_RANGE_CLOEXEC = 4


def _last_cap() -> int:
    try:
        with open("/proc/sys/kernel/cap_last_cap") as f:
            return int(f.read())
    except OSError:
        return max(CAPABILITIES.values())


def cap_mask(names: list[str], last: int) -> int:
    m = 0
    for n in names:
        c = CAPABILITIES[n]
        if c <= last:
            m |= 1 << c
    return m


def set_rlimits(proc: "Process") -> None:
    for r in proc.rlimits:
        try:
            resource.setrlimit(RLIMITS[r.type], (_rl(r.soft), _rl(r.hard)))
        except (OSError, ValueError) as e:
            cur = resource.getrlimit(RLIMITS[r.type])
            raise PermissionDenied(
                f"process.rlimits: cannot set {r.type} to soft={r.soft} hard={r.hard} "
                f"(current hard limit {_show(cur[1])}; raising it needs CAP_SYS_RESOURCE): {e}") from None


def _rl(v: int) -> int:
    return -1 if v >= 2**64 - 1 else v


def _show(v: int) -> str:
    return "unlimited" if v < 0 else str(v)


def set_oom_score_adj(value: int | None) -> None:
    if value is None:
        return
    try:
        with open("/proc/self/oom_score_adj", "w") as f:
            f.write(str(value))
    except OSError as e:
        with open("/proc/self/oom_score_adj") as f:
            cur = f.read().strip()
        raise PermissionDenied(
            f"process.oomScoreAdj: cannot set {value} (current {cur}; lowering it needs "
            f"CAP_SYS_RESOURCE): {e.strerror}") from None


def set_scheduling(proc: "Process") -> None:
    s = proc.scheduler
    if s is not None:
        flags = 0
        for fl in s["flags"]:
            flags |= SCHED_FLAGS[fl]
        try:
            L.sched_setattr(SCHED_POLICIES[s["policy"]], flags, s["nice"], s["priority"],
                            s["runtime"], s["deadline"], s["period"])
        except OSError as e:
            raise InvalidArgument(f"process.scheduler: {s['policy']}: {e.strerror}") from None
    if proc.io_priority is not None:
        cls, prio = proc.io_priority
        try:
            L.ioprio_set(1, 0, (IOPRIO_CLASSES[cls] << 13) | prio)  # IOPRIO_WHO_PROCESS, self
        except OSError as e:
            raise InvalidArgument(f"process.ioPriority: {cls}/{prio}: {e.strerror}") from None


def drop_bounding(proc: "Process", last: int) -> None:
    if proc.capabilities is None:
        keep = 0
    else:
        keep = cap_mask(proc.capabilities.bounding, last)
    for c in range(last + 1):
        if not keep & (1 << c):
            try:
                L.prctl(L.PR_CAPBSET_DROP, c)
            except OSError as e:
                if e.errno != errno.EINVAL:
                    raise


def set_user(proc: "Process") -> None:
    u = proc.user
    L.prctl(L.PR_SET_KEEPCAPS, 1)
    try:
        try:
            os.setgroups(list(u.additional_gids or []))
        except PermissionError:
            if u.additional_gids:
                raise PermissionDenied(
                    "process.user.additionalGids: setgroups is denied in this user namespace") from None
        os.setresgid(u.gid, u.gid, u.gid)
        os.setresuid(u.uid, u.uid, u.uid)
    except OSError as e:
        raise InvalidArgument(f"process.user: cannot switch to uid {u.uid} gid {u.gid}: "
                              f"{e.strerror} (is it mapped in the user namespace?)") from None
    L.prctl(L.PR_SET_KEEPCAPS, 0)
    if u.umask is not None:
        os.umask(u.umask)
    else:
        os.umask(0o022)


def set_caps(proc: "Process", last: int) -> None:
    c = proc.capabilities
    if c is None:
        L.capset(0, 0, 0)
        return
    eff, perm, inh = (cap_mask(c.effective, last), cap_mask(c.permitted, last),
                      cap_mask(c.inheritable, last))
    L.capset(eff & perm | 0, perm, inh)
    for name in c.ambient:
        n = CAPABILITIES[name]
        if n <= last:
            if not (perm & inh) & (1 << n):
                continue  # the kernel allows only permitted+inheritable ones; runc skips the rest too
            try:
                L.prctl(L.PR_CAP_AMBIENT, L.PR_CAP_AMBIENT_RAISE, n)
            except OSError as e:
                raise InvalidArgument(f"process.capabilities.ambient: cannot raise {name}: {e.strerror}") from None


def chdir_inside(cwd: str) -> None:
    """chdir to the process's cwd, refusing anything that ends outside the root (a
    ``/proc/self/fd/N`` pointing at a leaked host directory: CVE-2024-21626)."""
    root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        fd = open_in_root(root, cwd, os.O_PATH | os.O_DIRECTORY)
    except FileNotFoundError:
        raise NotFound(f"process.cwd: {cwd} does not exist in the container") from None
    except OSError as e:
        raise InvalidArgument(f"process.cwd: {cwd}: {e.strerror}") from None
    finally:
        os.close(root)
    try:
        os.fchdir(fd)
    finally:
        os.close(fd)
    try:
        here = os.getcwd()
    except FileNotFoundError:
        here = "(unreachable)"
    if not here.startswith("/"):
        raise PermissionDenied(f"process.cwd: {cwd} is outside the container's root")


def find_program(arg0: str, env: list[str]) -> str:
    if "/" in arg0:
        if not os.path.exists(arg0):
            raise NotFound(f"exec: {arg0!r}: no such file or directory")
        return arg0
    path = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
    for e in env:
        if e.startswith("PATH="):
            path = e[5:]
    for d in path.split(":"):
        cand = os.path.join(d or ".", arg0)
        if os.path.isfile(cand) and os.access(cand, os.X_OK):
            return cand
    raise NotFound(f"exec: {arg0!r}: executable file not found in $PATH")


def home_of(uid: int) -> str:
    """The home directory of ``uid`` in the container's /etc/passwd ("/" if it has none):
    what HOME is when process.env does not set it."""
    try:
        with open("/etc/passwd", "rb") as f:
            for line in f:
                fields = line.rstrip(b"\n").split(b":")
                if len(fields) >= 6 and fields[2] == str(uid).encode() and fields[5]:
                    return fields[5].decode(errors="surrogateescape")
    except OSError:
        pass
    return "/"


def close_extra_fds(keep_upto: int) -> None:
    """Every fd above ``keep_upto`` is closed at exec (close-on-exec, so that the fds the
    exec itself uses still work)."""
    try:
        L.close_range(keep_upto + 1, 0xFFFFFFFF, CLOSE_RANGE_CLOEXEC)
    except OSError:
        for name in os.listdir("/proc/self/fd"):
            fd = int(name)
            if fd > keep_upto:
                try:
                    os.set_inheritable(fd, False)
                except OSError:
                    pass


def exec_program(args: list[str], env: list[str], preserve_fds: int, before_exec=None) -> None:
    """Exec the user's program; never returns. ``before_exec`` (seccomp load) runs last."""
    program = find_program(args[0], env)
    if not any(e.startswith("HOME=") for e in env):
        env = env + ["HOME=" + home_of(os.getuid())]
    envd = {}
    for e in env:
        k, _, v = e.partition("=")
        envd[k] = v
    close_extra_fds(2 + preserve_fds)
    fd = trampoline.make_fd() if trampoline.supported() else -1
    if before_exec is not None:
        before_exec()
    if fd >= 0:
        os.execve(fd, [program] + args, envd)
    # no trampoline for this architecture: exec directly
    os.execve(program, args, envd)
