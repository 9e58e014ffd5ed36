"""Container networking through netavark and aardvark-dns (podman 4's network stack).

The lifecycle calls::

    setup = prepare(paths, cid, name, opts, exposed_ports=image_exposed)   # before start
    hosts, resolv, hostname = write_etc_files(dir, hostname, setup, opts)
    ... setup.netns -> SpecContext.netns; setup.to_json() -> the state database
    release(paths, cid, NetworkSetup.from_json(stored))                    # when it is gone

``--network none`` gives ``netns=""`` (the runtime makes an empty namespace), ``host``
``netns=None``; ``bridge`` (the default network ``onggi``) and user networks get a
namespace pinned at ``Paths.netns/<id>``, an address per network from :mod:`.ipam`, the
published ports, and, on networks with DNS, names served by aardvark-dns.

Modules: :mod:`.definitions` (network files), :mod:`.crud` (create/ls/inspect/rm/prune),
:mod:`.ipam` (addresses and host ports under a lock), :mod:`.ports` (``-p``/``-P``),
:mod:`.netavark` (the options JSON and the calls), :mod:`.attach` (prepare, release,
connect, disconnect), :mod:`.etcfiles` (hosts, resolv.conf, hostname), :mod:`.setup`
(what is kept per container).
"""

from __future__ import annotations

from .attach import connect, disconnect, network_names, prepare, release
from .crud import create, inspect, list_networks, prune, remove, users
from .definitions import DEFAULT_NAME, Network, lookup
from .etcfiles import write_etc_files
from .ports import PortMapping, parse_publish
from .setup import Attachment, NetworkSetup

__all__ = ["prepare", "release", "connect", "disconnect", "write_etc_files", "NetworkSetup", "Attachment",
           "PortMapping", "parse_publish", "Network", "DEFAULT_NAME", "create", "inspect", "list_networks",
           "remove", "prune", "users", "lookup", "network_names"]
