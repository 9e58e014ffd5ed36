"""linux.seccomp through the real onggi-runtime: an errno rule for mkdir (the init process
and ``exec``), a default-deny profile with an allow-list, a logging default, and a
user-notification filter whose fd goes to a seccomp agent on ``listenerPath``."""

from __future__ import annotations

import errno
import json
import os
import select
import socket
import subprocess
import threading
import time

import pytest

from onggi.sys import seccomp as sc

pytestmark = pytest.mark.skipif(not sc.available(), reason="libseccomp.so.2 is not installed")

MKDIR_SCRIPT = "mkdir /tmp/x && echo made || echo refused; ls /tmp"
# what busybox sh, echo, ls and cat need (found with strace), plus the runtime's own exec
# of its trampoline (execveat) and a margin of harmless ones
ALLOW = sorted(set("""
    arch_prctl brk clone clone3 close dup dup2 dup3 execve execveat exit exit_group fcntl
    fstat futex getcwd getdents64 getegid geteuid getgid getpgid getpgrp getpid getppid
    getrandom getuid ioctl lseek mmap mprotect munmap newfstatat openat prctl prlimit64
    pipe pipe2 read readlink readlinkat rseq rt_sigaction rt_sigprocmask rt_sigreturn
    sendfile set_robust_list set_tid_address setpgid sigaltstack stat statx fstatat64
    faccessat faccessat2 access lstat open uname vfork fork wait4 waitid write writev
    nanosleep clock_nanosleep clock_gettime
""".split()))


def _tmpfs_tmp(config: dict) -> None:
    """A writable /tmp (the root is read-only), so only seccomp can refuse a mkdir."""
    config["mounts"].append({"destination": "/tmp", "type": "tmpfs", "source": "tmpfs",
                             "options": ["nosuid", "nodev", "mode=1777"]})


def _mkdir_errno_profile() -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1}]}


def test_control_without_seccomp_mkdir_works(runtime, make_bundle):
    b = make_bundle(["sh", "-c", MKDIR_SCRIPT])
    _tmpfs_tmp(b.config)
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id(), check=True)
    assert r.stdout.split() == ["made", "x"]


def test_errno_rule_for_init_and_exec(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "mkdir /tmp/x; sleep 60"])
    _tmpfs_tmp(b.config)
    b.config["linux"]["seccomp"] = _mkdir_errno_profile()
    b.write()
    cid = runtime.new_id()
    r = runtime("run", "-d", "--bundle", b.path, cid)
    assert r.returncode == 0, r.stderr
    b2 = make_bundle(["sh", "-c", "mkdir /tmp/x"])
    _tmpfs_tmp(b2.config)
    b2.config["linux"]["seccomp"] = _mkdir_errno_profile()
    b2.write()
    r = runtime("run", "--bundle", b2.path, runtime.new_id())
    assert r.returncode == 1
    assert "Operation not permitted" in r.stderr + r.stdout, (r.stdout, r.stderr)
    # exec gets the container's profile too
    r = runtime("exec", cid, "sh", "-c", "mkdir /tmp/y")
    assert r.returncode == 1 and "Operation not permitted" in r.stdout + r.stderr, (r.stdout, r.stderr)
    r = runtime("exec", cid, "sh", "-c", MKDIR_SCRIPT)
    assert r.stdout.split() == ["refused"], r.stdout  # and the init's mkdir failed as well
    # the rest still works
    r = runtime("exec", cid, "sh", "-c", "echo ok > /tmp/file && cat /tmp/file")
    assert r.stdout == "ok\n"


def test_errno_rule_without_no_new_privileges(runtime, make_bundle):
    """Without no_new_privs the filter is loaded while the runtime still holds
    CAP_SYS_ADMIN, before the user switch."""
    b = make_bundle(["sh", "-c", MKDIR_SCRIPT])
    _tmpfs_tmp(b.config)
    b.config["process"]["noNewPrivileges"] = False
    b.config["linux"]["seccomp"] = _mkdir_errno_profile()
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id())
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["refused"]


