"""The file-system side of layer apply: every operation is relative to a directory file
descriptor, and every directory fd comes from the secure-join helpers.

How a path is reached: the parent directory of an entry is resolved with
:func:`onggi.sys.securejoin.open_in_root` (openat2 ``RESOLVE_IN_ROOT``): symlinks on the way
are followed as if ``dest`` were ``/``, so they can never lead outside it. The entry's own
name is then acted on with ``*at`` calls that never follow a final symlink (``O_NOFOLLOW``,
``O_EXCL``, ``AT_SYMLINK_NOFOLLOW``, ``linkat`` without ``AT_SYMLINK_FOLLOW``); metadata goes
through the fd of the object just made (``fchown``, ``fchmod``, ``fsetxattr``, ``futimens``),
or, for symlinks and device nodes, through ``*at`` calls on its name.

Parent fds are cached by path (consecutive entries usually share a directory). Only this
apply changes the tree, and it drops the whole cache whenever it removes a directory or a
symlink, the only changes that can alter what a path resolves to; dropped fds are closed at
the start of the next entry, so fds in use by the current one stay valid.

Directory modes and times are set at the end of the layer (:meth:`LayerFS.finish`): adding
entries changes a directory's mtime, and a read-only directory must stay writable until its
content is in. A lower directory that the layer changes without listing it gets its old
times back, so an unpacked tree depends on its layers only, not on when it was unpacked.
"""

from __future__ import annotations

import errno
import os
import shutil
import stat
from typing import TYPE_CHECKING

from ..errors import InvalidArgument
from ..sys.securejoin import mkdir_all, open_in_root, proc_fd_path
from .apply_owner import Owner
from .tarstream import TarEntry, TarReader

if TYPE_CHECKING:
    from .apply import ApplyStats

__all__ = ["BadLayer", "LayerFS", "xattr_refusal"]

_FILE_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
_DIR_FLAGS = os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC
_XATTR_SKIP_ERRNOS = (errno.ENOTSUP, errno.EOPNOTSUPP, errno.EPERM, errno.EACCES)
_KEEP_XATTRS = ("security.selinux",)  # labels are the host's business, not the layer's


class BadLayer(InvalidArgument):
    """A layer entry that is malformed, or would reach outside the destination."""


def xattr_refusal(key: str) -> str | None:
    """Why an xattr from a layer is never applied, or None when it is.

    ``trusted.*`` (and ``user.overlay.*``) carry overlayfs metadata (opaque dirs, redirects,
    metacopy): taken from an image they would change what an overlay mount built on the
    unpacked layer shows, so they are dropped, as containers-storage drops them."""
    if key.startswith("trusted."):
        return "trusted.* xattrs are not taken from layers (overlayfs trusts them)"
    if key.startswith("user.overlay."):
        return "user.overlay.* xattrs are not taken from layers (rootless overlayfs trusts them)"
    if not key.startswith(("user.", "security.", "system.")):
        return "unknown xattr namespace"
    return None


