"""A small read-only web page for people who would rather look than curl.

Three kinds of page, all plain server-rendered HTML with an inline stylesheet and no
scripts (a Content-Security-Policy allows only that stylesheet, by hash)::

    /                       repositories, with their tag counts
    /r/NAME                 NAME's tags: digest, media type, total size
    /r/NAME/-/REFERENCE     one manifest or index (REFERENCE: digest or tag): config,
                            layers, platforms, annotations, subject, referrers

``-`` cannot be a repository path component, so ``/-/`` splits a name (which has
slashes) from the reference without ambiguity. Names, tags and digests are checked with
``onggi.oci`` before the storage sees them (400 on a malformed one); what the storage does
not have is a 404 page that says what is missing. Every string from the store (names,
annotations, media types) is HTML-escaped; nothing here builds a file path. The storage
calls are synchronous and run in a thread.

With an ``authorizer`` (the server's, when auth is configured) the page asks what the API
would: ``registry:catalog:*`` for the list of repositories, ``repository:NAME:pull`` for a
repository's pages; a refusal is a 401 (with the challenge, so a browser can ask for a
password where it is Basic auth) or 403 page.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import html
import json
from dataclasses import dataclass, field
from typing import Any, Callable, Protocol, Sequence
from urllib.parse import quote

from aiohttp import web

from ..errors import InvalidArgument, NotFound
from ..oci import digest as _digest
from ..oci import mediatypes as mt
from ..oci.reference import check_path, check_tag
from .auth import Access, AllowAll, AuthError, Authorizer

__all__ = ["routes", "RegistryStorage", "human_size"]


class RegistryStorage(Protocol):
    """What this page reads from the registry's store (all synchronous)."""

    def repositories(self) -> list[str]: ...
    def tags(self, repo: str) -> list[str]: ...
    def resolve(self, repo: str, reference: str) -> str: ...
    def read_manifest(self, repo: str, digest: str) -> tuple[bytes, str]: ...
    def referrers(self, repo: str, digest: str, artifact_type: str | None = None) -> list[dict]: ...
    def blob_size(self, digest: str) -> int: ...


CSS = """
body{font:14px/1.45 system-ui,sans-serif;margin:1.5em auto;max-width:72em;padding:0 1em;color:#222}
h1{font-size:1.4em;margin:.2em 0 .6em}h2{font-size:1.1em;margin:1.4em 0 .4em}
a{color:#0550ae;text-decoration:none}a:hover{text-decoration:underline}
table{border-collapse:collapse;width:100%}td,th{padding:.25em .6em;border-bottom:1px solid #ddd;
text-align:left;vertical-align:top}th{background:#f4f4f4}.num{text-align:right;white-space:nowrap}
code,.mono{font-family:ui-monospace,monospace;font-size:.92em;word-break:break-all}
nav{margin-bottom:1em;color:#666}.muted{color:#888}.err{color:#a40000}
pre{background:#f6f8fa;padding:.8em;overflow:auto;font-size:.85em}
"""
_CSS_HASH = base64.b64encode(hashlib.sha256(CSS.encode()).digest()).decode()
CSP = (f"default-src 'none'; style-src 'sha256-{_CSS_HASH}'; img-src 'none'; base-uri 'none'; "
       "form-action 'none'; frame-ancestors 'none'")
_HEADERS = {"Content-Security-Policy": CSP, "X-Content-Type-Options": "nosniff",
            "Referrer-Policy": "no-referrer", "Cache-Control": "no-store"}


def human_size(n: int | None) -> str:
    """``n`` bytes in binary units (``12.3 MiB``); ``?`` when unknown."""
    if n is None or n < 0:
        return "?"
    if n < 1024:
        return f"{n} B"
    size = float(n)
    for unit in ("KiB", "MiB", "GiB", "TiB"):
        size /= 1024
        if size < 1024 or unit == "TiB":
            return f"{size:.1f} {unit}"
    return f"{n} B"  # not reached


def _e(value: object) -> str:
    return html.escape(str(value), quote=True)


def repo_href(name: str) -> str:
    return "/r/" + quote(name, safe="/")


def manifest_href(name: str, ref: str) -> str:
    return f"{repo_href(name)}/-/{quote(ref, safe=':')}"


