"""A pod's lifecycle: start (the infra container first), stop and kill (its containers,
then the infra one), restart, rm (the containers, then the pod) and prune."""

from __future__ import annotations

from ..errors import FailedPrecondition, OnggiError
from .paths import Paths
from .pods import Pod, get_pod, list_pods, members, pod_status
from .state import LIVE, Record, StateDB

__all__ = ["start_pod", "stop_pod", "kill_pod", "restart_pod", "remove_pod", "prune_pods"]


def _ordered(pod: Pod, recs: list[Record], infra_first: bool) -> list[Record]:
    infra = [r for r in recs if r.id == pod.infra_id]
    rest = [r for r in recs if r.id != pod.infra_id]
    return infra + rest if infra_first else rest + infra


def start_pod(paths: Paths, ref: str) -> Pod:
    from .lifecycle import start_detached

    db = StateDB(paths.db)
    try:
        pod = get_pod(db, ref)
        errors = []
        for rec in _ordered(pod, members(paths, db, pod), infra_first=True):
            if rec.state in LIVE:
                continue
            try:
                start_detached(paths, db, rec.id)
            except OnggiError as e:
                if rec.id == pod.infra_id:
                    raise
                errors.append(f"{rec.name}: {e}")
        if errors:
            raise FailedPrecondition(f"starting pod {pod.name}: " + "; ".join(errors))
        return pod
    finally:
        db.close()


def stop_pod(paths: Paths, ref: str, timeout: float | None = None) -> Pod:
    from .lifecycle import stop

    db = StateDB(paths.db)
    try:
        pod = get_pod(db, ref)
        for rec in _ordered(pod, members(paths, db, pod), infra_first=False):
            stop(paths, db, rec.id, timeout)
        return pod
    finally:
        db.close()


def kill_pod(paths: Paths, ref: str, sig: str = "KILL") -> Pod:
    from .lifecycle import kill

    db = StateDB(paths.db)
    try:
        pod = get_pod(db, ref)
        running = [r for r in _ordered(pod, members(paths, db, pod), infra_first=False) if r.state in LIVE]
        if not running:
            raise FailedPrecondition(f"no containers in pod {pod.id} are running: container state improper")
        for rec in running:
            kill(paths, db, rec.id, sig)
        return pod
    finally:
        db.close()


def restart_pod(paths: Paths, ref: str, timeout: float | None = None) -> Pod:
    stop_pod(paths, ref, timeout)
    return start_pod(paths, ref)


def remove_pod(paths: Paths, ref: str, force: bool = False, timeout: float | None = None) -> str:
    """``pod rm``: its containers (stopped first with ``force``), then the pod; its id."""
    from .containers import remove

    db = StateDB(paths.db)
    try:
        pod = get_pod(db, ref)
        recs = members(paths, db, pod)
        live = [r for r in recs if r.state in LIVE]
        if live and not force:
            raise FailedPrecondition(f"pod {pod.id} has containers that are not ready to be removed: cannot "
                                     f"remove container {live[0].id} as it is running - running or paused "
                                     f"containers cannot be removed without force: container state improper")
        if force and live:
            stop_pod(paths, pod.id, 0 if timeout is None else timeout)
        for rec in _ordered(pod, recs, infra_first=False):
            remove(paths, db, rec.id, force=force, volumes=False, timeout=timeout)
        with db.write() as w:
            w.execute("DELETE FROM pods WHERE id = ?", (pod.id,))
        return pod.id
    finally:
        db.close()


def prune_pods(paths: Paths) -> list[str]:
    """Remove every pod none of whose containers runs (podman's ``pod prune``)."""
    db = StateDB(paths.db)
    try:
        pods = [p for p in list_pods(db) if pod_status(members(paths, db, p)) in ("Created", "Exited", "Stopped")]
    finally:
        db.close()
    return [remove_pod(paths, p.id) for p in pods]
