"""The ``Manager`` interface and the parts v1 and v2 share (pids, destroy, add_pid).

A manager owns one container's cgroup: a directory per v1 hierarchy, or one directory
on v2. It is cheap to build (no I/O) so the runtime's later processes (``delete``,
``pause``, ``update``, ``events``) re-open it from the persisted ``paths``.
"""

from __future__ import annotations

import errno
import os

from . import _fs
from ..errors import FailedPrecondition, OnggiError, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    from ..oci.resources import Resources

# destroy(): how long to keep retrying rmdir while the last processes exit.
_RMDIR_TRIES = 8
_RMDIR_FIRST_DELAY = 0.005  # doubles each try: about 1.3 s in all


class Manager:
    """One container's cgroup. Subclasses: ``V1Manager``, ``V2Manager``.

    - ``create()`` makes the directories; ``apply(resources)`` writes the limits;
      ``add_pid(pid)`` moves a process in; ``destroy()`` removes everything, idempotent.
    - ``freeze()`` / ``thaw()`` / ``state()`` pause and resume every process.
    - ``pids()``, ``exists()``, ``stats()`` (runc ``events --stats`` shape),
      ``oom_kill_count()`` read it.
    - ``paths`` (controller -> directory) is what the runtime persists; the module-level
      ``from_paths(version, paths)`` rebuilds the manager in a later process.
    - ``device_rules_supported`` says whether ``apply`` can enforce
      ``linux.resources.devices`` (False on v2: that needs an eBPF program, which onggi
      does not load; ``apply`` then raises Unsupported for a non-empty rule list, and the
      runtime decides whether to drop the rules and rely on the device nodes it creates).
    """

    version = ""
    device_rules_supported = False

    def __init__(self, paths: dict[str, str]) -> None:
        if not paths:
            raise Unsupported("no cgroup hierarchy is available for this container")
        self._paths = dict(paths)

    # -- shared ----------------------------------------------------------------------

    @property
    def paths(self) -> dict[str, str]:
        """Controller name -> cgroup directory (v1 keys as runc: ``cpu``, ``memory``,
        ``name=systemd``, ``""`` for the hybrid unified dir; v2: just ``""``)."""
        return dict(self._paths)

    def _dirs(self) -> list[str]:
        """The distinct directories, in ``paths`` order."""
        seen: list[str] = []
        for d in self._paths.values():
            if d not in seen:
                seen.append(d)
        return seen

    def _procs_dir(self) -> str:
        return self._dirs()[0]

    def exists(self) -> bool:
        """True while any of the container's cgroup directories is still there."""
        return any(os.path.isdir(d) for d in self._dirs())

    def add_pid(self, pid: int) -> None:
        """Move process ``pid`` (all its threads) into the cgroup, in every hierarchy."""
        for d in self._dirs():
            _fs.write(os.path.join(d, "cgroup.procs"), pid)

    def pids(self) -> list[int]:
        """Every process in the cgroup and its sub-cgroups (sorted)."""
        out: set[int] = set()
        self._collect(self._procs_dir(), out)
        return sorted(out)

    def _collect(self, d: str, out: set[int]) -> None:
        text = _fs.read_or(os.path.join(d, "cgroup.procs"))
        out.update(int(x) for x in text.split())
        for sub in _subdirs(d):
            self._collect(sub, out)

    def destroy(self) -> None:
        """Remove every directory (child cgroups first). Missing ones are fine; busy ones
        are retried briefly while their processes exit, then reported."""
        first: OnggiError | None = None
        for d in self._dirs():
            try:
                _remove_tree(d)
            except OnggiError as e:
                first = first or e
        if first is not None:
            raise first

    # -- per version -----------------------------------------------------------------

    def create(self, resources: Resources | None = None) -> None:
        raise NotImplementedError

    def apply(self, resources: Resources) -> None:
        raise NotImplementedError

    def freeze(self) -> None:
        raise NotImplementedError

    def thaw(self) -> None:
        raise NotImplementedError

    def state(self) -> str:
        raise NotImplementedError

    def stats(self) -> dict[str, Any]:
        raise NotImplementedError

    def oom_kill_count(self) -> int:
        raise NotImplementedError

    def mounts_for_container(self) -> list[tuple[str, str]]:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self._paths!r})"


def _subdirs(d: str) -> list[str]:
    try:
        with os.scandir(d) as it:
            return [e.path for e in it if e.is_dir(follow_symlinks=False)]
    except OSError:
        return []


def _remove_tree(d: str) -> None:
    for sub in _subdirs(d):
        _remove_tree(sub)
    delay = _RMDIR_FIRST_DELAY
    for attempt in range(_RMDIR_TRIES):
        try:
            _fs.rmdir(d)
            return
        except FileNotFoundError:
            return
        except OSError as e:
            if e.errno != errno.EBUSY or attempt == _RMDIR_TRIES - 1:
                if e.errno == errno.EBUSY:
                    raise FailedPrecondition(
                        f"cannot remove cgroup {d}: it still has processes") from None
                raise _fs.error(e, f"cannot remove cgroup {d}") from None
        import time  # only on this slow path

        time.sleep(delay)
        delay *= 2
