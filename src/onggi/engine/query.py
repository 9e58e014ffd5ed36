"""What ``ps`` and ``inspect`` show: podman's status strings, table rows, filters and
the inspect document (podman's field names for the fields both have)."""

from __future__ import annotations

import time
from typing import Any

from ..errors import InvalidArgument
from .logs import format_time
from .options import RunOptions
from .paths import Paths
from .state import CREATED, EXITED, PAUSED, RUNNING, Record

__all__ = ["human_duration", "status_text", "ps_row", "matches", "inspect_doc", "command_text"]

ZERO_TIME = "0001-01-01T00:00:00Z"


def human_duration(secs: float) -> str:
    """go-units' HumanDuration, as podman prints ages."""
    s = int(secs)
    if secs < 1:
        return "Less than a second"
    if s == 1:
        return "1 second"
    if s < 60:
        return f"{s} seconds"
    m = s // 60
    if m == 1:
        return "About a minute"
    if m < 60:
        return f"{m} minutes"
    h = m // 60
    if h == 1:
        return "About an hour"
    if h < 48:
        return f"{h} hours"
    if h < 24 * 7 * 2:
        return f"{h // 24} days"
    if h < 24 * 30 * 2:
        return f"{h // (24 * 7)} weeks"
    if h < 24 * 365 * 2:
        return f"{h // (24 * 30)} months"
    return f"{h // (24 * 365)} years"


def status_text(rec: Record, now: float | None = None) -> str:
    now = now or time.time()
    if rec.state == RUNNING:
        return f"Up {human_duration(now - rec.started)} ago"
    if rec.state == PAUSED:
        return f"Up {human_duration(now - rec.started)} ago (Paused)"
    if rec.state == EXITED:
        return f"Exited ({rec.exit_code}) {human_duration(now - rec.finished)} ago"
    if rec.state == CREATED:
        return "Created"
    return rec.state.capitalize()


def command_text(rec: Record) -> str:
    args = rec.config.get("args")
    if args is None:
        opts = RunOptions.from_json(rec.options)
        args = (opts.entrypoint or []) + (opts.command or [])
    return " ".join(args)


def ps_row(rec: Record) -> dict[str, Any]:
    """One container as podman's ps sees it (``--format json`` and template keys)."""
    ports = ", ".join(_setup(rec).port_strings()) if rec.network else ""
    return {
        "ID": rec.id[:12], "Id": rec.id, "Image": rec.image, "ImageID": rec.image_id.removeprefix("sha256:"),
        "Command": command_text(rec), "Created": int(rec.created),
        "CreatedAt": time.strftime("%Y-%m-%d %H:%M:%S %z %Z", time.localtime(rec.created)),
        "CreatedHuman": human_duration(time.time() - rec.created) + " ago",
        "Status": status_text(rec), "State": rec.state, "Ports": ports, "Names": rec.name,
        "Labels": rec.labels or {}, "ExitCode": rec.exit_code, "Exited": rec.state == EXITED,
        "Pid": rec.pid, "StartedAt": int(rec.started), "ExitedAt": int(rec.finished),
        "Restarts": rec.restart_count, "Mounts": [], "Networks": [],
    }


def group_filters(filters: list[str] | tuple[str, ...]) -> dict[str, list[str]]:
    """``--filter KEY=VALUE`` flags by key (podman: the same key twice is an or,
    different keys an and)."""
    by: dict[str, list[str]] = {}
    for f in filters:
        k, sep, v = f.partition("=")
        if not sep:
            raise InvalidArgument(f"--filter {f!r}: expected KEY=VALUE")
        by.setdefault(k, []).append(v)
    return by


def matches(rec: Record, filters: list[str]) -> bool:
    """podman's --filter: the same key twice is an or, different keys an and."""
    for k, values in group_filters(filters).items():
        if k == "name":
            import re

            ok = any(re.search(v, rec.name) for v in values)
        elif k == "id":
            ok = any(rec.id.startswith(v) for v in values)
        elif k == "status":
            ok = rec.state in values
        elif k == "label":
            ok = any(_label_match(rec.labels or {}, v) for v in values)
        elif k == "ancestor":
            ok = any(v in (rec.image, rec.image_id, rec.image_id.removeprefix("sha256:")) or
                     rec.image.split("/")[-1].startswith(v) or
                     rec.image_id.removeprefix("sha256:").startswith(v) for v in values)
        elif k == "exited":
            ok = rec.state == EXITED and str(rec.exit_code) in values
        else:
            raise InvalidArgument(f"--filter {k}: unsupported filter (name, id, status, label, ancestor, exited)")
        if not ok:
            return False
    return True


