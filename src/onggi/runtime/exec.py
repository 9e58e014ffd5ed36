"""``exec``: run a new process in a created or running container: join its namespaces
and cgroup, apply the process's user, capabilities, rlimits and the container's seccomp
profile, and exec (through the sealed trampoline, like init)."""

from __future__ import annotations

import os

from ..errors import FailedPrecondition, InvalidArgument, OnggiError
from ..oci import jsonio
from ..oci.spec import Process
from ..sys import libc as L
from . import status as st
from .init import uses_notify
from .state import Container
from .sync import Channel

# join order: the user namespace first (it grants the rights to join the others), the
# mount namespace last (after it, host paths are gone)
_NS_ORDER = ("user", "cgroup", "ipc", "uts", "net", "pid", "time", "mnt")
_NS_FLAG = {"user": L.CLONE_NEWUSER, "cgroup": L.CLONE_NEWCGROUP, "ipc": L.CLONE_NEWIPC,
            "uts": L.CLONE_NEWUTS, "net": L.CLONE_NEWNET, "pid": L.CLONE_NEWPID,
            "time": L.CLONE_NEWTIME, "mnt": L.CLONE_NEWNS}


class ExecOptions:
    __slots__ = ("console_socket", "detach", "pid_file", "preserve_fds", "ignore_paused", "console_fd")

    def __init__(self, console_socket: str | None = None, detach: bool = False, pid_file: str | None = None,
                 preserve_fds: int = 0, ignore_paused: bool = False) -> None:
        self.console_socket = console_socket
        self.detach = detach
        self.pid_file = pid_file
        self.preserve_fds = preserve_fds
        self.ignore_paused = ignore_paused
        self.console_fd = -1


def process_from_flags(base: dict, args: list[str], o: dict) -> Process:
    """runc's exec without --process: the container's own process with the flags applied."""
    p = dict(base)
    if not args:
        raise InvalidArgument("exec: no command given (usage: exec <container-id> <command> [args...])")
    p["args"] = args
    p["terminal"] = bool(o.get("tty"))
    p.pop("consoleSize", None)
    env = list(p.get("env") or [])
    for e in o.get("env") or []:
        if "=" not in e:
            raise InvalidArgument(f"--env {e!r}: expected KEY=VALUE")
        key = e.split("=", 1)[0] + "="
        env = [x for x in env if not x.startswith(key)] + [e]
    p["env"] = env
    if o.get("cwd"):
        p["cwd"] = o["cwd"]
    user = dict(p.get("user") or {"uid": 0, "gid": 0})
    if o.get("user"):
        uid, _, gid = o["user"].partition(":")
        try:
            user["uid"] = int(uid)
            if gid:
                user["gid"] = int(gid)
        except ValueError:
            raise InvalidArgument(f"--user {o['user']!r}: expected UID[:GID] as numbers") from None
    if o.get("additional_gids"):
        try:
            user["additionalGids"] = [int(g) for g in o["additional_gids"]]
        except ValueError:
            raise InvalidArgument("--additional-gids: expected numbers") from None
    p["user"] = user
    if o.get("cap"):
        caps = {k: list(v) for k, v in (p.get("capabilities") or {}).items()}
        for c in o["cap"]:
            for k in ("bounding", "effective", "permitted", "ambient", "inheritable"):
                if k == "inheritable" and k not in caps:
                    continue
                caps.setdefault(k, [])
                if c not in caps[k]:
                    caps[k].append(c)
        p["capabilities"] = caps
    if o.get("no_new_privs"):
        p["noNewPrivileges"] = True
    if o.get("apparmor"):
        p["apparmorProfile"] = o["apparmor"]
    return Process.parse(p)


def exec_from_cli(root: str, cid: str, args: list[str], o: dict) -> int:
    c = Container.load(root, cid, lock=False)
    if o.get("process"):
        path = o["process"]
        data = jsonio.loads(_read(path), f"--process {path}")
        proc = Process.parse(data if isinstance(data, dict) else {}, "process")
    else:
        proc = process_from_flags(c.config.get("process") or {"cwd": "/", "args": ["sh"]}, args, o)
    if o.get("cgroup"):
        from ..errors import Unsupported

        raise Unsupported("exec --cgroup: joining a sub-cgroup is not supported")
    opts = ExecOptions(o.get("console_socket"), bool(o.get("detach")), o.get("pid_file"),
                       int(o.get("preserve_fds") or 0), bool(o.get("ignore_paused")))
    return execute(c, proc, opts)


def _read(path: str) -> bytes:
    from ..errors import NotFound

    try:
        if path == "-":
            import sys

            return sys.stdin.buffer.read()
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise NotFound(f"--process {path}: no such file") from None


