"""Where the registry keeps things under its root. Every path is built from a validated
repository name, tag or digest (see :mod:`.names`), never from raw request text::

    ROOT/blobs/<alg>/<hex[:2]>/<hex>                      content, shared by every repository
    ROOT/repositories/<name>/_blobs/<alg>/<hex>           "this repository holds that blob"
    ROOT/repositories/<name>/_manifests/<alg>/<hex>       a manifest of the repository; the
                                                          file holds its media type, the bytes
                                                          live in blobs/
    ROOT/repositories/<name>/_tags/<tag>                  the tag's manifest digest
    ROOT/repositories/<name>/_referrers/<alg>/<hex>/<alg>-<hex>
                                                          a descriptor (JSON) of a manifest whose
                                                          subject is <alg>:<hex>
    ROOT/uploads/<uuid>/{repo,data}                       an upload session in progress

A name component starts with ``[a-z0-9]``, so the ``_``-prefixed directories never clash
with nested repositories. Every file is written to a ``.tmp-`` name and renamed, so a crash
leaves only whole files and ``.tmp-`` leftovers that readers ignore and GC removes.
"""

from __future__ import annotations

import os

__all__ = ["Layout"]

TMP_PREFIX = ".tmp-"


class Layout:
    """Path arithmetic for one storage root (no I/O)."""

    __slots__ = ("root", "blobs", "repos", "uploads")

    def __init__(self, root: str) -> None:
        self.root = os.path.abspath(root)
        self.blobs = os.path.join(self.root, "blobs")
        self.repos = os.path.join(self.root, "repositories")
        self.uploads = os.path.join(self.root, "uploads")

    def blob(self, digest: str) -> str:
        alg, _, hexpart = digest.partition(":")
        return f"{self.blobs}/{alg}/{hexpart[:2]}/{hexpart}"

    def repo(self, name: str) -> str:
        return f"{self.repos}/{name}"

    def blob_link(self, name: str, digest: str) -> str:
        alg, _, hexpart = digest.partition(":")
        return f"{self.repos}/{name}/_blobs/{alg}/{hexpart}"

    def manifest_link(self, name: str, digest: str) -> str:
        alg, _, hexpart = digest.partition(":")
        return f"{self.repos}/{name}/_manifests/{alg}/{hexpart}"

    def manifests_dir(self, name: str) -> str:
        return f"{self.repos}/{name}/_manifests"

    def tag(self, name: str, tag: str) -> str:
        return f"{self.repos}/{name}/_tags/{tag}"

    def tags_dir(self, name: str) -> str:
        return f"{self.repos}/{name}/_tags"

    def referrers_dir(self, name: str, subject: str) -> str:
        alg, _, hexpart = subject.partition(":")
        return f"{self.repos}/{name}/_referrers/{alg}/{hexpart}"

    def referrer(self, name: str, subject: str, digest: str) -> str:
        return f"{self.referrers_dir(name, subject)}/{digest.replace(':', '-')}"

    def upload(self, uuid: str) -> str:
        return f"{self.uploads}/{uuid}"


def is_repo_dir(path: str) -> bool:
    """A directory is a repository once it holds blobs, manifests or tags."""
    return any(os.path.isdir(os.path.join(path, d)) for d in ("_manifests", "_tags", "_blobs"))
