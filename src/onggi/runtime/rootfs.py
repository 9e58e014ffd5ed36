"""Build the container's filesystem view, inside its new mount namespace: the spec's
mounts (targets resolved through securejoin, never by string), /dev and its default
devices, pivot_root, masked and read-only paths. Runs in the container's init process
before it execs the user's program."""

from __future__ import annotations

import errno
import os

from ..errors import InvalidArgument, NotFound, PermissionDenied
from ..sys import libc as L
from ..sys.securejoin import ensure_file, mkdir_all, open_in_root, proc_fd_path
from . import mountopts

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..oci.spec import Mount, Spec

# the devices every container gets (runc's list): path, major, minor
DEFAULT_DEVICES = (("/dev/null", 1, 3), ("/dev/zero", 1, 5), ("/dev/full", 1, 7),
                   ("/dev/random", 1, 8), ("/dev/urandom", 1, 9), ("/dev/tty", 5, 0))
DEV_LINKS = (("/proc/self/fd", "/dev/fd"), ("/proc/self/fd/0", "/dev/stdin"),
             ("/proc/self/fd/1", "/dev/stdout"), ("/proc/self/fd/2", "/dev/stderr"))
_ST_FLAGS = L.MS_RDONLY | L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC | L.MS_NOATIME | L.MS_NODIRATIME | L.MS_RELATIME


def _err(e: OSError, what: str) -> Exception:
    if e.errno in (errno.EPERM, errno.EACCES):
        return PermissionDenied(f"{what}: {e.strerror}")
    if e.errno == errno.ENOENT:
        return NotFound(f"{what}: {e.strerror}")
    return InvalidArgument(f"{what}: {e.strerror}")


