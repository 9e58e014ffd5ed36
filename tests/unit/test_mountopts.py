"""onggi.runtime.mountopts.parse: config.json mount options -> flags, propagation, data."""

from __future__ import annotations

import pytest

from onggi.errors import InvalidArgument
from onggi.oci.defaults import MOUNT_OPTIONS
from onggi.runtime import mountopts
from onggi.runtime.mountopts import parse
from onggi.sys import libc as L


def test_empty() -> None:
    o = parse([], "mounts[0]")
    assert (o.flags, o.propagation, o.data, o.extensions) == (0, [], "", set())


def test_flags() -> None:
    o = parse(["nosuid", "noexec", "nodev", "ro", "relatime"], "m")
    assert o.flags == L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV | L.MS_RDONLY | L.MS_RELATIME
    assert o.data == "" and o.propagation == []
    assert parse(["rbind"], "m").flags == L.MS_BIND | L.MS_REC
    assert parse(["bind"], "m").flags == L.MS_BIND
    assert parse(["defaults"], "m").flags == 0
    assert parse(["remount", "ro", "bind"], "m").flags == L.MS_REMOUNT | L.MS_RDONLY | L.MS_BIND


@pytest.mark.parametrize("on,off,flag", [
    ("ro", "rw", L.MS_RDONLY), ("nosuid", "suid", L.MS_NOSUID), ("nodev", "dev", L.MS_NODEV),
    ("noexec", "exec", L.MS_NOEXEC), ("sync", "async", L.MS_SYNCHRONOUS), ("noatime", "atime", L.MS_NOATIME),
    ("nodiratime", "diratime", L.MS_NODIRATIME), ("mand", "nomand", L.MS_MANDLOCK),
    ("relatime", "norelatime", L.MS_RELATIME), ("strictatime", "nostrictatime", L.MS_STRICTATIME),
    ("silent", "loud", L.MS_SILENT), ("nosymfollow", "symfollow", L.MS_NOSYMFOLLOW),
    ("lazytime", "nolazytime", L.MS_LAZYTIME), ("acl", "noacl", mountopts.MS_POSIXACL),
    ("iversion", "noiversion", mountopts.MS_I_VERSION),
])
def test_clear_flags(on: str, off: str, flag: int) -> None:
    assert parse([on], "m").flags == flag
    assert parse([on, off], "m").flags == 0       # the later option wins, like mount(8)
    assert parse([off, on], "m").flags == flag
    others = L.MS_BIND if flag != L.MS_BIND else L.MS_NOSUID
    assert parse(["bind", on, off], "m").flags == others  # only that flag is cleared


def test_rw_after_ro_keeps_the_rest() -> None:
    o = parse(["ro", "nosuid", "rw"], "m")
    assert o.flags == L.MS_NOSUID


def test_propagation_in_order() -> None:
    o = parse(["rbind", "rprivate", "shared", "slave", "runbindable", "unbindable", "rshared", "rslave",
               "private"], "m")
    assert o.propagation == [L.MS_PRIVATE | L.MS_REC, L.MS_SHARED, L.MS_SLAVE, L.MS_UNBINDABLE | L.MS_REC,
                             L.MS_UNBINDABLE, L.MS_SHARED | L.MS_REC, L.MS_SLAVE | L.MS_REC, L.MS_PRIVATE]
    assert o.flags == L.MS_BIND | L.MS_REC  # propagation is not a mount flag here


def test_data_string() -> None:
    o = parse(["nosuid", "mode=755", "size=65536k", "", "newinstance", "ptmxmode=0666", "noexec"], "m")
    assert o.data == "mode=755,size=65536k,newinstance,ptmxmode=0666"
    assert o.flags == L.MS_NOSUID | L.MS_NOEXEC


def test_tmpcopyup() -> None:
    o = parse(["tmpcopyup", "mode=1777", "tmpcopyup"], "m")
    assert o.extensions == {"tmpcopyup"}
    assert o.data == "mode=1777"
    assert o.flags == 0


@pytest.mark.parametrize("opt", ["idmap", "ridmap"])
def test_idmapped_mounts_are_refused(opt: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        parse(["nosuid", opt], "mounts[3]")
    assert str(ei.value) == (f"config.json: mounts[3]: mount option {opt!r} (id-mapped mounts) is not "
                             f"supported by onggi-runtime")


def test_recursive_options_are_mount_attributes() -> None:
    o = parse(["rbind", "rro", "rnosuid", "rnodev", "nosuid"], "m")
    assert o.flags == L.MS_BIND | L.MS_REC | L.MS_NOSUID
    assert o.rec_set == L.MOUNT_ATTR_RDONLY | L.MOUNT_ATTR_NOSUID | L.MOUNT_ATTR_NODEV
    assert o.rec_clr == 0 and o.data == ""
    o = parse(["rro", "rrw", "rexec"], "m")  # the last word wins, and "r-not" clears
    assert o.rec_set == 0
    assert o.rec_clr == L.MOUNT_ATTR_RDONLY | L.MOUNT_ATTR_NOEXEC


@pytest.mark.parametrize("opt, mode", [("rnoatime", L.MOUNT_ATTR_NOATIME), ("rstrictatime", L.MOUNT_ATTR_STRICTATIME),
                                       ("rrelatime", L.MOUNT_ATTR_RELATIME), ("ratime", L.MOUNT_ATTR_RELATIME)])
def test_recursive_atime_is_one_mode(opt: str, mode: int) -> None:
    # the kernel wants the whole atime field in attr_clr whenever a mode is set
    o = parse(["rnoatime", opt], "m")
    assert o.rec_set == mode and o.rec_clr == L.MOUNT_ATTR__ATIME


def test_default_spec_mounts() -> None:
    from onggi.oci.defaults import default_spec

    got = [(m["destination"], parse(m.get("options", []), "m")) for m in default_spec()["mounts"]]
    dev = dict(got)["/dev"]
    assert dev.flags == L.MS_NOSUID | L.MS_STRICTATIME and dev.data == "mode=755,size=65536k"
    pts = dict(got)["/dev/pts"]
    assert pts.data == "newinstance,ptmxmode=0666,mode=0620,gid=5"
    assert dict(got)["/sys"].flags == L.MS_NOSUID | L.MS_NOEXEC | L.MS_NODEV | L.MS_RDONLY


_RECURSIVE = {"rro", "rrw", "rnosuid", "rsuid", "rnodev", "rdev", "rnoexec", "rexec", "rnodiratime",
              "rdiratime", "rrelatime", "rnorelatime", "rnoatime", "ratime", "rstrictatime",
              "rnostrictatime", "rnosymfollow", "rsymfollow"}


@pytest.mark.parametrize("opt", sorted(set(MOUNT_OPTIONS) - _RECURSIVE))
def test_every_advertised_option_is_understood(opt: str) -> None:
    """``features`` lists it, so it must be a flag or a propagation, never fs data."""
    o = parse([opt], "m")
    assert o.data == "", opt


def test_advertised_recursive_options() -> None:
    advertised = sorted(_RECURSIVE & set(MOUNT_OPTIONS))
    assert advertised
    for opt in advertised:
        parse([opt], "m")
