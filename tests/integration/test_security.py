"""The field's known container breakouts, tried for real against onggi-runtime; each must
fail: leaked host fds (CVE-2024-21626), overwriting the runtime's binary through
/proc/self/exe (CVE-2019-5736), symlinks in the rootfs that point mount targets out of
it, and a default spec weaker than runc's."""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time

import pytest

# fd numbers tried as "/proc/self/fd/N": the ones the test hands to the runtime (3..10)
# plus a few above, where the runtime keeps its own (state dir, fifo, pipes, rootfs)
PASSED = range(3, 11)
TRIED = range(3, 17)
INTERPRETERS = sorted({os.path.realpath(p) for p in ("/usr/bin/python3.11", sys.executable, "/usr/bin/python3")
                       if os.path.exists(p)})


def _sha256(path: str) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _hashes() -> dict[str, str]:
    return {p: _sha256(p) for p in INTERPRETERS}


@pytest.fixture
def host_dir():
    """A host-only directory under /tmp with a file the container must never see."""
    d = tempfile.mkdtemp(prefix="onggi-host-secret-", dir="/tmp")
    with open(os.path.join(d, "HOST_ONLY_MARKER"), "w") as f:
        f.write("host\n")
    yield d
    shutil.rmtree(d, ignore_errors=True)


def _with_host_fds(rt, host: str, *args: str, **kw):  # noqa: ANN001, ANN003, ANN202
    """Run the runtime with fds 3..10 all open on the host directory ``host``."""
    src = os.open(host, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)

    def pre() -> None:
        for n in PASSED:
            os.dup2(src, n)  # dup2's copy is inheritable

    try:
        return rt(*args, close_fds=False, preexec_fn=pre, **kw)
    finally:
        os.close(src)


def _wait_running(rt, cid: str) -> None:  # noqa: ANN001
    for _ in range(250):
        if rt.state(cid)["status"] == "running":
            return
        time.sleep(0.02)
    raise AssertionError(f"{cid} did not start")


# ---- a. leaked fds (CVE-2024-21626, "leaky vessels") -----------------------------------

def _fd_listing_is_clean(out: str, host: str) -> None:
    assert host not in out and "HOST_ONLY" not in out, out
    fds = {}
    for line in out.splitlines():
        parts = line.split()
        if "->" in parts:
            i = parts.index("->")
            fds[parts[i - 1]] = " ".join(parts[i + 1:])
    # stdio plus the one ls opens to read /proc/self/fd
    assert set(fds) <= {"0", "1", "2", "3"}, fds
    if "3" in fds:
        assert fds["3"].startswith("/proc/") and fds["3"].endswith("/fd"), fds


def test_host_fds_do_not_reach_run(runtime, make_bundle, host_dir):
    b = make_bundle(["ls", "-l", "/proc/self/fd"])
    r = _with_host_fds(runtime, host_dir, "run", "--bundle", b.path, runtime.new_id())
    assert r.returncode == 0, r.stderr
    _fd_listing_is_clean(r.stdout, host_dir)


def test_host_fds_do_not_reach_exec(runtime, make_bundle, host_dir):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    r = _with_host_fds(runtime, host_dir, "exec", cid, "ls", "-l", "/proc/self/fd")
    assert r.returncode == 0, r.stderr
    _fd_listing_is_clean(r.stdout, host_dir)
    # nor the container's init
    r = runtime("exec", cid, "ls", "-l", "/proc/1/fd")
    assert r.returncode == 0, r.stderr
    assert host_dir not in r.stdout


def _assert_not_on_host(r, host: str, n: int) -> None:  # noqa: ANN001
    """Either a clear error about process.cwd, or a cwd inside the rootfs."""
    if r.returncode == 0 or r.stdout:
        assert "HOST_ONLY_MARKER" not in r.stdout, f"fd {n}: the container saw the host:\n{r.stdout}"
        lines = r.stdout.splitlines()
        assert lines and not lines[0].startswith(host), f"fd {n}: cwd on the host: {lines}"
    if r.returncode != 0:
        assert "HOST_ONLY_MARKER" not in r.stdout
        assert "cwd" in r.stderr or "/proc/self/fd" in r.stderr, f"fd {n}: unclear error: {r.stderr!r}"


def test_cwd_through_leaked_fd_run(runtime, make_bundle, host_dir):
    b = make_bundle(["sh", "-c", "pwd; ls; ls ..; ls ../.."])
    for n in TRIED:
        b.config["process"]["cwd"] = f"/proc/self/fd/{n}"
        b.write()
        r = _with_host_fds(runtime, host_dir, "run", "--bundle", b.path, runtime.new_id())
        _assert_not_on_host(r, host_dir, n)


