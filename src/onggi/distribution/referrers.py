"""Referrers (OCI distribution spec v1.1): the manifests whose ``subject`` names a digest.

Listing: ``GET /v2/<name>/referrers/<digest>[?artifactType=T]`` answers an image index
(pages linked by ``Link: <...>; rel="next"``); when the registry did not apply the
filter (no ``artifactType`` in ``OCI-Filters-Applied``) onggi filters. A ``404`` means
the registry lacks the API: the client then reads the image index tagged by the
referrers tag schema, ``<alg[:32]>-<hex[:64]>`` (``sha256-<hex>``, characters a tag does
not allow replaced by ``-``), a missing tag meaning no referrers.

Pushing a manifest with a ``subject`` to a registry that does not answer ``OCI-Subject``
(so it keeps no referrers itself): the client reads that tag's index (404: an empty one;
anything but an index: an error), appends the pushed manifest's descriptor unless it is
there (``artifactType`` from the manifest, else its config's media type; its
annotations copied), and pushes the index back under the tag. Two clients updating the
same tag at once can lose an entry; the spec leaves that race to clients, and onggi does
not lock.
"""

from __future__ import annotations

import json
import re
from typing import TYPE_CHECKING

from ..errors import FailedPrecondition, InvalidArgument, NotFound
from ..oci import image as _image
from ..oci import mediatypes as MT
from ..oci.digest import Digest, of_bytes
from ..oci.digest import parse as parse_digest
from .session import next_link

if TYPE_CHECKING:
    from .client import RegistryClient

__all__ = ["fallback_tag", "list_referrers", "after_push", "descriptor_of"]

_NOT_TAG = re.compile(r"[^A-Za-z0-9_.-]")


def fallback_tag(digest: str) -> str:
    """The referrers tag schema's tag for ``digest``."""
    alg, _, enc = digest.partition(":")
    return _NOT_TAG.sub("-", f"{alg[:32]}-{enc[:64]}")


def _filter(descs: list[_image.Descriptor], artifact_type: str | None) -> list[_image.Descriptor]:
    if artifact_type is None:
        return descs
    return [d for d in descs if d.artifact_type == artifact_type]


def list_referrers(client: "RegistryClient", repo: str, digest: Digest,
                   artifact_type: str | None = None) -> list[_image.Descriptor]:
    """The referrers of ``digest`` in ``repo``: from the API, else from the fallback tag."""
    target = f"{client.host}/{repo}@{digest}"
    scopes = (f"repository:{repo}:pull",)
    params = {"artifactType": artifact_type} if artifact_type else {}
    url: str | None = f"/v2/{repo}/referrers/{digest}"
    out: list[_image.Descriptor] = []
    first = True
    while url is not None:
        resp = client.session.request("GET", url, params=params, ok=(200, 404), scopes=scopes,
                                      headers={"Accept": MT.OCI_INDEX},
                                      action="listing referrers of", target=target)
        if resp.status_code == 404:
            if not first:
                raise NotFound(f"listing referrers of {target}: a later page is gone (HTTP 404)")
            return _from_tag(client, repo, digest, artifact_type)
        first = False
        index = _image.parse(resp.content, MT.OCI_INDEX, what=f"referrers of {target}")
        if not isinstance(index, _image.Index):
            raise InvalidArgument(f"listing referrers of {target}: the registry sent a manifest, "
                                  f"not an image index")
        applied = [f.strip() for f in resp.headers.get("oci-filters-applied", "").split(",")]
        page = list(index.manifests)
        out += page if "artifactType" in applied else _filter(page, artifact_type)
        url, params = next_link(resp), {}
    return out


def _read_tag_index(client: "RegistryClient", repo: str, digest: Digest) -> _image.Index | None:
    tag = fallback_tag(digest)
    try:
        m = client.get_manifest(repo, tag)
    except NotFound:
        return None
    doc = _image.parse(m.raw, m.media_type, what=f"referrers tag {client.host}/{repo}:{tag}")
    if not isinstance(doc, _image.Index):
        raise FailedPrecondition(f"referrers tag {client.host}/{repo}:{tag} holds {m.media_type}, "
                                 f"not an image index: not updating it")
    return doc


def _from_tag(client: "RegistryClient", repo: str, digest: Digest,
              artifact_type: str | None) -> list[_image.Descriptor]:
    index = _read_tag_index(client, repo, digest)
    return [] if index is None else _filter(list(index.manifests), artifact_type)


def descriptor_of(raw: bytes, media_type: str, digest: Digest | None = None) -> tuple[_image.Descriptor, Digest | None]:
    """(descriptor of a pushed manifest for a referrers list, its subject's digest or None)."""
    try:
        doc = json.loads(raw)
    except ValueError:
        raise InvalidArgument(f"manifest {digest or of_bytes(raw)}: not valid JSON") from None
    if not isinstance(doc, dict):
        raise InvalidArgument(f"manifest {digest or of_bytes(raw)}: expected a JSON object")
    subject = doc.get("subject")
    sub = subject.get("digest") if isinstance(subject, dict) else None
    atype = doc.get("artifactType")
    if not atype and isinstance(doc.get("config"), dict):
        atype = doc["config"].get("mediaType")
    kw: dict[str, object] = {}
    if isinstance(atype, str) and atype:
        kw["artifact_type"] = atype
    ann = doc.get("annotations")
    if isinstance(ann, dict) and ann:
        kw["annotations"] = dict(ann)
    desc = _image.Descriptor.new(media_type, digest or of_bytes(raw), len(raw), **kw)
    return desc, (Digest(sub) if isinstance(sub, str) else None)


def after_push(client: "RegistryClient", repo: str, raw: bytes, media_type: str, digest: Digest) -> None:
    """Keep the fallback tag of the pushed manifest's subject up to date (no subject, or
    a Docker type: nothing to do)."""
    if media_type not in (MT.OCI_MANIFEST, MT.OCI_INDEX):
        return
    desc, subject = descriptor_of(raw, media_type, digest)
    if subject is None:
        return
    subject = parse_digest(subject, f"subject of manifest {client.host}/{repo}@{digest}")
    index = _read_tag_index(client, repo, subject)
    if index is None:
        index = _image.Index.new([])
    if any(d.digest == desc.digest for d in index.manifests):
        return
    new = index.replace(manifests=[*index.manifests, desc])
    client.put_manifest(repo, fallback_tag(subject), _image.serialize(new), MT.OCI_INDEX,
                        update_referrers=False)
