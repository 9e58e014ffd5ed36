"""Waiting for a container (or exec'd) process that the runtime is the (sub)reaper of,
forwarding the signals the runtime receives, and proxying a terminal."""

from __future__ import annotations

import os

# Signals that stop or kill the runtime itself must not be forwarded
_NOT_FORWARDED = {9, 17, 19, 20, 21, 22, 28}  # KILL, CHLD, STOP, TSTP, TTIN, TTOU, WINCH


def wait_container(pid: int, tty_master: int = -1, saved_tty: list | None = None) -> int:
    """Block until ``pid`` exits; return its exit status as a shell would (128+signal)."""
    import _signal  # the C module: the `signal` wrapper imports enum (8 ms)

    def forward(signum: int, _frame: object) -> None:
        try:
            os.kill(pid, signum)
        except ProcessLookupError:
            pass

    for s in (1, 2, 3, 10, 12, 15):
        _signal.signal(s, forward)
    if tty_master >= 0:
        return _proxy_tty(pid, tty_master, saved_tty)
    while True:
        try:
            wpid, status = os.waitpid(-1, 0)
        except InterruptedError:
            continue
        except ChildProcessError:
            return 255
        if wpid == pid:
            return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)


def raw_stdin() -> list | None:
    """Put the caller's terminal in raw mode (the container's pty does the line
    discipline); returns what restores it, None if stdin is no terminal."""
    import termios
    import tty

    if not os.isatty(0):
        return None
    saved = termios.tcgetattr(0)
    tty.setraw(0)
    return saved


def _copy_size(master: int) -> None:
    import fcntl
    import termios

    try:
        fcntl.ioctl(master, termios.TIOCSWINSZ, fcntl.ioctl(0, termios.TIOCGWINSZ, b"\0" * 8))
    except OSError:
        pass


def _proxy_tty(pid: int, master: int, saved: list | None = None) -> int:
    import _signal
    import select
    import termios

    if saved is None:
        saved = raw_stdin()
    if saved is not None:
        _signal.signal(28, lambda _s, _f: _copy_size(master))  # SIGWINCH: follow the caller's size
    pfd = os.pidfd_open(pid)
    try:
        fds = [master, pfd, 0]
        while True:
            try:
                r, _, _ = select.select(fds, [], [])
            except InterruptedError:
                continue
            if master in r:
                try:
                    data = os.read(master, 65536)
                except OSError:
                    data = b""
                if data:
                    os.write(1, data)
                else:
                    fds.remove(master)
            if 0 in r:
                data = os.read(0, 65536)
                if data:
                    os.write(master, data)
                else:
                    fds.remove(0)
            if pfd in r:
                # drain what the container wrote last
                while True:
                    try:
                        data = os.read(master, 65536)
                    except OSError:
                        break
                    if not data:
                        break
                    os.write(1, data)
                break
        _, status = os.waitpid(pid, 0)
        return os.waitstatus_to_exitcode(status) if os.WIFEXITED(status) else 128 + os.WTERMSIG(status)
    finally:
        os.close(pfd)
        os.close(master)
        if saved is not None:
            termios.tcsetattr(0, termios.TCSADRAIN, saved)