def _label_match(labels: dict[str, str], want: str) -> bool:
    k, sep, v = want.partition("=")
    return k in labels and (not sep or labels[k] == v)


def _time(t: float) -> str:
    return format_time(int(t * 1e9)) if t else ZERO_TIME


def inspect_doc(paths: Paths, rec: Record) -> dict[str, Any]:
    opts = RunOptions.from_json(rec.options)
    cfg = rec.config
    args = cfg.get("args") or []
    d = paths.container_dir(rec.id)
    restart_name, _, restart_max = opts.restart.partition(":")
    return {
        "Id": rec.id,
        "Created": _time(rec.created),
        "Path": args[0] if args else "",
        "Args": args[1:],
        "State": {
            "OciVersion": "1.0.2", "Status": rec.state, "Running": rec.state == RUNNING,
            "Paused": rec.state == PAUSED, "Restarting": False, "OOMKilled": rec.oom_killed,
            "Dead": False, "Pid": rec.pid if rec.state in (RUNNING, PAUSED) else 0,
            "ConmonPid": rec.monitor_pid if rec.state in (RUNNING, PAUSED) else 0,
            "ExitCode": rec.exit_code, "Error": rec.error,
            "StartedAt": _time(rec.started), "FinishedAt": _time(rec.finished),
        },
        "Image": rec.image_id.removeprefix("sha256:"),
        "ImageName": rec.image,
        "Rootfs": "",
        "Pod": opts.pod or "",
        "ResolvConfPath": f"{d}/resolv.conf" if rec.started else "",
        "HostnamePath": f"{d}/hostname" if rec.started else "",
        "HostsPath": f"{d}/hosts" if rec.started else "",
        "StaticDir": d,
        "OCIRuntime": opts.runtime or "onggi-runtime",
        "LogPath": f"{d}/ctr.log",
        "Name": rec.name,
        "RestartCount": rec.restart_count,
        "Driver": "overlay",
        "Mounts": [m for m in cfg.get("mounts", []) if m.get("type") == "bind"
                   and m.get("destination") not in ("/etc/hosts", "/etc/resolv.conf", "/etc/hostname")],
        "NetworkSettings": _setup(rec).inspect_settings() if rec.network else {"Ports": {}, "Networks": {}},
        "Config": {
            "Hostname": cfg.get("hostname", opts.hostname or rec.id[:12]), "Domainname": "",
            "User": opts.user or "", "AttachStdin": opts.interactive and not opts.detach,
            "AttachStdout": not opts.detach, "AttachStderr": not opts.detach, "Tty": opts.tty,
            "OpenStdin": opts.interactive, "StdinOnce": False, "Env": cfg.get("env", []),
            "Cmd": opts.command if opts.command else None, "Image": rec.image,
            "WorkingDir": cfg.get("cwd", opts.workdir or "/"),
            "Entrypoint": " ".join(opts.entrypoint) if opts.entrypoint else "",
            "Labels": rec.labels or None, "Annotations": opts.annotations,
            "StopSignal": opts.stop_signal or 15, "StopTimeout": opts.stop_timeout or 10,
        },
        "HostConfig": {
            "Binds": list(opts.volumes), "NetworkMode": opts.network, "PortBindings": {},
            "RestartPolicy": {"Name": "" if restart_name == "no" else restart_name,
                              "MaximumRetryCount": int(restart_max or 0)},
            "AutoRemove": opts.rm, "CapAdd": opts.cap_add, "CapDrop": opts.cap_drop,
            "Dns": opts.dns, "DnsOptions": opts.dns_options, "DnsSearch": opts.dns_search,
            "ExtraHosts": opts.add_hosts, "Privileged": opts.privileged, "ReadonlyRootfs": opts.read_only,
            "SecurityOpt": opts.security_opt, "Init": opts.init, "Tmpfs": {t.split(":")[0]: "" for t in opts.tmpfs},
            "CpuShares": opts.cpu_shares or 0, "NanoCpus": int((opts.cpus or 0) * 1e9),
            "PidsLimit": opts.pids_limit or 0, "Runtime": "oci",
        },
    }


def _setup(rec: Record):  # noqa: ANN202
    """The container's network setup (what ``network.prepare`` returned, kept in its row)."""
    from .network import NetworkSetup

    return NetworkSetup.from_json(rec.network)
