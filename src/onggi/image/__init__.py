"""Images on the local machine: the blob and image store, unpacked layers (snapshots), layer
(de)compression (:mod:`.compression`) and layer apply (:mod:`.apply`).

Nothing is imported here: each submodule is loaded when used, so that importing one piece
(the runtime never imports this package) stays cheap.
"""
