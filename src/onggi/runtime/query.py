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
        row = c.runc_state()
        row["owner"] = _owner(c.dir)
        out.append(row)
    return out


def _owner(path: str) -> str:
    """The name of the user owning a container's state directory (``#UID`` if unnamed)."""
    import pwd

    try:
        uid = os.stat(path).st_uid
    except OSError:
        return ""
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"#{uid}"


def pids(root: str, cid: str) -> list[int]:
    c = Container.load(root, cid, lock=False)
    if c.status == "stopped":
        raise FailedPrecondition(f"container {cid} is not running")
    if c.cgroup:
        from .cgroup import manager_for

        return sorted(manager_for(c).pids())
    return [c.pid]


def format_table(rows: list[dict]) -> str:
    """runc's table: Go's tabwriter with minimum width 12 and padding 3; the last
    column (OWNER) is not padded."""
    header = ("ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER")
    data = [header] + [(r["id"], str(r["pid"]), r["status"], r["bundle"], r["created"], r["owner"])
                       for r in rows]
    widths = [max(12, max(len(row[i]) for row in data) + 3) for i in range(len(header) - 1)]
    return "".join("".join(v.ljust(w) for v, w in zip(row, widths)) + row[-1] + "\n" for row in data)


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
