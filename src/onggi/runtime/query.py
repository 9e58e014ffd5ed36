"""``state``, ``list`` and ``ps``: read-only views of containers."""

from __future__ import annotations

import os

from ..errors import FailedPrecondition
from .state import Container


def state(root: str, cid: str) -> dict:
    c = Container.load(root, cid, lock=False)
    return c.runc_state()


def list_containers(root: str) -> list[dict]:
    out = []
    for cid in Container.ids(root):
        try:
            c = Container.load(root, cid, lock=False)
        except Exception:
            continue  # being deleted right now
        out.append(c.runc_state())
    return out


def pids(root: str, cid: str) -> list[int]:
    c = Container.load(root, cid, lock=False)
    if c.status == "stopped":
        raise FailedPrecondition(f"container {cid} is not running")
    if c.cgroup:
        from .cgroup import manager_for

        return sorted(manager_for(c).pids())
    return [c.pid]


def format_table(rows: list[dict]) -> str:
    header = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")
    data = [header] + [(r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"] or "root")
                       for r in rows]
    widths = [max(len(row[i]) for row in data) for i in range(len(header))]
    return "".join("   ".join(v.ljust(w) for v, w in zip(row, widths)).rstrip() + "\n" for row in data)


def ps_table(pid_list: list[int], ps_args: list[str]) -> str:
    import subprocess

    args = ["ps"] + (ps_args or ["-ef"])
    out = subprocess.run(args, capture_output=True, text=True)
    if out.returncode != 0:
        raise FailedPrecondition(f"ps {' '.join(ps_args)}: {out.stderr.strip()}")
    lines = out.stdout.splitlines()
    if not lines:
        return ""
    head = lines[0].split()
    if "PID" not in head:
        raise FailedPrecondition("ps output has no PID column")
    col = head.index("PID")
    wanted = set(pid_list)
    keep = [lines[0]] + [ln for ln in lines[1:] if len(ln.split()) > col and ln.split()[col].isdigit()
                         and int(ln.split()[col]) in wanted]
    return "\n".join(keep) + "\n"


def exists(root: str, cid: str) -> bool:
    return os.path.exists(os.path.join(root, cid, "state.json"))
