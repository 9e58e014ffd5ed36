"""The image configuration (OCI ``application/vnd.oci.image.config.v1+json`` and Docker's
``application/vnd.docker.container.image.v1+json``), chain IDs, and conversion of manifests
between the OCI and Docker flavours as skopeo (containers/image) converts them.

Field errors name the path from the root ``config`` (``config.rootfs.diff_ids[1]: ...``).
Docker-only fields (``container_config``, ``docker_version`` ...) stay in ``raw`` and are
written back by ``to_dict``; :meth:`ImageConfig.oci_bytes` writes only the OCI fields.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Sequence

from ..errors import InvalidArgument, Unsupported
from . import digest as _digest
from . import jsonio
from . import mediatypes as mt
from .image import (Descriptor, Index, Manifest, Wire, bad, boolean, describe, get, integer, items,
                    join, obj, str_map, string, strings)
from .platform import Platform

__all__ = ["ImageConfig", "RunConfig", "Healthcheck", "RootFS", "History", "chain_ids",
           "chain_id", "to_docker", "to_oci", "convert_index", "DOCKER_LAYER",
           "DOCKER_LAYER_ZSTD", "DOCKER_LAYER_FOREIGN"]

DOCKER_LAYER = mt.DOCKER_LAYER
DOCKER_LAYER_FOREIGN = mt.DOCKER_LAYER_FOREIGN
DOCKER_LAYER_ZSTD = mt.DOCKER_LAYER_ZSTD
_PROTOCOLS = ("tcp", "udp", "sctp")
_HEALTH_TESTS = ("NONE", "CMD", "CMD-SHELL")


def timestamp(d: dict, key: str, path: str) -> str | None:
    """An RFC 3339 date-time string (kept as written)."""
    v = string(d, key, path)
    if v is None:
        return None
    ok = len(v) >= 20 and v[10] in "Tt " and (v[-1] in "Zz" or v[-6] in "+-")
    try:
        ok = ok and datetime.fromisoformat(v.upper()) is not None
    except ValueError:
        ok = False
    if not ok:
        raise bad(join(path, key), f"{v!r} is not an RFC 3339 date-time")
    return v


def _objects(d: dict, key: str, path: str) -> dict | None:
    """An object whose values are objects (``ExposedPorts``, ``Volumes``); null values pass."""
    v = get(d, key, path, dict, "an object")
    for k, x in (v or {}).items():  # type: ignore[union-attr]
        if x is not None and not isinstance(x, dict):
            raise bad(f"{join(path, key)}[{k!r}]", "expected an object")
    return v  # type: ignore[return-value]


class Healthcheck(Wire):
    __slots__ = ("test", "interval", "timeout", "start_period", "start_interval", "retries", "raw")
    FIELDS = (("test", "Test"), ("interval", "Interval"), ("timeout", "Timeout"),
              ("start_period", "StartPeriod"), ("start_interval", "StartInterval"),
              ("retries", "Retries"))

    @classmethod
    def parse(cls, d: dict, path: str) -> "Healthcheck":
        test = strings(d, "Test", path)
        if test and test[0] not in _HEALTH_TESTS:
            raise bad(f"{path}.Test[0]", f"{test[0]!r} is not one of {', '.join(_HEALTH_TESTS)}")
        # durations are Go time.Duration values: integer nanoseconds
        return cls(test=test, interval=integer(d, "Interval", path),
                   timeout=integer(d, "Timeout", path), start_period=integer(d, "StartPeriod", path),
                   start_interval=integer(d, "StartInterval", path),
                   retries=integer(d, "Retries", path), raw=d)


class RunConfig(Wire):
    """The ``config`` object: how to run a container of the image."""

    __slots__ = ("user", "exposed_ports", "env", "entrypoint", "cmd", "volumes", "working_dir",
                 "labels", "stop_signal", "args_escaped", "healthcheck", "on_build", "shell", "raw")
    FIELDS = (("user", "User"), ("exposed_ports", "ExposedPorts"), ("env", "Env"),
              ("entrypoint", "Entrypoint"), ("cmd", "Cmd"), ("volumes", "Volumes"),
              ("working_dir", "WorkingDir"), ("labels", "Labels"), ("stop_signal", "StopSignal"),
              ("args_escaped", "ArgsEscaped"), ("healthcheck", "Healthcheck"),
              ("on_build", "OnBuild"), ("shell", "Shell"))
    OCI_KEYS = ("User", "ExposedPorts", "Env", "Entrypoint", "Cmd", "Volumes", "WorkingDir",
                "Labels", "StopSignal", "ArgsEscaped")

    @classmethod
    def parse(cls, d: dict, path: str) -> "RunConfig":
        ports = _objects(d, "ExposedPorts", path)
        for k in ports or ():
            num, _, proto = k.partition("/")
            if not num.isdigit() or not 0 < int(num) < 65536 or (proto and proto.lower() not in _PROTOCOLS):
                raise bad(f"{path}.ExposedPorts", f"{k!r} is not port[/tcp|udp|sctp]")
        env = strings(d, "Env", path)
        for i, e in enumerate(env or ()):
            if "=" not in e[1:]:
                raise bad(f"{path}.Env[{i}]", f"{e!r} is not of the form KEY=value")
        hc = get(d, "Healthcheck", path, dict, "an object")
        return cls(user=string(d, "User", path), exposed_ports=ports, env=env,
                   entrypoint=strings(d, "Entrypoint", path), cmd=strings(d, "Cmd", path),
                   volumes=_objects(d, "Volumes", path), working_dir=string(d, "WorkingDir", path),
                   labels=str_map(d, "Labels", path), stop_signal=string(d, "StopSignal", path),
                   args_escaped=boolean(d, "ArgsEscaped", path),
                   healthcheck=None if hc is None
                   else Healthcheck.parse(hc, f"{path}.Healthcheck"),  # type: ignore[arg-type]
                   on_build=strings(d, "OnBuild", path), shell=strings(d, "Shell", path), raw=d)


class RootFS(Wire):
    __slots__ = ("type", "diff_ids", "raw")
    FIELDS = (("type", "type"), ("diff_ids", "diff_ids"))
    REQUIRED = ("type", "diff_ids")

    @classmethod
    def parse(cls, d: dict, path: str) -> "RootFS":
        t = string(d, "type", path, required=True)
        if t != "layers":
            raise bad(f"{path}.type", f"{t!r} is not 'layers'")
        ids = get(d, "diff_ids", path, list, "a list of digests") or []  # Docker omits an empty list
        return cls(type=t, diff_ids=[_digest.parse(x, f"{path}.diff_ids[{i}]")
                                     for i, x in enumerate(ids)], raw=d)  # type: ignore[arg-type]


class History(Wire):
    __slots__ = ("created", "created_by", "author", "comment", "empty_layer", "raw")
    FIELDS = (("created", "created"), ("created_by", "created_by"), ("author", "author"),
              ("comment", "comment"), ("empty_layer", "empty_layer"))

    @classmethod
    def parse(cls, d: dict, path: str) -> "History":
        return cls(created=timestamp(d, "created", path), created_by=string(d, "created_by", path),
                   author=string(d, "author", path), comment=string(d, "comment", path),
                   empty_layer=boolean(d, "empty_layer", path), raw=d)


class ImageConfig(Wire):
    """An image configuration; ``raw`` keeps every field (Docker's included)."""

    __slots__ = ("created", "author", "architecture", "os", "os_version", "os_features", "variant",
                 "config", "rootfs", "history", "raw")
    FIELDS = (("created", "created"), ("author", "author"), ("architecture", "architecture"),
              ("os", "os"), ("os_version", "os.version"), ("os_features", "os.features"),
              ("variant", "variant"), ("config", "config"), ("rootfs", "rootfs"),
              ("history", "history"))
    REQUIRED = ("architecture", "os", "rootfs")
    PATH = "config"

    @classmethod
    def parse(cls, d: object, path: str = "config") -> "ImageConfig":
        d = obj(d, path)
        for key in ("architecture", "os"):
            if not string(d, key, path, required=True):
                raise bad(join(path, key), "must not be empty")
        cfg = get(d, "config", path, dict, "an object")
        rootfs = get(d, "rootfs", path, dict, "an object", required=True)
        hist = items(d, "history", path)
        return cls(created=timestamp(d, "created", path), author=string(d, "author", path),
                   architecture=d["architecture"], os=d["os"], os_version=string(d, "os.version", path),
                   os_features=strings(d, "os.features", path), variant=string(d, "variant", path),
                   config=None if cfg is None
                   else RunConfig.parse(cfg, join(path, "config")),  # type: ignore[arg-type]
                   rootfs=RootFS.parse(rootfs, join(path, "rootfs")),  # type: ignore[arg-type]
                   history=None if hist is None else [History.parse(x, p) for x, p in hist], raw=d)

    @classmethod
    def load(cls, blob: bytes | str, what: str | None = None) -> "ImageConfig":
        """Parse the config blob's bytes (errors prefixed with ``what``)."""
        return cls.parse(jsonio.loads(blob, what or "config"), f"{what}: config" if what else "config")

    @property
    def platform(self) -> Platform:
        return Platform(self.os, self.architecture, self.variant or "", self.os_version or "",
                        self.os_features or ())

    def chain_ids(self) -> list[_digest.Digest]:
        return chain_ids(self.rootfs.diff_ids)

    def check_layers(self, manifest: Manifest, what: str = "image") -> None:
        """Raise unless the manifest has one layer per ``rootfs.diff_ids`` entry."""
        n, k = len(manifest.layers), len(self.rootfs.diff_ids)
        if n != k:
            raise InvalidArgument(f"{what}: the manifest lists {n} layers but "
                                  f"config.rootfs.diff_ids has {k}")

    def oci_dict(self) -> dict:
        """Only the OCI image spec's fields, empty ones left out (what skopeo writes when
        converting a Docker config to OCI)."""
        full = self.to_dict()
        out = {k: full[k] for k in ("created", "author", "architecture", "os", "os.version",
                                    "os.features", "variant") if full.get(k) not in (None, "", [])}
        run = full.get("config") or {}
        out["config"] = {k: run[k] for k in RunConfig.OCI_KEYS if run.get(k) not in (None, "", [], {}, False)}
        out["rootfs"] = {"type": self.rootfs.type, "diff_ids": list(self.rootfs.diff_ids)}
        hist = [{k: h[k] for k in ("created", "created_by", "author", "comment", "empty_layer")
                 if h.get(k) not in (None, "", False)} for h in full.get("history") or []]
        if hist:
            out["history"] = hist
        return out

    def oci_bytes(self) -> bytes:
        return jsonio.dumps(self.oci_dict()).encode()


# ---- chain IDs -----------------------------------------------------------------------

def chain_ids(diff_ids: Sequence[str]) -> list[_digest.Digest]:
    """ChainID(L0) = DiffID(L0); ChainID(Ln) = sha256(ChainID(Ln-1) + " " + DiffID(Ln))."""
    out: list[_digest.Digest] = []
    for i, d in enumerate(diff_ids):
        dg = _digest.parse(d, f"diff_ids[{i}]")
        if out:
            dg = _digest.Digest("sha256:" + hashlib.sha256(f"{out[-1]} {dg}".encode()).hexdigest())
        out.append(dg)
    return out


def chain_id(diff_ids: Sequence[str]) -> _digest.Digest | None:
    """The chain ID of the whole stack (None for no layers)."""
    ids = chain_ids(diff_ids)
    return ids[-1] if ids else None


# ---- OCI <-> Docker conversion -------------------------------------------------------

_TO_DOCKER = {mt.OCI_LAYER: DOCKER_LAYER, mt.OCI_LAYER_GZIP: mt.DOCKER_LAYER_GZIP,
              mt.OCI_LAYER_NONDIST: DOCKER_LAYER_FOREIGN,
              mt.OCI_LAYER_NONDIST_GZIP: mt.DOCKER_LAYER_FOREIGN_GZIP}
_TO_OCI = {v: k for k, v in _TO_DOCKER.items()}
_TO_OCI[DOCKER_LAYER_ZSTD] = mt.OCI_LAYER_ZSTD


def _layer_to_docker(t: str, path: str) -> str:
    if t in _TO_DOCKER:
        return _TO_DOCKER[t]
    if t in _TO_OCI:  # a Docker type already
        return t
    if t.endswith("+encrypted"):
        raise Unsupported(f"{path}: encrypted layers ({t}) cannot be written in a Docker manifest")
    if mt.LAYERS.get(t) == "zstd":
        raise Unsupported(f"{path}: zstd-compressed layers ({t}) cannot be written in a Docker v2 "
                          f"schema 2 manifest; keep the OCI format or recompress them with gzip")
    raise Unsupported(f"{path}: unknown layer media type {t!r}: cannot convert to a Docker manifest")


def to_docker(m: Manifest, what: str = "manifest") -> Manifest:
    """The Docker v2 schema 2 form of OCI image manifest ``m``: the config blob is kept
    (only its media type changes); annotations are dropped (Docker has none); artifacts,
    a ``subject``, zstd and encrypted layers are ``Unsupported``."""
    if m.docker:
        return m
    if m.config.media_type != mt.OCI_CONFIG:
        raise Unsupported(f"{what}: an OCI artifact (config media type {m.config.media_type}) "
                          f"cannot be written as a Docker manifest")
    if m.subject is not None:
        raise Unsupported(f"{what}: has a subject ({m.subject.digest}); a Docker manifest "
                          f"cannot refer to one")
    config = Descriptor.new(mt.DOCKER_CONFIG, m.config.digest, m.config.size)
    layers = [Descriptor.new(_layer_to_docker(x.media_type, f"{what}: layers[{i}]"), x.digest,
                             x.size, urls=x.urls) for i, x in enumerate(m.layers)]
    return Manifest.new(config, layers, docker=True)


def to_oci(m: Manifest, config_blob: bytes, what: str = "manifest") -> tuple[Manifest, bytes]:
    """The OCI form of Docker manifest ``m`` and its new config blob (only the OCI fields
    of the Docker config, as skopeo writes it; the config digest changes). The blob is
    checked against ``m.config`` first."""
    if not m.docker:
        return m, config_blob
    v = _digest.Verifier(m.config.digest, m.config.size, f"{what}: config")
    v.update(config_blob)
    v.finish()
    new_blob = ImageConfig.load(config_blob, f"{what}: config {m.config.digest}").oci_bytes()
    layers = []
    for i, x in enumerate(m.layers):
        t = _TO_OCI.get(x.media_type, x.media_type)
        if t not in mt.LAYERS or t.startswith("application/vnd.docker."):
            raise Unsupported(f"{what}: layers[{i}]: unknown layer media type {x.media_type!r}: "
                              f"cannot convert to an OCI manifest")
        layers.append(Descriptor.new(t, x.digest, x.size, urls=x.urls))
    return Manifest.new(describe(new_blob, mt.OCI_CONFIG), layers), new_blob


def convert_index(index: Index, children: Sequence[Descriptor], docker: bool,
                  what: str = "index") -> Index:
    """``index`` as a Docker manifest list (``docker``) or an OCI index whose entries are
    ``children`` (the converted manifests, in the same order); platforms are kept, and
    annotations too when the result is OCI."""
    if len(children) != len(index.manifests):
        raise InvalidArgument(f"{what}: {len(children)} converted manifests for "
                              f"{len(index.manifests)} entries")
    if docker and (index.subject is not None or index.artifact_type):
        raise Unsupported(f"{what}: a subject or artifactType cannot be written in a Docker "
                          f"manifest list")
    entries = []
    for i, (old, new) in enumerate(zip(index.manifests, children)):
        if docker and new.media_type != mt.DOCKER_MANIFEST:
            raise Unsupported(f"{what}: manifests[{i}]: a Docker manifest list cannot hold "
                              f"{new.media_type}")
        if docker and old.platform is None:
            raise Unsupported(f"{what}: manifests[{i}]: has no platform, which every entry of a "
                              f"Docker manifest list needs")
        entries.append(Descriptor.new(new.media_type, new.digest, new.size, platform=old.platform,
                                      annotations=None if docker else old.annotations))
    return Index.new(entries, docker=docker,
                     annotations=None if docker else index.annotations)
