"""OCI hooks: each is exec'd with the container's state JSON on stdin, its own args and
env, and an optional timeout (seconds). A failing hook of a phase that gates the
container (prestart, createRuntime, createContainer, startContainer) is an error; a
failing poststart or poststop hook is reported and the lifecycle goes on."""

from __future__ import annotations

import os
import select
import time

from ..errors import FailedPrecondition
from ..oci import jsonio

TYPE_CHECKING = False
if TYPE_CHECKING:
    from ..oci.spec import Hook


def run_hook(hook: "Hook", state: dict, phase: str) -> None:
    r, w = os.pipe()
    pid = os.fork()
    if pid == 0:  # child
        try:
            # its own process group, so that a timeout kills what it started as well
            os.setpgid(0, 0)
            os.dup2(r, 0)
            os.close(r)
            os.close(w)
            args = hook.args or [hook.path]
            os.execve(hook.path, args, dict(e.partition("=")[::2] for e in hook.env))
        except BaseException as e:
            try:
                os.write(2, f"hook {hook.path}: {e}\n".encode())
            finally:
                os._exit(127)
    try:
        os.setpgid(pid, pid)  # also here: the timeout may strike before the child ran
    except OSError:
        pass  # it already exec'd (EACCES) after doing it itself
    os.close(r)
    deadline = None if hook.timeout is None else time.monotonic() + hook.timeout
    try:
        _feed(w, jsonio.dumps(state).encode(), deadline)
    finally:
        os.close(w)
    status = _wait(pid, hook.timeout if deadline is None else max(0.0, deadline - time.monotonic()))
    if status is None:
        raise FailedPrecondition(f"{phase} hook {hook.path} timed out after {hook.timeout}s")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise FailedPrecondition(f"{phase} hook {hook.path} failed with exit status {code}")


def _feed(w: int, data: bytes, deadline: float | None) -> None:
    """Write the state to the hook's stdin without letting a hook that never reads it
    (and a state larger than the pipe) outlast its timeout."""
    os.set_blocking(w, False)
    view = memoryview(data)
    while view:
        try:
            view = view[os.write(w, view):]
            continue
        except BlockingIOError:
            pass
        except BrokenPipeError:
            return  # the hook exited or closed its stdin
        left = 0.1 if deadline is None else min(0.1, deadline - time.monotonic())
        if left <= 0:
            return  # out of time: _wait kills it
        select.select([], [w], [], left)


def _wait(pid: int, timeout: float | None) -> int | None:
    if timeout is None:
        while True:
            try:
                return os.waitpid(pid, 0)[1]
            except InterruptedError:
                continue
    deadline = time.monotonic() + timeout
    pfd = os.pidfd_open(pid)
    try:
        poller = select.poll()
        poller.register(pfd, select.POLLIN)
        while True:
            left = deadline - time.monotonic()
            if left <= 0 or not poller.poll(left * 1000):
                if time.monotonic() >= deadline:
                    _kill_group(pid)
                    os.waitpid(pid, 0)
                    return None
                continue
            return os.waitpid(pid, 0)[1]
    finally:
        os.close(pfd)


def _kill_group(pid: int) -> None:
    """SIGKILL the hook and every process of its group (what it started)."""
    try:
        os.killpg(pid, 9)
    except ProcessLookupError:
        pass
    try:
        os.kill(pid, 9)  # in case it left its group
    except ProcessLookupError:
        pass


def run_hooks(hooks: list["Hook"], state: dict, phase: str, fatal: bool = True) -> list[str]:
    """Run ``hooks`` in order. Fatal phases raise on the first failure; others return the
    failures' messages for the caller to log."""
    failures = []
    for h in hooks:
        try:
            run_hook(h, state, phase)
        except FailedPrecondition as e:
            if fatal:
                raise
            failures.append(str(e))
        except OSError as e:
            msg = f"{phase} hook {h.path}: {e.strerror}"
            if fatal:
                raise FailedPrecondition(msg) from None
            failures.append(msg)
    return failures