# ---------------------------------------------------------------------------- reading


@dataclass
class TagRow:
    tag: str
    digest: str
    media_type: str
    size: int | None


@dataclass
class ManifestView:
    """What the manifest page shows, read from the store and the manifest's JSON."""

    repo: str
    reference: str
    digest: str
    media_type: str
    length: int
    doc: dict[str, Any] | None
    problem: str = ""
    referrers: list[dict[str, Any]] = field(default_factory=list)
    present: dict[str, int | None] = field(default_factory=dict)  # blob digest -> size in the store


def _parse(data: bytes) -> tuple[dict[str, Any] | None, str]:
    try:
        doc = json.loads(data)
    except ValueError as e:
        return None, f"the manifest is not valid JSON ({e})"
    if not isinstance(doc, dict):
        return None, "the manifest is not a JSON object"
    return doc, ""


def _descs(doc: dict[str, Any] | None, key: str) -> list[dict[str, Any]]:
    items = doc.get(key) if doc else None
    return [d for d in items if isinstance(d, dict)] if isinstance(items, list) else []


def _size(desc: object) -> int | None:
    s = desc.get("size") if isinstance(desc, dict) else None
    return s if isinstance(s, int) and not isinstance(s, bool) else None


def _total(storage: RegistryStorage, repo: str, digest: str, depth: int = 0) -> tuple[str, int | None]:
    """(media type, bytes of the manifest plus everything it points to) of a stored manifest;
    an index counts the manifests it lists that the store has."""
    data, media_type = storage.read_manifest(repo, digest)
    doc, _ = _parse(data)
    total = len(data)
    if doc is None:
        return media_type, total
    children = _descs(doc, "manifests")
    if children and depth < 2:
        for child in children:
            try:
                total += _total(storage, repo, _digest.parse(child.get("digest")), depth + 1)[1] or 0
            except (NotFound, InvalidArgument):
                continue
        return media_type, total
    config = doc.get("config")
    for d in ([config] if isinstance(config, dict) else []) + _descs(doc, "layers"):
        total += _size(d) or 0
    return media_type, total


def read_index(storage: RegistryStorage) -> list[tuple[str, int]]:
    rows = []
    for name in storage.repositories():
        try:
            rows.append((name, len(storage.tags(name))))
        except NotFound:  # removed between the listing and now
            continue
    return rows


def read_repo(storage: RegistryStorage, name: str) -> list[TagRow]:
    rows = []
    for tag in storage.tags(name):
        try:
            digest = storage.resolve(name, tag)
            media_type, size = _total(storage, name, digest)
        except NotFound:  # removed between the listing and now
            continue
        rows.append(TagRow(tag, digest, media_type, size))
    return rows


def read_manifest(storage: RegistryStorage, name: str, reference: str) -> ManifestView:
    digest = storage.resolve(name, reference)
    data, media_type = storage.read_manifest(name, digest)
    doc, problem = _parse(data)
    view = ManifestView(name, reference, digest, media_type, len(data), doc, problem)
    view.referrers = [r for r in storage.referrers(name, digest) if isinstance(r, dict)]
    config = doc.get("config") if doc else None
    for d in ([config] if isinstance(config, dict) else []) + _descs(doc, "layers"):
        dg = d.get("digest")
        if isinstance(dg, str) and dg not in view.present:
            try:
                view.present[dg] = storage.blob_size(_digest.parse(dg))
            except (NotFound, InvalidArgument):
                view.present[dg] = None
    return view


# ---------------------------------------------------------------------------- rendering


def page(title: str, body: str, crumbs: Sequence[tuple[str, str]] = ()) -> str:
    nav = " / ".join(f'<a href="{_e(h)}">{_e(t)}</a>' for t, h in [("registry", "/"), *crumbs])
    return (f'<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8"><title>{_e(title)}</title>'
            f'<meta name="viewport" content="width=device-width,initial-scale=1"><style>{CSS}</style>'
            f'</head><body><nav>{nav}</nav><h1>{_e(title)}</h1>\n{body}\n</body></html>\n')


