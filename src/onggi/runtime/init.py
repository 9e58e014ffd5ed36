"""What runs in the forked children of ``create``: stage 1 joins and creates the
namespaces, then forks the container's init (pid 1 of a new pid namespace), which builds
the rootfs, waits on the exec fifo and execs the user's program.

Protocol with the parent (see :mod:`.sync`)::

    parent                         stage 1                      init
    "go" ------------------------> setns(paths); unshare(user)
           <----------------------- "userns"
    write uid/gid maps
    "ok" ------------------------> unshare(rest); fork -------> (born in all namespaces)
           <----------------------- "pid N"; exit
    add init to the cgroup                                      prepare rootfs, pivot...
    "cgroup" ------------------------------------------------> (waited for late) unshare(cgroup)
           <------------------------------------------------- "hooks" (if any)
    prestart + createRuntime hooks
    "ok" ---------------------------------------------------> createContainer hooks,
                                                               pivot_root, console, ...
           <------------------------------------------------- "ready"
    state.json, pid file; exit                                 open exec.fifo (blocks
                                                               until ``start``), write
                                                               "0", startContainer hooks,
                                                               exec (closes the fifo: EOF
                                                               tells ``start`` to go on)
"""

from __future__ import annotations

import os
import sys

from ..sys import libc as L
from .sync import Channel

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..oci.spec import Spec


class InitContext:
    """Everything the children need, inherited through fork."""

    __slots__ = ("cid", "spec", "rootfs", "bundle", "chan", "fifo_fd", "console_fd", "no_pivot", "no_new_keyring",
                 "preserve_fds", "cgroup_mounts", "cgroup_version", "join", "new_flags",
                 "new_userns", "has_runtime_hooks", "seccomp")

    def __init__(self, **kw: object) -> None:
        for k in self.__slots__:
            setattr(self, k, kw.get(k))


def stage1(ctx: InitContext) -> None:
    """Runs in the first child; never returns."""
    chan: Channel = ctx.chan
    code = 1
    try:
        chan.expect("go", "runtime")
        _join_namespaces(ctx)
        if ctx.new_userns:
            L.unshare(L.CLONE_NEWUSER)
            chan.send("userns")
            chan.expect("ok", "runtime")
            os.setresgid(0, 0, 0)
            os.setresuid(0, 0, 0)
        # the cgroup namespace is made by init, once it is in the container's cgroup
        flags = ctx.new_flags & ~(L.CLONE_NEWUSER | L.CLONE_NEWCGROUP)
        if flags:
            L.unshare(flags)
        if flags & L.CLONE_NEWTIME and ctx.spec.linux.time_offsets:
            with open("/proc/self/timens_offsets", "w") as f:
                for clock, (secs, nsecs) in ctx.spec.linux.time_offsets.items():
                    f.write(f"{clock} {secs} {nsecs}\n")
        pid = os.fork()
        if pid == 0:
            init(ctx)  # never returns
        chan.send("pid", pid)
        code = 0
    except BaseException as e:  # report anything to the parent, then die
        try:
            chan.send_error(e)
        except BaseException:
            pass
    finally:
        os._exit(code)


def _join_namespaces(ctx: InitContext) -> None:
    fds = []
    for ns_type, path, flag in ctx.join:
        try:
            fds.append((ns_type, path, os.open(path, os.O_RDONLY | os.O_CLOEXEC), flag))
        except OSError as e:
            from ..errors import NotFound

            raise NotFound(f"linux.namespaces: {ns_type} namespace path {path}: {e.strerror}") from None
    # the user namespace first: it grants the rights to join the others
    fds.sort(key=lambda t: t[0] != "user")
    for ns_type, path, fd, flag in fds:
        try:
            L.setns(fd, flag)
        except OSError as e:
            from ..errors import PermissionDenied

            raise PermissionDenied(f"linux.namespaces: cannot join {ns_type} namespace {path}: {e.strerror}") from None
        finally:
            os.close(fd)


