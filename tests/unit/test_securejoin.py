"""onggi.sys.securejoin against hostile trees: absolute and ``..`` symlinks, chains,
loops, dangling links, magic links. Nothing may resolve or be created outside the root,
through openat2(RESOLVE_IN_ROOT) and through the userspace walk alike."""

from __future__ import annotations

import errno
import os
import stat

import pytest

from onggi.sys import libc, securejoin
from onggi.sys.securejoin import ensure_file, mkdir_all, open_in_root

O_PATH_FLAGS = os.O_PATH | os.O_CLOEXEC


def _kernel_has_openat2() -> bool:
    fd = os.open("/", os.O_PATH | os.O_CLOEXEC)
    try:
        os.close(libc.openat2(fd, ".", O_PATH_FLAGS, 0, libc.RESOLVE_IN_ROOT))
        return True
    except OSError:
        return False
    finally:
        os.close(fd)


HAVE_OPENAT2 = _kernel_has_openat2()


def where(fd: int) -> str:
    return os.readlink(f"/proc/self/fd/{fd}")


def tree(base: str) -> dict[str, str]:
    """Every path under ``base`` (files, dirs, links) -> its kind and link target."""
    out = {}
    for dirpath, dirnames, filenames in os.walk(base):
        for n in dirnames + filenames:
            p = os.path.join(dirpath, n)
            out[os.path.relpath(p, base)] = (
                "link:" + os.readlink(p) if os.path.islink(p) else "dir" if os.path.isdir(p) else "file")
    return out


def open_fds() -> set[str]:
    return set(os.listdir("/proc/self/fd"))


HOST_PATHS = ["/etc/x", "/etc/y", "/etc/z", "/new", "/file", "/made-by-securejoin-test"]


