"""``onggi run`` and ``onggi create``: podman's flags -> :class:`RunOptions`."""

from __future__ import annotations

import sys
from typing import Any, Callable

import click

_SPEC: list[tuple[tuple[str, ...], dict[str, Any]]] = [
    (("-d", "--detach"), {"is_flag": True, "help": "run in the background and print the id"}),
    (("-i", "--interactive"), {"is_flag": True, "help": "keep stdin open"}),
    (("-t", "--tty"), {"is_flag": True, "help": "allocate a pseudo-terminal"}),
    (("--rm",), {"is_flag": True, "help": "remove the container when it exits"}),
    (("--name",), {"help": "the container's name"}),
    (("--init",), {"is_flag": True, "help": "run an init (catatonit) as PID 1"}),
    (("--restart",), {"default": "no", "help": "no, on-failure[:N], always, unless-stopped"}),
    (("--stop-signal",), {"help": "the signal that stops the container"}),
    (("--stop-timeout",), {"type": int, "help": "seconds before SIGKILL on stop"}),
    (("-e", "--env"), {"multiple": True, "help": "KEY=VALUE, or KEY (from the host)"}),
    (("--env-file",), {"multiple": True, "help": "a file of KEY=VALUE lines"}),
    (("-w", "--workdir"), {"help": "working directory inside the container"}),
    (("-u", "--user"), {"help": "USER[:GROUP], names or ids"}),
    (("-h", "--hostname"), {"help": "the container's host name"}),
    (("--entrypoint",), {"help": "override the image's entrypoint (\"\" clears it)"}),
    (("-v", "--volume"), {"multiple": True, "help": "SRC:DST[:OPTS] or DST"}),
    (("--mount",), {"multiple": True, "help": "type=...,src=...,dst=..."}),
    (("--tmpfs",), {"multiple": True, "help": "DST[:OPTS]"}),
    (("--read-only",), {"is_flag": True, "help": "a read-only root filesystem"}),
    (("--network", "--net"), {"help": "none, host, bridge, NAME"}),
    (("--network-alias",), {"multiple": True, "help": "another name of the container on its network"}),
    (("--ip",), {"help": "the container's IPv4 address on its (first) network"}),
    (("-p", "--publish"), {"multiple": True, "help": "[IP:][HOST:]CTR[/PROTO]"}),
    (("-P", "--publish-all"), {"is_flag": True, "help": "publish every exposed port"}),
    (("--add-host",), {"multiple": True, "help": "HOST:IP"}),
    (("--dns",), {"multiple": True}), (("--dns-search",), {"multiple": True}),
    (("--dns-option",), {"multiple": True}),
    (("-m", "--memory"), {"help": "memory limit (64m, 1g)"}),
    (("--cpus",), {"type": float}), (("--cpu-shares", "-c"), {"type": int}),
    (("--pids-limit",), {"type": int}), (("--ulimit",), {"multiple": True}),
    (("--cap-add",), {"multiple": True}), (("--cap-drop",), {"multiple": True}),
    (("--privileged",), {"is_flag": True}), (("--security-opt",), {"multiple": True}),
    (("--device",), {"multiple": True}), (("--userns",), {}),
    (("-l", "--label"), {"multiple": True, "help": "KEY=VALUE"}),
    (("--annotation",), {"multiple": True, "help": "KEY=VALUE"}),
    (("--pull",), {"default": "missing", "help": "always, missing, never, newer"}),
    (("--platform",), {}), (("--runtime",), {"help": "onggi-runtime (default), runc, or a path"}),
    (("--pod",), {}),
    (("--log-opt",), {"multiple": True, "help": "max-size=SIZE"}),
    (("--sig-proxy/--no-sig-proxy",), {"default": True, "help": "forward signals to the container"}),
]


def run_options(f: Callable) -> Callable:
    for decl, kw in reversed(_SPEC):
        f = click.option(*decl, **kw)(f)
    f = click.argument("command", nargs=-1, type=click.UNPROCESSED)(f)
    f = click.argument("image")(f)
    return f


