"""``onggi-runtime``: the runc-compatible command line. Parse, call one library
function, map errors to exit codes; no logic lives here."""

from __future__ import annotations

import os
import sys

from ..errors import InvalidArgument, OnggiError
from .flags import Command, Flag, parse

PROG = "onggi-runtime"
VERSION = "0.1.0"
SPEC_VERSION = "1.1.0"

GLOBAL = [
    Flag("debug", "enable debug logging"),
    Flag("log", "set the log file to write onggi-runtime logs to (default is stderr)", "str", metavar="FILE"),
    Flag("log-format", "set the log format ('text' (default), or 'json')", "str", "text"),
    Flag("root", "root directory for storage of container state (default: /run/onggi-runtime, "
         "or $XDG_RUNTIME_DIR/onggi-runtime when not root)", "str"),
    Flag("criu", "path to the criu binary (checkpoint/restore is not supported)", "str", "criu"),
    Flag("systemd-cgroup", "enable systemd cgroup support (not supported: cgroupfs only)"),
    Flag("rootless", "ignore cgroup permission errors ('true', 'false', or 'auto')", "str", "auto"),
    Flag("help,h", "show help"),
    Flag("version,v", "print the version"),
]
_CREATE = [
    Flag("bundle,b", "path to the root of the bundle directory, defaults to the current directory", "str", "."),
    Flag("console-socket", "path to an AF_UNIX socket which will receive a file descriptor referencing the "
         "master end of the console's pseudoterminal", "str", metavar="PATH"),
    Flag("pid-file", "specify the file to write the process id to", "str", metavar="PATH"),
    Flag("no-pivot", "do not use pivot root to jail process inside rootfs"),
    Flag("no-new-keyring", "do not create a new session keyring for the container"),
    Flag("preserve-fds", "pass N additional file descriptors to the container (stdio + $LISTEN_FDS + N in total)",
         "int", 0, metavar="N"),
]
COMMANDS = {c.name: c for c in [
    Command("create", "create a container", "<container-id>", _CREATE, 1, 1),
    Command("run", "create and run a container", "<container-id>", _CREATE + [
        Flag("detach,d", "detach from the container's process"),
        Flag("keep", "do not delete the container after it exits"),
        Flag("no-subreaper", "disable the use of the subreaper used to reap reparented processes"),
    ], 1, 1),
    Command("start", "executes the user defined process in a created container", "<container-id>", [], 1, 1),
    Command("state", "output the state of a container", "<container-id>", [], 1, 1),
    Command("kill", "kill sends the specified signal (default: SIGTERM) to the container's init process",
            "<container-id> [signal]", [Flag("all,a", "send the specified signal to all processes inside the container")],
            1, 2),
    Command("delete", "delete any resources held by the container often used with detached container",
            "<container-id>", [Flag("force,f", "forcibly deletes the container if it is still running (uses SIGKILL)")],
            1, 1),
    Command("list", "lists containers started by onggi-runtime with the given root", "", [
        Flag("format,f", "select one of: table or json (default: table)", "str", "table"),
        Flag("quiet,q", "display only container IDs"),
    ]),
    Command("ps", "ps displays the processes running inside a container", "<container-id> [ps options]",
            [Flag("format,f", "select one of: table or json (default: table)", "str", "table")], 1, 1000, rest=True),
    Command("exec", "execute new process inside the container", "<container-id> <command> [command options]", [
        Flag("console-socket", "path to an AF_UNIX socket which will receive the console's master fd", "str", metavar="PATH"),
        Flag("cwd", "current working directory in the container", "str", metavar="PATH"),
        Flag("env,e", "set environment variables", "list", metavar="KEY=VALUE"),
        Flag("tty,t", "allocate a pseudo-TTY"),
        Flag("user,u", "UID (format: <uid>[:<gid>])", "str", metavar="UID[:GID]"),
        Flag("additional-gids,g", "additional gids", "list", metavar="GID"),
        Flag("process,p", "path to the process.json", "str", metavar="FILE"),
        Flag("detach,d", "detach from the container's process"),
        Flag("pid-file", "specify the file to write the process id to", "str", metavar="PATH"),
        Flag("process-label", "set the asm process label for the process commonly used with selinux", "str"),
        Flag("apparmor", "set the apparmor profile for the process", "str"),
        Flag("no-new-privs", "set the no new privileges value for the process"),
        Flag("cap,c", "add a capability to the bounding set for the process", "list", metavar="CAP"),
        Flag("preserve-fds", "pass N additional file descriptors to the container", "int", 0, metavar="N"),
        Flag("cgroup", "run the process in an (existing) sub-cgroup(s)", "list", metavar="PATH"),
        Flag("ignore-paused", "allow exec in a paused container"),
    ], 1, 100000, rest=True),
    Command("pause", "pause suspends all processes inside the container", "<container-id>", [], 1, 1),
    Command("resume", "resumes all processes that have been previously paused", "<container-id>", [], 1, 1),
    Command("update", "update container resource constraints", "<container-id>", [
        Flag("resources,r", "path to the file containing the resources to update or '-' to read from the standard input",
             "str", metavar="FILE"),
        Flag("memory", "memory limit (in bytes)", "str"), Flag("memory-swap", "total memory usage (memory + swap); set '-1' to enable unlimited swap", "str"),
        Flag("memory-reservation", "memory reservation or soft_limit (in bytes)", "str"),
        Flag("kernel-memory", "kernel memory limit (in bytes)", "str"),
        Flag("kernel-memory-tcp", "kernel memory limit (in bytes) for tcp buffer", "str"),
        Flag("cpu-shares", "CPU shares (relative weight vs. other containers)", "str"),
        Flag("cpu-quota", "CPU CFS hardcap limit (in usecs)", "str"),
        Flag("cpu-period", "CPU CFS period to be used for hardcapping (in usecs)", "str"),
        Flag("cpu-rt-period", "CPU realtime period to be used for hardcapping (in usecs)", "str"),
        Flag("cpu-rt-runtime", "CPU realtime hardcap limit (in usecs)", "str"),
        Flag("cpuset-cpus", "CPU(s) to use", "str"), Flag("cpuset-mems", "memory node(s) to use", "str"),
        Flag("pids-limit", "maximum number of pids allowed in the container", "str"),
        Flag("blkio-weight", "specifies per cgroup weight, range is from 10 to 1000", "str"),
        Flag("l3-cache-schema", "the string of Intel RDT/CAT L3 cache schema (not supported)", "str"),
        Flag("mem-bw-schema", "the string of Intel RDT/MBA memory bandwidth schema (not supported)", "str"),
    ], 1, 1),
    Command("events", "display container events such as OOM notifications, cpu, memory, and IO usage statistics",
            "<container-id>", [Flag("interval", "set the stats collection interval", "str", "5s"),
                               Flag("stats", "display the container's stats then exit")], 1, 1),
    Command("spec", "create a new specification file", "", [
        Flag("bundle,b", "path to the root of the bundle directory", "str", "."),
        Flag("rootless", "generate a configuration for a rootless container"),
    ]),
    Command("features", "show the enabled features", "", []),
    Command("checkpoint", "checkpoint a running container (not supported)", "<container-id>", [], 0, 1000, rest=True),
    Command("restore", "restore a container from a previous checkpoint (not supported)", "<container-id>", [], 0, 1000, rest=True),
]}


