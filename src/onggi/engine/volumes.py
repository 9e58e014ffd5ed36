"""Named and anonymous volumes (podman's ``local`` driver): a directory per volume under
:attr:`Paths.volumes`::

    volumes/.lock                 flock: every change of any volume holds it (short)
    volumes/NAME/volume.json      the metadata (written atomically)
    volumes/NAME/_data            what containers mount

A volume appears whole or not at all: it is built under a temporary name and renamed into
place; removal renames it away first and deletes afterwards, outside the lock.

Who uses a volume is kept in its metadata (``users``: container ids).
:func:`onggi.engine.spec_mounts.apply_mounts` records the container that mounts it
(:func:`attach`); the lifecycle calls :func:`release` when it removes a container (and, with
``rm -v`` / ``--rm``, passes the anonymous volumes to remove). A user whose container
directory no longer exists is treated as gone, so a crash between the two never pins a
volume forever.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import re
import secrets
import shutil
import time
from dataclasses import dataclass, field
from typing import Any, Iterator

from ..errors import AlreadyExists, Conflict, InvalidArgument, NotFound
from ..files import atomic_write
from .paths import Paths

__all__ = ["Volume", "create", "get", "list_volumes", "remove", "prune", "attach", "release",
           "mark_populated", "inspect", "exists", "valid_name", "live_users", "matches_labels",
           "VOLUME_OPTIONS"]

_NAME = re.compile(r"[a-zA-Z0-9][a-zA-Z0-9_.-]*\Z")
META = "volume.json"
DATA = "_data"
# options of the local driver (podman's): a filesystem to mount instead of a plain dir
VOLUME_OPTIONS = ("type", "device", "o")


@dataclass
class Volume:
    name: str
    mountpoint: str
    created: str
    driver: str = "local"
    labels: dict[str, str] = field(default_factory=dict)
    options: dict[str, str] = field(default_factory=dict)
    anonymous: bool = False
    users: list[str] = field(default_factory=list)
    needs_copy_up: bool = True
    needs_chown: bool = True

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "driver": self.driver, "created": self.created,
                "labels": self.labels, "options": self.options, "anonymous": self.anonymous,
                "users": self.users, "needs_copy_up": self.needs_copy_up,
                "needs_chown": self.needs_chown}

    def inspect(self) -> dict[str, Any]:
        """podman's ``volume inspect`` shape."""
        out: dict[str, Any] = {"Name": self.name, "Driver": self.driver, "Mountpoint": self.mountpoint,
                               "CreatedAt": self.created, "Labels": dict(self.labels), "Scope": "local",
                               "Options": dict(self.options)}
        if self.anonymous:
            out["Anonymous"] = True
        out["MountCount"] = 0
        out["NeedsCopyUp"] = self.needs_copy_up
        out["NeedsChown"] = self.needs_chown
        return out


def valid_name(name: str) -> bool:
    return bool(_NAME.match(name))


