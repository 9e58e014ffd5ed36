"""The registry server (``onggi registry serve``): the OCI distribution spec v1.1 over
aiohttp, with content-addressed filesystem storage.

Modules, bottom up: :mod:`.errors` (the spec's error codes), :mod:`.names` (repository
names, tags, references), :mod:`.layout` (where things live on disk), :mod:`.manifests`
(validating pushed manifests), :mod:`.storage` (:class:`RegistryStorage`), :mod:`.uploads`
(blob upload sessions), :mod:`.gc` (mark and sweep), :mod:`.config` (YAML + flags),
:mod:`.routes`, :mod:`.handlers`, :mod:`.upload_handlers`, :mod:`.observe` (access log and
metrics), :mod:`.app` (the aiohttp application) and :mod:`.server` (sockets, TLS, workers).
Importing this package starts nothing.
"""
