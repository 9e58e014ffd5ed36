"""Loading compiled seccomp filters in forked children and watching them act.

Each child sets no_new_privs (so no root is needed), loads a filter and reports through
its exit code. Children always leave through ``os._exit``; the parent reaps every one.
"""

from __future__ import annotations

import errno
import os
import select
import signal
import socket
import threading
from collections.abc import Callable

import pytest

from onggi.errors import PermissionDenied
from onggi.oci.linux import Seccomp
from onggi.runtime import seccomp as rs
from onggi.sys import libc
from onggi.sys import seccomp as sc

pytestmark = pytest.mark.skipif(not sc.available(), reason="libseccomp.so.2 is not installed")

OK = 0
UNEXPECTED = 250
CRASHED = 251


def _filter(*rules: dict, default: str = "SCMP_ACT_ALLOW", **kw: object) -> rs.Filter:
    d = {"defaultAction": default, "syscalls": list(rules), **kw}
    return rs.compile_filter(Seccomp.parse(d, "linux.seccomp"))


def _fork(body: Callable[[], int]) -> int:
    """Run ``body`` in a child; returns its wait status."""
    pid = os.fork()
    if pid == 0:  # child: never returns into pytest
        code = CRASHED
        try:
            code = body()
        except BaseException:
            code = CRASHED
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    return status


def _nnp() -> None:
    libc.prctl(libc.PR_SET_NO_NEW_PRIVS, 1)


def _errno_of(fn: Callable[[], object]) -> int:
    try:
        fn()
    except OSError as e:
        return e.errno or UNEXPECTED
    return OK


