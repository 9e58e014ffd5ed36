"""Helpers shared by test modules (importable as ``support``: tests/ is on sys.path
through its conftest). Test modules import from here, never from a conftest, whose
module name ``conftest`` is shared by every conftest.py of the tree."""

from __future__ import annotations

import os
import shutil
import socket
import ssl
import subprocess
import time
import urllib.error
import urllib.request

import pytest

REGISTRY = shutil.which("docker-registry") or "/usr/bin/docker-registry"


def onggi_runtime() -> str | None:
    return shutil.which("onggi-runtime")


def need_root() -> None:
    if os.geteuid() != 0:
        pytest.skip("needs root (namespaces, mounts, cgroups)")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Registry:
    """One ``docker-registry serve`` with a generated config, stopped by PID."""

    def __init__(self, base: str, name: str, auth: str = "", tls: tuple[str, str] | None = None,
                 access_log: bool = False) -> None:
        self.dir = os.path.join(base, name)
        os.makedirs(self.dir)
        self.port = free_port()
        self.host = f"127.0.0.1:{self.port}"
        self.scheme = "https" if tls else "http"
        cfg = ["version: 0.1", "log:", "  level: error", "  accesslog:", f"    disabled: {str(not access_log).lower()}",
               "storage:", "  filesystem:", f"    rootdirectory: {self.dir}/data",
               "  delete:", "    enabled: true", "  maintenance:", "    uploadpurging:",
               "      enabled: false", "http:", f"  addr: {self.host}", "  secret: onggi-test"]
        if tls:
            cfg += ["  tls:", f"    certificate: {tls[0]}", f"    key: {tls[1]}"]
        cfg += auth.splitlines()
        with open(os.path.join(self.dir, "config.yml"), "w") as f:
            f.write("\n".join(cfg) + "\n")
        self.log = open(os.path.join(self.dir, "registry.log"), "wb")
        self.proc = subprocess.Popen([REGISTRY, "serve", os.path.join(self.dir, "config.yml")],
                                     stdout=self.log, stderr=subprocess.STDOUT)
        self._wait()

    def _wait(self) -> None:
        ctx = ssl._create_unverified_context()
        deadline = time.monotonic() + 15
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                urllib.request.urlopen(f"{self.scheme}://{self.host}/v2/", timeout=1, context=ctx)
                return
            except urllib.error.HTTPError:
                return  # 401: up, with auth
            except OSError:
                time.sleep(0.05)
        self.stop()
        with open(os.path.join(self.dir, "registry.log"), "rb") as f:
            raise RuntimeError(f"docker-registry did not start: {f.read()[-2000:]!r}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.log.close()
