"""``onggi image sync`` (skopeo sync): copy many images from a repository, a ``dir:``
tree or a YAML list to a registry namespace or a directory, one copy pipeline each.

Sources: ``docker`` (``REGISTRY/REPO`` — every tag — or ``REGISTRY/REPO:TAG``), ``dir``
(a directory holding ``dir:`` images, found by their ``manifest.json``), ``yaml`` (skopeo's
format: ``REGISTRY: {images: {REPO: [TAG...]}, images-by-tag-regex: {REPO: REGEX},
tls-verify: BOOL, credentials: {username, password}}``). Destinations: ``docker``
(``REGISTRY[/NAMESPACE]``) or ``dir`` (a directory). Each image lands under the last
component of its repository (``--scoped``: under its full name), with its tag.
"""

from __future__ import annotations

import os
import re

from ..errors import InvalidArgument
from ..oci import reference as R
from .copy import CopyOptions, copy
from .docker import Options, list_tags


class Job:
    __slots__ = ("source", "dest", "src_opts")

    def __init__(self, source: str, dest: str, src_opts: Options) -> None:
        self.source, self.dest, self.src_opts = source, dest, src_opts


def _docker_refs(spec: str, opts: Options) -> list[R.Reference]:
    ref = R.parse(spec, default_tag=None)
    if ref.tag is not None or ref.digest is not None:
        return [ref]
    return [ref.with_tag(t) for t in list_tags(str(ref), opts)["Tags"]]


def _dest_name(ref: R.Reference, scoped: bool) -> str:
    path = ref.name if scoped else ref.path.rsplit("/", 1)[-1]
    return path + (f":{ref.tag}" if ref.tag else "") + (f"@{ref.digest}" if ref.digest and not ref.tag else "")


def plan(src_kind: str, source: str, dest_kind: str, destination: str, src_opts: Options,
         scoped: bool = False) -> list[Job]:
    jobs: list[Job] = []

    def dest_for(name: str) -> str:
        if dest_kind == "docker":
            return "docker://" + destination.rstrip("/") + "/" + name.replace("@", "-")
        if dest_kind == "dir":
            return "dir:" + os.path.join(destination, name)
        raise InvalidArgument(f"--dest {dest_kind!r}: expected docker or dir")

    if src_kind == "docker":
        for ref in _docker_refs(source, src_opts):
            jobs.append(Job(f"docker://{ref}", dest_for(_dest_name(ref, scoped)), src_opts))
    elif src_kind == "dir":
        for root, _, files in os.walk(source):
            if "manifest.json" in files and "version" in files:
                rel = os.path.relpath(root, source)
                jobs.append(Job(f"dir:{root}", dest_for(rel if rel != "." else os.path.basename(root)),
                                src_opts))
    elif src_kind == "yaml":
        jobs += _yaml_jobs(source, dest_for, scoped, src_opts)
    else:
        raise InvalidArgument(f"--src {src_kind!r}: expected docker, dir or yaml")
    return jobs


def _yaml_jobs(path: str, dest_for, scoped: bool, base: Options) -> list[Job]:  # noqa: ANN001
    import yaml

    try:
        with open(path) as f:
            doc = yaml.safe_load(f) or {}
    except (OSError, yaml.YAMLError) as e:
        raise InvalidArgument(f"sync source {path}: {e}") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"sync source {path}: expected a mapping of registries")
    jobs = []
    for registry, spec in doc.items():
        spec = spec or {}
        creds = spec.get("credentials") or {}
        opts = Options(creds=f"{creds['username']}:{creds.get('password', '')}" if creds.get("username") else base.creds,
                       tls_verify=spec.get("tls-verify", base.tls_verify), auth_file=base.auth_file,
                       cert_dir=spec.get("cert-dir", base.cert_dir), registries_conf=base.registries_conf)
        for repo, tags in (spec.get("images") or {}).items():
            refs = ([R.parse(f"{registry}/{repo}:{t}") for t in tags] if tags
                    else _docker_refs(f"{registry}/{repo}", opts))
            jobs += [Job(f"docker://{r}", dest_for(_dest_name(r, scoped)), opts) for r in refs]
        for repo, pattern in (spec.get("images-by-tag-regex") or {}).items():
            try:
                rx = re.compile(pattern)
            except re.error as e:
                raise InvalidArgument(f"sync source {path}: {registry}/{repo}: bad regex {pattern!r}: {e}") from None
            for r in _docker_refs(f"{registry}/{repo}", opts):
                if r.tag and rx.search(r.tag):
                    jobs.append(Job(f"docker://{r}", dest_for(_dest_name(r, scoped)), opts))
    return jobs


def run(jobs: list[Job], dest_opts: Options, copy_opts: CopyOptions, say=None) -> int:  # noqa: ANN001
    """Run the copies in order; returns how many were made."""
    from . import parse

    for i, job in enumerate(jobs, 1):
        if say is not None:
            say(f"Copying image ref {i}/{len(jobs)}: {job.source} -> {job.dest}")
        ts, rs = parse(job.source)
        td, rd = parse(job.dest)
        if td.name == "dir":
            os.makedirs(rd, exist_ok=True)
        with ts.source(rs, job.src_opts) as src, td.destination(rd, dest_opts) as dst:
            copy(src, dst, copy_opts)
    return len(jobs)
