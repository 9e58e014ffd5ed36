"""Compiling linux.seccomp profiles (no root: filters are exported as BPF, never loaded)."""

from __future__ import annotations

import os

import pytest

from onggi.errors import InvalidArgument, Unsupported
from onggi.oci.linux import Seccomp
from onggi.runtime import seccomp as rs
from onggi.sys import seccomp as sc

pytestmark = pytest.mark.skipif(not sc.available(), reason="libseccomp.so.2 is not installed")


def _compile(d: dict) -> rs.Filter:
    return rs.compile_filter(Seccomp.parse(d, "linux.seccomp"))


def _bpf(d: dict, tmp_path: object) -> bytes:
    path = os.path.join(str(tmp_path), "filter.bpf")
    with _compile(d) as filt:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            filt.export_bpf(fd)
        finally:
            os.close(fd)
    with open(path, "rb") as f:
        return f.read()


def _rules(*rules: dict, default: str = "SCMP_ACT_ALLOW", **kw: object) -> dict:
    return {"defaultAction": default, "syscalls": list(rules), **kw}


def test_compile_and_export(tmp_path: object) -> None:
    prog = _bpf(_rules({"names": ["mkdir", "getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                       {"names": ["personality"], "action": "SCMP_ACT_ERRNO",
                        "args": [{"index": 0, "value": 0xFFFFFFFF, "op": "SCMP_CMP_EQ"}]},
                       architectures=["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
                       flags=["SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_LOG",
                              "SECCOMP_FILTER_FLAG_SPEC_ALLOW"]), tmp_path)
    assert prog and len(prog) % 8 == 0  # struct sock_filter entries


def test_every_action_and_operator_compiles(tmp_path: object) -> None:
    actions = ["SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS", "SCMP_ACT_KILL_THREAD", "SCMP_ACT_TRAP",
               "SCMP_ACT_ERRNO", "SCMP_ACT_TRACE", "SCMP_ACT_LOG"]
    names = ["getpid", "getppid", "getuid", "geteuid", "getgid", "getegid", "gettid"]
    rules = [{"names": [n], "action": a} for n, a in zip(names, actions)]
    ops = ["SCMP_CMP_NE", "SCMP_CMP_LT", "SCMP_CMP_LE", "SCMP_CMP_EQ", "SCMP_CMP_GE",
           "SCMP_CMP_GT", "SCMP_CMP_MASKED_EQ"]
    rules += [{"names": ["ioctl"], "action": "SCMP_ACT_ERRNO",
               "args": [{"index": 1, "value": 3, "valueTwo": 1, "op": op}]} for op in ops]
    rules.append({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"})
    prog = _bpf(_rules(*rules, listenerPath="/run/agent.sock"), tmp_path)
    assert len(prog) > 8 * len(rules)


def test_notify_flag_and_listener_kept() -> None:
    with _compile(_rules({"names": ["mkdir"], "action": "SCMP_ACT_NOTIFY"},
                         listenerPath="/run/a.sock", listenerMetadata="m")) as f:
        assert f.notify and f.listener_path == "/run/a.sock" and f.listener_metadata == "m"
    with _compile(_rules({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"})) as f:
        assert not f.notify


def test_unknown_syscalls_are_skipped(tmp_path: object) -> None:
    base = _bpf(_rules({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}), tmp_path)
    with _compile(_rules({"names": ["no_such_syscall", "mkdir"], "action": "SCMP_ACT_ERRNO"})) as f:
        assert f.skipped == ["no_such_syscall"]
    assert _bpf(_rules({"names": ["no_such_syscall", "mkdir"], "action": "SCMP_ACT_ERRNO"}),
                tmp_path) == base


def test_rule_equal_to_default_is_skipped(tmp_path: object) -> None:
    base = _bpf(_rules({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}), tmp_path)
    more = _bpf(_rules({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"},
                       {"names": ["getcwd", "chmod"], "action": "SCMP_ACT_ALLOW"}), tmp_path)
    assert more == base
    # default ERRNO(EPERM) and a rule ERRNO with errnoRet 1 are the same action
    a = _bpf(_rules(default="SCMP_ACT_ERRNO"), tmp_path)
    b = _bpf(_rules({"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 1},
                    default="SCMP_ACT_ERRNO"), tmp_path)
    assert a == b
    c = _bpf(_rules({"names": ["getcwd"], "action": "SCMP_ACT_ERRNO", "errnoRet": 38},
                    default="SCMP_ACT_ERRNO"), tmp_path)
    assert c != a


def test_args_on_one_index_split_like_runc(tmp_path: object) -> None:
    two = [{"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 28, "op": "SCMP_CMP_EQ"}]
    joined = _bpf(_rules({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": two}), tmp_path)
    split = _bpf(_rules({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": two[:1]},
                        {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": two[1:]}), tmp_path)
    assert joined == split
    # comparisons on different indices form one rule (AND), which differs from the split form
    anded = [{"index": 0, "value": 1, "op": "SCMP_CMP_EQ"}, {"index": 1, "value": 0, "op": "SCMP_CMP_EQ"}]
    a = _bpf(_rules({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": anded}), tmp_path)
    b = _bpf(_rules({"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": anded[:1]},
                    {"names": ["kill"], "action": "SCMP_ACT_ERRNO", "args": anded[1:]}), tmp_path)
    assert a != b


def test_conditions_grouping() -> None:
    eq = sc.CMP_EQ
    assert rs._conditions([]) == [[]]
    assert rs._conditions([(0, 1, 0, "SCMP_CMP_EQ"), (1, 2, 0, "SCMP_CMP_EQ")]) == [[(0, eq, 1, 0), (1, eq, 2, 0)]]
    assert rs._conditions([(0, 1, 0, "SCMP_CMP_EQ"), (0, 2, 0, "SCMP_CMP_EQ")]) == [[(0, eq, 1, 0)], [(0, eq, 2, 0)]]


def test_large_profile_uses_optimizer(tmp_path: object) -> None:
    names = ["read", "write", "open", "close", "stat", "fstat", "lstat", "poll", "lseek", "mmap",
             "mprotect", "munmap", "brk", "rt_sigaction", "rt_sigprocmask", "ioctl", "pread64",
             "pwrite64", "readv", "writev", "access", "pipe", "select", "sched_yield", "mremap",
             "msync", "mincore", "madvise", "shmget", "shmat", "shmctl", "dup", "dup2", "pause"]
    assert _bpf(_rules({"names": names, "action": "SCMP_ACT_ALLOW"}, default="SCMP_ACT_ERRNO"), tmp_path)


@pytest.mark.parametrize(("profile", "exc", "field"), [
    (_rules(architectures=["SCMP_ARCH_VAX"]), InvalidArgument, "linux.seccomp.architectures[0]"),
    (_rules(architectures=["x86_64"]), InvalidArgument, "linux.seccomp.architectures[0]"),
    (_rules({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO", "errnoRet": 70000}), InvalidArgument,
     "linux.seccomp.syscalls[0].errnoRet"),
    (_rules({"names": ["mkdir"], "action": "SCMP_ACT_KILL", "errnoRet": 1}), InvalidArgument,
     "linux.seccomp.syscalls[0].errnoRet"),
    (_rules(defaultErrnoRet=5), InvalidArgument, "linux.seccomp.defaultErrnoRet"),
    (_rules({"names": ["getpid", ""], "action": "SCMP_ACT_ERRNO"}), InvalidArgument,
     "linux.seccomp.syscalls[0].names[1]"),
    (_rules({"names": ["write"], "action": "SCMP_ACT_NOTIFY"}, listenerPath="/x"), Unsupported,
     "linux.seccomp.syscalls[0].names[0]"),
    (_rules(default="SCMP_ACT_NOTIFY", listenerPath="/x"), Unsupported, "linux.seccomp.defaultAction"),
])
def test_bad_profiles(profile: dict, exc: type, field: str) -> None:
    with pytest.raises(exc) as ei:
        _compile(profile)
    assert field in str(ei.value)


def test_wait_killable_flag_needs_newer_libseccomp() -> None:
    prof = _rules(flags=["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
    if sc.version() >= (2, 6, 0):
        _compile(prof).close()
    else:
        with pytest.raises(Unsupported, match=r"flags\[0\].*libseccomp 2\.6"):
            _compile(prof)


def test_model_rejects_unknown_names() -> None:
    with pytest.raises(InvalidArgument, match="flags"):
        Seccomp.parse(_rules(flags=["SECCOMP_FILTER_FLAG_NOPE"]), "linux.seccomp")
    with pytest.raises(InvalidArgument, match="action"):
        Seccomp.parse(_rules({"names": ["x"], "action": "SCMP_ACT_NOPE"}), "linux.seccomp")


def test_sys_bindings() -> None:
    assert sc.version() >= (2, 5, 0)
    nr = sc.syscall_resolve_name("getpid")
    assert nr is not None and nr >= 0
    assert sc.syscall_resolve_num(nr) == "getpid"
    assert sc.syscall_resolve_name("no_such_syscall") is None
    with pytest.raises(OSError):
        sc.arch_resolve_name("vax")
    ctx = sc.init(sc.ACT_ALLOW)
    try:
        assert sc.arch_add(ctx, sc.arch_native()) is False  # native is there from the start
        sc.attr_set(ctx, sc.FLTATR_CTL_NNP, 0)
        assert sc.attr_get(ctx, sc.FLTATR_CTL_NNP) == 0
        with pytest.raises(OSError) as ei:
            sc.rule_add(ctx, sc.act_errno(1), nr, [(9, sc.CMP_EQ, 0, 0)])  # no arg 9
        assert ei.value.errno > 0
        sc.reset(ctx, sc.ACT_KILL_PROCESS)
    finally:
        sc.release(ctx)
    assert sc.act_errno(1) == 0x00050001 and sc.act_trace(38) == 0x7FF00026


def test_filter_close_is_idempotent() -> None:
    f = _compile(_rules())
    f.close()
    f.close()
    with pytest.raises(ValueError):
        f.export_bpf(1)


def test_send_notify_fd(tmp_path: object) -> None:
    import json
    import socket

    path = os.path.join(str(tmp_path), "agent.sock")
    srv = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    r, w = os.pipe()
    try:
        srv.bind(path)
        srv.listen(1)
        state = {"ociVersion": "1.1.0", "id": "c1", "status": "creating", "pid": 4422,
                 "bundle": "/b", "annotations": {"k": "v"}}
        rs.send_notify_fd(path, r, json.dumps(state), "MKNOD=/dev/null")
        conn, _ = srv.accept()
        with conn:
            data, fds, _flags, _addr = socket.recv_fds(conn, 65536, 4)
            while True:  # the peer closed after one message: read to EOF
                more = conn.recv(65536)
                if not more:
                    break
                data += more
        assert len(fds) == 1
        try:
            assert os.fstat(fds[0]).st_ino == os.fstat(r).st_ino
        finally:
            for fd in fds:
                os.close(fd)
        msg = json.loads(data)
        assert msg == {"ociVersion": "1.1.0", "fds": ["seccompFd"], "pid": 4422,
                       "metadata": "MKNOD=/dev/null", "state": state}
    finally:
        srv.close()
        os.close(r)
        os.close(w)


def test_send_notify_fd_errors(tmp_path: object) -> None:
    from onggi.errors import Unavailable

    with pytest.raises(Unavailable, match="listenerPath"):
        rs.send_notify_fd(os.path.join(str(tmp_path), "none.sock"), 0, '{"pid": 1}')
    with pytest.raises(InvalidArgument, match="pid"):
        rs.send_notify_fd("/x", 0, '{"id": "c"}')
    with pytest.raises(InvalidArgument):
        rs.send_notify_fd("/x", 0, "[1")


def test_missing_library_is_named(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sc, "LIBRARY", "libseccomp-missing.so.9")
    monkeypatch.setattr(sc, "_lib", None)
    assert not sc.available()
    with pytest.raises(OSError, match="libseccomp-missing.so.9"):
        sc.version()
    with pytest.raises(Unsupported, match=r"linux\.seccomp: .*libseccomp-missing\.so\.9"):
        _compile(_rules({"names": ["mkdir"], "action": "SCMP_ACT_ERRNO"}))