class RootfsBuilder:
    """One container's rootfs set-up. ``rootfs`` is the host path; ``in_userns`` says
    that device nodes must be bind-mounted rather than made."""

    def __init__(self, spec: "Spec", rootfs: str, bundle: str, in_userns: bool,
                 cgroup_mounts: list[tuple[str, str]], cgroup_version: str, cgroupns: bool) -> None:
        self.spec = spec
        self.rootfs = rootfs
        self.bundle = bundle
        self.in_userns = in_userns
        self.cgroup_mounts = cgroup_mounts
        self.cgroup_version = cgroup_version
        self.cgroupns = cgroupns
        self.root_fd = -1

    # ---- before pivot_root ----------------------------------------------------------
    def prepare(self) -> None:
        spec = self.spec
        prop = spec.linux.rootfs_propagation
        pflag = mountopts.PROPAGATION.get(prop or "rslave", L.MS_SLAVE | L.MS_REC)
        L.mount(None, "/", None, pflag if pflag & (L.MS_SLAVE | L.MS_PRIVATE) else L.MS_SLAVE | L.MS_REC)
        self._make_parent_private()
        try:
            L.mount(self.rootfs, self.rootfs, None, L.MS_BIND | L.MS_REC)
        except OSError as e:
            raise _err(e, f"root.path: bind mount of {self.rootfs}") from None
        self.root_fd = os.open(self.rootfs, os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        dev_is_tmpfs = False
        for i, m in enumerate(spec.mounts):
            self._mount(m, f"mounts[{i}]")
            if m.destination == "/dev":
                dev_is_tmpfs = True
        if dev_is_tmpfs:
            self._default_devices()
        self._devices()
        if dev_is_tmpfs:
            self._dev_links()

    def _make_parent_private(self) -> None:
        # pivot_root needs the new root's parent mount not to be shared
        path = self.rootfs
        best = ""
        with open("/proc/self/mountinfo") as f:
            for line in f:
                mp = line.split(" ", 5)[4]
                if (path == mp or path.startswith(mp.rstrip("/") + "/")) and len(mp) > len(best):
                    best = mp
        if best:
            try:
                L.mount(None, best, None, L.MS_PRIVATE)
            except OSError:
                pass

    def _source(self, m: "Mount") -> str:
        src = m.source or ""
        return src if src.startswith("/") else os.path.join(self.bundle, src)

    def _mount(self, m: "Mount", where: str) -> None:
        opts = mountopts.parse(m.options, f"{where}.options")
        flags = opts.flags
        mtype = m.type or ("bind" if flags & L.MS_BIND else None)
        is_bind = bool(flags & L.MS_BIND) or mtype == "bind"
        if mtype == "cgroup":
            return self._mount_cgroup(m, opts, where)
        src = self._source(m) if is_bind else (m.source or mtype or "none")
        try:
            if is_bind:
                try:
                    os.stat(src)
                except OSError as e:
                    raise _err(e, f"{where}.source {src}") from None
                fd = (mkdir_all(self.root_fd, m.destination) if os.path.isdir(src)
                      else ensure_file(self.root_fd, m.destination))
            else:
                fd = mkdir_all(self.root_fd, m.destination)
        except OSError as e:
            raise _err(e, f"{where}.destination {m.destination}") from None
        target = proc_fd_path(fd)
        try:
            if is_bind:
                L.mount(src, target, None, L.MS_BIND | (flags & L.MS_REC))
                extra = flags & ~(L.MS_BIND | L.MS_REC | L.MS_REMOUNT)
                if extra:
                    os.close(fd)
                    fd = open_in_root(self.root_fd, m.destination)
                    target = proc_fd_path(fd)
                    self._remount_bind(target, extra)
            else:
                lower = -1
                if "tmpcopyup" in opts.extensions:
                    lower = os.open(target, os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC)
                try:
                    L.mount(src, target, mtype, flags, opts.data or None)
                except OSError as e:
                    if mtype == "sysfs" and e.errno == errno.EPERM:
                        # sysfs cannot be mounted in a network namespace we do not own
                        # (rootless, host network): give the host's /sys read-only instead
                        L.mount("/sys", target, None, L.MS_BIND | L.MS_REC)
                    else:
                        raise
                if lower >= 0:
                    os.close(fd)
                    fd = open_in_root(self.root_fd, m.destination)
                    _copy_tree(f"/proc/self/fd/{lower}", proc_fd_path(fd))
                    os.close(lower)
            if opts.propagation or opts.rec_set or opts.rec_clr:
                # the fd still names the directory under the new mount: re-open it
                os.close(fd)
                fd = open_in_root(self.root_fd, m.destination)
                for p in opts.propagation:
                    L.mount(None, proc_fd_path(fd), None, p)
                if opts.rec_set or opts.rec_clr:
                    L.mount_setattr(fd, opts.rec_set, opts.rec_clr)
        except OSError as e:
            raise _err(e, f"{where}: mount {src} on {m.destination} (type {mtype or 'bind'})") from None
        finally:
            os.close(fd)

    @staticmethod
    def _remount_bind(target: str, flags: int) -> None:
        try:
            L.mount(None, target, None, L.MS_REMOUNT | L.MS_BIND | flags)
        except OSError as e:
            if e.errno != errno.EPERM:
                raise
            # flags locked by a less privileged mount namespace must be kept
            locked = os.statvfs(target).f_flag & _ST_FLAGS
            L.mount(None, target, None, L.MS_REMOUNT | L.MS_BIND | flags | locked)

    def _mount_cgroup(self, m: "Mount", opts: "mountopts.MountOptions", where: str) -> None:
        flags = opts.flags
        fd = mkdir_all(self.root_fd, m.destination)
        try:
            target = proc_fd_path(fd)
            if self.cgroup_version == "v2":
                if self.cgroupns:
                    L.mount("cgroup2", target, "cgroup2", flags)
                else:
                    src = self.cgroup_mounts[0][1] if self.cgroup_mounts else "/sys/fs/cgroup"
                    L.mount(src, target, None, L.MS_BIND | L.MS_REC)
                    self._remount_bind(target, flags)
                return
            L.mount("tmpfs", target, "tmpfs", flags & ~L.MS_RDONLY, "mode=755")
            os.close(fd)
            fd = open_in_root(self.root_fd, m.destination)
            for name, host_dir in self.cgroup_mounts:
                sub = mkdir_all(self.root_fd, f"{m.destination}/{name}")
                try:
                    L.mount(host_dir, proc_fd_path(sub), None, L.MS_BIND | L.MS_REC)
                finally:
                    os.close(sub)
                sub = open_in_root(self.root_fd, f"{m.destination}/{name}")  # the new mount's root
                try:
                    self._remount_bind(proc_fd_path(sub), flags | L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
                finally:
                    os.close(sub)
                if "," in name:
                    for alias in name.split(","):
                        try:
                            os.symlink(name, alias, dir_fd=fd)
                        except FileExistsError:
                            pass
            if flags & L.MS_RDONLY:
                L.mount(None, proc_fd_path(fd), None, L.MS_REMOUNT | L.MS_RDONLY | (flags & ~L.MS_RDONLY))
        except OSError as e:
            raise _err(e, f"{where}: mount cgroup on {m.destination}") from None
        finally:
            os.close(fd)

    def _make_device(self, path: str, dtype: str, major: int, minor: int, mode: int,
                     uid: int, gid: int) -> None:
        kind = {"c": 0o020000, "u": 0o020000, "b": 0o060000, "p": 0o010000}[dtype]
        parent, name = path.rsplit("/", 1)
        pfd = mkdir_all(self.root_fd, parent or "/")
        try:
            try:
                os.unlink(name, dir_fd=pfd)
            except FileNotFoundError:
                pass
            except IsADirectoryError:
                raise InvalidArgument(f"config.json: linux.devices: {path} is a directory in the rootfs") from None
            if self.in_userns and dtype != "p":
                # no mknod in a user namespace: bind the host's node over an empty file
                os.close(os.open(name, os.O_CREAT | os.O_WRONLY | os.O_NOFOLLOW | os.O_CLOEXEC, 0o000,
                                 dir_fd=pfd))
                fd = open_in_root(self.root_fd, path)
                try:
                    L.mount(path, proc_fd_path(fd), None, L.MS_BIND)
                finally:
                    os.close(fd)
                return
            os.mknod(name, kind | (mode & 0o7777), os.makedev(major, minor), dir_fd=pfd)
            os.chown(name, uid, gid, dir_fd=pfd, follow_symlinks=False)
        except OSError as e:
            raise _err(e, f"linux.devices: create {path}") from None
        finally:
            os.close(pfd)

    def _default_devices(self) -> None:
        given = {d.path for d in self.spec.linux.devices}
        for path, major, minor in DEFAULT_DEVICES:
            if path not in given:
                self._make_device(path, "c", major, minor, 0o666, 0, 0)

    def _devices(self) -> None:
        for d in self.spec.linux.devices:
            self._make_device(d.path, d.type, d.major or 0, d.minor or 0,
                              d.file_mode if d.file_mode is not None else 0o666,
                              d.uid or 0, d.gid or 0)

    def _dev_links(self) -> None:
        fd = open_in_root(self.root_fd, "/dev")
        try:
            links = list(DEV_LINKS)
            if os.path.exists("/proc/kcore"):
                links.append(("/proc/kcore", "/dev/core"))
            try:
                os.stat("pts/ptmx", dir_fd=fd)
                links.append(("pts/ptmx", "/dev/ptmx"))
            except OSError:
                pass
            for target, link in links:
                name = link[5:]
                try:
                    os.unlink(name, dir_fd=fd)
                except OSError:
                    pass
                os.symlink(target, name, dir_fd=fd)
        finally:
            os.close(fd)

    def bind_console(self, slave_path: str) -> None:
        fd = ensure_file(self.root_fd, "/dev/console", 0o600)
        try:
            L.mount(slave_path, proc_fd_path(fd), None, L.MS_BIND)
        finally:
            os.close(fd)

    # ---- the switch -----------------------------------------------------------------
    def pivot(self, no_pivot: bool) -> None:
        os.chdir(self.rootfs)
        if no_pivot:
            L.mount(self.rootfs, "/", None, L.MS_MOVE)
            os.chroot(".")
        else:
            L.pivot_root(".", ".")
            # the old root now sits on top of the new one: detach it without letting the
            # unmount propagate to the host
            L.mount(None, ".", None, L.MS_SLAVE | L.MS_REC)
            L.umount2(".", L.MNT_DETACH)
        os.chdir("/")
        if self.root_fd >= 0:
            os.close(self.root_fd)
            self.root_fd = -1

    # ---- after pivot_root -----------------------------------------------------------
    def finish(self) -> None:
        spec = self.spec
        root = os.open("/", os.O_PATH | os.O_DIRECTORY | os.O_CLOEXEC)
        try:
            for key, value in spec.linux.sysctl.items():
                _sysctl(root, key, value)
            for p in spec.linux.readonly_paths:
                self._readonly(root, p)
            for p in spec.linux.masked_paths:
                self._mask(root, p)
            if spec.root.readonly:
                try:
                    L.mount(None, "/", None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY)
                except OSError as e:
                    if e.errno != errno.EPERM:
                        raise _err(e, "root.readonly: remount / read-only") from None
                    locked = os.statvfs("/").f_flag & _ST_FLAGS
                    L.mount(None, "/", None, L.MS_REMOUNT | L.MS_BIND | L.MS_RDONLY | locked)
        finally:
            os.close(root)

    def _readonly(self, root: int, path: str) -> None:
        try:
            fd = open_in_root(root, path)
        except FileNotFoundError:
            return
        try:
            t = proc_fd_path(fd)
            L.mount(t, t, None, L.MS_BIND | L.MS_REC)
            os.close(fd)
            fd = open_in_root(root, path)  # the new mount's root
            self._remount_bind(proc_fd_path(fd), L.MS_RDONLY | L.MS_NOSUID | L.MS_NODEV | L.MS_NOEXEC)
        except OSError as e:
            raise _err(e, f"linux.readonlyPaths: {path}") from None
        finally:
            os.close(fd)

    @staticmethod
    def _mask(root: int, path: str) -> None:
        try:
            fd = open_in_root(root, path)
        except FileNotFoundError:
            return
        try:
            t = proc_fd_path(fd)
            if os.path.isdir(t):
                L.mount("tmpfs", t, "tmpfs", L.MS_RDONLY)
            else:
                L.mount("/dev/null", t, None, L.MS_BIND)
        except OSError as e:
            raise _err(e, f"linux.maskedPaths: {path}") from None
        finally:
            os.close(fd)


def _sysctl(root: int, key: str, value: str) -> None:
    rel = "proc/sys/" + key.replace(".", "/")
    try:
        fd = open_in_root(root, rel, os.O_WRONLY | os.O_TRUNC)
    except OSError as e:
        raise _err(e, f"linux.sysctl: {key}") from None
    try:
        os.write(fd, value.encode())
    except OSError as e:
        raise _err(e, f"linux.sysctl: {key}={value}") from None
    finally:
        os.close(fd)


def _copy_tree(src: str, dst: str) -> None:
    import shutil

    for name in os.listdir(src):
        s, d = os.path.join(src, name), os.path.join(dst, name)
        if os.path.isdir(s) and not os.path.islink(s):
            shutil.copytree(s, d, symlinks=True)
        else:
            shutil.copy2(s, d, follow_symlinks=False)
