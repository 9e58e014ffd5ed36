"""Image references (``[DOMAIN/]PATH[:TAG][@DIGEST]``), parsed and normalised the way
Docker and containers/image read them. Pure data: no I/O, no configuration.

Normalisation::

    busybox                        -> docker.io/library/busybox:latest
    user/app:1                     -> docker.io/user/app:1
    index.docker.io/busybox        -> docker.io/library/busybox:latest
    host:5000/a/b:tag              -> host:5000/a/b:tag
    name@sha256:<hex>              -> docker.io/library/name@sha256:<hex>   (no tag added)
    name:tag@sha256:<hex>          -> both kept; the digest is what is pulled

The first ``/``-separated component is a domain when it contains ``.`` or ``:``, is
``localhost``, or has an upper-case letter (Docker's rule); otherwise the name is on
``docker.io``. :attr:`Reference.qualified` says whether the input named a domain:
resolving short names through ``registries.conf`` is :mod:`onggi.distribution.
registries_conf`'s job, not this module's.

Grammar (the distribution project's, restated): a path is ``/``-separated components of
lower-case alphanumerics joined by ``.``, ``_``, ``__`` or runs of ``-``; a domain is DNS
labels (or an IPv4 address, or ``[IPv6]``) with an optional ``:port``; a tag is
``[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}``; digests are checked by :func:`onggi.oci.digest.parse`;
domain and path together are at most 255 characters. Every error is ``InvalidArgument``
naming the input and the part that is wrong.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field, replace

from ..errors import InvalidArgument
from . import digest as _digest

__all__ = ["Reference", "parse", "split", "is_domain", "check_tag", "check_path", "check_domain",
           "DOCKER_DOMAIN", "DEFAULT_TAG", "NAME_MAX"]

DOCKER_DOMAIN = "docker.io"
_DOCKER_ALIASES = frozenset(("index.docker.io", "registry-1.docker.io"))
DEFAULT_TAG = "latest"
NAME_MAX = 255

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*\Z")
_LABEL = r"(?:[A-Za-z0-9]|[A-Za-z0-9][A-Za-z0-9-]*[A-Za-z0-9])"
_DOMAIN = re.compile(rf"(?:{_LABEL}(?:\.{_LABEL})*|\[[0-9A-Fa-f:.]+\])(?::[0-9]+)?\Z")
_TAG = re.compile(r"[\w][\w.-]{0,127}\Z", re.ASCII)
_HEX64 = re.compile(r"[a-f0-9]{64}\Z")


def is_domain(component: str) -> bool:
    """Whether the first path component of a name is a registry domain (Docker's rule)."""
    return ("." in component or ":" in component or component == "localhost"
            or component != component.lower())


def check_tag(tag: str, what: str = "tag") -> str:
    """``tag`` if it is a valid tag, else InvalidArgument."""
    if not _TAG.match(tag):
        raise InvalidArgument(f"{what}: {tag!r} is not a valid tag (1 to 128 of A-Z a-z 0-9 _ . -, "
                              f"not starting with . or -)")
    return tag


def check_path(path: str, what: str = "repository") -> str:
    """``path`` if every component is valid (lower-case alphanumerics and separators)."""
    if not path:
        raise InvalidArgument(f"{what}: the repository path is empty")
    for comp in path.split("/"):
        if _COMPONENT.match(comp):
            continue
        if comp and _COMPONENT.match(comp.lower()):
            raise InvalidArgument(f"{what}: repository name must be lowercase ({comp!r})")
        raise InvalidArgument(f"{what}: {comp!r} is not a valid repository path component (lower-case "
                              f"letters and digits, joined by '.', '_', '__' or '-')")
    return path


def check_domain(domain: str, what: str = "domain") -> str:
    """``domain`` if it is a valid ``host[:port]``, else InvalidArgument."""
    if not _DOMAIN.match(domain):
        raise InvalidArgument(f"{what}: {domain!r} is not a valid registry domain (host[:port])")
    return domain


def split(ref: str) -> tuple[str, str | None, str | None]:
    """``NAME[:TAG][@DIGEST]`` -> (name, tag, digest) exactly as written, with the tag and
    the digest validated and the name not yet normalised or checked."""
    what = f"invalid reference {ref!r}"
    if not isinstance(ref, str) or not ref:
        raise InvalidArgument("invalid reference: empty")
    name, at, dg = ref.partition("@")
    digest: str | None = None
    if at:
        if "@" in dg:
            raise InvalidArgument(f"{what}: more than one '@'")
        digest = _digest.parse(dg, f"{what}: digest")
    tag: str | None = None
    slash = name.rfind("/")
    colon = name.rfind(":")
    if colon > slash:
        name, tag = name[:colon], check_tag(name[colon + 1:], what)
    if not name:
        raise InvalidArgument(f"{what}: no repository name")
    return name, tag, digest


@dataclass(frozen=True, slots=True)
class Reference:
    """A normalised reference. ``path`` is the repository inside ``domain``
    (``library/busybox``); at least one of ``tag`` and ``digest`` is set by :func:`parse`
    unless it was asked not to add the default tag. ``qualified`` (not compared) says
    whether the input named its domain."""

    domain: str
    path: str
    tag: str | None = None
    digest: _digest.Digest | None = None
    qualified: bool = field(default=True, compare=False)

    @property
    def name(self) -> str:
        """``domain/path``: the repository's full name."""
        return f"{self.domain}/{self.path}"

    @property
    def identifier(self) -> str | None:
        """What goes after ``/manifests/``: the digest when there is one, else the tag."""
        return self.digest or self.tag

    def __str__(self) -> str:
        s = self.name
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def familiar_name(self) -> str:
        """The short form Docker prints: ``busybox``, ``user/app``, ``quay.io/x/y``."""
        if self.domain != DOCKER_DOMAIN:
            return self.name
        if self.path.startswith("library/") and "/" not in self.path[8:]:
            return self.path[8:]
        return self.path

    def familiar(self) -> str:
        """:meth:`familiar_name` with the tag and digest (``busybox:latest``)."""
        s = self.familiar_name()
        if self.tag is not None:
            s += f":{self.tag}"
        if self.digest is not None:
            s += f"@{self.digest}"
        return s

    def with_tag(self, tag: str | None) -> "Reference":
        return replace(self, tag=None if tag is None else check_tag(tag))

    def with_digest(self, digest: str | None) -> "Reference":
        return replace(self, digest=None if digest is None else _digest.parse(digest))

    def with_name(self, domain: str, path: str) -> "Reference":
        """The same tag and digest in another repository (a mirror, a rewritten location)."""
        what = f"invalid reference {domain}/{path}"
        return replace(self, domain=check_domain(domain, what), path=check_path(path, what))


def parse(ref: str, default_tag: str | None = DEFAULT_TAG) -> Reference:
    """Parse and normalise ``ref``; ``latest`` (``default_tag``) is added when neither a
    tag nor a digest is given (``default_tag=None`` leaves both unset)."""
    what = f"invalid reference {ref!r}"
    if isinstance(ref, str) and _HEX64.match(ref):
        raise InvalidArgument(f"{what}: a 64-digit hexadecimal string is an image ID, not a "
                              f"repository name")
    name, tag, digest = split(ref)
    first, slash, rest = name.partition("/")
    if slash and is_domain(first):
        domain, path, qualified = first, rest, True
    else:
        domain, path, qualified = DOCKER_DOMAIN, name, False
    if domain in _DOCKER_ALIASES:
        domain = DOCKER_DOMAIN
    check_domain(domain, what)
    if domain == DOCKER_DOMAIN and path and "/" not in path:
        path = f"library/{path}"
    check_path(path, what)
    if len(domain) + 1 + len(path) > NAME_MAX:
        raise InvalidArgument(f"{what}: the repository name is longer than {NAME_MAX} characters")
    if tag is None and digest is None and default_tag is not None:
        tag = default_tag
    return Reference(domain, path, tag, digest, qualified)  # type: ignore[arg-type]
