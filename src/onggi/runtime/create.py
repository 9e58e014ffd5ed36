"""``create``: make a container from a bundle and leave its init waiting on the exec
fifo. On any failure nothing is left behind: no process, cgroup or state directory."""

from __future__ import annotations

import fcntl
import os

from ..errors import InvalidArgument, NotFound, OnggiError
from ..oci import jsonio
from ..oci.linux import NAMESPACE_TYPES
from ..oci.spec import Spec
from ..sys import libc as L
from . import status as st
from .state import FIFO, Container, proc_start_time
from .sync import Channel

NS_GET_NSTYPE = 0xB703


class Options:
    __slots__ = ("bundle", "pid_file", "console_socket", "no_pivot", "preserve_fds",
                 "systemd_cgroup", "no_new_keyring", "console_fd", "loaded")

    def __init__(self, bundle: str = ".", pid_file: str | None = None, console_socket: str | None = None,
                 no_pivot: bool = False, preserve_fds: int = 0, systemd_cgroup: bool = False,
                 no_new_keyring: bool = False, console_fd: int = -1) -> None:
        self.bundle = bundle
        self.pid_file = pid_file
        self.console_socket = console_socket
        self.no_pivot = no_pivot
        self.preserve_fds = preserve_fds
        self.systemd_cgroup = systemd_cgroup
        self.no_new_keyring = no_new_keyring
        self.console_fd = console_fd
        self.loaded: tuple | None = None  # load_bundle's result, when the caller has it


def load_bundle(bundle: str) -> tuple[str, Spec, str]:
    bundle = os.path.abspath(bundle)
    if not os.path.isdir(bundle):
        raise NotFound(f"bundle {bundle}: no such directory")
    spec = Spec.parse(jsonio.load_file(os.path.join(bundle, "config.json"), "config.json"))
    rootfs = spec.root.path
    if not rootfs.startswith("/"):
        rootfs = os.path.join(bundle, rootfs)
    rootfs = os.path.realpath(rootfs)
    if not os.path.isdir(rootfs):
        raise NotFound(f"config.json: root.path: rootfs {rootfs} does not exist or is not a directory")
    if spec.process is None:
        raise InvalidArgument("config.json: process: is required to create a container")
    if spec.linux.intel_rdt:
        from ..errors import Unsupported

        raise Unsupported("config.json: linux.intelRdt: Intel RDT is not supported by onggi-runtime")
    from . import lsm

    lsm.check(spec.process)
    return bundle, spec, rootfs


def _namespace_plan(spec: Spec) -> tuple[list[tuple[str, str, int]], int]:
    """(namespaces to join: type, path, flag), flags of the new ones."""
    join = []
    new = 0
    for ns in spec.linux.namespaces:
        flag = L.NS_FLAGS[ns.type]
        if ns.path is None:
            new |= flag
            continue
        try:
            fd = os.open(ns.path, os.O_RDONLY | os.O_CLOEXEC)
        except OSError as e:
            raise NotFound(f"config.json: linux.namespaces: {ns.type} path {ns.path}: {e.strerror}") from None
        try:
            actual = fcntl.ioctl(fd, NS_GET_NSTYPE)
        except OSError:
            raise InvalidArgument(f"config.json: linux.namespaces: {ns.path} is not a namespace file") from None
        finally:
            os.close(fd)
        if actual != flag:
            kind = next((k for k, v in L.NS_FLAGS.items() if v == actual), hex(actual))
            raise InvalidArgument(f"config.json: linux.namespaces: {ns.path} is a {kind} namespace, "
                                  f"not {ns.type} ({NAMESPACE_TYPES[ns.type]})")
        join.append((ns.type, ns.path, flag))
    return join, new


