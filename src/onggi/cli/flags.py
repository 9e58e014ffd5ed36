"""A small command-line parser with runc's (urfave/cli) conventions: ``-flag`` and
``--flag``, ``--flag value`` and ``--flag=value``, boolean flags that take no value,
repeatable flags, global flags before the command. argparse costs 12 ms to import on a
small machine, more than a container start, so the runtime cannot use it."""

from __future__ import annotations

from ..errors import InvalidArgument


# what Go's strconv.ParseBool (and so runc) takes after ``--flag=``
_BOOLS = {"1": True, "t": True, "T": True, "true": True, "TRUE": True, "True": True,
          "0": False, "f": False, "F": False, "false": False, "FALSE": False, "False": False}


class Flag:
    __slots__ = ("names", "dest", "kind", "default", "help", "metavar")

    def __init__(self, names: str, help: str, kind: str = "bool", default: object = None,
                 metavar: str = "value") -> None:
        self.names = names.split(",")  # "bundle,b"
        self.dest = self.names[0].replace("-", "_")
        self.kind = kind  # bool | str | int | list
        self.default = default if default is not None else ([] if kind == "list" else
                                                            (False if kind == "bool" else None))
        self.help = help
        self.metavar = metavar

    def usage(self) -> str:
        names = ", ".join(("-" if len(n) == 1 else "--") + n for n in self.names)
        if self.kind != "bool":
            names += f" {self.metavar}"
        return f"   {names:32s} {self.help}"


class Command:
    __slots__ = ("name", "summary", "args", "flags", "rest", "min_args", "max_args")

    def __init__(self, name: str, summary: str, args: str, flags: list[Flag], min_args: int = 0,
                 max_args: int = 0, rest: bool = False) -> None:
        self.name = name
        self.summary = summary
        self.args = args
        self.flags = flags
        self.min_args = min_args
        self.max_args = max_args
        self.rest = rest  # after the first positional, everything is positional

    def help(self, prog: str) -> str:
        lines = [f"NAME:\n   {prog} {self.name} - {self.summary}", "",
                 f"USAGE:\n   {prog} {self.name} [command options] {self.args}".rstrip(), ""]
        if self.flags:
            lines.append("OPTIONS:")
            lines += [f.usage() for f in self.flags]
        return "\n".join(lines) + "\n"


def parse(argv: list[str], flags: list[Flag], stop_at_positional: bool) -> tuple[dict, list[str]]:
    """Parse ``argv``; returns (values by dest, positionals)."""
    by_name = {n: f for f in flags for n in f.names}
    values = {f.dest: (list(f.default) if f.kind == "list" else f.default) for f in flags}
    pos: list[str] = []
    i = 0
    while i < len(argv):
        a = argv[i]
        i += 1
        if a == "--":
            pos += argv[i:]
            break
        if a.startswith("-") and len(a) > 1 and not (stop_at_positional and pos):
            name, eq, val = a[2:].partition("=") if a.startswith("--") else a[1:].partition("=")
            if not name or name.startswith("-"):
                raise InvalidArgument(f"bad flag syntax: {a}")
            f = by_name.get(name)
            if f is None:
                raise InvalidArgument(f"flag provided but not defined: -{name}")
            if f.kind == "bool":
                if eq:
                    if val not in _BOOLS:
                        raise InvalidArgument(f"invalid boolean value {val!r} for flag -{name}")
                    values[f.dest] = _BOOLS[val]
                else:
                    values[f.dest] = True
                continue
            if not eq:
                if i >= len(argv):
                    raise InvalidArgument(f"flag needs an argument: -{name}")
                val = argv[i]
                i += 1
            if f.kind == "int":
                try:
                    values[f.dest] = int(val)
                except ValueError:
                    raise InvalidArgument(f"invalid value {val!r} for flag -{name}: not an integer") from None
            elif f.kind == "list":
                values[f.dest].append(val)
            else:
                values[f.dest] = val
            continue
        pos.append(a)
    return values, pos
