"""What ``onggi run`` / ``onggi create`` were asked, as data: the contract between the CLI
(which parses podman's flags into a :class:`RunOptions`), the container lifecycle (which
stores it with the container, as JSON, and uses the parts about life: name, rm, restart,
stop signal, network, pod) and :mod:`onggi.engine.specgen` (which turns it, the image's
config and a :class:`SpecContext` into config.json).

Strings keep podman's spelling (``-v /src:/dst:ro``, ``-p 8080:80/tcp``, ``--memory 64m``,
``--ulimit nofile=1024:2048``); parsing and validation happen in the module that uses
them, which raises :class:`onggi.errors.InvalidArgument` naming the flag and the value.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import Any

__all__ = ["RunOptions", "SpecContext"]


@dataclass
class RunOptions:
    image: str
    command: list[str] | None = None       # None: the image's Cmd
    entrypoint: list[str] | None = None    # None: the image's; [] clears it (--entrypoint "")
    name: str | None = None
    # terminal and life
    detach: bool = False
    interactive: bool = False
    tty: bool = False
    rm: bool = False
    init: bool = False                     # --init: a reaping init as PID 1 (catatonit)
    restart: str = "no"                    # no, on-failure[:N], always, unless-stopped
    stop_signal: str | None = None         # None: the image's StopSignal, else SIGTERM
    stop_timeout: int | None = None        # None: 10 s (containers.conf may change it)
    # process
    env: list[str] = field(default_factory=list)        # KEY=VALUE, or KEY (from the host)
    env_files: list[str] = field(default_factory=list)
    workdir: str | None = None
    user: str | None = None                # USER[:GROUP], names or ids
    hostname: str | None = None
    # storage
    volumes: list[str] = field(default_factory=list)    # -v SRC:DST[:OPTS], -v DST (anonymous)
    mounts: list[str] = field(default_factory=list)     # --mount type=...,src=...,dst=...
    tmpfs: list[str] = field(default_factory=list)      # --tmpfs DST[:OPTS]
    read_only: bool = False
    # network
    network: str = "bridge"                # none, host, bridge, NAME, container:NAME, ns:PATH
    publish: list[str] = field(default_factory=list)    # -p [IP:][HOST:]CTR[/PROTO], ranges
    publish_all: bool = False              # -P
    add_hosts: list[str] = field(default_factory=list)  # HOST:IP
    dns: list[str] = field(default_factory=list)
    dns_search: list[str] = field(default_factory=list)
    dns_options: list[str] = field(default_factory=list)
    network_aliases: list[str] = field(default_factory=list)  # --network-alias (DNS names)
    ip: str | None = None                  # --ip: a static address on the first network
    # resources
    memory: str | None = None              # 64m, 1g, bytes
    cpus: float | None = None
    cpu_shares: int | None = None
    pids_limit: int | None = None
    ulimits: list[str] = field(default_factory=list)    # NAME=SOFT[:HARD]
    # security
    cap_add: list[str] = field(default_factory=list)
    cap_drop: list[str] = field(default_factory=list)
    privileged: bool = False
    security_opt: list[str] = field(default_factory=list)  # no-new-privileges, seccomp=PATH|unconfined
    devices: list[str] = field(default_factory=list)    # HOST[:CTR[:PERMS]]
    userns: str | None = None              # keep-id, auto, host, or empty
    # metadata and sources
    labels: dict[str, str] = field(default_factory=dict)
    annotations: dict[str, str] = field(default_factory=dict)
    pull: str = "missing"                  # always, missing, never, newer
    platform: str | None = None
    runtime: str | None = None             # None: onggi-runtime; a name on PATH or a path
    pod: str | None = None
    log_size_max: int = -1                 # --log-opt max-size: rotate ctr.log past this many bytes

    def to_json(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> "RunOptions":
        known = {f.name for f in dataclasses.fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


@dataclass
class SpecContext:
    """What the lifecycle prepared for one container, which specgen needs beside the
    options and the image config."""

    container_id: str
    name: str
    rootfs: str                            # the mounted rootfs (the bundle's root.path)
    bundle: str                            # the bundle dir (config.json goes here)
    netns: str | None = None               # path of the network namespace to join; None with
                                           # network "host": the host's; "" : a new empty one
    share_namespaces: dict[str, str] = field(default_factory=dict)  # type -> path (pods, container:)
    hosts_file: str | None = None          # bind-mounted at /etc/hosts
    resolv_conf: str | None = None         # bind-mounted at /etc/resolv.conf
    hostname_file: str | None = None       # bind-mounted at /etc/hostname
    volume_paths: dict[str, str] = field(default_factory=dict)  # named volume -> host dir (filled by the volume layer)
    init_path: str | None = None           # the host's catatonit, when --init
    cgroup_parent: str = "onggi"           # cgroupsPath = <parent>/<container id> (cgroupfs driver)
    anonymous_volumes: list[str] = field(default_factory=list)  # filled by build_spec: what -v DST made