class Jail:
    """tmp/root (the root) next to tmp/outside (which must never change)."""

    def __init__(self, tmp: str) -> None:
        self.tmp = tmp
        self.root = os.path.join(tmp, "root")
        self.outside = os.path.join(tmp, "outside")
        os.makedirs(os.path.join(self.outside, "etc"))
        with open(os.path.join(self.outside, "secret"), "w") as f:
            f.write("host secret")
        with open(os.path.join(self.outside, "etc", "passwd"), "w") as f:
            f.write("host passwd")
        r = self.root
        os.makedirs(os.path.join(r, "etc"))
        os.makedirs(os.path.join(r, "b", "c"))
        os.makedirs(os.path.join(r, "sub", "deeper"))
        with open(os.path.join(r, "etc", "passwd"), "w") as f:
            f.write("inside passwd")
        with open(os.path.join(r, "b", "f"), "w") as f:
            f.write("b/f")
        links = {
            "l_abs": "/",                                  # absolute to "/"
            "l_up": "../../../../../../../../..",          # climbs far above
            "l_host": self.outside,                        # the real host path of outside/
            "l_host_secret": os.path.join(self.outside, "secret"),
            "sub/esc": "../../../outside/secret",         # relative escape
            "sub/deeper/esc2": "../../../../../outside",
            "c1": "c2", "c2": "sub/c3", "sub/c3": "../../../../etc",  # a chain
            "loop1": "loop2", "loop2": "loop1", "self": "self",   # loops
            "dang_f": "/etc/x", "dang_d": "/etc/y", "dang_c": "/etc/z",  # dangling
            "a": "b/c",                                    # a/.. is b, not the root
            "procroot": "/proc/self/root",                 # magic-looking targets
            "procfd": "/proc/self/fd",
            "passwd_link": "etc/passwd",
        }
        for name, target in links.items():
            os.symlink(target, os.path.join(r, name))
        self.fd = os.open(r, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        self.before_outside = tree(self.outside)
        self.before_host = {p: os.path.lexists(p) for p in HOST_PATHS}

    def inside(self, fd: int) -> str:
        """Assert ``fd`` is the root or below it; return its path relative to the root."""
        p = where(fd)
        assert p == self.root or p.startswith(self.root + "/"), f"{p} is outside {self.root}"
        return os.path.relpath(p, self.root)

    def check_nothing_outside(self) -> None:
        assert sorted(os.listdir(self.tmp)) == ["outside", "root"]
        assert tree(self.outside) == self.before_outside
        for p, existed in self.before_host.items():
            assert os.path.lexists(p) == existed, p

    def close(self) -> None:
        os.close(self.fd)


@pytest.fixture(params=["openat2", "walk"])
def impl(request, monkeypatch):  # noqa: ANN001, ANN201
    if request.param == "openat2":
        if not HAVE_OPENAT2:
            pytest.skip("this kernel has no openat2 (Linux < 5.6)")
        monkeypatch.setattr(securejoin, "_have_openat2", None)
    else:
        monkeypatch.setattr(securejoin, "_have_openat2", False)
    yield request.param
    if request.param == "openat2":
        assert securejoin._have_openat2 is not False, "fell back to the walk"


@pytest.fixture
def jail(tmp_path, impl):  # noqa: ANN001, ANN201
    fds = open_fds()
    j = Jail(str(tmp_path))
    yield j
    j.close()
    j.check_nothing_outside()
    assert open_fds() == fds, "file descriptors leaked"


def rel(j: Jail, path: str, flags: int = O_PATH_FLAGS) -> str:
    fd = open_in_root(j.fd, path, flags)
    try:
        return j.inside(fd)
    finally:
        os.close(fd)


def read(j: Jail, path: str) -> str:
    fd = open_in_root(j.fd, path, os.O_RDONLY)
    try:
        j.inside(fd)
        return os.read(fd, 100).decode()
    finally:
        os.close(fd)


# ---- open_in_root ----------------------------------------------------------------------

@pytest.mark.parametrize("path,expect", [
    ("", "."), ("/", "."), (".", "."), ("..", "."), ("/../..", "."), ("etc/passwd", "etc/passwd"),
    ("l_abs", "."), ("l_abs/etc/passwd", "etc/passwd"), ("l_up", "."), ("l_up/etc/passwd", "etc/passwd"),
    ("/../../etc/../etc/passwd", "etc/passwd"), ("c1", "etc"), ("c1/passwd", "etc/passwd"),
    ("sub/deeper", "sub/deeper"),
    ("a", "b/c"), ("a/..", "b"), ("a/../f", "b/f"), ("passwd_link", "etc/passwd"),
])
def test_resolves_inside(jail: Jail, path: str, expect: str) -> None:
    assert rel(jail, path) == expect


def test_reads_the_inside_file(jail: Jail) -> None:
    assert read(jail, "l_abs/etc/passwd") == "inside passwd"
    assert read(jail, "l_up/etc/passwd") == "inside passwd"
    assert read(jail, "c1/passwd") == "inside passwd"


@pytest.mark.parametrize("path", [
    "l_host", "l_host_secret", "l_host/secret", "l_up/outside/secret", "sub/esc", "sub/deeper/esc2",
    "sub/deeper/esc2/secret", "../outside/secret", "/../../outside/etc/passwd", "dang_f", "dang_d/x",
    "procroot", "procroot/etc/passwd", "procfd/0",
])
def test_escapes_are_not_found(jail: Jail, path: str) -> None:
    with pytest.raises(FileNotFoundError):
        open_in_root(jail.fd, path)


@pytest.mark.parametrize("path", ["loop1", "loop2/x", "self", "sub/../self/x"])
def test_loops(jail: Jail, path: str) -> None:
    with pytest.raises(OSError) as ei:
        open_in_root(jail.fd, path)
    assert ei.value.errno == errno.ELOOP


def test_through_a_file(jail: Jail) -> None:
    with pytest.raises(NotADirectoryError):
        open_in_root(jail.fd, "etc/passwd/x")
    with pytest.raises(NotADirectoryError):
        open_in_root(jail.fd, "passwd_link/x", O_PATH_FLAGS)


def test_create_follows_links_inside(jail: Jail) -> None:
    fd = open_in_root(jail.fd, "l_up/newfile", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        assert jail.inside(fd) == "newfile"
    finally:
        os.close(fd)
    # a dangling absolute link: the target is made inside the root
    fd = open_in_root(jail.fd, "dang_c", os.O_CREAT | os.O_WRONLY, 0o600)
    try:
        assert jail.inside(fd) == "etc/z"
    finally:
        os.close(fd)
    assert stat.S_ISREG(os.stat(os.path.join(jail.root, "etc", "z")).st_mode)


def test_write_truncate_in_root(jail: Jail) -> None:
    fd = open_in_root(jail.fd, "/l_abs/etc/passwd", os.O_WRONLY | os.O_TRUNC)
    try:
        os.write(fd, b"new")
    finally:
        os.close(fd)
    with open(os.path.join(jail.root, "etc", "passwd")) as f:
        assert f.read() == "new"


def test_result_is_close_on_exec(jail: Jail) -> None:
    fd = open_in_root(jail.fd, "etc", os.O_PATH)
    try:
        assert not os.get_inheritable(fd)
    finally:
        os.close(fd)


# ---- mkdir_all ---------------------------------------------------------------------------

@pytest.mark.parametrize("path,expect", [
    ("new/dir", "new/dir"), ("/l_up/new/dir", "new/dir"), ("l_abs/x/y", "x/y"),
    ("l_host/x", os.path.join("HOST", "x")), ("sub/deeper/esc2/made", "outside/made"),
    ("c1/made", "etc/made"), ("a/../made", "made"), ("dang_d/sub", "etc/y/sub"), ("etc", "etc"), ("/", "."),
])
def test_mkdir_all_stays_inside(jail: Jail, path: str, expect: str) -> None:
    expect = expect.replace("HOST", jail.outside.lstrip("/"))
    fd = mkdir_all(jail.fd, path)
    try:
        assert jail.inside(fd) == expect
        assert stat.S_ISDIR(os.fstat(fd).st_mode)
    finally:
        os.close(fd)
    assert os.path.isdir(os.path.join(jail.root, expect))


def test_mkdir_all_mode(jail: Jail) -> None:
    old = os.umask(0)
    try:
        os.close(mkdir_all(jail.fd, "m1/m2", 0o710))
    finally:
        os.umask(old)
    assert stat.S_IMODE(os.stat(os.path.join(jail.root, "m1")).st_mode) == 0o710
    assert stat.S_IMODE(os.stat(os.path.join(jail.root, "m1", "m2")).st_mode) == 0o710


def test_mkdir_all_errors(jail: Jail) -> None:
    with pytest.raises(NotADirectoryError):
        mkdir_all(jail.fd, "etc/passwd/x")
    with pytest.raises(OSError) as ei:
        mkdir_all(jail.fd, "loop1/x")
    assert ei.value.errno == errno.ELOOP


def test_mkdir_all_dangling_chain(jail: Jail) -> None:
    os.symlink("d2", os.path.join(jail.root, "d1"))
    os.symlink("/l_up/d3", os.path.join(jail.root, "d2"))
    fd = mkdir_all(jail.fd, "d1/leaf")
    try:
        assert jail.inside(fd) == "d3/leaf"
    finally:
        os.close(fd)


# ---- ensure_file -------------------------------------------------------------------------

@pytest.mark.parametrize("path,expect", [
    ("newfile", "newfile"), ("l_up/dir/newfile", "dir/newfile"), ("l_abs/made-by-securejoin-test", "made-by-securejoin-test"),
    ("etc/passwd", "etc/passwd"), ("passwd_link", "etc/passwd"),
    ("dang_f", "etc/x"),  # a dangling link to /etc/x: the target is made inside the root
    ("sub/esc", "outside/secret"), ("l_host/secret", os.path.join("HOST", "secret")),
])
def test_ensure_file_stays_inside(jail: Jail, path: str, expect: str) -> None:
    expect = expect.replace("HOST", jail.outside.lstrip("/"))
    fd = ensure_file(jail.fd, path)
    try:
        assert jail.inside(fd) == expect
        assert stat.S_ISREG(os.fstat(fd).st_mode)
    finally:
        os.close(fd)


def test_ensure_file_keeps_content(jail: Jail) -> None:
    os.close(ensure_file(jail.fd, "etc/passwd"))
    with open(os.path.join(jail.root, "etc", "passwd")) as f:
        assert f.read() == "inside passwd"


def test_ensure_file_errors(jail: Jail) -> None:
    with pytest.raises(OSError) as ei:
        ensure_file(jail.fd, "loop1")
    assert ei.value.errno == errno.ELOOP
    with pytest.raises(NotADirectoryError):
        ensure_file(jail.fd, "etc/passwd/x")


def test_ensure_file_on_a_directory(jail: Jail) -> None:
    for path, expect in (("etc", "etc"), ("/", "."), ("l_up", ".")):
        fd = ensure_file(jail.fd, path)  # an existing directory is returned as is
        try:
            assert jail.inside(fd) == expect
        finally:
            os.close(fd)


# ---- magic links -----------------------------------------------------------------------------

@pytest.mark.parametrize("path", ["root", "root/etc/passwd", "cwd", "exe", "fd/FD", "fd/FD/..", "ns/mnt",
                                  "task/TID/root"])
def test_magic_links_in_procfs(tmp_path, impl: str, path: str) -> None:  # noqa: ANN001
    """With /proc/self as the root, ``root``, ``cwd``, ``exe``, ``fd/N`` are magic links:
    openat2 refuses them (ELOOP); the walk never jumps through one either: it only reads
    the link's text and resolves that inside the root."""
    secret = tmp_path / "secret"
    secret.write_text("host secret")
    sfd = os.open(secret, os.O_RDONLY | os.O_CLOEXEC)
    proc = os.open("/proc/self", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    base = where(proc)  # /proc/<pid>
    path = path.replace("FD", str(sfd)).replace("TID", str(os.getpid()))
    try:
        try:
            fd = open_in_root(proc, path)
        except OSError as e:
            if impl == "openat2":
                assert e.errno == errno.ELOOP
            return
        try:
            assert impl == "walk", "openat2 followed a magic link"
            p = where(fd)
            assert p == base or p.startswith(base + "/"), p
        finally:
            os.close(fd)
    finally:
        os.close(proc)
        os.close(sfd)


def test_walk_matches_openat2(tmp_path) -> None:  # noqa: ANN001
    """The fallback resolves every path of the hostile tree to the same file as the kernel."""
    if not HAVE_OPENAT2:
        pytest.skip("this kernel has no openat2 (Linux < 5.6)")
    j = Jail(str(tmp_path))
    paths = ["", "..", "etc/passwd", "l_abs", "l_abs/etc", "l_up/etc/passwd", "c1", "c1/passwd", "a", "a/..",
             "a/../f", "a/../../etc", "sub/c3/..", "loop1", "self/x", "dang_f", "l_host/secret", "sub/esc",
             "etc/passwd/x", "procroot", "b/c/../../c1/../b/f", "passwd_link", "passwd_link/.."]
    cases = [(p, O_PATH_FLAGS) for p in paths] + [
        (p, fl) for p in ("passwd_link", "l_abs", "dang_f", "etc/passwd", "c1")
        for fl in (O_PATH_FLAGS | os.O_NOFOLLOW, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC,
                   os.O_RDONLY | os.O_CLOEXEC, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC)]
    try:
        for path, flags in cases:
            results = []
            mode = 0o600 if flags & os.O_CREAT else 0  # openat2: EINVAL for a mode without O_CREAT
            for fn in (lambda: libc.openat2(j.fd, path.lstrip("/") or ".", flags, mode,
                                            libc.RESOLVE_IN_ROOT | libc.RESOLVE_NO_MAGICLINKS),
                       lambda: securejoin._walk(j.fd, path, flags, mode)):
                try:
                    fd = fn()
                except OSError as e:
                    results.append(errno.errorcode[e.errno])
                    continue
                try:
                    j.inside(fd)
                    st = os.fstat(fd)
                    results.append((st.st_dev, st.st_ino, stat.S_IFMT(st.st_mode)))
                finally:
                    os.close(fd)
            assert results[0] == results[1], (path, oct(flags))
    finally:
        j.close()
    j.check_nothing_outside()


def test_walk_called_directly(tmp_path) -> None:  # noqa: ANN001
    j = Jail(str(tmp_path))
    try:
        fd = securejoin._walk(j.fd, "/l_up/c1/../etc/passwd", os.O_RDONLY | os.O_CLOEXEC, 0)
        try:
            assert j.inside(fd) == "etc/passwd"
            assert os.read(fd, 100) == b"inside passwd"
        finally:
            os.close(fd)
        with pytest.raises(FileNotFoundError):
            securejoin._walk(j.fd, "l_host/secret", O_PATH_FLAGS, 0)
        with pytest.raises(OSError) as ei:
            securejoin._walk(j.fd, "loop1", O_PATH_FLAGS, 0)
        assert ei.value.errno == errno.ELOOP
        fd = securejoin._walk(j.fd, "dang_f", os.O_CREAT | os.O_WRONLY | os.O_CLOEXEC, 0o600)
        try:
            assert j.inside(fd) == "etc/x"
        finally:
            os.close(fd)
    finally:
        j.close()
    j.check_nothing_outside()


def test_walk_link_limit(tmp_path) -> None:  # noqa: ANN001
    """A long chain that is no loop still ends (ELOOP) instead of walking forever."""
    root = tmp_path / "r"
    root.mkdir()
    n = securejoin._MAX_LINKS + 5
    for i in range(n):
        os.symlink(f"s{i + 1}", root / f"s{i}")
    (root / f"s{n}").mkdir()
    rfd = os.open(root, os.O_PATH | os.O_CLOEXEC)
    try:
        with pytest.raises(OSError) as ei:
            securejoin._walk(rfd, "s0", O_PATH_FLAGS, 0)
        assert ei.value.errno == errno.ELOOP
        fd = securejoin._walk(rfd, f"s{n - 10}", O_PATH_FLAGS, 0)
        os.close(fd)
    finally:
        os.close(rfd)


def test_openat2_is_remembered(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    """After one success a later EPERM is a real error, not a reason to drop to the walk."""
    if not HAVE_OPENAT2:
        pytest.skip("this kernel has no openat2 (Linux < 5.6)")
    monkeypatch.setattr(securejoin, "_have_openat2", None)
    rfd = os.open(tmp_path, os.O_PATH | os.O_CLOEXEC)
    try:
        os.close(open_in_root(rfd, "/"))
        assert securejoin._have_openat2 is True

        def eperm(*args: object) -> int:
            raise OSError(errno.EPERM, "Operation not permitted")

        monkeypatch.setattr(libc, "openat2", eperm)
        with pytest.raises(PermissionError):
            open_in_root(rfd, "/")
        assert securejoin._have_openat2 is True
    finally:
        os.close(rfd)


def test_no_openat2_falls_back_to_the_walk(tmp_path, monkeypatch) -> None:  # noqa: ANN001
    def enosys(*args: object) -> int:
        raise OSError(errno.ENOSYS, "Function not implemented")

    monkeypatch.setattr(securejoin, "_have_openat2", None)
    monkeypatch.setattr(libc, "openat2", enosys)
    (tmp_path / "d").mkdir()
    os.symlink("/d", tmp_path / "l")
    rfd = os.open(tmp_path, os.O_PATH | os.O_CLOEXEC)
    try:
        fd = open_in_root(rfd, "l")
        try:
            assert where(fd) == str(tmp_path / "d")
        finally:
            os.close(fd)
        assert securejoin._have_openat2 is False
    finally:
        os.close(rfd)


def test_proc_fd_path() -> None:
    assert securejoin.proc_fd_path(7) == "/proc/self/fd/7"
