"""podman 4.3 drives onggi-runtime (``podman --runtime /usr/local/bin/onggi-runtime``).

podman is isolated from the host's: its own storage (``--root``), run root, libpod tmpdir,
file locks, network config dir and containers.conf, all in one temporary directory that
is removed at the end of the session (after checking nothing is left mounted under it).
Containers run with ``--network none`` so that no test touches the host's firewall or
bridges; the pod test still joins namespaces by path (the pod's infra container).

The runtime keeps its state in its default root (/run/onggi-runtime): podman 4.3 can pass
``--runtime-flag root=DIR`` to the runtime, but it leaves that flag out of the exit command
(``podman container cleanup``) that conmon runs, whose ``delete`` then looks in the default
root and the next ``podman restart`` fails with "container with given ID already exists".
Container ids are podman's random 64-hex ids, so nothing collides there; each test checks
that the state dirs of its containers are gone when it has removed them.

The test image is made without a registry: the ``busybox_rootfs`` tree, tarred and
``podman import``-ed. The pod's infra image is the one podman 4 builds locally from
catatonit (``localhost/podman-pause``); podman looks for catatonit in
``helper_binaries_dir``, so that list gets a directory holding a link to Debian's
/usr/bin/catatonit.

Set ONGGI_PODMAN_RUNTIME to run the same tests with another runtime (``/usr/sbin/runc``
is the reference they were checked against).
"""

from __future__ import annotations

import os
import pty
import select
import shutil
import subprocess
import tempfile
import time
import uuid

import pytest

pytestmark = pytest.mark.interop

PODMAN = shutil.which("podman")
RUNTIME = os.environ.get("ONGGI_PODMAN_RUNTIME") or shutil.which("onggi-runtime") or "/usr/local/bin/onggi-runtime"
# the runtime's default --root when podman drives it as root: /run/runc, /run/onggi-runtime
RUNTIME_ROOT = "/run/" + os.path.basename(RUNTIME)
IMAGE = "localhost/onggi-busybox:test"


class Podman:
    """``podman`` with every global option that keeps it off the host's storage."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.conf = os.path.join(base, "containers.conf")
        self.env = dict(os.environ, CONTAINERS_CONF=self.conf, XDG_RUNTIME_DIR=os.path.join(base, "xdg"))
        self.env.pop("CONTAINER_HOST", None)
        self.env.pop("CONTAINER_CONNECTION", None)

    def argv(self, *args: str) -> list[str]:
        b = self.base
        return [PODMAN, "--root", f"{b}/storage", "--runroot", f"{b}/run", "--tmpdir", f"{b}/tmp",
                "--storage-driver", "overlay", "--cgroup-manager", "cgroupfs", "--events-backend", "file",
                "--runtime", RUNTIME, *args]

    def __call__(self, *args: str, check: bool = False, timeout: float = 120,
                 input: str | None = None) -> subprocess.CompletedProcess:
        # files, not pipes: conmon of a detached container must not hold our pipes open
        with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
            p = subprocess.run(self.argv(*args), env=self.env, stdout=out, stderr=err, timeout=timeout,
                               input=input, text=True, stdin=None if input is not None else subprocess.DEVNULL)
            out.seek(0)
            err.seek(0)
            r = subprocess.CompletedProcess(p.args, p.returncode, out.read(), err.read())
        if check and r.returncode != 0:
            raise AssertionError(f"podman {' '.join(args)} -> {r.returncode}\n{r.stdout}\n{r.stderr}")
        return r

    def inspect(self, name: str, fmt: str) -> str:
        return self("inspect", "--format", fmt, name, check=True).stdout.strip()


def _mounts_under(path: str) -> list[str]:
    with open("/proc/self/mountinfo") as f:
        points = [line.split()[4] for line in f]
    return [p for p in points if p == path or p.startswith(path + "/")]


@pytest.fixture(scope="session")
def podman(tmp_path_factory, busybox_rootfs):  # noqa: ANN001, ANN201
    if PODMAN is None:
        pytest.skip("podman is not installed (apt-get install podman)")
    if os.geteuid() != 0:
        pytest.skip("the podman tests run podman as root")
    if not os.access(RUNTIME, os.X_OK):
        pytest.skip(f"{RUNTIME} is not installed (run tools/install.sh)")
    base = str(tmp_path_factory.mktemp("podman"))
    for d in ("xdg", "helpers", "networks", "tmp"):
        os.makedirs(os.path.join(base, d), mode=0o700)
    catatonit = shutil.which("catatonit") or "/usr/bin/catatonit"
    if os.path.exists(catatonit):
        os.symlink(catatonit, os.path.join(base, "helpers", "catatonit"))
    with open(os.path.join(base, "containers.conf"), "w") as f:
        # default_ulimits = []: podman's default nofile=1048576 is above this machine's
        # hard limit and nothing here has CAP_SYS_RESOURCE (MACHINE.md)
        f.write(f"""[containers]