class LayerFS:
    """One layer's operations on the tree under ``root`` (an ``O_PATH`` fd of ``dest``)."""

    def __init__(self, root: int, owner: Owner, stats: ApplyStats, what: str) -> None:
        self.root = root
        self.owner = owner
        self.stats = stats
        self.what = what
        self.lowers: list[str] = []  # layers below (top first), for hard links into them
        self.seen: set[str] = set()  # paths this layer made, and all their ancestors
        self._dirs: dict[str, int] = {}
        self._stale: list[int] = []
        self._dir_meta: dict[str, tuple[int, int, int | None]] = {}  # path -> mode, mtime, atime
        st = os.fstat(root)  # directories' times from before this layer changed them:
        self._times: dict[str, tuple[int, int]] = {"": (st.st_atime_ns, st.st_mtime_ns)}

    # --- bookkeeping ------------------------------------------------------------------
    def skip(self, name: str, reason: str) -> None:
        self.stats.skip(name, reason)

    def mark(self, path: str) -> None:
        seen = self.seen
        while path not in seen:
            seen.add(path)
            i = path.rfind("/")
            if i < 0:
                return
            path = path[:i]

    def forget(self) -> None:
        self._stale.extend(self._dirs.values())
        self._dirs.clear()

    def release(self) -> None:
        """Close the fds dropped while applying the previous entry."""
        for fd in self._stale:
            os.close(fd)
        self._stale.clear()

    def close(self) -> None:
        self.forget()
        self.release()

    def dir_fd(self, parts: list[str], create: bool = True) -> int:
        """An ``O_PATH`` fd of the directory ``parts`` (made, with its parents, if missing
        and ``create``); resolved inside the root. Owned by the cache: do not close."""
        if not parts:
            return self.root
        key = "/".join(parts)
        fd = self._dirs.get(key)
        if fd is None:
            try:
                fd = open_in_root(self.root, key, os.O_PATH | os.O_DIRECTORY)
                self._note_times(key, fd)
            except FileNotFoundError:
                if not create:
                    raise
                self._note_ancestor(parts)
                if self.lowers:  # a snapshot of its own: missing parents look like the lowers'
                    make_parents_like(self, parts)
                    fd = open_in_root(self.root, key, os.O_PATH | os.O_DIRECTORY)
                else:
                    fd = mkdir_all(self.root, key, 0o755)  # as tar and umoci make missing parents
            if len(self._dirs) >= 256:
                self.forget()
            self._dirs[key] = fd
        return fd

    def _note_times(self, key: str, fd: int) -> None:
        """Remember a lower directory's times before this layer changes its content."""
        if key not in self._times:
            st = os.fstat(fd)
            self._times[key] = (st.st_atime_ns, st.st_mtime_ns)

    def _note_ancestor(self, parts: list[str]) -> None:
        """Before missing parents are made: the times of the deepest one that exists."""
        for i in range(len(parts) - 1, 0, -1):
            key = "/".join(parts[:i])
            try:
                fd = open_in_root(self.root, key, os.O_PATH | os.O_DIRECTORY)
            except OSError:
                continue
            try:
                self._note_times(key, fd)
            finally:
                os.close(fd)
            return

    def remove(self, parent: int, base: str) -> None:
        """Remove ``base`` from ``parent`` whatever it is (a directory with its content;
        ``shutil.rmtree`` walks by fd and never follows symlinks)."""
        try:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
        except FileNotFoundError:
            return
        if stat.S_ISDIR(st.st_mode):
            shutil.rmtree(base, dir_fd=parent)
            self.forget()
        else:
            os.unlink(base, dir_fd=parent)
            if stat.S_ISLNK(st.st_mode):
                self.forget()

    # --- entries ----------------------------------------------------------------------
    def file(self, e: TarEntry, tar: TarReader, parent: int, base: str, name: str) -> None:
        try:
            fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent)
        except FileExistsError:
            self.remove(parent, base)
            fd = os.open(base, _FILE_FLAGS, 0o600, dir_fd=parent)
        try:
            if e.size:
                self.stats.bytes += tar.copy_to(fd)
            self.owner.chown_fd(fd, e, name)
            os.fchmod(fd, e.mode)  # after chown, which clears set-id bits
            if e.xattrs:
                self.xattrs(fd, e, name)  # after chown and the data, which clear capabilities
            os.utime(fd, ns=(e.atime_ns if e.atime_ns is not None else e.mtime_ns, e.mtime_ns))
        finally:
            os.close(fd)

    def directory(self, e: TarEntry, parent: int, base: str, name: str, path: str) -> None:
        existing = True
        if not base:  # the root itself ("./"): its attributes, never the directory
            fd = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=self.root)
        else:
            try:
                os.mkdir(base, 0o700, dir_fd=parent)
                existing = False
            except FileExistsError:
                st = os.stat(base, dir_fd=parent, follow_symlinks=False)
                if not stat.S_ISDIR(st.st_mode):  # a file, or a symlink (even to a directory)
                    self.remove(parent, base)
                    os.mkdir(base, 0o700, dir_fd=parent)
                    existing = False
            fd = os.open(base, _DIR_FLAGS, dir_fd=parent)
        try:
            self.owner.chown_fd(fd, e, name)
            if e.xattrs or existing:
                self.xattrs(fd, e, name, replace=existing)
        finally:
            os.close(fd)
        self._dir_meta[path] = (e.mode, e.mtime_ns, e.atime_ns)

    def symlink(self, e: TarEntry, parent: int, base: str, name: str) -> None:
        if not e.linkname:
            raise BadLayer(f"{self.what}: entry {name!r}: symlink with an empty target")
        try:
            os.symlink(e.linkname, base, dir_fd=parent)
        except FileExistsError:
            self.remove(parent, base)
            os.symlink(e.linkname, base, dir_fd=parent)
        self._meta_at(e, parent, base, name)

    def hardlink(self, e: TarEntry, parent: int, base: str, name: str, target: list[str]) -> None:
        """Link to ``target`` (already cleaned), an existing non-directory of this or a
        lower layer; its parent resolves inside the root, its last component is linked
        itself (a symlink stays a symlink: never its target)."""
        tname = "/".join(target)
        try:
            tparent = self.dir_fd(target[:-1], create=False)
            tst = os.stat(target[-1], dir_fd=tparent, follow_symlinks=False)
        except (FileNotFoundError, NotADirectoryError):
            if not (self.lowers and copy_up(self, target)):
                raise BadLayer(f"{self.what}: entry {name!r}: hardlink target {e.linkname!r} is not in "
                               f"this layer or a lower one") from None
            tparent = self.dir_fd(target[:-1], create=False)
            tst = os.stat(target[-1], dir_fd=tparent, follow_symlinks=False)
        if stat.S_ISDIR(tst.st_mode):
            raise BadLayer(f"{self.what}: entry {name!r}: hardlink to the directory {tname!r}")
        try:
            os.link(target[-1], base, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)
        except FileExistsError:
            st = os.stat(base, dir_fd=parent, follow_symlinks=False)
            if (st.st_dev, st.st_ino) == (tst.st_dev, tst.st_ino):
                return  # already that file (a link to itself, or a repeated entry)
            self.remove(parent, base)
            os.link(target[-1], base, src_dir_fd=tparent, dst_dir_fd=parent, follow_symlinks=False)

    def special(self, e: TarEntry, parent: int, base: str, name: str) -> bool:
        """A char/block device or a FIFO; False when the owner implementation skipped it."""
        try:
            made = self.owner.mknod(parent, base, e, name, self.skip)
        except FileExistsError:
            self.remove(parent, base)
            made = self.owner.mknod(parent, base, e, name, self.skip)
        if made:
            os.chmod(base, e.mode, dir_fd=parent)  # the node just made: not a symlink
            self._meta_at(e, parent, base, name)
        return made

    def _meta_at(self, e: TarEntry, parent: int, base: str, name: str) -> None:
        """Owner, xattrs and times of a symlink or node, by name, never following it."""
        self.owner.chown_at(parent, base, e, name)
        if e.xattrs:
            self.xattrs(f"{proc_fd_path(parent)}/{base}", e, name, follow=False)
        os.utime(base, ns=(e.atime_ns if e.atime_ns is not None else e.mtime_ns, e.mtime_ns),
                 dir_fd=parent, follow_symlinks=False)

    # --- metadata ---------------------------------------------------------------------
    def xattrs(self, target: int | str, e: TarEntry, name: str, *, replace: bool = False,
               follow: bool = True) -> None:
        """Set the entry's xattrs on ``target`` (an fd, or a path not followed when
        ``follow`` is False); ``replace`` also drops xattrs the entry does not have."""
        if replace:
            for key in os.listxattr(target, follow_symlinks=follow):
                if key not in e.xattrs and key not in _KEEP_XATTRS and not xattr_refusal(key):
                    os.removexattr(target, key, follow_symlinks=follow)
        for key, value in e.xattrs.items():
            why = xattr_refusal(key)
            if why is not None:
                self.skip(name, f"xattr {key}: {why}")
                continue
            try:
                os.setxattr(target, key, value, follow_symlinks=follow)
            except OSError as err:
                if err.errno not in _XATTR_SKIP_ERRNOS:
                    raise
                self.skip(name, f"xattr {key}: {os.strerror(err.errno)}")

    def finish(self) -> None:
        """Directory modes and times, now that their content is in: those of the layer's
        directory entries, and (as umoci does) the old times of the lower directories
        whose content the layer changed without an entry of its own for them."""
        for path, (mode, mtime, atime) in self._dir_meta.items():
            self._set_dir(path, mode, atime if atime is not None else mtime, mtime)
        for path, (atime, mtime) in self._times.items():
            if path not in self._dir_meta:
                self._set_dir(path, None, atime, mtime)
        self._dir_meta.clear()
        self._times.clear()

    def _set_dir(self, path: str, mode: int | None, atime: int, mtime: int) -> None:
        try:
            fd = open_in_root(self.root, path or ".", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
        except OSError:
            return  # removed or replaced later in this layer
        try:
            if mode is not None:
                os.fchmod(fd, mode)
            os.utime(fd, ns=(atime, mtime))
        finally:
            os.close(fd)


def _descend(fd: int, comp: str) -> tuple[int, bool]:
    """Open directory ``comp`` under ``fd`` (never through a symlink) and close ``fd``
    (left open, for the caller to close, if the open fails); returns the new fd and
    whether the directory is overlay-opaque."""
    nfd = os.open(comp, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=fd)
    os.close(fd)
    try:
        return nfd, os.getxattr(nfd, "trusted.overlay.opaque") == b"y"
    except OSError:
        return nfd, False


def _lower_entry(lower: str, target: list[str]) -> tuple[int, os.stat_result] | None | bool:
    """(fd of the parent directory, stat) of ``target`` in one lower layer; None when
    absent there (look further down); False when this layer hides it from the ones
    below (a whiteout, or an opaque directory on the way)."""
    fd = os.open(lower, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    opaque = False
    try:
        for comp in target[:-1]:
            try:
                st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
            except FileNotFoundError:
                return False if opaque else None
            if stat.S_ISCHR(st.st_mode) and st.st_rdev == 0:
                return False  # whited out here
            if not stat.S_ISDIR(st.st_mode):
                return False if opaque else None
            fd, hidden = _descend(fd, comp)
            opaque = opaque or hidden
        try:
            st = os.stat(target[-1], dir_fd=fd, follow_symlinks=False)
        except FileNotFoundError:
            return False if opaque else None
        if (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0) or stat.S_ISDIR(st.st_mode):
            return False
        keep, fd = fd, -1
        return keep, st
    finally:
        if fd >= 0:
            os.close(fd)


def copy_up(fs: "LayerFS", target: list[str]) -> bool:
    """Copy ``target`` (a non-directory) from the highest lower layer that has it into
    this layer, its missing parent directories with their lower modes and owners, so that
    a hard link can name it (overlayfs keeps each layer in its own directory)."""
    for lower in fs.lowers:
        found = _lower_entry(lower, target)
        if found is False:
            return False
        if found is None:
            continue
        lfd, st = found  # type: ignore[misc]
        try:
            for i in range(1, len(target)):
                prefix = target[:i]
                try:
                    fs.dir_fd(prefix, create=False)
                except FileNotFoundError:
                    pst = _stat_in(lower, prefix)
                    parent = fs.dir_fd(prefix[:-1], create=False)
                    os.mkdir(prefix[-1], pst.st_mode & 0o7777, dir_fd=parent)
                    os.chown(prefix[-1], pst.st_uid, pst.st_gid, dir_fd=parent, follow_symlinks=False)
                    os.chmod(prefix[-1], pst.st_mode & 0o7777, dir_fd=parent, follow_symlinks=True)
            parent = fs.dir_fd(target[:-1], create=False)
            name = target[-1]
            if stat.S_ISLNK(st.st_mode):
                os.symlink(os.readlink(name, dir_fd=lfd), name, dir_fd=parent)
            elif stat.S_ISREG(st.st_mode):
                src = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=lfd)
                try:
                    dst = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC,
                                  0o600, dir_fd=parent)
                    try:
                        while os.copy_file_range(src, dst, 1 << 30):
                            pass
                        os.fchown(dst, st.st_uid, st.st_gid)
                        os.fchmod(dst, st.st_mode & 0o7777)
                    finally:
                        os.close(dst)
                finally:
                    os.close(src)
            else:
                return False  # devices and fifos are not hard-link targets in practice
            os.utime(name, ns=(st.st_atime_ns, st.st_mtime_ns), dir_fd=parent, follow_symlinks=False)
            return True
        finally:
            os.close(lfd)
    return False