def _write_id_maps(pid: int, spec: Spec) -> None:
    def fmt(maps: list) -> str:
        return "".join(f"{m.container_id} {m.host_id} {m.size}\n" for m in maps)

    uid_maps, gid_maps = spec.linux.uid_mappings, spec.linux.gid_mappings
    unprivileged = os.geteuid() != 0
    try:
        if unprivileged:
            with open(f"/proc/{pid}/setgroups", "w") as f:
                f.write("deny")
        with open(f"/proc/{pid}/uid_map", "w") as f:
            f.write(fmt(uid_maps))
        with open(f"/proc/{pid}/gid_map", "w") as f:
            f.write(fmt(gid_maps))
    except OSError as e:
        if unprivileged and _try_newidmap(pid, uid_maps, gid_maps):
            return
        raise InvalidArgument(f"config.json: linux.uidMappings/gidMappings: the kernel refused them: "
                              f"{e.strerror}") from None


def _try_newidmap(pid: int, uid_maps: list, gid_maps: list) -> bool:
    import shutil
    import subprocess

    tools = (shutil.which("newuidmap"), shutil.which("newgidmap"))
    if not all(tools):
        return False
    for tool, maps in zip(tools, (uid_maps, gid_maps)):
        args = [tool, str(pid)] + [str(x) for m in maps for x in (m.container_id, m.host_id, m.size)]
        if subprocess.run(args, capture_output=True).returncode != 0:
            return False
    return True


def create(root: str, cid: str, opts: Options) -> Container:
    bundle, spec, rootfs = opts.loaded or load_bundle(opts.bundle)
    join, new_flags = _namespace_plan(spec)
    c = Container.new(root, cid)
    pid = 0
    mgr = None
    console_fd = opts.console_fd
    chan = child_chan = None
    try:
        c.bundle, c.rootfs, c.annotations = bundle, rootfs, spec.annotations
        c.owner = "" if os.geteuid() == 0 else str(os.geteuid())
        c.config = spec.raw  # later commands (exec, hooks of start/delete) use this copy
        fifo = os.path.join(c.dir, FIFO)
        old = os.umask(0)
        try:
            os.mkfifo(fifo, 0o622)
        finally:
            os.umask(old)
        fifo_fd = os.open(fifo, os.O_PATH | os.O_CLOEXEC)
        from . import cgroup as cg

        mgr = cg.setup(spec, cid, opts.systemd_cgroup)
        if mgr is not None:
            c.cgroup = {"version": mgr.version, "paths": mgr.paths}
            # after the mkdirs (a warming write holds cgroup_mutex through its wait), and
            # long before init's pid is written into the cgroup
            from ..cgroups import warm

            warm.start()
        if opts.console_socket and spec.process.terminal:
            from .console import connect_socket

            console_fd = connect_socket(opts.console_socket)
        elif spec.process.terminal and console_fd < 0:
            raise InvalidArgument("process.terminal is true: --console-socket is required with create "
                                  "(or use run, which attaches the terminal itself)")
        chan, child_chan = Channel.pair()
        from .init import InitContext, stage1

        ctx = InitContext(
            cid=cid, spec=spec, rootfs=rootfs, bundle=bundle, chan=child_chan, fifo_fd=fifo_fd,
            console_fd=console_fd, no_pivot=opts.no_pivot, no_new_keyring=opts.no_new_keyring,
            preserve_fds=opts.preserve_fds,
            cgroup_mounts=mgr.mounts_for_container() if mgr is not None else [],
            cgroup_version=mgr.version if mgr is not None else "v1", join=join, new_flags=new_flags,
            new_userns=bool(new_flags & L.CLONE_NEWUSER),
            has_runtime_hooks=bool(spec.hooks.prestart or spec.hooks.create_runtime),
            seccomp=spec.linux.seccomp)
        L.prctl(L.PR_SET_CHILD_SUBREAPER, 1)
        stage1_pid = os.fork()
        if stage1_pid == 0:
            chan.close()
            c.unlock()  # the flock belongs to this command, not to the container
            stage1(ctx)  # never returns
        child_chan.close()
        os.close(fifo_fd)
        if console_fd >= 0:
            os.close(console_fd)
            console_fd = -1
        _send(chan, "go")
        if ctx.new_userns:
            chan.expect("userns", "container init")
            _write_id_maps(stage1_pid, spec)
            _send(chan, "ok")
        pid = int(chan.expect("pid", "container init")[0])
        os.waitpid(stage1_pid, 0)
        c.pid = pid
        c.start_time = proc_start_time(pid)
        # Joining a v1 cgroup waits for an RCU grace period (about 9 ms here): do it while
        # init builds the rootfs; init waits for "cgroup" before anything that needs it
        # (a cgroup namespace, rlimits, the exec).
        if mgr is not None:
            mgr.add_pid(pid)
        from ..cgroups import warm

        warm.stop()
        _send(chan, "cgroup")
        _wait_ready(chan, c, spec, mgr)
        c.status = st.CREATED
        c.save()
        if opts.pid_file:
            write_pid_file(opts.pid_file, pid)
        return c
    except BaseException:
        if pid:
            _kill_wait(pid)
        if mgr is not None:
            try:
                mgr.destroy()
            except OnggiError:
                pass
        c.remove()
        raise
    finally:
        from ..cgroups import warm

        warm.stop()
        c.unlock()
        if chan is not None:
            chan.close()
        if console_fd >= 0:
            os.close(console_fd)


