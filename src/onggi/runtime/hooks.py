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
    os.close(r)
    try:
        os.write(w, jsonio.dumps(state).encode())
    except BrokenPipeError:
        pass
    finally:
        os.close(w)
    status = _wait(pid, hook.timeout)
    if status is None:
        raise FailedPrecondition(f"{phase} hook {hook.path} timed out after {hook.timeout}s")
    code = os.waitstatus_to_exitcode(status)
    if code != 0:
        raise FailedPrecondition(f"{phase} hook {hook.path} failed with exit status {code}")


def _wait(pid: int, timeout: int | None) -> int | None:
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
                    os.kill(pid, 9)
                    os.waitpid(pid, 0)
                    return None
                continue
            return os.waitpid(pid, 0)[1]
    finally:
        os.close(pfd)


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