def test_default_errno_with_an_allow_list(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "echo hello; grep Seccomp: /proc/self/status; " + MKDIR_SCRIPT])
    _tmpfs_tmp(b.config)
    b.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_ERRNO",
                                    "syscalls": [{"names": ALLOW, "action": "SCMP_ACT_ALLOW"}]}
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id())
    assert r.returncode == 0, r.stderr
    out = r.stdout.split()
    assert out[0] == "hello"
    assert out[1:3] == ["Seccomp:", "2"]  # SECCOMP_MODE_FILTER
    assert out[3:] == ["refused"], out
    b.config["process"]["args"] = ["sleep", "60"]
    b.write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    r = runtime("exec", cid, "sh", "-c", "echo from exec; " + MKDIR_SCRIPT)
    assert r.stdout.split() == ["from", "exec", "refused"], (r.stdout, r.stderr)


def test_default_log(runtime, make_bundle):
    b = make_bundle(["sh", "-c", "echo hello; " + MKDIR_SCRIPT + "; mkdir /tmp/z"])
    _tmpfs_tmp(b.config)
    b.config["linux"]["seccomp"] = {"defaultAction": "SCMP_ACT_LOG",
                                    "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO",
                                                  "errnoRet": errno.EACCES}]}
    b.write()
    r = runtime("run", "--bundle", b.path, runtime.new_id())
    assert r.returncode == 1
    assert r.stdout.split() == ["hello", "refused"]
    assert "Permission denied" in r.stderr + r.stdout  # the errnoRet given


class Agent:
    """A seccomp agent: takes each (state, fd) sent to ``listenerPath`` and answers every
    notification with ``answer(notification) -> (error, flags)``."""

    def __init__(self, path: str, answer) -> None:  # noqa: ANN001
        self.path = path
        self.answer = answer
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.bind(path)
        self.sock.listen(4)
        self.sock.settimeout(0.1)
        self.messages: list[dict] = []
        self.notifications: list[sc.Notification] = []
        self.errors: list[BaseException] = []
        self.stop = threading.Event()
        self.fds: list[int] = []
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        try:
            while not self.stop.is_set():
                try:
                    conn, _ = self.sock.accept()
                except TimeoutError:
                    conn = None
                if conn is not None:
                    with conn:
                        conn.settimeout(5)
                        data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
                        while True:  # the message may come in more than one piece
                            try:
                                json.loads(data)
                                break
                            except ValueError:
                                more = conn.recv(65536)
                                if not more:
                                    break
                                data += more
                    self.messages.append(json.loads(data))
                    self.fds.extend(fds)
                for fd in list(self.fds):
                    r, _, _ = select.select([fd], [], [], 0.01)
                    if r:
                        try:
                            n = sc.notify_receive(fd)
                        except OSError:
                            self.fds.remove(fd)  # its tasks are gone
                            os.close(fd)
                            continue
                        self.notifications.append(n)
                        err, flags = self.answer(n)
                        try:
                            sc.notify_respond(fd, n.id, error=err, flags=flags)
                        except OSError:
                            pass  # the task died meanwhile
        except BaseException as e:  # noqa: BLE001
            self.errors.append(e)

    def close(self) -> None:
        self.stop.set()
        self.thread.join(5)
        self.sock.close()
        for fd in self.fds:
            os.close(fd)


@pytest.fixture
def agent(tmp_path):  # noqa: ANN001, ANN201
    made = []

    def make(answer) -> Agent:  # noqa: ANN001
        a = Agent(str(tmp_path / f"agent{len(made)}.sock"), answer)
        made.append(a)
        return a

    yield make
    for a in made:
        a.close()


def _notify_profile(path: str) -> dict:
    return {"defaultAction": "SCMP_ACT_ALLOW", "listenerPath": path, "listenerMetadata": "onggi-test",
            "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"}]}


def _answer_by_path_order():  # noqa: ANN202
    """First mkdir: EPERM; the next ones run (CONTINUE)."""
    seen = []

    def answer(n: sc.Notification) -> tuple[int, int]:
        seen.append(n)
        if len(seen) == 1:
            return errno.EPERM, 0
        return 0, sc.USER_NOTIF_FLAG_CONTINUE

    return answer


