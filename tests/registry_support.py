"""``OnggiRegistry``: one ``onggi registry serve`` on a free 127.0.0.1 port, for tests.

It writes a reference-style config.yml (storage root, delete, log, http, optional tls and
auth sections, plus any extra YAML text), starts the server as a subprocess, waits until
``/v2/`` answers (any HTTP status: 401 means up, with auth) and stops it by PID::

    reg = OnggiRegistry(str(tmp_path), auth={"htpasswd": {"realm": "r", "path": p}})
    try:
        ... reg.url, reg.host, reg.root, reg.port, reg.proc ...
    finally:
        reg.stop()

Importable as ``registry_support`` (tests/ is on sys.path through its conftest).
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request
from typing import Any

ONGGI = shutil.which("onggi") or "/usr/local/bin/onggi"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class OnggiRegistry:
    """A running ``onggi registry serve``. Options:

    ``name``: sub-directory of ``base_dir`` for this registry (config, log, data);
    ``config_text``: extra YAML appended to the generated config (top-level keys);
    ``auth``: the ``auth:`` section as a dict (e.g. ``{"htpasswd": {...}}``);
    ``tls``: (cert, key) paths, served with ``--tls-cert/--tls-key``;
    ``read_only``: ``--read-only``; ``delete``: storage.delete.enabled (default True);
    ``workers``: ``--workers N``; ``extra_args``: more ``serve`` flags;
    ``root``: reuse an existing storage root (e.g. to restart after a crash);
    ``port``: a fixed port (e.g. the same one after a restart).
    """

    def __init__(self, base_dir: str, name: str = "onggi-registry", *, config_text: str = "",
                 auth: dict[str, Any] | None = None, tls: tuple[str, str] | None = None,
                 read_only: bool = False, delete: bool = True, workers: int = 1,
                 extra_args: list[str] | None = None, root: str | None = None,
                 port: int | None = None, env: dict[str, str] | None = None,
                 timeout: float = 20.0) -> None:
        self.dir = os.path.join(base_dir, name)
        os.makedirs(self.dir, exist_ok=True)
        self.root = root or os.path.join(self.dir, "data")
        self.port = port or _free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        self.url = f"{self.scheme}://{self.host}"
        self.config_path = os.path.join(self.dir, "config.yml")
        self.log_path = os.path.join(self.dir, "registry.log")
        cfg = ["version: 0.1", "log:", "  level: info", "storage:", "  filesystem:",
               f"    rootdirectory: {self.root}", "  delete:", f"    enabled: {str(delete).lower()}",
               "http:", f"  addr: {self.host}"]
        if auth:
            cfg.append("auth: " + json.dumps(auth))  # JSON is YAML
        text = "\n".join(cfg) + "\n" + (config_text.rstrip() + "\n" if config_text else "")
        with open(self.config_path, "w") as f:
            f.write(text)
        self.args = [ONGGI, "registry", "serve", "--config", self.config_path,
                     "--addr", self.host, "--root", self.root]
        if tls:
            self.args += ["--tls-cert", tls[0], "--tls-key", tls[1]]
        if read_only:
            self.args.append("--read-only")
        if workers != 1:
            self.args += ["--workers", str(workers)]
        self.args += extra_args or []
        self._log = open(self.log_path, "ab")
        self.proc = subprocess.Popen(self.args, stdout=self._log, stderr=subprocess.STDOUT,
                                     env={**os.environ, **(env or {})}, start_new_session=True)
        self._wait(timeout)

    def _wait(self, timeout: float) -> None:
        ctx = ssl._create_unverified_context()
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{self.url}/v2/", timeout=1, context=ctx).close()
                return
            except urllib.error.HTTPError:
                return  # 401 and the like: the server is up
            except OSError:
                time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"onggi registry did not start ({' '.join(self.args)}): {self.log()[-3000:]}")

    def log(self) -> str:
        """The server's output so far (access log lines and messages)."""
        with open(self.log_path, "rb") as f:
            return f.read().decode(errors="replace")

    def kill9(self) -> None:
        """SIGKILL the server (and its workers: the process group it leads), as a crash would."""
        if self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._log.close()

    def stop(self) -> None:
        """SIGTERM by PID (workers follow their parent), SIGKILL after 10 s."""
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.killpg(self.proc.pid, signal.SIGKILL)
                self.proc.wait()
        self._log.close()

    def __enter__(self) -> "OnggiRegistry":
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