def _kv(items: tuple[str, ...], flag: str) -> dict[str, str]:
    from ..errors import InvalidArgument

    out = {}
    for it in items:
        k, _, v = it.partition("=")
        if not k:
            raise InvalidArgument(f"{flag} {it!r}: expected KEY=VALUE")
        out[k] = v
    return out


def _size(text: str) -> int:
    from ..errors import InvalidArgument

    t = text.strip().lower().removesuffix("b")
    mult = {"k": 1024, "m": 1024 ** 2, "g": 1024 ** 3}
    try:
        if t and t[-1] in mult:
            return int(float(t[:-1]) * mult[t[-1]])
        return int(t)
    except ValueError:
        raise InvalidArgument(f"--log-opt max-size={text}: expected a size like 10m") from None


def to_options(image: str, command: tuple[str, ...], kw: dict[str, Any]):  # noqa: ANN201
    from ..engine.options import RunOptions
    network = kw["network"] or "bridge"
    opts = RunOptions(
        image=image, command=list(command) or None,
        entrypoint=None if kw["entrypoint"] is None else ([] if kw["entrypoint"] == "" else _entry(kw["entrypoint"])),
        name=kw["name"], detach=kw["detach"], interactive=kw["interactive"], tty=kw["tty"], rm=kw["rm"],
        init=kw["init"], restart=kw["restart"], stop_signal=kw["stop_signal"], stop_timeout=kw["stop_timeout"],
        env=list(kw["env"]), env_files=list(kw["env_file"]), workdir=kw["workdir"], user=kw["user"],
        hostname=kw["hostname"], volumes=list(kw["volume"]), mounts=list(kw["mount"]), tmpfs=list(kw["tmpfs"]),
        read_only=kw["read_only"], network=network, publish=list(kw["publish"]),
        publish_all=kw["publish_all"], add_hosts=list(kw["add_host"]), dns=list(kw["dns"]),
        dns_search=list(kw["dns_search"]), dns_options=list(kw["dns_option"]), memory=kw["memory"],
        cpus=kw["cpus"], cpu_shares=kw["cpu_shares"], pids_limit=kw["pids_limit"], ulimits=list(kw["ulimit"]),
        cap_add=list(kw["cap_add"]), cap_drop=list(kw["cap_drop"]), privileged=kw["privileged"],
        security_opt=list(kw["security_opt"]), devices=list(kw["device"]), userns=kw["userns"],
        labels=_kv(kw["label"], "--label"), annotations=_kv(kw["annotation"], "--annotation"),
        pull=kw["pull"], platform=kw["platform"], runtime=kw["runtime"], pod=kw["pod"],
        network_aliases=list(kw["network_alias"]), ip=kw["ip"])
    for o in kw["log_opt"]:
        k, _, v = o.partition("=")
        if k == "max-size":
            opts.log_size_max = _size(v)
    return opts


def _entry(text: str) -> list[str]:
    import json

    if text.startswith("["):
        try:
            v = json.loads(text)
            if isinstance(v, list):
                return [str(x) for x in v]
        except ValueError:
            pass
    return [text]


_CTX = {"allow_interspersed_args": False, "ignore_unknown_options": False}


@click.command("run", context_settings=_CTX)
@run_options
def run_cmd(image: str, command: tuple[str, ...], **kw: Any) -> None:
    """Run a command in a new container."""
    from ..engine import containers
    from ..engine.paths import Paths

    opts = to_options(image, command, kw)
    try:
        cid, code = containers.run(Paths.from_env(), opts)
    except containers.StartError as e:
        click.echo(f"Error: {e}", err=True)
        sys.exit(e.exit_code)
    if opts.detach:
        click.echo(cid)
    sys.exit(code)


@click.command("create", context_settings=_CTX)
@run_options
def create_cmd(image: str, command: tuple[str, ...], **kw: Any) -> None:
    """Create a container (start it with ``onggi start``)."""
    from ..engine import containers
    from ..engine.paths import Paths

    rec = containers.create(Paths.from_env(), to_options(image, command, kw))
    click.echo(rec.id)
