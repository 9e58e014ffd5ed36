"""``run``: create + start, then (unless detached) wait for the container, forward
signals to it, and delete it when it exits, returning its exit status."""

from __future__ import annotations

from .create import Options, create
from .start import start


def run(root: str, cid: str, opts: Options, detach: bool = False, keep: bool = False) -> int:
    tty_master = -1
    if not detach:
        # a terminal with no console socket: attach it to ours (see waiting._proxy_tty)
        from .create import load_bundle

        opts.loaded = load_bundle(opts.bundle)
        spec = opts.loaded[1]
        if spec.process is not None and spec.process.terminal and not opts.console_socket:
            import socket

            a, b = socket.socketpair(socket.AF_UNIX, socket.SOCK_STREAM)
            opts.console_fd = b.detach()
            sock = a
        else:
            sock = None
    else:
        sock = None
    c = create(root, cid, opts)
    saved_tty = None
    try:
        if sock is not None:
            from .console import recv_fd
            from .waiting import raw_stdin

            tty_master = recv_fd(sock.fileno())
            sock.close()
            saved_tty = raw_stdin()  # before the program runs, so nothing is echoed twice
        start(root, cid)
    except BaseException:
        from .delete import delete

        if saved_tty is not None:
            import termios

            termios.tcsetattr(0, termios.TCSADRAIN, saved_tty)
        delete(root, cid, force=True)
        raise
    if detach:
        return 0
    from .waiting import wait_container

    try:
        code = wait_container(c.pid, tty_master, saved_tty)
    finally:
        if not keep:
            from .delete import delete

            delete(root, cid, force=True)
    return code
