"""One function per ``onggi-runtime`` command: turn parsed flags into one library call
and its result into output and an exit code."""

from __future__ import annotations

import os
import sys

from ..errors import InvalidArgument, Unsupported


def _out(text: str) -> None:
    sys.stdout.write(text)
    sys.stdout.flush()


def _json(obj: object, indent: bool = True) -> str:
    if indent:
        import json

        return json.dumps(obj, indent=2) + "\n"
    from ..oci import jsonio

    return jsonio.dumps(obj) + "\n"


def _create_opts(g: dict, o: dict):  # noqa: ANN202
    from ..runtime.create import Options

    return Options(bundle=o["bundle"], pid_file=o["pid_file"], console_socket=o["console_socket"],
                   no_pivot=o["no_pivot"], preserve_fds=o["preserve_fds"], systemd_cgroup=g["systemd_cgroup"],
                   no_new_keyring=o["no_new_keyring"])


def dispatch(name: str, g: dict, o: dict, pos: list[str]) -> int:
    root = g["root"]
    if name == "exec":
        from ..cgroups import warm  # the move into the container's cgroup, made cheap

        warm.start()
    if name == "create":
        from ..runtime.create import create

        create(root, pos[0], _create_opts(g, o))
        return 0
    if name == "run":
        from ..runtime.run import run

        return run(root, pos[0], _create_opts(g, o), detach=o["detach"], keep=o["keep"])
    if name == "start":
        from ..runtime.start import start

        start(root, pos[0])
        return 0
    if name == "state":
        from ..runtime.query import state

        _out(_json(state(root, pos[0])))
        return 0
    if name == "kill":
        from ..runtime.kill import kill

        kill(root, pos[0], pos[1] if len(pos) > 1 else "TERM", o["all"])
        return 0
    if name == "delete":
        from ..runtime.delete import delete

        delete(root, pos[0], o["force"])
        return 0
    if name == "list":
        from ..runtime.query import format_table, list_containers

        rows = list_containers(root)
        if o["quiet"]:
            _out("".join(r["id"] + "\n" for r in rows))
        elif o["format"] == "json":
            _out(_json(rows or None, indent=False))  # runc prints null for none
        elif o["format"] == "table":
            _out(format_table(rows))
        else:
            raise InvalidArgument(f"invalid format option {o['format']!r} (table or json)")
        return 0
    if name == "ps":
        from ..runtime.query import pids, ps_table

        p = pids(root, pos[0])
        if o["format"] == "json":
            _out(_json(p, indent=False))
        elif o["format"] == "table":
            _out(ps_table(p, pos[1:]))
        else:
            raise InvalidArgument(f"invalid format option {o['format']!r} (table or json)")
        return 0
    if name == "exec":
        from ..runtime.exec import exec_from_cli

        return exec_from_cli(root, pos[0], pos[1:], o)
    if name in ("pause", "resume"):
        from ..runtime import pause

        (pause.pause if name == "pause" else pause.resume)(root, pos[0])
        return 0
    if name == "update":
        from ..runtime.update import update_from_cli

        update_from_cli(root, pos[0], o)
        return 0
    if name == "events":
        from ..runtime.events import events

        events(root, pos[0], o["interval"], o["stats"], _out)
        return 0
    if name == "spec":
        return _spec(o)
    if name == "features":
        from ..oci.defaults import features
        from ..sys import seccomp

        _out(_json(features(seccomp.available())))
        return 0
    if name in ("checkpoint", "restore"):
        raise Unsupported(f"{name}: checkpoint/restore (CRIU) is not supported by onggi-runtime")
    raise InvalidArgument(f"unknown command {name!r}")


def _spec(o: dict) -> int:
    from ..errors import AlreadyExists
    from ..oci.defaults import default_spec, rootless

    if not os.path.isdir(o["bundle"]):
        from ..errors import NotFound

        raise NotFound(f"chdir {o['bundle']}: no such file or directory")
    path = os.path.join(o["bundle"], "config.json")
    if os.path.exists(path):
        raise AlreadyExists(f"File {path} exists. Remove it first")
    spec = default_spec()
    if o["rootless"]:
        spec = rootless(spec, os.geteuid(), os.getegid())
    try:
        with open(path, "w") as f:
            f.write(_json(spec).rstrip("\n"))
    except OSError as e:
        from ..errors import OnggiError

        raise OnggiError(f"open {path}: {(e.strerror or str(e)).lower()}") from None
    return 0