def _table(head: list[str], rows: list[list[str]], num: int = -1) -> str:
    """A table whose cells are already-escaped HTML; column ``num`` aligns right."""
    th = "".join(f'<th{" class=num" if i == num else ""}>{_e(h)}</th>' for i, h in enumerate(head))
    body = "".join("<tr>" + "".join(f'<td{" class=num" if i == num else ""}>{c}</td>'
                                    for i, c in enumerate(r)) + "</tr>\n" for r in rows)
    return f"<table><thead><tr>{th}</tr></thead><tbody>\n{body}</tbody></table>"


def _size_cell(n: int | None) -> str:
    return f'<span title="{_e(n)} bytes">{_e(human_size(n))}</span>' if n is not None else "?"


def _link(name: str, digest: object) -> str:
    try:
        d = _digest.parse(digest)
    except InvalidArgument:
        return f'<code class="err">{_e(digest)}</code>'
    return f'<a class="mono" href="{_e(manifest_href(name, d))}">{_e(d)}</a>'


def render_index(rows: list[tuple[str, int]]) -> str:
    if not rows:
        return page("Repositories", '<p class="muted">This registry holds no repositories yet.</p>')
    cells = [[f'<a href="{_e(repo_href(n))}">{_e(n)}</a>', _e(c)] for n, c in rows]
    return page("Repositories", _table(["repository", "tags"], cells, 1))


def render_repo(name: str, rows: list[TagRow]) -> str:
    if not rows:
        return page(name, '<p class="muted">This repository has no tags.</p>', [(name, repo_href(name))])
    cells = [[f'<a href="{_e(manifest_href(name, r.tag))}">{_e(r.tag)}</a>', _link(name, r.digest),
              f"<code>{_e(r.media_type)}</code>", _size_cell(r.size)] for r in rows]
    return page(name, _table(["tag", "digest", "media type", "size"], cells, 3), [(name, repo_href(name))])


def platform_text(p: object) -> str:
    """``os/architecture[/variant]`` (plus ``os.version`` in brackets) of an index entry."""
    if not isinstance(p, dict):
        return "(no platform)"
    s = "/".join(str(p.get(k)) for k in ("os", "architecture", "variant") if p.get(k))
    return s + (f" ({p['os.version']})" if p.get("os.version") else "") or "(no platform)"


def _annotations(a: object) -> str:
    if not isinstance(a, dict) or not a:
        return ""
    rows = [[f"<code>{_e(k)}</code>", _e(v if isinstance(v, str) else json.dumps(v))] for k, v in a.items()]
    return "<h2>Annotations</h2>" + _table(["key", "value"], rows)


def render_manifest(v: ManifestView) -> str:
    doc = v.doc or {}
    facts = [("digest", f"<code>{_e(v.digest)}</code>"), ("media type", f"<code>{_e(v.media_type)}</code>"),
             ("manifest size", _size_cell(v.length))]
    if isinstance(doc.get("artifactType"), str):
        facts.append(("artifact type", f"<code>{_e(doc['artifactType'])}</code>"))
    parts = ["<table>" + "".join(f"<tr><th>{_e(k)}</th><td>{c}</td></tr>" for k, c in facts) + "</table>"]
    if v.problem:
        parts.append(f'<p class="err">{_e(v.problem)}</p>')
    config = doc.get("config")
    if isinstance(config, dict):
        parts.append("<h2>Config</h2>" + _blob_table(v, [config]))
    layers = _descs(doc, "layers")
    if layers:
        total = sum(_size(d) or 0 for d in layers)
        parts.append(f"<h2>Layers ({len(layers)}, {_e(human_size(total))})</h2>" + _blob_table(v, layers))
    manifests = _descs(doc, "manifests")
    if manifests:
        rows = [[_e(platform_text(d.get("platform"))), _link(v.repo, d.get("digest")),
                 f"<code>{_e(d.get('mediaType', ''))}</code>", _size_cell(_size(d))] for d in manifests]
        parts.append("<h2>Platforms</h2>" + _table(["platform", "manifest", "media type", "size"], rows, 3))
    parts.append(_annotations(doc.get("annotations")))
    subject = doc.get("subject")
    if isinstance(subject, dict):
        parts.append(f"<h2>Subject</h2><p>{_link(v.repo, subject.get('digest'))} "
                     f"<code>{_e(subject.get('mediaType', ''))}</code></p>")
    if v.referrers:
        rows = [[f"<code>{_e(r.get('artifactType', ''))}</code>", _link(v.repo, r.get("digest")),
                 f"<code>{_e(r.get('mediaType', ''))}</code>", _size_cell(_size(r))] for r in v.referrers]
        parts.append("<h2>Referrers</h2>" + _table(["artifact type", "digest", "media type", "size"], rows, 3))
    if v.doc is not None:
        parts.append(f"<details><summary>JSON</summary><pre>{_e(json.dumps(v.doc, indent=2))}</pre></details>")
    kind = "Index" if v.media_type in mt.INDEXES or manifests else "Manifest"
    title = f"{kind} {v.repo}@{v.reference}" if v.reference != v.digest else f"{kind} {v.repo}@{v.digest[:19]}"
    return page(title, "\n".join(p for p in parts if p),
                [(v.repo, repo_href(v.repo)), (v.reference, manifest_href(v.repo, v.reference))])