def _send(chan: Channel, *words: str) -> None:
    """Send to init; when init has already gone (it failed), raise the error it sent."""
    try:
        chan.send(*words)
    except BrokenPipeError:
        msg = chan.recv()
        if msg and msg[0] == "error":
            from .sync import rebuild_error

            raise rebuild_error(msg) from None
        raise OnggiError("container init exited before it was ready") from None


def _wait_ready(chan: Channel, c: Container, spec: Spec, mgr=None) -> None:
    while True:
        msg = chan.recv()
        if not msg:
            if mgr is not None and mgr.oom_kill_count() > 0:
                raise OnggiError(f"container {c.id}: init was killed by the OOM killer while it set up "
                                 f"the container: config.json: linux.resources.memory.limit is too low")
            raise OnggiError(f"container {c.id}: init exited before it was ready")
        if msg[0] == "error":
            from .sync import rebuild_error

            raise rebuild_error(msg)
        if msg[0] == "hooks":
            from .hooks import run_hooks

            state = c.oci_state(spec.oci_version)
            state["status"] = st.CREATING
            state["pid"] = c.pid
            run_hooks(spec.hooks.prestart, state, "prestart")
            run_hooks(spec.hooks.create_runtime, state, "createRuntime")
            _send(chan, "ok")
        elif msg[0] == "seccomp":
            forward_notify_fd(c, spec, c.pid, int(msg[1]), st.CREATING)
            _send(chan, "ok")
        elif msg[0] == "ready":
            return


def forward_notify_fd(c: Container, spec: Spec, pid: int, child_fd: int, status: str) -> None:
    """Take the seccomp notify fd ``child_fd`` of process ``pid`` and hand it, with the
    container's state, to the agent listening on linux.seccomp.listenerPath."""
    from .seccomp import send_notify_fd

    fd = _take_fd(pid, child_fd)
    try:
        state = c.oci_state(spec.oci_version)
        state["status"] = status
        send_notify_fd(spec.linux.seccomp.listener_path, fd, jsonio.dumps(state),
                       spec.linux.seccomp.listener_metadata)
    finally:
        os.close(fd)


def _take_fd(pid: int, fd: int) -> int:
    pidfd = os.pidfd_open(pid)
    try:
        return L.syscall("pidfd_getfd", pidfd, fd, 0)
    finally:
        os.close(pidfd)


def _kill_wait(pid: int) -> None:
    try:
        os.kill(pid, 9)
    except ProcessLookupError:
        return
    try:
        os.waitpid(pid, 0)
    except ChildProcessError:
        # not our child (already reaped elsewhere): wait until it is gone
        import time

        for _ in range(200):
            if proc_start_time(pid) is None:
                break
            time.sleep(0.005)


def write_pid_file(path: str, pid: int) -> None:
    path = os.path.abspath(path)
    tmp = os.path.join(os.path.dirname(path), f".{os.path.basename(path)}.tmp{os.getpid()}")
    with open(tmp, "w") as f:
        f.write(str(pid))
    os.rename(tmp, path)