def _two_mkdirs_bundle(make_bundle, listener: str):  # noqa: ANN001, ANN202
    """A container that makes /tmp/a and /tmp/b (a tmpfs) under a notify profile."""
    b = make_bundle(["sh", "-c", "mkdir /tmp/a && echo a-made || echo a-refused; "
                                 "mkdir /tmp/b && echo b-made || echo b-refused; ls /tmp"])
    _tmpfs_tmp(b.config)
    b.config["linux"]["seccomp"] = _notify_profile(listener)
    b.write()
    return b


def test_notify_agent_gets_fd_and_state_and_answers(runtime, make_bundle, agent):
    a = agent(_answer_by_path_order())
    b = _two_mkdirs_bundle(make_bundle, a.path)
    cid = runtime.new_id()
    r = runtime("create", "--bundle", b.path, cid, timeout=30)
    assert r.returncode == 0, r.stderr
    pid = runtime.state(cid)["pid"]
    for _ in range(100):
        if a.messages:
            break
        time.sleep(0.02)
    assert len(a.messages) == 1 and len(a.fds) == 1, a.messages
    msg = a.messages[0]
    assert msg["ociVersion"].startswith("1.")
    assert msg["fds"] == ["seccompFd"]
    assert msg["pid"] == pid
    assert msg.get("metadata") == "onggi-test"
    assert msg["state"]["id"] == cid and msg["state"]["pid"] == pid
    assert msg["state"]["status"] in ("creating", "created")
    assert msg["state"]["bundle"] == b.path
    runtime("start", cid, check=True)
    for _ in range(250):
        if runtime.state(cid)["status"] == "stopped":
            break
        time.sleep(0.02)
    assert not a.errors, a.errors
    assert len(a.notifications) == 2, a.notifications
    mkdir_nrs = {sc.syscall_resolve_name("mkdir"), sc.syscall_resolve_name("mkdirat")}
    assert {n.nr for n in a.notifications} <= mkdir_nrs
    # read the container's output: it went to the runtime's stdout (a file of create's)
    r2 = runtime("delete", cid)
    assert r2.returncode == 0, r2.stderr


def test_notify_agent_answers_run(runtime, make_bundle, agent):
    a = agent(_answer_by_path_order())
    b = _two_mkdirs_bundle(make_bundle, a.path)
    r = runtime("run", "--bundle", b.path, runtime.new_id(), timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["a-refused", "b-made", "b"], r.stdout
    assert not a.errors, a.errors
    assert len(a.notifications) == 2


def test_notify_for_exec(runtime, make_bundle, agent):
    """An exec'd process gets the container's profile; with SCMP_ACT_NOTIFY its
    listener fd must reach the agent as well (runc sends one per process)."""
    a = agent(lambda n: (errno.EPERM, 0))
    b = make_bundle(["sleep", "60"])
    _tmpfs_tmp(b.config)
    b.config["linux"]["seccomp"] = _notify_profile(a.path)
    b.write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True, timeout=30)
    r = runtime("exec", cid, "sh", "-c", "mkdir /tmp/e && echo e-made || echo e-refused", timeout=30)
    assert r.returncode == 0, r.stderr
    assert r.stdout.split() == ["e-refused"], (r.stdout, r.stderr)
    assert len(a.messages) == 2, a.messages
    assert len(a.notifications) == 1


def test_notify_without_agent_fails_create_clearly(runtime, make_bundle, tmp_path):
    b = make_bundle(["sh", "-c", "sleep 600; true", "onggi-no-agent-marker"])
    b.config["linux"]["seccomp"] = _notify_profile(str(tmp_path / "nobody.sock"))
    b.write()
    cid = runtime.new_id()
    r = runtime("create", "--bundle", b.path, cid, timeout=30)
    assert r.returncode == 1 and "listenerPath" in r.stderr and "nobody.sock" in r.stderr, r.stderr
    assert not os.path.exists(os.path.join(runtime.root, cid))
    assert subprocess.run(["pgrep", "-f", "onggi-no-agent-marker"], capture_output=True).returncode == 1