def execute(c: Container, proc: Process, opts: ExecOptions) -> int:
    """Run ``proc`` in container ``c``. Detached: returns 0 once it runs; else waits and
    returns its exit status."""
    if c.status == st.PAUSED and not opts.ignore_paused:
        raise FailedPrecondition(f"cannot exec in container {c.id}: it is paused")
    if not st.can_exec(c.status) and c.status != st.PAUSED:
        raise FailedPrecondition(f"cannot exec in container {c.id}: it is {c.status}")
    spec = c.spec()
    nss = _namespaces_to_join(c.pid)
    sock = None
    console_fd = -1
    if proc.terminal:
        if opts.console_socket:
            from .console import connect_socket

            console_fd = connect_socket(opts.console_socket)
        elif opts.detach:
            raise InvalidArgument("exec --tty --detach needs --console-socket")
        else:
            import socket

            sock, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            console_fd = b.detach()
    seccomp_filter = None
    if spec.linux.seccomp is not None:
        from .seccomp import compile_filter

        seccomp_filter = compile_filter(spec.linux.seccomp)
    from . import lsm, process as P  # noqa: F401  (imported before the fork: see _child)

    lsm.check(proc)

    if proc.terminal:
        from . import console  # noqa: F401
    chan, child_chan = Channel.pair()
    L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
    stage1 = os.fork()
    if stage1 == 0:
        chan.close()
        _stage1(child_chan, c, nss, proc, spec, seccomp_filter, console_fd, opts.preserve_fds)
    child_chan.close()
    if console_fd >= 0:
        os.close(console_fd)
    pid = 0
    try:
        if c.cgroup:
            from .cgroup import manager_for

            try:
                manager_for(c).add_pid(stage1)
            except OnggiError:
                pass  # the container's cgroup may be gone with its last process
            from ..cgroups import warm

            warm.stop()
        chan.send("go")
        pid = int(chan.expect("pid", "exec")[0])
        os.waitpid(stage1, 0)
        while True:
            msg = chan.recv()
            if not msg:  # close-on-exec: the program runs
                break
            if msg[0] == "error":
                from .sync import rebuild_error

                raise rebuild_error(msg)
            if msg[0] == "seccomp":
                from .create import forward_notify_fd

                forward_notify_fd(c, spec, pid, int(msg[1]), st.RUNNING)
                chan.send("ok")
    except BaseException:
        if pid:
            try:
                os.kill(pid, 9)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError):
                pass
        try:
            os.waitpid(stage1, os.WNOHANG)
        except ChildProcessError:
            pass
        raise
    finally:
        chan.close()
    if opts.pid_file:
        from .create import write_pid_file

        write_pid_file(opts.pid_file, pid)
    tty_master = -1
    if sock is not None:
        from .console import recv_fd

        tty_master = recv_fd(sock.fileno())
        sock.close()
    if opts.detach:
        return 0
    from .waiting import wait_container

    return wait_container(pid, tty_master)


def _namespaces_to_join(pid: int) -> list[tuple[str, str]]:
    out = []
    for ns in _NS_ORDER:
        path = f"/proc/{pid}/ns/{ns}"
        try:
            theirs = os.stat(path)
        except FileNotFoundError:
            continue
        except OSError as e:
            raise FailedPrecondition(f"cannot exec: container init {pid} is gone: {e.strerror}") from None
        try:
            mine = os.stat(f"/proc/self/ns/{ns}")
        except FileNotFoundError:
            continue
        if (theirs.st_ino, theirs.st_dev) != (mine.st_ino, mine.st_dev):
            out.append((ns, path))
    return out


def _stage1(chan: Channel, c: Container, nss: list, proc: Process, spec: object, seccomp_filter: object,
            console_fd: int, preserve_fds: int) -> None:
    code = 1
    try:
        L.prctl(L.PR_SET_DUMPABLE, 0)
        chan.expect("go", "runtime")
        fds = [(ns, os.open(path, os.O_RDONLY | os.O_CLOEXEC)) for ns, path in nss]
        for ns, fd in fds:
            try:
                L.setns(fd, _NS_FLAG[ns])
            except OSError as e:
                raise FailedPrecondition(f"exec: cannot join the container's {ns} namespace: {e.strerror}") from None
            os.close(fd)
        pid = os.fork()
        if pid == 0:
            _child(chan, proc, spec, seccomp_filter, console_fd, preserve_fds)
        chan.send("pid", pid)
        code = 0
    except BaseException as e:
        try:
            chan.send_error(e)
        except BaseException:
            pass
    finally:
        os._exit(code)


def _child(chan: Channel, proc: Process, spec, seccomp_filter, console_fd: int, preserve_fds: int) -> None:  # noqa: ANN001
    from . import process as P

    try:
        os.setsid()
        if proc.terminal:
            from .console import setup_console

            setup_console(console_fd, proc.console_size, False)
        P.set_rlimits(proc)
        P.set_oom_score_adj(proc.oom_score_adj)
        P.set_scheduling(proc)
        last = P._last_cap()
        if proc.no_new_privileges:
            L.prctl(L.PR_SET_NO_NEW_PRIVS, 1)
        # a notify filter is loaded early, so that its fd can reach the listener
        late = seccomp_filter is not None and proc.no_new_privileges and not uses_notify(spec)
        if seccomp_filter is not None and not late:
            from .seccomp import load

            notify_fd = load(seccomp_filter)
            if notify_fd is not None:
                chan.send("seccomp", notify_fd)
                chan.expect("ok", "runtime")
                os.close(notify_fd)
        from . import lsm

        lsm.apply(proc)
        P.drop_bounding(proc, last)
        P.set_user(proc)
        P.set_caps(proc, last)
        P.chdir_inside(proc.cwd)
        P.find_program(proc.args[0], proc.env)
        before = None
        if late:
            from .seccomp import load

            def before() -> None:
                load(seccomp_filter)
        # the channel is close-on-exec: the parent sees EOF once the exec happened
        P.exec_program(proc.args, proc.env, preserve_fds, before)
    except BaseException as e:
        try:
            chan.send_error(e)
        except BaseException:
            pass
        os._exit(127)