def _stat_in(lower: str, parts: list[str]) -> os.stat_result:
    fd = os.open(lower, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
    try:
        return os.stat("/".join(parts), dir_fd=fd, follow_symlinks=False)
    finally:
        os.close(fd)


def _lower_dir(lowers: list[str], parts: list[str]) -> os.stat_result | None:
    """The stat of directory ``parts`` as the layers below show it (the highest that has
    it, unless a whiteout or an opaque directory above hides it); None when absent."""
    for lower in lowers:
        fd = os.open(lower, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            opaque = False
            st = None
            for comp in parts:
                try:
                    st = os.stat(comp, dir_fd=fd, follow_symlinks=False)
                except FileNotFoundError:
                    st = None
                    break
                if (stat.S_ISCHR(st.st_mode) and st.st_rdev == 0) or not stat.S_ISDIR(st.st_mode):
                    return None  # whited out, or not a directory down there
                fd, hidden = _descend(fd, comp)
                opaque = opaque or hidden
            if st is not None:
                return st
            if opaque:
                return None
        finally:
            os.close(fd)
    return None


def make_parents_like(fs: "LayerFS", parts: list[str]) -> None:
    """Make the missing directories of ``parts`` in this layer with the mode and owner
    the lower layers give them (0755 root where they have none): overlayfs shows the
    upper directory's attributes, so a made-up 0755 would change the image."""
    for i in range(1, len(parts) + 1):
        key = "/".join(parts[:i])
        try:
            os.close(open_in_root(fs.root, key, os.O_PATH | os.O_DIRECTORY))
            continue
        except FileNotFoundError:
            pass
        st = _lower_dir(fs.lowers, parts[:i])
        parent = open_in_root(fs.root, "/".join(parts[:i - 1]) or "/", os.O_PATH | os.O_DIRECTORY)
        try:
            name = parts[i - 1]
            os.mkdir(name, 0o700, dir_fd=parent)
            if st is not None:
                os.chown(name, st.st_uid, st.st_gid, dir_fd=parent, follow_symlinks=False)
            os.chmod(name, (st.st_mode & 0o7777) if st is not None else 0o755, dir_fd=parent)
        finally:
            os.close(parent)