def test_errno_rules(tmp_path: object) -> None:
    filt = _filter({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                   {"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                   {"names": ["no_such_syscall"], "action": "SCMP_ACT_KILL"})
    target = os.path.join(str(tmp_path), "d")

    def body() -> int:
        _nnp()
        assert rs.load(filt) is None
        if _errno_of(os.getcwd) != errno.ENOSYS:
            return 2
        return _errno_of(lambda: os.mkdir(target))

    try:
        assert os.waitstatus_to_exitcode(_fork(body)) == errno.EPERM
        assert not os.path.exists(target)
        os.mkdir(target)  # the parent is not filtered
    finally:
        filt.close()


def test_default_errno_and_allow_list() -> None:
    allow = ["exit_group", "exit", "prctl", "seccomp", "getpid", "brk", "mmap", "munmap",
             "rt_sigprocmask", "rt_sigaction", "futex", "madvise"]
    filt = _filter({"names": allow, "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_ERRNO",
                   defaultErrnoRet=errno.EACCES)

    def body() -> int:
        _nnp()
        rs.load(filt)
        os.getpid()
        return _errno_of(lambda: os.open("/", os.O_RDONLY))

    with filt:
        status = _fork(body)
    assert os.waitstatus_to_exitcode(status) == errno.EACCES


def test_arg_filters() -> None:
    def body() -> int:
        pid = os.getpid()
        filt = _filter(
            # AND: both comparisons on different arguments in one rule
            {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EACCES,
             "args": [{"index": 0, "value": pid, "op": "SCMP_CMP_EQ"},
                      {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]},
            # OR: two comparisons on one argument become two rules, as in runc
            {"names": ["tgkill"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EBADE,
             "args": [{"index": 2, "value": signal.SIGURG, "op": "SCMP_CMP_EQ"},
                      {"index": 2, "value": signal.SIGWINCH, "op": "SCMP_CMP_EQ"}]},
            {"names": ["personality"], "action": "SCMP_ACT_ERRNO", "errnoRet": 77,
             "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}]},
            # MASKED_EQ: value is the mask, valueTwo the value to compare with
            {"names": ["setpgid"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EDOM,
             "args": [{"index": 1, "value": 0xF000, "valueTwo": 0x7000, "op": "SCMP_CMP_MASKED_EQ"}]},
        )
        _nnp()
        rs.load(filt)
        if _errno_of(lambda: os.kill(pid, 0)) != errno.EACCES:
            return 2
        if _errno_of(lambda: os.kill(os.getppid(), 0)) != OK:
            return 3
        if _errno_of(lambda: os.kill(pid, signal.SIGURG)) != OK:  # arg1 differs: allowed
            return 4
        for sig in (signal.SIGURG, signal.SIGWINCH):
            if _errno_of(lambda: signal.pthread_kill(threading.get_ident(), sig)) != errno.EBADE:
                return 5
        if _errno_of(lambda: signal.pthread_kill(threading.get_ident(), signal.SIGCHLD)) != OK:
            return 6
        if _errno_of(lambda: libc.personality(0xFFFFFFFF)) != 77:
            return 7
        if _errno_of(lambda: os.setpgid(0, 0x7ABC)) != errno.EDOM:  # 0x7ABC & 0xF000 == 0x7000
            return 8
        if _errno_of(lambda: os.setpgid(0, 0x1ABC)) == errno.EDOM:  # passes the filter (EPERM)
            return 9
        return OK

    assert os.waitstatus_to_exitcode(_fork(body)) == OK


def test_kill_process_action() -> None:
    filt = _filter({"names": ["getppid"], "action": "SCMP_ACT_KILL_PROCESS"})

    def body() -> int:
        libc.prctl(libc.PR_SET_DUMPABLE, 0)  # no core file
        _nnp()
        rs.load(filt)
        os.getppid()
        return UNEXPECTED

    with filt:
        status = _fork(body)
    assert os.WIFSIGNALED(status) and os.WTERMSIG(status) == signal.SIGSYS


def test_tsync_filters_every_thread(tmp_path: object) -> None:
    flags = ["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]
    filt = _filter({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": errno.EROFS},
                   flags=flags)
    target = os.path.join(str(tmp_path), "t")

    def body() -> int:
        go = threading.Event()
        seen: list[int] = []

        def other() -> None:
            go.wait(10)
            seen.append(_errno_of(lambda: os.mkdir(target)))

        t = threading.Thread(target=other)
        t.start()
        _nnp()  # per thread; TSYNC gives it to the other threads along with the filter
        try:
            rs.load(filt)
        finally:
            go.set()
            t.join(10)
        return seen[0] if seen else UNEXPECTED

    with filt:
        status = _fork(body)
    # without TSYNC the other thread would have created the directory
    assert os.waitstatus_to_exitcode(status) == errno.EROFS
    assert not os.path.exists(target)


def _notify_run(tmp_path: object, respond: Callable[[int, sc.Notification], None]) -> tuple[int, str]:
    filt = _filter({"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_NOTIFY"},
                   listenerPath="/run/unused.sock")
    target = os.path.join(str(tmp_path), "n")
    ours, theirs = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)

    def body() -> int:
        ours.close()
        _nnp()
        fd = rs.load(filt)
        if fd is None:
            return 2
        socket.send_fds(theirs, [b"fd"], [fd])
        return _errno_of(lambda: os.mkdir(target))

    pid = os.fork()
    if pid == 0:
        code = CRASHED
        try:
            code = body()
        finally:
            os._exit(code)
    theirs.close()
    nfd = -1
    try:
        if not select.select([ours], [], [], 10)[0]:
            raise AssertionError("the child sent no notify fd")
        _msg, fds, _f, _a = socket.recv_fds(ours, 16, 1)
        assert len(fds) == 1
        nfd = fds[0]
        poller = select.poll()
        poller.register(nfd, select.POLLIN)
        assert poller.poll(10_000), "no seccomp notification within 10 s"
        n = sc.notify_receive(nfd)
        assert n.pid == pid
        assert sc.syscall_resolve_num(n.nr) in ("mkdir", "mkdirat")
        assert sc.notify_id_valid(nfd, n.id)
        respond(nfd, n)
        _, status = os.waitpid(pid, 0)
        pid = 0
        return os.waitstatus_to_exitcode(status), target
    finally:
        if pid:
            os.kill(pid, signal.SIGKILL)
            os.waitpid(pid, 0)
        if nfd >= 0:
            os.close(nfd)
        ours.close()
        filt.close()


def test_notify_answered_with_eperm(tmp_path: object) -> None:
    code, target = _notify_run(tmp_path, lambda fd, n: sc.notify_respond(fd, n.id, error=errno.EPERM))
    assert code == errno.EPERM
    assert not os.path.exists(target)


def test_notify_continue(tmp_path: object) -> None:
    code, target = _notify_run(
        tmp_path, lambda fd, n: sc.notify_respond(fd, n.id, flags=sc.USER_NOTIF_FLAG_CONTINUE))
    assert code == OK
    assert os.path.isdir(target)


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to become an unprivileged user")
def test_load_without_nnp_or_cap_is_permission_denied() -> None:
    filt = _filter({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})

    def body() -> int:
        os.setgroups([])
        os.setgid(65534)
        os.setuid(65534)  # drops every capability; no_new_privs stays unset
        try:
            rs.load(filt)
        except PermissionDenied:
            return OK
        return UNEXPECTED

    with filt:
        assert os.waitstatus_to_exitcode(_fork(body)) == OK
