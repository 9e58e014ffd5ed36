"""What ``pod ps`` and ``pod inspect`` show, with podman's field names."""

from __future__ import annotations

import time
from typing import Any

from ..errors import InvalidArgument
from .logs import format_time
from .paths import Paths
from .pods import Pod, members, pod_status
from .query import group_filters, human_duration
from .state import Record, StateDB

__all__ = ["ps_row", "inspect_doc", "matches"]


def _network_names(infra: Record | None) -> list[str]:
    if infra is None:
        return []
    mode = infra.options.get("network") or "bridge"
    if mode in ("none", "host") or mode.startswith("ns:"):
        return []
    return ["onggi" if n in ("bridge", "default") else n for n in mode.split(",")]


def ps_row(paths: Paths, db: StateDB, pod: Pod) -> dict[str, Any]:
    """One pod as podman's ``pod ps --format json`` shows it (and the table's keys)."""
    recs = members(paths, db, pod)
    infra = next((r for r in recs if r.id == pod.infra_id), None)
    return {
        "Cgroup": "", "Containers": [{"Id": r.id, "Names": r.name, "Status": r.state}
                                     for r in recs],
        "Created": format_time(int(pod.created * 1e9)), "Id": pod.id, "InfraId": pod.infra_id, "Name": pod.name,
        "Namespace": "", "Networks": _network_names(infra), "Status": pod_status(recs), "Labels": pod.labels,
        "CreatedHuman": human_duration(time.time() - pod.created) + " ago", "NumberOfContainers": len(recs),
    }


def inspect_doc(paths: Paths, db: StateDB, pod: Pod) -> dict[str, Any]:
    """podman's ``pod inspect`` document (the fields onggi has)."""
    recs = members(paths, db, pod)
    infra = next((r for r in recs if r.id == pod.infra_id), None)
    share = list(pod.options.get("share", []))
    doc: dict[str, Any] = {
        "Id": pod.id, "Name": pod.name, "Created": format_time(int(pod.created * 1e9)),
        "CreateCommand": None, "ExitPolicy": "continue", "State": pod_status(recs),
        "Hostname": pod.options.get("hostname", ""), "Labels": pod.labels, "CreateCgroup": False,
        "CgroupParent": "", "CgroupPath": "", "CreateInfra": bool(pod.infra_id),
        "InfraContainerID": pod.infra_id, "SharedNamespaces": share, "NumContainers": len(recs),
        "Containers": [{"Id": r.id, "Name": r.name, "State": r.state} for r in recs],
    }
    if infra is not None:
        opts = infra.options
        doc["InfraConfig"] = {
            "PortBindings": _ports(infra), "HostNetwork": opts.get("network") == "host",
            "StaticIP": "", "StaticMAC": "", "NoManageResolvConf": False, "DNSServer": opts.get("dns") or None,
            "DNSSearch": None, "DNSOption": None, "NoManageHosts": False, "HostAdd": opts.get("add_hosts") or None,
            "Networks": _network_names(infra), "NetworkOptions": None,
            "pid_ns": "", "userns": "", "uts_ns": "",
        }
    return doc


def _ports(infra: Record) -> dict[str, Any]:
    if not infra.network or not infra.network.get("ports"):
        from .network.ports import parse_publish, port_map

        try:
            return port_map([parse_publish(p) for p in infra.options.get("publish", [])])
        except Exception:
            return {}
    from .network import NetworkSetup

    return NetworkSetup.from_json(infra.network).port_map()


def matches(row: dict[str, Any], filters: list[str]) -> bool:
    """``pod ps --filter``: name, id, status, label (the same key twice is an or)."""
    import re

    for k, values in group_filters(filters).items():
        if k == "name":
            ok = any(re.search(v, row["Name"]) for v in values)
        elif k == "id":
            ok = any(row["Id"].startswith(v) for v in values)
        elif k == "status":
            ok = row["Status"].lower() in [v.lower() for v in values]
        elif k == "label":
            ok = any(row["Labels"].get(v.partition("=")[0]) == v.partition("=")[2] if "=" in v
                     else v in row["Labels"] for v in values)
        else:
            raise InvalidArgument(f"--filter {k}: unsupported pod filter (name, id, status, label)")
        if not ok:
            return False
    return True
