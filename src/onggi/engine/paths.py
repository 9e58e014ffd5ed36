"""Where the engine keeps things. Each root can be moved with an environment variable
(the tests give every test its own)::

    ONGGI_STORAGE   image store                          /var/lib/onggi/storage
    ONGGI_ROOT      persistent engine state               /var/lib/onggi/engine
                    (state.db, containers/<id>/, volumes/, networks/)
    ONGGI_RUNROOT   volatile state, gone after a reboot   /run/onggi
                    (runtime state, netns, monitor sockets, exit files)
"""

from __future__ import annotations

import os
from dataclasses import dataclass

__all__ = ["Paths"]


@dataclass(frozen=True)
class Paths:
    storage: str
    root: str
    run: str

    @classmethod
    def from_env(cls) -> "Paths":
        env = os.environ.get
        return cls(storage=env("ONGGI_STORAGE") or "/var/lib/onggi/storage",
                   root=env("ONGGI_ROOT") or "/var/lib/onggi/engine",
                   run=env("ONGGI_RUNROOT") or "/run/onggi")

    @property
    def db(self) -> str:
        return os.path.join(self.root, "state.db")

    def container_dir(self, cid: str) -> str:
        """Persistent per-container dir: bundle (config.json), logs, hosts, resolv.conf."""
        return os.path.join(self.root, "containers", cid)

    def container_run_dir(self, cid: str) -> str:
        """Volatile per-container dir: monitor pid and socket, exit file, attach socket."""
        return os.path.join(self.run, "containers", cid)

    @property
    def runtime_root(self) -> str:
        """``--root`` given to the OCI runtime (onggi-runtime, runc)."""
        return os.path.join(self.run, "runtime")

    @property
    def volumes(self) -> str:
        return os.path.join(self.root, "volumes")

    @property
    def networks(self) -> str:
        """Network definitions (netavark's JSON format, one file per network)."""
        return os.path.join(self.root, "networks")

    @property
    def netns(self) -> str:
        """Bind-mounted network namespaces of containers and pods."""
        return os.path.join(self.run, "netns")
