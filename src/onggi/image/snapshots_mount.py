"""Mount descriptions of snapshots (the plan) and the thin executor that mounts them.

The snapshotter never mounts: :func:`plan` turns a stack of layer directories (and, for a
container, an upper and a work directory) into a list of :class:`Mount`, which the engine
may hand to a runtime, or mount itself with :func:`mount_all` and :func:`unmount`.

Overlay options are passed to ``mount(2)`` as one string, which the kernel reads from at
most one page (4096 bytes here), and overlayfs stacks at most 500 lower layers. When the
absolute lower paths do not fit (or a path holds a ``:`` or ``,``, the option separators),
the plan names every directory relative to the store's root through short links
(``l/<id>``, 13 bytes a layer) and sets :attr:`Mount.cwd`: the executor mounts from that
directory, in a thread of its own that has unshared its working directory
(``unshare(CLONE_FS)``), so other threads of the process never see it change.
"""

from __future__ import annotations

import errno
import os
import threading
from dataclasses import dataclass
from typing import Sequence

from ..errors import Conflict, FailedPrecondition, NotFound, PermissionDenied, Unsupported
from ..sys import libc

__all__ = ["Mount", "plan", "mount_all", "unmount", "MAX_LAYERS", "PAGE_SIZE"]

MAX_LAYERS = 500  # overlayfs' OVL_MAX_STACK
PAGE_SIZE = os.sysconf("SC_PAGE_SIZE")
_FLAGS = {"ro": libc.MS_RDONLY, "rw": 0, "nosuid": libc.MS_NOSUID, "nodev": libc.MS_NODEV,
          "noexec": libc.MS_NOEXEC, "bind": libc.MS_BIND, "rbind": libc.MS_BIND | libc.MS_REC}


@dataclass(frozen=True)
class Mount:
    """One mount, as containerd describes it: ``mount -t type -o options source target``,
    run from ``cwd`` when it is set (relative paths in the options resolve against it)."""

    type: str
    source: str
    options: tuple[str, ...]
    cwd: str | None = None

    def to_dict(self) -> dict:
        d: dict = {"type": self.type, "source": self.source, "options": list(self.options)}
        if self.cwd is not None:
            d["cwd"] = self.cwd
        return d

    def data(self) -> str:
        """The options that are not mount flags, as the kernel reads them."""
        return ",".join(o for o in self.options if o not in _FLAGS)

    def flags(self) -> int:
        f = 0
        for o in self.options:
            f |= _FLAGS.get(o, 0)
        return f


def _fits(options: Sequence[str]) -> bool:
    return len(",".join(options)) + 1 < PAGE_SIZE  # + the terminating NUL


def _plain(path: str) -> bool:
    return not any(c in path for c in ":,\\")


def plan(root: str, lowers: Sequence[tuple[str, str]], upper: str | None = None,
         work: str | None = None, *, readonly: bool = False) -> list[Mount]:
    """Mounts of a snapshot stack. ``lowers`` are ``(absolute dir, short link under
    root/l)`` pairs, top layer first; ``upper``/``work`` (absolute, under ``root``) make it
    writable unless ``readonly``. Raises ``Unsupported`` past overlayfs' limits."""
    if len(lowers) > MAX_LAYERS:
        raise Unsupported(f"{len(lowers)} layers: overlayfs stacks at most {MAX_LAYERS}")
    if not lowers:
        if upper is None:
            raise FailedPrecondition("a mount of no layer needs an upper directory")
        return [Mount("bind", upper, ("rbind", "ro" if readonly else "rw"))]
    if readonly or upper is None:
        if len(lowers) == 1:
            return [Mount("bind", lowers[0][0], ("rbind", "ro"))]
        upper = work = None
    elif work is None:
        raise FailedPrecondition("a writable overlay needs a work directory")
    paths = [p for p, _ in lowers]
    opts = [f"lowerdir={':'.join(paths)}"]
    if upper is not None:
        opts += [f"upperdir={upper}", f"workdir={work}"]
    if _fits(opts) and all(_plain(p) for p in paths + [upper or "", work or ""]):
        return [Mount("overlay", "overlay", tuple(opts))]
    rel = [f"lowerdir={':'.join('l/' + link for _, link in lowers)}"]
    if upper is not None and work is not None:
        up, wk = os.path.relpath(upper, root), os.path.relpath(work, root)
        if up.startswith("..") or wk.startswith("..") or not (_plain(up) and _plain(wk)):
            raise FailedPrecondition(f"upper {upper} and work {work} must lie under {root}")
        rel += [f"upperdir={up}", f"workdir={wk}"]
    if not _fits(rel):
        raise Unsupported(f"{len(lowers)} layers do not fit overlayfs' one-page option "
                          f"limit even through short links ({len(','.join(rel))} bytes)")
    return [Mount("overlay", "overlay", tuple(rel), cwd=root)]


def _os_error(e: OSError, what: str) -> Exception:
    if e.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"{what}: {e.strerror}")
    if e.errno == errno.ENOENT:
        return NotFound(f"{what}: {e.strerror}")
    if e.errno == errno.EBUSY:
        return Conflict(f"{what}: {e.strerror}")
    return FailedPrecondition(f"{what}: {e.strerror} (errno {e.errno})")


def _mount_in(cwd: str, m: Mount, target: str) -> None:
    """``mount(2)`` from ``cwd``, in a thread whose working directory is its own."""
    err: list[BaseException] = []

    def run() -> None:
        try:
            libc.unshare(libc.CLONE_FS)
            os.chdir(cwd)
            libc.mount(m.source, target, m.type, m.flags(), m.data() or None)
        except BaseException as e:  # handed to the caller's thread
            err.append(e)

    t = threading.Thread(target=run, name="onggi-overlay-mount")
    t.start()
    t.join()
    if err:
        raise err[0]


def mount_all(mounts: Sequence[Mount], target: str) -> None:
    """Mount ``mounts`` on ``target`` in order (as containerd's ``mount.All``); on an
    error, what was mounted here is unmounted again."""
    target = os.path.abspath(target)
    done = 0
    try:
        for m in mounts:
            what = f"mount {m.type} on {target}"
            try:
                if m.type == "bind":
                    flags = m.flags()
                    libc.mount(m.source, target, None, flags & ~libc.MS_RDONLY)
                    if flags & libc.MS_RDONLY:  # a bind mount is made read-only by a remount
                        libc.mount(None, target, None,
                                   libc.MS_REMOUNT | libc.MS_BIND | libc.MS_RDONLY)
                elif m.cwd is not None:
                    _mount_in(m.cwd, m, target)
                else:
                    libc.mount(m.source, target, m.type, m.flags(), m.data() or None)
            except OSError as e:
                raise _os_error(e, what) from e
            done += 1
    except BaseException:
        for _ in range(done):
            unmount(target, detach=True)
        raise


def unmount(target: str, *, detach: bool = False) -> None:
    """Unmount ``target`` (``detach``: lazily, as ``umount -l``). ``NotFound`` when
    nothing is mounted there."""
    try:
        libc.umount2(target, libc.MNT_DETACH if detach else 0)
    except OSError as e:
        if e.errno == errno.EINVAL:
            raise NotFound(f"umount {target}: not a mount point") from e
        raise _os_error(e, f"umount {target}") from e