def test_cwd_through_leaked_fd_create_start(runtime, make_bundle, host_dir):
    b = make_bundle(["sh", "-c", "pwd; ls ..; sleep 60"])
    for n in TRIED:
        b.config["process"]["cwd"] = f"/proc/self/fd/{n}"
        b.write()
        cid = runtime.new_id()
        r = _with_host_fds(runtime, host_dir, "create", "--bundle", b.path, cid)
        if r.returncode == 0:  # then start must not put the process on the host either
            pid = runtime.state(cid)["pid"]
            runtime("start", cid, check=True)
            _wait_running(runtime, cid)
            cwd = os.readlink(f"/proc/{pid}/cwd")
            root = os.readlink(f"/proc/{pid}/root")
            assert cwd.startswith(root) and not cwd.startswith(host_dir), (n, cwd, root)
            runtime("delete", "--force", cid, check=True)
        else:
            assert "cwd" in r.stderr, r.stderr
            assert not os.path.exists(os.path.join(runtime.root, cid))


def test_cwd_through_leaked_fd_exec(runtime, make_bundle, host_dir):
    b = make_bundle(["sleep", "60"])
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    for n in TRIED:
        r = _with_host_fds(runtime, host_dir, "exec", "--cwd", f"/proc/self/fd/{n}", cid,
                           "sh", "-c", "pwd; ls; ls ..; ls ../..")
        _assert_not_on_host(r, host_dir, n)
    assert runtime.state(cid)["status"] == "running"


# ---- b. /proc/self/exe overwrite (CVE-2019-5736) ---------------------------------------

def test_shebang_proc_self_exe_does_not_run_the_host_interpreter(runtime, make_bundle):
    before = _hashes()
    b = make_bundle(["/evil.sh"], copy_rootfs=True)
    script = os.path.join(b.path, "rootfs", "evil.sh")
    # if this ran under the host's python it would print; under the trampoline it cannot
    with open(script, "w") as f:
        f.write("#!/proc/self/exe\nimport sys; print('HOST PYTHON RAN', sys.executable)\n")
    os.chmod(script, 0o755)
    r = runtime("run", "--bundle", b.path, runtime.new_id())
    assert r.returncode == 127, (r.returncode, r.stdout, r.stderr)
    assert "HOST PYTHON" not in r.stdout
    # exec of the same script into a running container
    b2 = make_bundle(["sleep", "60"], copy_rootfs=True)
    shutil.copy2(script, os.path.join(b2.path, "rootfs", "evil.sh"))
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b2.path, cid, check=True)
    r = runtime("exec", cid, "/evil.sh")
    assert r.returncode == 127, (r.returncode, r.stdout, r.stderr)
    assert "HOST PYTHON" not in r.stdout
    assert _hashes() == before


LOOP = r"""
: > /log/seen; : > /log/wrote; echo started > /log/ready
while [ ! -e /log/stop ]; do
  for p in /proc/[0-9]*; do
    l=$(readlink $p/exe 2>/dev/null)
    [ -n "$l" ] && echo "$p $l" >> /log/seen
    case "$l" in */busybox|"") continue;; esac
    if (echo x >> $p/exe) 2>/dev/null; then echo "$p $l" >> /log/wrote; fi
  done
done
echo done > /log/finished
"""


def test_exec_while_container_races_for_proc_pid_exe(runtime, make_bundle, tmp_path):
    before = _hashes()
    log = tmp_path / "log"
    log.mkdir()
    b = make_bundle(["sh", "-c", LOOP], copy_rootfs=True)
    b.config["mounts"].append({"destination": "/log", "type": "bind", "source": str(log),
                               "options": ["rbind", "rw"]})
    b.write()
    cid = runtime.new_id()
    runtime("run", "-d", "--bundle", b.path, cid, check=True)
    for _ in range(250):
        if (log / "ready").exists():
            break
        time.sleep(0.02)
    assert (log / "ready").exists()
    for i in range(20):
        r = runtime("exec", cid, "sh", "-c", f"echo exec{i}")
        assert r.returncode == 0 and r.stdout.strip() == f"exec{i}", r.stderr
    (log / "stop").write_text("")
    for _ in range(500):
        if (log / "finished").exists():
            break
        time.sleep(0.02)
    seen = (log / "seen").read_text()
    wrote = (log / "wrote").read_text()
    assert seen.strip(), "the loop saw nothing at all"
    assert "python" not in seen, seen
    for p in INTERPRETERS:
        assert p not in seen
    assert wrote == "", f"the container opened these for writing: {wrote}"
    assert _hashes() == before


