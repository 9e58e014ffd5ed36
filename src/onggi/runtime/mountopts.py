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
# recursive options (mount_setattr with AT_RECURSIVE): option -> (clear?, attribute)
RECURSIVE = {
    "rro": (False, L.MOUNT_ATTR_RDONLY), "rrw": (True, L.MOUNT_ATTR_RDONLY),
    "rnosuid": (False, L.MOUNT_ATTR_NOSUID), "rsuid": (True, L.MOUNT_ATTR_NOSUID),
    "rnodev": (False, L.MOUNT_ATTR_NODEV), "rdev": (True, L.MOUNT_ATTR_NODEV),
    "rnoexec": (False, L.MOUNT_ATTR_NOEXEC), "rexec": (True, L.MOUNT_ATTR_NOEXEC),
    "rnodiratime": (False, L.MOUNT_ATTR_NODIRATIME), "rdiratime": (True, L.MOUNT_ATTR_NODIRATIME),
    "rnosymfollow": (False, L.MOUNT_ATTR_NOSYMFOLLOW), "rsymfollow": (True, L.MOUNT_ATTR_NOSYMFOLLOW),
}
# the access-time mode is one value, not a bit: each option picks one (relatime is the
# kernel's default, so the "not X" forms go back to it)
RECURSIVE_ATIME = {
    "rrelatime": L.MOUNT_ATTR_RELATIME, "rnorelatime": L.MOUNT_ATTR_RELATIME,
    "rnoatime": L.MOUNT_ATTR_NOATIME, "ratime": L.MOUNT_ATTR_RELATIME,
    "rstrictatime": L.MOUNT_ATTR_STRICTATIME, "rnostrictatime": L.MOUNT_ATTR_RELATIME,
}


class MountOptions:
    __slots__ = ("flags", "propagation", "data", "extensions", "rec_set", "rec_clr")

    def __init__(self, flags: int, propagation: list[int], data: str, extensions: set[str],
                 rec_set: int = 0, rec_clr: int = 0) -> None:
        self.flags = flags
        self.propagation = propagation
        self.data = data
        self.extensions = extensions
        self.rec_set = rec_set  # mount_setattr attributes, for the mount and all below it
        self.rec_clr = rec_clr


def parse(options: list[str], where: str) -> MountOptions:
    flags = 0
    prop: list[int] = []
    data: list[str] = []
    ext: set[str] = set()
    rec_set = rec_clr = 0
    for o in options:
        if o in FLAGS:
            clear, fl = FLAGS[o]
            flags = flags & ~fl if clear else flags | fl
        elif o in PROPAGATION:
            prop.append(PROPAGATION[o])
        elif o in EXTENSIONS:
            ext.add(o)
        elif o in RECURSIVE:
            clear, attr = RECURSIVE[o]
            if clear:
                rec_set, rec_clr = rec_set & ~attr, rec_clr | attr
            else:
                rec_set, rec_clr = rec_set | attr, rec_clr & ~attr
        elif o in RECURSIVE_ATIME:
            rec_set = (rec_set & ~L.MOUNT_ATTR__ATIME) | RECURSIVE_ATIME[o]
            rec_clr |= L.MOUNT_ATTR__ATIME
        elif o in ("idmap", "ridmap"):
            raise InvalidArgument(f"config.json: {where}: mount option {o!r} (id-mapped mounts) is not "
                                  f"supported by onggi-runtime")
        elif o:
            data.append(o)
    return MountOptions(flags, prop, ",".join(data), ext, rec_set, rec_clr)