def usage() -> str:
    cmds = "\n".join(f"   {c.name:12s}{c.summary}" for c in COMMANDS.values())
    opts = "\n".join(f.usage() for f in GLOBAL)
    return (f"NAME:\n   {PROG} - Open Container Initiative runtime (onggi)\n\n"
            f"USAGE:\n   {PROG} [global options] command [command options] [arguments...]\n\n"
            f"VERSION:\n   {VERSION}\nspec: {SPEC_VERSION}\n\nCOMMANDS:\n{cmds}\n\nGLOBAL OPTIONS:\n{opts}\n")


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    log = None
    name = ""
    fail = 1  # the exit code of an error: runc's exec exits 255 once the exec itself fails
    try:
        # global flags stop at the command name
        gl, rest = parse(argv, GLOBAL, stop_at_positional=True)
        from . import runtime_log

        log = runtime_log.Logger(gl["log"], gl["log_format"], gl["debug"])
        if gl["version"]:
            sys.stdout.write(f"{PROG} version {VERSION}\nspec: {SPEC_VERSION}\n")
            return 0
        if not rest:
            sys.stdout.write(usage())
            return 0 if gl["help"] else 1
        name, args = rest[0], rest[1:]
        cmd = COMMANDS.get(name)
        if cmd is None:
            if name == "help":
                sys.stdout.write(usage())
                return 0
            raise InvalidArgument(f"No help topic for '{name}'")
        if "--help" in args[:1] or "-h" in args[:1] or (args and args[0] in ("--help", "-help")):
            sys.stdout.write(cmd.help(PROG))
            return 0
        opts, pos = parse(args, cmd.flags + [Flag("help,h", "show help")], stop_at_positional=cmd.rest)
        if opts.get("help"):
            sys.stdout.write(cmd.help(PROG))
            return 0
        if len(pos) < cmd.min_args or len(pos) > cmd.max_args:
            want = "exactly" if cmd.min_args == cmd.max_args else "at least"
            raise InvalidArgument(f"{PROG}: \"{name}\" requires {want} {cmd.min_args} argument(s)"
                                  f" (usage: {PROG} {name} {cmd.args})".replace("  ", " "))
        log.debug(f"command {name} {' '.join(args)}")
        if not gl["root"]:
            gl["root"] = default_root()
        from .runtime_commands import dispatch

        if name == "exec":
            fail = 255
        return dispatch(name, gl, opts, pos)
    except OnggiError as e:
        (log or _fallback()).error(("exec failed: " if fail == 255 else "") + str(e))
        return fail
    except OSError as e:
        what = f"{e.strerror or e}" + (f": {e.filename}" if e.filename else "")
        (log or _fallback()).error(f"{name or PROG}: {what}")
        return fail
    except KeyboardInterrupt:
        return 130


def default_root() -> str:
    if os.geteuid() == 0:
        return "/run/onggi-runtime"
    xdg = os.environ.get("XDG_RUNTIME_DIR")
    if xdg:
        return os.path.join(xdg, "onggi-runtime")
    return f"/tmp/onggi-runtime-{os.geteuid()}"


def _fallback():  # noqa: ANN202
    from . import runtime_log

    return runtime_log.Logger(None, "text", False)


if __name__ == "__main__":
    sys.exit(main())
