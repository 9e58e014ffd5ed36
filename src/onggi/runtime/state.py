"""Per-container state under ``--root``: one directory per container holding
``state.json`` (written atomically: temp file + rename) and ``exec.fifo`` while the
container is created but not started. Commands on one id serialise on an ``flock`` of the
directory.

Every operation is refresh -> check -> act -> persist.
"""

from __future__ import annotations

import errno
import fcntl
import os
import time

from ..errors import AlreadyExists, InvalidArgument, NotFound, PermissionDenied
from ..oci import jsonio
from . import status as st

DEFAULT_ROOT = "/run/onggi-runtime"
STATE_FILE = "state.json"
FIFO = "exec.fifo"
_ID_OK = set("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_+-.")


def check_id(cid: str) -> str:
    if not cid:
        raise InvalidArgument("container id cannot be empty")
    if cid in (".", "..") or not set(cid) <= _ID_OK or len(cid) > 1024:
        raise InvalidArgument(f"invalid container id {cid!r}: use letters, digits and _ + - .")
    return cid


def proc_start_time(pid: int) -> int | None:
    """The process's start time in clock ticks (field 22 of /proc/PID/stat), or None if
    it is gone or a zombie. Guards against a recycled pid."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read()
    except OSError:
        return None
    fields = data[data.rindex(b")") + 2:].split()
    if fields[0] in (b"Z", b"X"):
        return None
    return int(fields[19])


class Container:
    """The persisted record of one container."""

    __slots__ = ("root", "id", "dir", "pid", "start_time", "bundle", "rootfs", "created",
                 "annotations", "status", "cgroup", "owner", "config", "_lock_fd", "extra")

    def __init__(self, root: str, cid: str) -> None:
        self.root = root
        self.id = cid
        self.dir = os.path.join(root, cid)
        self.pid = 0
        self.start_time: int | None = None
        self.bundle = ""
        self.rootfs = ""
        self.created = ""
        self.annotations: dict[str, str] = {}
        self.status = st.CREATING
        self.cgroup: dict = {}
        self.owner = ""
        self.config: dict = {}
        self.extra: dict = {}
        self._lock_fd = -1

    # ---- creation and loading -------------------------------------------------------
    @classmethod
    def new(cls, root: str, cid: str) -> "Container":
        """Reserve the id: the directory's mkdir is the atomic claim."""
        check_id(cid)
        try:
            os.makedirs(root, 0o700, exist_ok=True)
        except PermissionError:
            raise PermissionDenied(f"cannot create the state root {root}") from None
        c = cls(root, cid)
        try:
            os.mkdir(c.dir, 0o711)
        except FileExistsError:
            raise AlreadyExists(f"container with id {cid!r} already exists") from None
        c.created = _now()
        c.lock()
        return c

    @classmethod
    def load(cls, root: str, cid: str, lock: bool = True) -> "Container":
        check_id(cid)
        c = cls(root, cid)
        if lock:
            try:
                c.lock()
            except FileNotFoundError:
                raise NotFound(f"container {cid!r} does not exist") from None
        try:
            with open(os.path.join(c.dir, STATE_FILE), "rb") as f:
                data = jsonio.loads(f.read(), f"state of {cid}")
        except FileNotFoundError:
            c.unlock()
            raise NotFound(f"container {cid!r} does not exist") from None
        assert isinstance(data, dict)
        c.pid = data.get("pid", 0)
        c.start_time = data.get("start_time")
        c.bundle = data.get("bundle", "")
        c.rootfs = data.get("rootfs", "")
        c.created = data.get("created", "")
        c.annotations = data.get("annotations") or {}
        c.status = data.get("status", st.STOPPED)
        c.cgroup = data.get("cgroup") or {}
        c.owner = data.get("owner", "")
        c.config = data.get("config") or {}
        c.extra = data.get("extra") or {}
        c.refresh()
        return c

    @staticmethod
    def ids(root: str) -> list[str]:
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        return sorted(n for n in names if os.path.exists(os.path.join(root, n, STATE_FILE)))

    # ---- locking --------------------------------------------------------------------
    def lock(self) -> None:
        fd = os.open(self.dir, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
        fcntl.flock(fd, fcntl.LOCK_EX)
        self._lock_fd = fd

    def unlock(self) -> None:
        if self._lock_fd >= 0:
            os.close(self._lock_fd)
            self._lock_fd = -1

    # ---- status ---------------------------------------------------------------------
    def alive(self) -> bool:
        return self.pid > 0 and proc_start_time(self.pid) == self.start_time

    def refresh(self) -> str:
        """Recompute the status from the kernel's view (the stored one may be stale)."""
        if self.status == st.CREATING and not self.pid:
            return self.status
        if not self.alive():
            self.status = st.STOPPED
        elif os.path.exists(os.path.join(self.dir, FIFO)):
            self.status = st.CREATED
        elif self.status == st.PAUSED or self._frozen():
            self.status = st.PAUSED
        else:
            self.status = st.RUNNING
        return self.status

    def _frozen(self) -> bool:
        if not self.cgroup:
            return False
        from .cgroup import manager_for

        try:
            return manager_for(self).state() == "frozen"
        except Exception:
            return False

    # ---- persistence ----------------------------------------------------------------
    def save(self) -> None:
        data = {
            "id": self.id, "pid": self.pid, "start_time": self.start_time, "bundle": self.bundle,
            "rootfs": self.rootfs, "created": self.created, "annotations": self.annotations,
            "status": self.status, "cgroup": self.cgroup, "owner": self.owner,
            "config": self.config, "extra": self.extra,
        }
        tmp = os.path.join(self.dir, f".{STATE_FILE}.{os.getpid()}")
        with open(tmp, "w") as f:
            f.write(jsonio.dumps(data))
        os.rename(tmp, os.path.join(self.dir, STATE_FILE))

    def spec(self):  # noqa: ANN201 - Spec, imported lazily
        """The config.json the container was created with."""
        from ..oci.spec import Spec

        return Spec.parse(self.config)

    def oci_state(self, version: str = "1.1.0") -> dict:
        """The state object of the runtime spec (what hooks read on stdin)."""
        s = {"ociVersion": version, "id": self.id, "status": self.status,
             "bundle": self.bundle, "annotations": self.annotations}
        if self.status != st.STOPPED and self.pid:
            s["pid"] = self.pid
        return s

    def runc_state(self) -> dict:
        """What ``state`` prints: runc's shape (spec state plus rootfs, created, owner;
        annotations only when there are some). ``list`` fills in the owner."""
        s = {"ociVersion": self.config.get("ociVersion", "1.1.0"), "id": self.id,
             "pid": self.pid if self.status != st.STOPPED else 0, "status": self.status,
             "bundle": self.bundle, "rootfs": self.rootfs, "created": self.created, "owner": ""}
        if self.annotations:
            s["annotations"] = self.annotations
        return s

    def remove(self) -> None:
        for name in os.listdir(self.dir):
            try:
                os.unlink(os.path.join(self.dir, name))
            except IsADirectoryError:
                pass
        try:
            os.rmdir(self.dir)
        except OSError as e:
            if e.errno != errno.ENOENT:
                raise
        self.unlock()


def _now() -> str:
    t = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(t)) + f".{int(t % 1 * 1e9):09d}Z"