default_ulimits = []

[engine]
cgroup_manager = "cgroupfs"
events_logger = "file"
lock_type = "file"
helper_binaries_dir = ["/usr/lib/podman", "/usr/libexec/podman", "{base}/helpers"]

[network]
network_config_dir = "{base}/networks"
""")
    pm = Podman(base)
    tar = subprocess.run(["tar", "-C", busybox_rootfs, "-c", "."], capture_output=True, check=True).stdout
    p = subprocess.run(pm.argv("import", "--change", 'CMD=["/bin/sh"]', "-", IMAGE), input=tar, env=pm.env,
                       capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr.decode()
    yield pm
    for args in (("pod", "rm", "--all", "--force", "--time", "0"), ("rm", "--all", "--force", "--time", "0"),
                 ("rmi", "--all", "--force")):
        pm(*args, timeout=120)
    leftover = _mounts_under(base)
    for point in sorted(leftover, reverse=True):
        subprocess.run(["umount", "-l", point], check=False)
    shutil.rmtree(base, ignore_errors=True)
    assert not leftover, f"podman left mounts behind: {leftover}"
    assert not _mounts_under(base)


@pytest.fixture
def names(podman):  # noqa: ANN001, ANN201
    """names(kind='c') -> a fresh container (or pod, kind='p') name; all removed afterwards."""
    made: list[tuple[str, str]] = []

    def new(kind: str = "c") -> str:
        n = f"onggi-{kind}-{uuid.uuid4().hex[:8]}"
        made.append((kind, n))
        return n

    yield new
    # the ids of what was made (even if the test removed it already), from podman's events
    ids, pod_ids = [], []
    want = {n for _, n in made}
    for t, bucket in (("pod", pod_ids), ("container", ids)):
        r = podman("events", "--stream=false", "--filter", f"type={t}", "--filter", "event=create",
                   "--format", "{{.ID}} {{.Name}}")
        for line in r.stdout.splitlines():
            i, _, name = line.partition(" ")
            infra = t == "container" and name.endswith("-infra") and any(p.startswith(name[:-6]) for p in pod_ids)
            if name in want or infra:
                bucket.append(i)
    for kind, n in reversed(made):
        if kind == "p":
            podman("pod", "rm", "--force", "--time", "0", "--ignore", n)
        else:
            podman("rm", "--force", "--time", "0", "--ignore", n)
    for kind, n in made:
        r = podman("pod" if kind == "p" else "container", "exists", n)
        assert r.returncode == 1, f"{n} was not removed"
    # podman 4.3 itself (runc as its runtime shows it too) leaves a pod's cgroup behind in
    # the named v1 hierarchy and in the empty v2 one of a hybrid host: remove it for it
    for pid_ in pod_ids:
        for h in ("systemd", "unified"):
            try:
                os.rmdir(f"/sys/fs/cgroup/{h}/libpod_parent/{pid_}")
            except OSError:
                pass
    left = [i for i in ids if os.path.exists(os.path.join(RUNTIME_ROOT, i))]
    assert not left, f"runtime state left in {RUNTIME_ROOT}: {left}"
    cgroups = [d for i in ids + pod_ids for d in _cgroup_dirs(i)]
    assert not cgroups, f"cgroups left behind: {cgroups}"


def _cgroup_dirs(cid: str) -> list[str]:
    """The cgroup dirs named after a container or pod id, in every hierarchy."""
    out = []
    for h in os.listdir("/sys/fs/cgroup"):
        for name in (cid, f"libpod-{cid}"):
            d = os.path.join("/sys/fs/cgroup", h, "libpod_parent", name)
            if os.path.isdir(d):
                out.append(d)
    return out


def run_on_pty(argv: list[str], env: dict, steps: list[tuple[str, str]], timeout: float = 60) -> tuple[int, str]:
    """Run ``argv`` on a new pseudo-terminal; for each (wait_for, send) wait until the
    output so far holds ``wait_for``, then type ``send``. Returns (exit code, output)."""
    pid, fd = pty.fork()
    if pid == 0:  # the child: podman on the terminal
        try:
            os.execvpe(argv[0], argv, env)
        finally:
            os._exit(127)
    out = b""
    deadline = time.monotonic() + timeout

    def read_some() -> bool:
        nonlocal out
        if time.monotonic() > deadline:
            raise AssertionError(f"{argv}: timed out; output: {out!r}")
        if select.select([fd], [], [], 0.2)[0]:
            try:
                chunk = os.read(fd, 4096)
            except OSError:  # EIO: the last holder of the terminal is gone
                chunk = b""
            out += chunk
            return bool(chunk)
        return True

    try:
        for want, send in steps:
            while want.encode() not in out:
                if not read_some():
                    raise AssertionError(f"{argv}: end of output before {want!r}; output: {out!r}")
            os.write(fd, send.encode())
        status = None
        while status is None:
            more = read_some()
            wpid, st = os.waitpid(pid, os.WNOHANG)
            if wpid:
                status = st
            elif not more:
                time.sleep(0.05)
        pid = 0
        while select.select([fd], [], [], 0)[0]:  # what is still buffered
            try:
                chunk = os.read(fd, 4096)
            except OSError:
                break
            if not chunk:
                break
            out += chunk
        return os.waitstatus_to_exitcode(status), out.decode(errors="replace")
    finally:
        if pid:
            os.kill(pid, 9)
            os.waitpid(pid, 0)
        os.close(fd)


# ---------------------------------------------------------------------------- run


def test_run_rm_echo(podman, names):
    r = podman("run", "--rm", "--network", "none", "--name", names(), IMAGE, "echo", "hello")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "hello\n"


def test_exit_code_passthrough(podman, names):
    r = podman("run", "--rm", "--network", "none", "--name", names(), IMAGE, "sh", "-c", "exit 5")
    assert r.returncode == 5, r.stderr


def test_run_command_not_found(podman, names):
    # podman maps "executable not found" from the runtime to 127
    r = podman("run", "--rm", "--network", "none", "--name", names(), IMAGE, "/no/such/program")
    assert r.returncode == 127, f"{r.returncode}: {r.stderr}"
    assert "/no/such/program" in r.stderr


def test_run_user_workdir_env_readonly(podman, names):
    r = podman("run", "--rm", "--network", "none", "--name", names(), "--user", "65534:65534", "-w", "/tmp",
               "-e", "JAR=onggi", "--read-only", "--hostname", "jar", IMAGE,
               "sh", "-c", "id -u; id -g; pwd; echo $JAR; hostname; touch /x 2>/dev/null || echo ro")
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["65534", "65534", "/tmp", "onggi", "jar", "ro"]


def test_run_bind_volume(podman, names, tmp_path):
    (tmp_path / "in.txt").write_text("from the host\n")
    r = podman("run", "--rm", "--network", "none", "--name", names(), "-v", f"{tmp_path}:/data", IMAGE,
               "sh", "-c", "cat /data/in.txt; echo back > /data/out.txt")
    assert r.returncode == 0, r.stderr
    assert r.stdout == "from the host\n"
    assert (tmp_path / "out.txt").read_text() == "back\n"


def test_detached_exec_logs_pause_stop_rm(podman, names):
    n = names()
    podman("run", "-d", "--network", "none", "--name", n, IMAGE,
           "sh", "-c", "echo started; trap 'echo bye; exit 0' TERM; while :; do sleep 0.1; done", check=True)
    assert podman.inspect(n, "{{.State.Status}}") == "running"
    assert podman.inspect(n, "{{.OCIRuntime}}") == RUNTIME
    r = podman("exec", n, "sh", "-c", "echo $((6 * 7))")
    assert r.returncode == 0 and r.stdout == "42\n", r.stderr
    assert podman("exec", n, "sh", "-c", "exit 3").returncode == 3
    r = podman("exec", "--user", "65534", "-w", "/tmp", "-e", "X=y", n, "sh", "-c", "id -u; pwd; echo $X")
    assert r.stdout.split() == ["65534", "/tmp", "y"], r.stderr
    deadline = time.monotonic() + 10
    while "started" not in podman("logs", n).stdout and time.monotonic() < deadline:
        time.sleep(0.1)
    assert podman("logs", n, check=True).stdout.splitlines()[0] == "started"
    podman("pause", n, check=True)
    assert podman.inspect(n, "{{.State.Status}}") == "paused"
    podman("unpause", n, check=True)
    assert podman.inspect(n, "{{.State.Status}}") == "running"
    t0 = time.monotonic()
    podman("stop", "-t", "10", n, check=True)
    assert time.monotonic() - t0 < 8, "the TERM trap should have ended it at once"
    assert podman.inspect(n, "{{.State.Status}}") == "exited"
    assert podman.inspect(n, "{{.State.ExitCode}}") == "0"
    assert "bye" in podman("logs", n, check=True).stdout
    podman("rm", n, check=True)
    assert podman("container", "exists", n).returncode == 1


def test_stop_escalates_to_kill(podman, names):
    n = names()
    # sleep as pid 1 has no TERM handler, so the kernel drops TERM: only KILL ends it
    podman("run", "-d", "--network", "none", "--name", n, IMAGE, "sleep", "600", check=True)
    t0 = time.monotonic()
    podman("stop", "-t", "2", n, check=True)
    took = time.monotonic() - t0
    assert 1.5 < took < 15, took
    assert podman.inspect(n, "{{.State.Status}}") == "exited"
    assert podman.inspect(n, "{{.State.ExitCode}}") == "137"


def test_kill_with_signal_and_restart(podman, names):
    n = names()
    podman("run", "-d", "--network", "none", "--name", n, IMAGE,
           "sh", "-c", "trap 'exit 10' USR1; while :; do sleep 0.1; done", check=True)
    podman("kill", "--signal", "USR1", n, check=True)
    assert podman("wait", n, timeout=30).stdout.strip() == "10"
    podman("restart", "-t", "0", n, check=True)  # a stopped container: delete + create + start
    assert podman.inspect(n, "{{.State.Status}}") == "running"
    podman("kill", n, check=True)
    assert podman("wait", n, timeout=30).stdout.strip() == "137"


def test_run_interactive_tty(podman, names):
    argv = podman.argv("run", "-it", "--rm", "--network", "none", "--name", names(), IMAGE, "sh")
    code, out = run_on_pty(argv, podman.env, [("# ", "tty; echo $((40 + 2))\r"), ("42", "exit 7\r")])
    assert code == 7, out
    assert "/dev/pts/0" in out and "42" in out


def test_exec_interactive_tty(podman, names):
    n = names()
    podman("run", "-d", "--network", "none", "--name", n, IMAGE, "sleep", "600", check=True)
    argv = podman.argv("exec", "-it", n, "sh")
    code, out = run_on_pty(argv, podman.env, [("# ", "tty; stty size; echo done-$((1 + 1))\r"),
                                              ("done-2", "exit 4\r")])
    assert code == 4, out
    assert "/dev/pts/" in out


# ---------------------------------------------------------------------------- resources


def test_memory_limit(podman, names):
    r = podman("run", "--rm", "--network", "none", "--name", names(), "--memory", "64m", IMAGE,
               "sh", "-c", "cat /sys/fs/cgroup/memory/memory.limit_in_bytes 2>/dev/null || cat /sys/fs/cgroup/memory.max")
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "67108864"


def test_pids_limit(podman, names):
    script = ("cat /sys/fs/cgroup/pids/pids.max 2>/dev/null || cat /sys/fs/cgroup/pids.max; "
              "i=0; while [ $i -lt 20 ]; do sleep 3 & i=$((i + 1)); done; wait")
    r = podman("run", "--rm", "--network", "none", "--name", names(), "--pids-limit", "10", IMAGE,
               "sh", "-c", script)
    assert r.stdout.splitlines()[:1] == ["10"], r.stderr
    assert "can't fork" in r.stderr or "Resource temporarily unavailable" in r.stderr, r.stderr


# ---------------------------------------------------------------------------- pods


def _ns(podman, name: str) -> list[str]:  # noqa: ANN001
    r = podman("exec", name, "sh", "-c", "for n in net ipc uts; do readlink /proc/self/ns/$n; done; hostname")
    assert r.returncode == 0, r.stderr
    return r.stdout.split()


def test_pod_shares_namespaces(podman, names):
    pod, a, b = names("p"), names(), names()
    r = podman("pod", "create", "--name", pod, "--network", "none")
    assert r.returncode == 0, r.stderr
    podman("run", "-d", "--pod", pod, "--name", a, IMAGE, "sleep", "600", check=True)
    podman("run", "-d", "--pod", pod, "--name", b, IMAGE, "sleep", "600", check=True)
    infra = podman.inspect(pod, "{{.InfraContainerID}}")
    assert podman.inspect(infra, "{{.OCIRuntime}}") == RUNTIME
    infra_pid = int(podman.inspect(infra, "{{.State.Pid}}"))
    want = [os.readlink(f"/proc/{infra_pid}/ns/{n}") for n in ("net", "ipc", "uts")] + [pod]
    assert _ns(podman, a) == _ns(podman, b) == want
    # and not the host's
    assert want[0] != os.readlink("/proc/self/ns/net")
    # the containers of a pod do not share a pid namespace unless asked
    pa = podman("exec", a, "ps", "-o", "pid,comm").stdout
    assert "catatonit" not in pa and "sleep" in pa
    podman("pod", "stop", "-t", "0", pod, check=True)
    podman("pod", "rm", pod, check=True)
    assert podman("pod", "exists", pod).returncode == 1
    assert podman("container", "exists", a).returncode == 1


def test_pod_shared_pid_namespace(podman, names):
    pod, a = names("p"), names()
    podman("pod", "create", "--name", pod, "--network", "none", "--share", "pid,ipc,uts,net", check=True)
    podman("run", "-d", "--pod", pod, "--name", a, IMAGE, "sleep", "600", check=True)
    r = podman("run", "--rm", "--pod", pod, "--name", names(), IMAGE, "ps", "-o", "pid,comm")
    assert r.returncode == 0, r.stderr
    comms = r.stdout.split()
    assert "catatonit" in comms and "sleep" in comms and "ps" in comms


# ---------------------------------------------------------------------------- introspection


def test_inspect_and_info_name_the_runtime(podman, names):
    n = names()
    podman("create", "--network", "none", "--name", n, IMAGE, "true", check=True)
    assert podman.inspect(n, "{{.OCIRuntime}}") == RUNTIME
    info = podman("info", "--format", "{{.Host.OCIRuntime.Path}}", check=True).stdout.strip()
    assert info == RUNTIME
    podman("start", "--attach", n, check=True)
    assert podman.inspect(n, "{{.State.ExitCode}}") == "0"


def test_top_and_stats(podman, names):
    n = names()
    podman("run", "-d", "--network", "none", "--name", n, IMAGE, "sleep", "600", check=True)
    r = podman("top", n, "pid", "args")
    assert r.returncode == 0 and "sleep 600" in r.stdout, r.stderr
    r = podman("stats", "--no-stream", "--format", "{{.Name}} {{.PIDs}}", n)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == [n, "1"]
