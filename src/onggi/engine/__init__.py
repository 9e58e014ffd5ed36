"""onggi's engine (the podman role): containers, pods, volumes and networks, daemonless.

How the pieces fit (each a module or a small package of its own)::

    cli/container_commands.py ...     parse flags into RunOptions, call one engine function
         |
    engine/containers.py              create/start/stop/kill/rm/... : refresh -> check -> act -> persist
      |-- engine/state.py             SQLite (WAL) rows: containers, pods, exec sessions, events
      |-- engine/specgen.py           image config + RunOptions + SpecContext -> config.json (pure)
      |-- engine/mounts.py, volumes.py   -v/--mount/--tmpfs parsing; named volumes
      |-- engine/network/             netns + netavark (bridge, NAT, ports, aardvark-dns)
      |-- engine/monitor.py           the conmon role: one small process per container that
      |                               outlives the CLI, runs the OCI runtime, keeps logs,
      |                               exit code and time, --rm and restart policies
      '-- image/ (store, snapshots)   rootfs = the image's snapshots + a container layer

Paths come from :mod:`onggi.engine.paths` (environment overrides for tests). Bundles the
engine writes are plain OCI bundles: ``--runtime runc`` runs them as well as onggi-runtime.
"""