def init(ctx: InitContext) -> None:
    """pid 1 of the container; never returns."""
    chan: Channel = ctx.chan
    spec: "Spec" = ctx.spec
    try:
        L.prctl(L.PR_SET_DUMPABLE, 0)
        os.setsid()
        os.umask(0)  # device nodes and mount points get exactly the modes asked for
        proc = spec.process
        # After pivot_root the host's filesystem is gone: import now everything the
        # rest of init can need, or the import fails later inside the container.
        from . import lsm, process  # noqa: F401
        if proc is not None and proc.terminal:
            from . import console  # noqa: F401
            import socket  # noqa: F401
        if spec.hooks.start_container:
            from . import hooks  # noqa: F401
            import subprocess  # noqa: F401
        if ctx.new_flags & L.CLONE_NEWNET:  # a new network namespace: lo up, as runc does
            from ..sys.netns import loopback_up

            loopback_up()
        builder = None
        if ctx.new_flags & L.CLONE_NEWNS:
            from .rootfs import RootfsBuilder

            builder = RootfsBuilder(spec, ctx.rootfs, ctx.bundle, bool(ctx.new_userns or _joined_userns(ctx)),
                                    ctx.cgroup_mounts or [], ctx.cgroup_version or "v1",
                                    any(n[0] == "cgroup" for n in ctx.join) or bool(ctx.new_flags & L.CLONE_NEWCGROUP))
            builder.prepare()
        # Wait to be in the container's cgroup as late as possible (the parent's write
        # overlaps this work): before a cgroup namespace or hooks need it, else before
        # the process is finalized.
        early_cgroup = bool(ctx.new_flags & L.CLONE_NEWCGROUP or ctx.has_runtime_hooks
                            or spec.hooks.create_container)
        if early_cgroup:
            _join_cgroup(ctx)
        if ctx.has_runtime_hooks:
            chan.send("hooks")
            chan.expect("ok", "runtime")
        if spec.hooks.create_container:
            from .hooks import run_hooks

            run_hooks(spec.hooks.create_container, _hook_state(ctx), "createContainer")
        seccomp_filter = None
        if spec.linux.seccomp is not None:
            from .seccomp import compile_filter  # loads libseccomp from the host, before pivot

            seccomp_filter = compile_filter(spec.linux.seccomp)
        if not ctx.no_new_keyring:
            _new_keyring(ctx.cid)
        if builder is not None:
            builder.pivot(bool(ctx.no_pivot))
        else:
            os.chroot(ctx.rootfs)
            os.chdir("/")
        if spec.hostname:
            L.sethostname(spec.hostname)
        if spec.domainname:
            L.setdomainname(spec.domainname)
        if proc is not None and proc.terminal:
            from .console import setup_console

            setup_console(ctx.console_fd, proc.console_size, builder is not None)
        if builder is not None:
            builder.finish()
        if not early_cgroup:
            _join_cgroup(ctx)
        _finalize(ctx, seccomp_filter)
    except BaseException as e:
        try:
            chan.send_error(e)
        except BaseException:
            pass
        os._exit(1)


def _new_keyring(cid: str) -> None:
    """A session keyring of the container's own (as runc), so that it does not share the
    caller's keys. Kernels or user namespaces that refuse keyrings are not an error."""
    import errno

    try:
        L.join_session_keyring(f"_ses.{cid}")
    except OSError as e:
        if e.errno not in (errno.ENOSYS, errno.EACCES, errno.EPERM, errno.EDQUOT):
            raise


def _join_cgroup(ctx: InitContext) -> None:
    ctx.chan.expect("cgroup", "runtime")
    if ctx.new_flags & L.CLONE_NEWCGROUP:
        L.unshare(L.CLONE_NEWCGROUP)


def _joined_userns(ctx: InitContext) -> bool:
    return any(n[0] == "user" for n in ctx.join)


def _hook_state(ctx: InitContext, status: str = "creating") -> dict:
    spec = ctx.spec
    return {"ociVersion": spec.oci_version, "id": ctx.cid, "status": status,
            "pid": os.getpid(), "bundle": ctx.bundle, "annotations": spec.annotations}


def _finalize(ctx: InitContext, seccomp_filter: object) -> None:
    from . import process as P

    spec = ctx.spec
    proc = spec.process
    chan: Channel = ctx.chan
    if proc is None:
        from ..errors import InvalidArgument

        raise InvalidArgument("config.json: process: is required to create a container")
    P.set_rlimits(proc)
    P.set_oom_score_adj(proc.oom_score_adj)
    P.set_scheduling(proc)
    if spec.linux.personality:
        L.personality(0x0008 if spec.linux.personality == "LINUX32" else 0)
    last = P._last_cap()
    if proc.no_new_privileges:
        L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
    notify_fd = None
    late_seccomp = seccomp_filter is not None and proc.no_new_privileges and not uses_notify(spec)
    if seccomp_filter is not None and not late_seccomp:
        from .seccomp import load

        notify_fd = load(seccomp_filter)
    from . import lsm

    lsm.apply(proc)
    P.drop_bounding(proc, last)
    P.set_user(proc)
    P.set_caps(proc, last)
    P.chdir_inside(proc.cwd)
    P.find_program(proc.args[0], proc.env)  # fail create, not start, on a missing program
    fifo = ctx.fifo_fd
    if notify_fd is not None:
        chan.send("seccomp", notify_fd)
        chan.expect("ok", "runtime")
        os.close(notify_fd)
    chan.send("ready")
    chan.close()
    # block until `start` opens the fifo for reading
    try:
        wfd = os.open(f"/proc/self/fd/{fifo}", os.O_WRONLY | os.O_CLOEXEC)
    except OSError as e:
        sys.stderr.write(f"onggi-runtime init: open exec fifo: {e.strerror} (is /proc mounted?)\n")
        os._exit(1)
    os.write(wfd, b"0")
    # wfd stays open until the exec closes it (close-on-exec): ``start`` reads to end of
    # file, so that poststart hooks run only once the program runs
    os.close(fifo)
    if spec.hooks.start_container:
        from .hooks import run_hooks

        try:
            run_hooks(spec.hooks.start_container, _hook_state(ctx, "created"), "startContainer")
        except Exception as e:
            sys.stderr.write(f"onggi-runtime init: {e}\n")
            os._exit(1)
    before = None
    if late_seccomp:
        from .seccomp import load

        def before() -> None:
            load(seccomp_filter)
    try:
        P.exec_program(proc.args, proc.env, ctx.preserve_fds or 0, before)
    except BaseException as e:
        sys.stderr.write(f"onggi-runtime init: exec {proc.args[0]}: {e}\n")
        sys.stderr.flush()
        os._exit(127)


def uses_notify(spec: "Spec") -> bool:
    s = spec.linux.seccomp
    return s is not None and (s.default_action == "SCMP_ACT_NOTIFY" or
                              any(r.action == "SCMP_ACT_NOTIFY" for r in s.syscalls))