def _blob_table(v: ManifestView, descs: list[dict[str, Any]]) -> str:
    rows = []
    for d in descs:
        dg = d.get("digest")
        missing = isinstance(dg, str) and dg in v.present and v.present[dg] is None
        note = ' <span class="muted">(not in this registry)</span>' if missing else ""
        rows.append([f"<code>{_e(dg)}</code>{note}", f"<code>{_e(d.get('mediaType', ''))}</code>",
                     _size_cell(_size(d))])
    return _table(["digest", "media type", "size"], rows, 2)


def render_error(status: int, message: str) -> str:
    title = {400: "Bad request", 401: "Authentication required", 403: "Access denied",
             404: "Not found"}.get(status, "Error")
    return page(title, f'<p class="err">{_e(message)}</p><p><a href="/">All repositories</a></p>')


# ---------------------------------------------------------------------------- HTTP


def _html(text: str, status: int = 200) -> web.Response:
    return web.Response(text=text, status=status, content_type="text/html", charset="utf-8",
                        headers=_HEADERS)


def split_path(tail: str) -> tuple[str, str | None]:
    """``NAME`` or ``NAME/-/REFERENCE`` (after ``/r/``) -> (name, reference or None),
    both checked; InvalidArgument names what is wrong."""
    name, sep, ref = tail.partition("/-/")
    name = check_path(name.rstrip("/") if not sep else name, "repository name")
    if not sep:
        return name, None
    if ":" in ref:
        return name, _digest.parse(ref, "manifest digest")
    return name, check_tag(ref, "tag")


async def _guarded(make: Callable[[], str]) -> web.Response:
    try:
        return _html(await asyncio.to_thread(make))
    except InvalidArgument as e:
        return _html(render_error(400, str(e)), 400)
    except NotFound as e:
        return _html(render_error(404, str(e)), 404)


async def _refused(authorizer: Authorizer | None, request: web.Request, access: Access) -> web.Response | None:
    """None when the caller may see the page, else the 401/403 page to answer with."""
    if authorizer is None or isinstance(authorizer, AllowAll):
        return None
    try:
        await asyncio.to_thread(authorizer.authorize, request.headers.get("Authorization"), [access])
    except AuthError as e:
        r = _html(render_error(e.status, e.message), e.status)
        if e.challenge:
            r.headers["WWW-Authenticate"] = e.challenge
        return r
    return None


def routes(storage: RegistryStorage, authorizer: Authorizer | None = None) -> list[web.RouteDef]:
    """The page's routes (``/`` and ``/r/...``); nothing under /v2/, /metrics or /token."""

    async def index(request: web.Request) -> web.Response:
        refused = await _refused(authorizer, request, Access("registry", "catalog", frozenset({"*"})))
        return refused or await _guarded(lambda: render_index(read_index(storage)))

    async def repo(request: web.Request) -> web.Response:
        try:
            name, ref = split_path(request.match_info["tail"])
        except InvalidArgument as e:
            return _html(render_error(400, str(e)), 400)
        refused = await _refused(authorizer, request, Access("repository", name, frozenset({"pull"})))
        if refused is not None:
            return refused
        if ref is None:
            return await _guarded(lambda: render_repo(name, read_repo(storage, name)))
        return await _guarded(lambda: render_manifest(read_manifest(storage, name, ref)))

    return [web.get("/", index), web.get("/r/{tail:.+}", repo)]
