"""``exec``: one more process in a running container, run by the container's own OCI
runtime (onggi-runtime in-process, or ``RUNTIME exec --process``), with the container's
process settings (env, user, cwd, capabilities, rlimits, ...) and the caller's changes."""

from __future__ import annotations

import json
import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from typing import Any

from ..errors import FailedPrecondition, InvalidArgument, NotFound, OnggiError, PermissionDenied
from .paths import Paths
from .state import RUNNING, StateDB

__all__ = ["ExecRequest", "exec_in", "ExecError"]


class ExecError(OnggiError):
    """The process could not be started; ``exit_code`` is podman's 126 or 127."""

    def __init__(self, message: str, exit_code: int) -> None:
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class ExecRequest:
    command: list[str]
    interactive: bool = False
    tty: bool = False
    detach: bool = False
    env: list[str] = field(default_factory=list)        # KEY=VALUE, or KEY (from the caller)
    env_files: list[str] = field(default_factory=list)
    user: str | None = None
    workdir: str | None = None
    privileged: bool = False


def process_for(base: dict[str, Any], req: ExecRequest, rootfs: str) -> dict[str, Any]:
    """The OCI process of the exec: the container's ``base`` process with the request's
    changes (pure; ``rootfs`` is read for user names)."""
    from .specgen import _env_files, resolve_user

    if not req.command:
        raise InvalidArgument("exec: a command is needed (onggi exec CONTAINER COMMAND [ARG...])")
    p = {k: v for k, v in base.items() if k not in ("consoleSize",)}
    p["args"] = list(req.command)
    p["terminal"] = req.tty
    env = list(base.get("env") or [])
    for item in _env_files(req.env_files) + list(req.env):
        key, eq, _ = item.partition("=")
        if not key:
            raise InvalidArgument(f"--env {item!r}: expected KEY=VALUE or KEY")
        if not eq:
            if key not in os.environ:
                continue
            item = f"{key}={os.environ[key]}"
        env = [e for e in env if e.partition("=")[0] != key] + [item]
    p["env"] = env
    if req.workdir:
        if not req.workdir.startswith("/"):
            raise InvalidArgument(f"--workdir {req.workdir!r}: must be an absolute path")
        p["cwd"] = req.workdir
    if req.user:
        p["user"], _ = resolve_user(req.user, rootfs)
    if req.privileged:
        from .spec_security import host_capabilities  # podman's exec --privileged: every cap

        caps = sorted(host_capabilities())
        p["capabilities"] = {k: caps for k in ("bounding", "effective", "permitted")}
    return p


def exec_in(paths: Paths, db: StateDB, ref: str, req: ExecRequest) -> int:
    """Run the request in container ``ref``; its exit code (0 once started, with
    ``detach``). Raises FailedPrecondition when the container is not running and
    ExecError (126/127) when the command cannot be run."""
    from .lifecycle import lookup
    from .prepare import rootfs_of

    rec = lookup(paths, db, ref)
    if rec.state != RUNNING:
        raise FailedPrecondition(f"can only create exec sessions on running containers: "
                                 f"container state improper (container {rec.name} is {rec.state})")
    with open(os.path.join(paths.container_dir(rec.id), "config.json")) as f:
        base = json.load(f)["process"]
    rootfs = rootfs_of(paths, rec.id)
    proc = process_for(base, req, rootfs)
    db.event("container", "exec", rec.id, rec.name, {"image": rec.image})
    runtime = (rec.options or {}).get("runtime")
    if not req.interactive and not req.detach:
        _stdin_from_devnull()
    try:
        from .prepare import check_executable

        check_executable(rootfs, proc["args"][0])
        if runtime in (None, "", "onggi-runtime"):
            code = _in_process(paths, rec.id, proc, req)
        else:
            code = _external(paths, runtime, rec.id, proc, req)
        if not req.detach:  # podman's exec_died, with the process's exit code
            db.event("container", "exec_died", rec.id, rec.name, {"image": rec.image, "containerExitCode": code})
        return code
    except (NotFound, PermissionDenied) as e:
        text = str(e)
        if isinstance(e, NotFound):
            raise ExecError(f"{text}: OCI runtime attempted to invoke a command that was not found", 127) from None
        raise ExecError(text, 126) from None


def _stdin_from_devnull() -> None:
    """Without -i the process gets no input (podman gives it /dev/null)."""
    fd = os.open(os.devnull, os.O_RDONLY)
    os.dup2(fd, 0)
    os.close(fd)


def _in_process(paths: Paths, cid: str, proc: dict[str, Any], req: ExecRequest) -> int:
    from ..oci.spec import Process
    from ..runtime.exec import ExecOptions, execute
    from ..runtime.state import Container

    c = Container.load(paths.runtime_root, cid, lock=False)
    if req.tty and req.detach:
        raise InvalidArgument("exec --tty --detach: a detached process gets no terminal here; drop one of them")
    return execute(c, Process.parse(proc, "process"), ExecOptions(detach=req.detach))


def _external(paths: Paths, runtime: str, cid: str, proc: dict[str, Any], req: ExecRequest) -> int:
    from .runtimes import for_container

    rt = for_container(paths, runtime)
    with tempfile.NamedTemporaryFile("w", suffix=".json", prefix="onggi-exec-") as f:
        json.dump(proc, f)
        f.flush()
        args = [rt.binary, "--root", rt.root, "exec", "--process", f.name]  # type: ignore[attr-defined]
        if req.detach:
            args.append("--detach")
        r = subprocess.run(args + [cid])
    if r.returncode == 255:  # runc: the process could not be started (its message is on stderr)
        raise ExecError(f"{runtime} exec in container {cid} failed", 126)
    return r.returncode
