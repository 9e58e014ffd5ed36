"""onggi's OCI runtime (the runc role), usable as the ``onggi-runtime`` command, in-process
by the engine, or as a library.

One module per lifecycle operation (create, start, run, exec, kill, delete, pause, update,
events, query); ``init`` holds the code that runs inside the new container before it
execs the user's process. Import the operation you need: this package imports nothing
eagerly, so that the command's start-up stays small.
"""
