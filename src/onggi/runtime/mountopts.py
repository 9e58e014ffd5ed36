"""Mount options of config.json -> (flags, propagation, data, extensions). Pure."""

from __future__ import annotations

from ..errors import InvalidArgument
from ..sys import libc as L

MS_POSIXACL = 1 << 16  # not in sys.libc (nothing else needs them)
MS_I_VERSION = 1 << 23

# option -> (clear?, flag)
FLAGS = {
    "acl": (False, MS_POSIXACL), "noacl": (True, MS_POSIXACL),
    "iversion": (False, MS_I_VERSION), "noiversion": (True, MS_I_VERSION),
    "nolazytime": (True, L.MS_LAZYTIME),
    "async": (True, L.MS_SYNCHRONOUS), "atime": (True, L.MS_NOATIME), "bind": (False, L.MS_BIND),
    "defaults": (False, 0), "dev": (True, L.MS_NODEV), "diratime": (True, L.MS_NODIRATIME),
    "dirsync": (False, L.MS_DIRSYNC), "exec": (True, L.MS_NOEXEC), "lazytime": (False, L.MS_LAZYTIME),
    "loud": (True, L.MS_SILENT), "mand": (False, L.MS_MANDLOCK), "noatime": (False, L.MS_NOATIME),
    "nodev": (False, L.MS_NODEV), "nodiratime": (False, L.MS_NODIRATIME),
    "noexec": (False, L.MS_NOEXEC), "nomand": (True, L.MS_MANDLOCK),
    "norelatime": (True, L.MS_RELATIME), "nostrictatime": (True, L.MS_STRICTATIME),
    "nosuid": (False, L.MS_NOSUID), "nosymfollow": (False, L.MS_NOSYMFOLLOW),
    "rbind": (False, L.MS_BIND | L.MS_REC), "relatime": (False, L.MS_RELATIME),
    "remount": (False, L.MS_REMOUNT), "ro": (False, L.MS_RDONLY), "rw": (True, L.MS_RDONLY),
    "silent": (False, L.MS_SILENT), "strictatime": (False, L.MS_STRICTATIME),
    "suid": (True, L.MS_NOSUID), "sync": (False, L.MS_SYNCHRONOUS),
    "symfollow": (True, L.MS_NOSYMFOLLOW),
}
PROPAGATION = {
    "private": L.MS_PRIVATE, "rprivate": L.MS_PRIVATE | L.MS_REC, "shared": L.MS_SHARED,
    "rshared": L.MS_SHARED | L.MS_REC, "slave": L.MS_SLAVE, "rslave": L.MS_SLAVE | L.MS_REC,
    "unbindable": L.MS_UNBINDABLE, "runbindable": L.MS_UNBINDABLE | L.MS_REC,
}
EXTENSIONS = ("tmpcopyup",)


class MountOptions:
    __slots__ = ("flags", "propagation", "data", "extensions")

    def __init__(self, flags: int, propagation: list[int], data: str, extensions: set[str]) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.extensions = extensions


def parse(options: list[str], where: str) -> MountOptions:
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    ext: set[str] = set()
    for o in options:
        if o in FLAGS:
            clear, fl = FLAGS[o]
            flags = flags & ~fl if clear else flags | fl
        elif o in PROPAGATION:
            prop.append(PROPAGATION[o])
        elif o in EXTENSIONS:
            ext.add(o)
        elif o in ("rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec",
                   "rnodiratime", "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime",
                   "rstrictatime", "rnostrictatime", "rnosymfollow", "rsymfollow", "idmap", "ridmap"):
            raise InvalidArgument(f"config.json: {where}: mount option {o!r} is not supported by onggi-runtime")
        elif o:
            data.append(o)
    return MountOptions(flags, prop, ",".join(data), ext)