# ---- c. symlinked mount targets --------------------------------------------------------

def _mountinfo() -> list[str]:
    with open("/proc/self/mountinfo") as f:
        return [line.split()[4] for line in f]


def _listing(d: str) -> list[tuple[str, int]]:
    out = []
    for dirpath, dirnames, filenames in os.walk(d):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            st = os.lstat(p)
            out.append((p, st.st_mode))
    return sorted(out)


def test_symlinked_mount_targets_stay_in_the_rootfs(runtime, make_bundle, host_dir, tmp_path):
    name = os.path.basename(host_dir)
    host_targets = {k: os.path.join(host_dir, k) for k in ("tmpfs_abs", "bind_rel", "masked", "ro", "dev")}
    for d in host_targets.values():
        os.mkdir(d)
    with open(os.path.join(host_targets["masked"], "secret"), "w") as f:
        f.write("host secret\n")
    src = tmp_path / "bindsrc"
    src.mkdir()
    (src / "FROM_BIND").write_text("bind\n")

    b = make_bundle(["sh", "-c", "sleep 60"], copy_rootfs=True)
    rootfs = os.path.join(b.path, "rootfs")
    # the same tree inside the rootfs, so the container has something to look at
    inside = os.path.join(rootfs, "tmp", name)
    os.makedirs(os.path.join(inside, "masked"))
    with open(os.path.join(inside, "masked", "secret"), "w") as f:
        f.write("inside secret\n")
    os.makedirs(os.path.join(inside, "ro"))
    os.symlink(f"{host_dir}/tmpfs_abs", os.path.join(rootfs, "l_tmpfs"))              # absolute
    os.symlink(f"../../../../../../../..{host_dir}/bind_rel", os.path.join(rootfs, "l_bind"))  # relative
    os.symlink(f"{host_dir}/masked/secret", os.path.join(rootfs, "l_masked"))
    os.symlink(f"../../../../../../../..{host_dir}/ro", os.path.join(rootfs, "l_ro"))
    os.symlink(f"{host_dir}/dev", os.path.join(rootfs, "l_dev"))
    b.config["mounts"] += [
        {"destination": "/l_tmpfs", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid"]},
        {"destination": "/l_bind", "type": "bind", "source": str(src), "options": ["rbind", "ro"]},
    ]
    b.config["linux"]["maskedPaths"] = b.config["linux"]["maskedPaths"] + ["/l_masked"]
    b.config["linux"]["readonlyPaths"] = b.config["linux"]["readonlyPaths"] + ["/l_ro"]
    b.config["linux"]["devices"] = [{"path": "/l_dev/mynull", "type": "c", "major": 1, "minor": 3,
                                     "fileMode": 0o666, "uid": 0, "gid": 0}]
    b.write()

    listing, mounts = _listing(host_dir), _mountinfo()
    cid = runtime.new_id()
    r = runtime("run", "-d", "--bundle", b.path, cid)
    if r.returncode != 0:  # refusing is fine, if it says why and touched nothing
        assert any(k in r.stderr for k in ("mounts", "maskedPaths", "readonlyPaths", "devices")), r.stderr
    else:
        script = (f"cd /tmp/{name}; grep -c ' /tmp/{name}/' /proc/self/mountinfo; "
                  f"ls tmpfs_abs | wc -l; ls bind_rel; cat masked/secret | wc -c; "
                  f"touch ro/x 2>/dev/null && echo ro-writable || echo ro-readonly; "
                  f"ls -l dev/mynull | cut -c1; echo ok > /dev/null")
        out = runtime("exec", cid, "sh", "-c", script, check=True).stdout.split()
        # tmpfs, bind, masked file, read-only dir: four mounts under the in-rootfs copy
        assert int(out[0]) >= 4, out
        assert out[1:] == ["0", "FROM_BIND", "0", "ro-readonly", "c"], out
        # the in-rootfs file the symlink named is masked; the host's is not
    assert _listing(host_dir) == listing, "the host directory changed"
    assert _mountinfo() == mounts, "a mount landed on the host"
    with open(os.path.join(host_targets["masked"], "secret")) as f:
        assert f.read() == "host secret\n"
    for d in host_targets.values():
        st = os.stat(d)
        assert not os.path.ismount(d)
        assert st.st_dev == os.stat(host_dir).st_dev


def test_symlinked_bind_file_target_stays_in_the_rootfs(runtime, make_bundle, host_dir, tmp_path):
    """A bind mount of a file onto a dangling symlink pointing out: the file it makes
    (as runc does for resolv.conf) is made inside the rootfs, not on the host."""
    src = tmp_path / "hosts"
    src.write_text("127.0.0.1 jar\n")
    b = make_bundle(["cat", f"/tmp/{os.path.basename(host_dir)}/newfile"], copy_rootfs=True)
    rootfs = os.path.join(b.path, "rootfs")
    os.symlink(f"{host_dir}/newfile", os.path.join(rootfs, "l_file"))
    os.symlink(f"../../../..{host_dir}/newdir/sub", os.path.join(rootfs, "l_dir"))
    b.config["mounts"] += [
        {"destination": "/l_file", "type": "bind", "source": str(src), "options": ["bind", "ro"]},
        {"destination": "/l_dir", "type": "tmpfs", "source": "tmpfs", "options": []},
    ]
    b.write()
    listing = _listing(host_dir)
    r = runtime("run", "--bundle", b.path, runtime.new_id())
    if r.returncode == 0:
        assert r.stdout == "127.0.0.1 jar\n"
        assert os.path.exists(os.path.join(rootfs, "tmp", os.path.basename(host_dir), "newdir", "sub"))
    else:
        assert "mounts" in r.stderr, r.stderr
    assert _listing(host_dir) == listing
    assert not os.path.exists(os.path.join(host_dir, "newfile"))
    assert not os.path.exists(os.path.join(host_dir, "newdir"))


# ---- d. the default spec is as strict as runc's ----------------------------------------

def _spec_of(cmd: list[str], d: str) -> dict:
    subprocess.run(cmd + ["spec", "--bundle", d], check=True, capture_output=True)
    with open(os.path.join(d, "config.json")) as f:
        return json.load(f)


def test_default_spec_matches_runc(runtime, tmp_path, busybox_rootfs):
    runc = shutil.which("runc")
    if runc is None:
        pytest.skip("runc is not installed")
    (tmp_path / "runc").mkdir()
    (tmp_path / "onggi").mkdir()
    theirs = _spec_of([runc], str(tmp_path / "runc"))
    ours = _spec_of([runtime.binary], str(tmp_path / "onggi"))
    tp, op = theirs["process"], ours["process"]
    for k in ("bounding", "effective", "permitted", "inheritable", "ambient"):
        assert sorted(op["capabilities"].get(k, [])) == sorted(tp["capabilities"].get(k, [])), k
    assert op.get("noNewPrivileges") is tp.get("noNewPrivileges") is True
    assert sorted(ours["linux"]["maskedPaths"]) == sorted(theirs["linux"]["maskedPaths"])
    assert sorted(ours["linux"]["readonlyPaths"]) == sorted(theirs["linux"]["readonlyPaths"])
    assert op["user"] == tp["user"]
    assert ours["root"]["readonly"] == theirs["root"]["readonly"]
    assert sorted(n["type"] for n in ours["linux"]["namespaces"]) == \
        sorted(n["type"] for n in theirs["linux"]["namespaces"])
    assert ours["linux"]["resources"]["devices"] == theirs["linux"]["resources"]["devices"]

    # a container run from it has exactly those capabilities and no_new_privs
    bundle = tmp_path / "onggi"
    os.symlink(busybox_rootfs, bundle / "rootfs")
    ours["process"]["terminal"] = False
    ours["process"]["args"] = ["sh", "-c", "grep -E '^(Cap|NoNewPrivs)' /proc/self/status"]
    (bundle / "config.json").write_text(json.dumps(ours))
    r = runtime("run", "--bundle", str(bundle), runtime.new_id(), check=True)
    status = dict(line.split(":\t") for line in r.stdout.splitlines())
    from onggi.oci.tables import CAPABILITIES

    def mask(names: list[str]) -> str:
        return f"{sum(1 << CAPABILITIES[n] for n in names):016x}"

    caps = tp["capabilities"]
    assert status["CapBnd"] == mask(caps["bounding"])
    assert status["CapEff"] == mask(caps["effective"])
    assert status["CapPrm"] == mask(caps["permitted"])
    assert status["CapInh"] == mask(caps.get("inheritable", []))
    # ambient is dropped where not also inheritable (kernel rule; runc does the same)
    assert status["CapAmb"] == mask([c for c in caps.get("ambient", []) if c in caps.get("inheritable", [])])
    assert status["NoNewPrivs"] == "1"