def _now() -> str:
    ns = time.time_ns()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(ns // 1_000_000_000)) + f".{ns % 1_000_000_000:09d}Z"


@contextlib.contextmanager
def _locked(paths: Paths) -> Iterator[None]:
    os.makedirs(paths.volumes, mode=0o700, exist_ok=True)
    fd = os.open(os.path.join(paths.volumes, ".lock"), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)


def _dir(paths: Paths, name: str) -> str:
    return os.path.join(paths.volumes, name)


def _read(paths: Paths, name: str) -> Volume | None:
    d = _dir(paths, name)
    try:
        with open(os.path.join(d, META), "rb") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except ValueError as e:
        raise InvalidArgument(f"volume {name}: {os.path.join(d, META)} is not valid JSON: {e}") from None
    return Volume(name=name, mountpoint=os.path.join(d, DATA), created=data.get("created", ""),
                  driver=data.get("driver", "local"), labels=dict(data.get("labels") or {}),
                  options=dict(data.get("options") or {}), anonymous=bool(data.get("anonymous")),
                  users=list(data.get("users") or []), needs_copy_up=bool(data.get("needs_copy_up", True)),
                  needs_chown=bool(data.get("needs_chown", True)))


def _write(paths: Paths, vol: Volume, where: str | None = None) -> None:
    d = where or _dir(paths, vol.name)
    atomic_write(os.path.join(d, META), json.dumps(vol.to_json(), indent=1).encode(), mode=0o600,
                 durable=False)


def _check_options(options: dict[str, str]) -> None:
    for k in options:
        if k not in VOLUME_OPTIONS:
            raise InvalidArgument(f"--opt {k}: invalid mount option {k} for driver local "
                                  f"(one of {', '.join(VOLUME_OPTIONS)})")
    if ("type" in options) != ("device" in options):
        raise InvalidArgument("--opt: a volume with a type needs a device, and a device needs a type "
                              "(e.g. type=tmpfs,device=tmpfs)")


def create(paths: Paths, name: str | None = None, labels: dict[str, str] | None = None,
           options: dict[str, str] | None = None, *, ignore_existing: bool = False,
           anonymous: bool = False) -> Volume:
    """A new volume; ``name`` None gives it a random 64-hex name; ``anonymous`` marks one
    made for a single container (``-v /dst``, an image VOLUME). AlreadyExists if the name
    is taken (unless ``ignore_existing``: the existing one is returned)."""
    if name is None:
        name = secrets.token_hex(32)
    elif not valid_name(name):
        raise InvalidArgument(f"volume name {name!r}: names must match [a-zA-Z0-9][a-zA-Z0-9_.-]*")
    options = dict(options or {})
    _check_options(options)
    vol = Volume(name=name, mountpoint=os.path.join(_dir(paths, name), DATA), created=_now(),
                 labels=dict(labels or {}), options=options, anonymous=anonymous)
    with _locked(paths):
        old = _read(paths, name)
        if old is not None:
            if ignore_existing:
                return old
            raise AlreadyExists(f"volume with name {name} already exists")
        tmp = os.path.join(paths.volumes, f".tmp-{name}-{secrets.token_hex(4)}")
        os.mkdir(tmp, 0o700)
        try:
            os.mkdir(os.path.join(tmp, DATA), 0o755)
            _write(paths, vol, tmp)
            os.rename(tmp, _dir(paths, name))
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
    return vol


def get(paths: Paths, name: str) -> Volume:
    vol = _read(paths, name) if valid_name(name) else None
    if vol is None:
        raise NotFound(f"no volume with name \"{name}\" found: no such volume")
    return vol


def exists(paths: Paths, name: str) -> bool:
    return valid_name(name) and _read(paths, name) is not None


def list_volumes(paths: Paths) -> list[Volume]:
    """Every volume, sorted by name (half-made or half-removed ones are not listed)."""
    try:
        names = sorted(os.listdir(paths.volumes))
    except FileNotFoundError:
        return []
    out = []
    for n in names:
        if valid_name(n):
            vol = _read(paths, n)
            if vol is not None:
                out.append(vol)
    return out


def inspect(paths: Paths, name: str) -> dict[str, Any]:
    return get(paths, name).inspect()


def live_users(paths: Paths, vol: Volume) -> list[str]:
    return [c for c in vol.users if os.path.isdir(paths.container_dir(c))]


def _discard(paths: Paths, name: str, trash: list[str]) -> None:
    """Rename the volume away (under the lock), so that it vanishes at once; the caller
    deletes what ``trash`` lists once the lock is released."""
    where = os.path.join(paths.volumes, f".rm-{name}-{secrets.token_hex(4)}")
    os.rename(_dir(paths, name), where)
    trash.append(where)


def _empty(trash: list[str]) -> None:
    for where in trash:
        shutil.rmtree(where, ignore_errors=True)


def remove(paths: Paths, name: str, force: bool = False) -> list[str]:
    """Remove a volume. Conflict while a container uses it, unless ``force``. Returns the
    ids of the containers that were using it (the caller may remove them, as podman's
    ``volume rm -f`` does)."""
    trash: list[str] = []
    try:
        with _locked(paths):
            vol = get(paths, name)
            users = live_users(paths, vol)
            if users and not force:
                raise Conflict(f"volume {name} is being used by the following container(s): "
                               f"{', '.join(users)}: volume is being used")
            _discard(paths, name, trash)
    finally:
        _empty(trash)
    return users


def prune(paths: Paths, labels: dict[str, str | None] | None = None) -> list[str]:
    """Remove every volume no container uses (and that has the given labels, if any);
    returns their names."""
    removed: list[str] = []
    trash: list[str] = []
    try:
        with _locked(paths):
            for vol in list_volumes(paths):
                if live_users(paths, vol) or not matches_labels(vol, labels or {}):
                    continue
                _discard(paths, vol.name, trash)
                removed.append(vol.name)
    finally:
        _empty(trash)
    return removed


def matches_labels(vol: Volume, labels: dict[str, str | None]) -> bool:
    """Every KEY (any value) or KEY=VALUE in ``labels`` is among the volume's labels."""
    return all(k in vol.labels and (v is None or vol.labels[k] == v) for k, v in labels.items())


def attach(paths: Paths, name: str, container_id: str) -> Volume:
    """Record that ``container_id`` uses the volume; NotFound if it is gone."""
    with _locked(paths):
        vol = get(paths, name)
        if container_id not in vol.users:
            vol.users.append(container_id)
            _write(paths, vol)
    return vol


def mark_populated(paths: Paths, name: str, *, copied_up: bool = True, chowned: bool = True) -> None:
    """Clear NeedsCopyUp / NeedsChown after the first container prepared the volume."""
    with _locked(paths):
        vol = _read(paths, name)
        if vol is None:
            return
        vol.needs_copy_up = vol.needs_copy_up and not copied_up
        vol.needs_chown = vol.needs_chown and not chowned
        _write(paths, vol)


def release(paths: Paths, container_id: str, remove_anonymous: list[str] | tuple[str, ...] = ()) -> list[str]:
    """The container is gone: forget it as a user of every volume, and remove those of
    ``remove_anonymous`` that nobody else uses. Returns the names removed."""
    removed: list[str] = []
    trash: list[str] = []
    try:
        with _locked(paths):
            for vol in list_volumes(paths):
                if container_id in vol.users:
                    vol.users.remove(container_id)
                    _write(paths, vol)
                if vol.name in remove_anonymous and not live_users(paths, vol):
                    _discard(paths, vol.name, trash)
                    removed.append(vol.name)
    finally:
        _empty(trash)
    return removed
