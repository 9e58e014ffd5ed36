"""Linux security modules for the container's process: an AppArmor profile and an
SELinux label, applied on exec (``/proc/self/attr/...``). A profile asked for on a host
without AppArmor is an error (the container would run unconfined); an SELinux label on
a host without SELinux is ignored, as runc does."""

from __future__ import annotations

import os

from ..errors import PermissionDenied, Unsupported

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..oci.spec import Process


def apparmor_enabled() -> bool:
    try:
        with open("/sys/module/apparmor/parameters/enabled") as f:
            return f.read().strip() == "Y"
    except OSError:
        return False


def selinux_enabled() -> bool:
    return os.path.exists("/sys/fs/selinux/enforce")


def check(proc: "Process") -> None:
    """Before anything is created: refuse what this host cannot do."""
    if proc.apparmor_profile and not apparmor_enabled():
        raise Unsupported(f"process.apparmorProfile: {proc.apparmor_profile!r} was asked for, "
                          "but AppArmor is not enabled on this host")


def _write_attr(paths: tuple[str, ...], value: str, what: str) -> None:
    for path in paths:
        try:
            fd = os.open(path, os.O_WRONLY | os.O_CLOEXEC)
        except FileNotFoundError:
            continue
        try:
            os.write(fd, value.encode())
            return
        except OSError as e:
            raise PermissionDenied(f"{what}: the kernel refused {value!r}: {e.strerror}") from None
        finally:
            os.close(fd)
    raise Unsupported(f"{what}: no {paths[-1]} on this host")


def apply(proc: "Process") -> None:
    """In the process about to exec (after the rootfs and /proc are in place)."""
    if proc.apparmor_profile and apparmor_enabled():
        _write_attr(("/proc/self/attr/apparmor/exec", "/proc/self/attr/exec"),
                    f"exec {proc.apparmor_profile}", "process.apparmorProfile")
    if proc.selinux_label and selinux_enabled():
        _write_attr(("/proc/self/attr/exec",), proc.selinux_label, "process.selinuxLabel")
