"""onggi.oci.platform: normalisation as containerd does it, platform strings, the host's
platform, the wire object, and choosing an index entry for a wanted platform."""

from __future__ import annotations

import pytest

from onggi.errors import InvalidArgument, NotFound
from onggi.oci import platform as P
from onggi.oci.image import Descriptor, Index
from onggi.oci.platform import Platform


@pytest.mark.parametrize("arch, variant, want", [
    ("x86_64", "", ("amd64", "")),
    ("x86-64", "", ("amd64", "")),
    ("AMD64", "", ("amd64", "")),
    ("amd64", "v1", ("amd64", "")),
    ("amd64", "v3", ("amd64", "v3")),
    ("amd64", "2", ("amd64", "v2")),
    ("i386", "", ("386", "")),
    ("i686", "", ("386", "")),
    ("x86", "", ("386", "")),
    ("386", "", ("386", "")),
    ("aarch64", "", ("arm64", "v8")),
    ("arm64", "", ("arm64", "v8")),
    ("arm64", "8", ("arm64", "v8")),
    ("arm64", "v8.0", ("arm64", "v8")),
    ("arm64", "v8.2", ("arm64", "v8.2")),
    ("arm64", "9", ("arm64", "v9")),
    ("arm64", "v9.0", ("arm64", "v9")),
    ("armhf", "", ("arm", "v7")),
    ("armel", "", ("arm", "v6")),
    ("arm", "", ("arm", "v7")),
    ("arm", "7", ("arm", "v7")),
    ("arm", "6", ("arm", "v6")),
    ("arm", "v5", ("arm", "v5")),
    ("armv7l", "", ("arm", "v7")),
    ("armv6l", "", ("arm", "v6")),
    ("armv5tel", "", ("arm", "v5")),
    ("ppc64el", "", ("ppc64le", "")),
    ("ppc64le", "", ("ppc64le", "")),
    ("mips64el", "", ("mips64le", "")),
    ("s390x", "", ("s390x", "")),
    ("riscv64", "", ("riscv64", "")),
])
def test_normalize_arch(arch: str, variant: str, want: tuple[str, str]) -> None:
    assert P.normalize_arch(arch, variant) == want


def test_normalize() -> None:
    assert P.normalize(Platform("Linux", "aarch64")) == Platform("linux", "arm64", "v8")
    assert P.normalize(Platform("macos", "x86_64")) == Platform("darwin", "amd64")
    w = Platform("windows", "AMD64", os_version="10.0.20348", os_features=["win32k"])
    assert P.normalize(w) == Platform("windows", "amd64", "", "10.0.20348", ("win32k",))


@pytest.mark.parametrize("text, want", [
    ("linux/arm64/v8", Platform("linux", "arm64", "v8")),
    ("linux/arm64", Platform("linux", "arm64", "v8")),
    ("linux/aarch64", Platform("linux", "arm64", "v8")),
    ("linux/amd64", Platform("linux", "amd64")),
    ("linux/x86_64", Platform("linux", "amd64")),
    ("linux/amd64/v3", Platform("linux", "amd64", "v3")),
    ("linux/arm", Platform("linux", "arm", "v7")),
    ("linux/arm/v6", Platform("linux", "arm", "v6")),
    ("linux/armhf", Platform("linux", "arm", "v7")),
    ("linux/armel", Platform("linux", "arm", "v6")),
    ("linux/i386", Platform("linux", "386")),
    ("Linux/PPC64LE", Platform("linux", "ppc64le")),
    (" linux/s390x ", Platform("linux", "s390x")),
    ("windows(10.0.17763)/amd64", Platform("windows", "amd64", "", "10.0.17763")),
])
def test_parse_strings(text: str, want: Platform) -> None:
    got = P.parse(text)
    assert got == want and hash(got) == hash(want)


def test_parse_one_word_uses_the_host() -> None:
    h = P.host()
    assert P.parse("linux") == Platform("linux", h.architecture, h.variant)
    assert P.parse("windows") == Platform("windows", h.architecture, h.variant)
    assert P.parse("aarch64") == Platform(h.os, "arm64", "v8")


@pytest.mark.parametrize("text", ["", "linux/", "/amd64", "linux/arm64/v8/extra", "linux/arm 64",
                                  "linux/amd64/v8;rm", "notanos(1.0)"])
def test_parse_errors(text: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        P.parse(text, what="--platform")
    assert str(ei.value).startswith("--platform: ") and repr(text) in str(ei.value)


@pytest.mark.parametrize("p, text", [
    (Platform("linux", "arm64", "v8"), "linux/arm64/v8"),
    (Platform("linux", "amd64"), "linux/amd64"),
    (Platform("windows", "amd64", "", "10.0.17763"), "windows(10.0.17763)/amd64"),
])
def test_format_round_trips(p: Platform, text: str) -> None:
    assert str(p) == text and P.parse(text) == p


@pytest.mark.parametrize("machine, system, want", [
    ("x86_64", "linux", Platform("linux", "amd64")),
    ("aarch64", "linux", Platform("linux", "arm64", "v8")),
    ("armv7l", "linux", Platform("linux", "arm", "v7")),
    ("armv6l", "linux", Platform("linux", "arm", "v6")),
    ("i686", "linux", Platform("linux", "386")),
    ("ppc64le", "linux", Platform("linux", "ppc64le")),
    ("s390x", "linux", Platform("linux", "s390x")),
    ("arm64", "darwin", Platform("darwin", "arm64", "v8")),
    ("AMD64", "win32", Platform("windows", "amd64")),
])
def test_host(machine: str, system: str, want: Platform) -> None:
    assert P.host(machine, system) == want


def test_this_host() -> None:
    h = P.host()
    assert h.os and h.architecture and P.normalize(h) == h


def test_wire_object_round_trip() -> None:
    doc = {"architecture": "amd64", "os": "windows", "os.version": "10.0.17763.5936",
           "os.features": ["win32k"], "x-extra": 1}
    p = Platform.parse(doc)
    assert (p.os, p.architecture, p.variant, p.os_version, p.os_features) == (
        "windows", "amd64", "", "10.0.17763.5936", ("win32k",))
    assert p.to_dict() == doc and list(p.to_dict()) == list(doc)
    sparse = {"architecture": "arm64", "os": "linux", "variant": None}
    assert Platform.parse(sparse).to_dict() == sparse  # an explicit null stays
    assert Platform("linux", "arm", "v7").to_dict() == {"architecture": "arm", "os": "linux",
                                                       "variant": "v7"}
    assert len({Platform("linux", "amd64"), P.parse("linux/x86_64")}) == 1


@pytest.mark.parametrize("doc, words", [
    ("linux", "platform: expected an object"),
    ({"os": "linux"}, "platform.architecture: is required"),
    ({"architecture": "amd64"}, "platform.os: is required"),
    ({"architecture": 64, "os": "linux"}, "platform.architecture: expected a string"),
    ({"architecture": "arm", "os": "linux", "variant": 7}, "platform.variant: expected a string"),
    ({"architecture": "amd64", "os": "linux", "features": "sse4"}, "platform.features: expected a list"),
])
def test_wire_object_errors(doc: object, words: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        Platform.parse(doc)
    assert str(ei.value).startswith(words)


# ---- matching ------------------------------------------------------------------------

@pytest.mark.parametrize("want, have, ok", [
    ("linux/amd64", "linux/amd64", True),
    ("linux/amd64", "linux/x86_64", True),
    ("linux/amd64", "linux/amd64/v2", False),  # needs a newer CPU than the baseline
    ("linux/amd64/v3", "linux/amd64/v2", True),
    ("linux/amd64/v3", "linux/amd64", True),
    ("linux/amd64", "linux/386", False),
    ("linux/amd64", "windows/amd64", False),
    ("linux/arm64", "linux/arm64/v8", True),
    ("linux/arm64/v8", "linux/arm64", True),
    ("linux/arm64/v8", "linux/aarch64", True),
    ("linux/arm64/v8.2", "linux/arm64/v8", True),
    ("linux/arm64/v8", "linux/arm64/v8.2", False),
    ("linux/arm64/v9", "linux/arm64/v8.5", True),
    ("linux/arm64/v8.5", "linux/arm64/v9", False),
    ("linux/arm64", "linux/arm/v7", False),
    ("linux/arm/v7", "linux/arm/v7", True),
    ("linux/arm/v7", "linux/arm", True),
    ("linux/arm/v7", "linux/arm/v6", True),
    ("linux/arm/v7", "linux/arm/v5", True),
    ("linux/arm/v6", "linux/arm/v7", False),
    ("linux/arm/v7", "linux/arm64", False),
    ("linux/ppc64le", "linux/ppc64el", True),
    ("linux/s390x", "linux/ppc64le", False),
])
def test_matches(want: str, have: str, ok: bool) -> None:
    h = P.parse(have)
    raw = Platform(h.os, have.split("/")[1], *(have.split("/")[2:] or [""]))  # as a wire object
    assert P.matches(P.parse(want), raw) is ok


def test_32bit_only_when_asked() -> None:
    amd64, arm64 = P.parse("linux/amd64"), P.parse("linux/arm64")
    assert not P.matches(amd64, P.parse("linux/386"))
    assert P.matches(amd64, P.parse("linux/386"), allow_32bit=True)
    assert P.matches(arm64, P.parse("linux/arm/v7"), allow_32bit=True)
    assert P.compatible(arm64, allow_32bit=True) == [("arm64", "v8"), ("arm", "v8"), ("arm", "v7"),
                                                     ("arm", "v6"), ("arm", "v5")]
    assert P.compatible(P.parse("linux/arm/v7")) == [("arm", "v7"), ("arm", "v6"), ("arm", "v5")]
    assert P.compatible(P.parse("linux/amd64/v3")) == [("amd64", "v3"), ("amd64", "v2"), ("amd64", "")]


def _entries(*platforms: str | None) -> list[Descriptor]:
    out = []
    for i, p in enumerate(platforms):
        plat = None
        if p is not None:
            parts = p.split("/")
            plat = Platform(parts[0], parts[1], parts[2] if len(parts) > 2 else "")
        out.append(Descriptor.new("application/vnd.oci.image.manifest.v1+json",
                                  "sha256:" + f"{i:064x}", 100 + i, platform=plat))
    return out


@pytest.mark.parametrize("entries, want, index", [
    # exact match wins over an earlier compatible one
    (("linux/arm/v6", "linux/arm/v7"), "linux/arm/v7", 1),
    (("linux/arm/v5", "linux/arm/v6"), "linux/arm/v7", 1),  # v6 before v5
    (("linux/arm/v5", "linux/amd64"), "linux/arm/v7", 0),
    (("linux/amd64", "linux/arm64/v8"), "linux/arm64", 1),
    (("linux/amd64", "linux/arm64"), "linux/arm64/v8", 1),
    (("linux/amd64", "linux/aarch64"), "linux/arm64/v8", 1),
    (("linux/arm64/v8", "linux/arm64/v8.2"), "linux/arm64/v8.2", 1),
    (("linux/arm64/v8", "linux/arm64/v8.2"), "linux/arm64/v8.1", 0),
    (("linux/amd64/v2", "linux/amd64", "linux/amd64/v3"), "linux/amd64/v3", 2),
    (("linux/amd64", "linux/amd64/v2"), "linux/amd64/v3", 1),
    (("linux/amd64", "linux/amd64"), "linux/amd64", 0),  # the first of equals
    ((None, "unknown/unknown", "linux/amd64"), "linux/amd64", 2),  # attestations skipped
    (("windows/amd64", "linux/amd64"), "linux/amd64", 1),
    (("linux/x86_64",), "linux/amd64", 0),
])
def test_choose(entries: tuple, want: str, index: int) -> None:
    es = _entries(*entries)
    assert P.choose(es, P.parse(want)) is es[index]


def test_choose_prefers_matching_os_version() -> None:
    es = _entries("windows/amd64", "windows/amd64")
    es[0] = es[0].replace(platform=Platform("windows", "amd64", os_version="10.0.17763.1"))
    es[1] = es[1].replace(platform=Platform("windows", "amd64", os_version="10.0.20348.2"))
    assert P.choose(es, Platform("windows", "amd64", os_version="10.0.20348.2")) is es[1]
    assert P.choose(es, Platform("windows", "amd64")) is es[0]


@pytest.mark.parametrize("entries, want", [
    (("linux/amd64", "linux/arm/v7", None), "linux/arm64"),
    (("linux/amd64", "linux/arm/v7"), "linux/arm/v6"),
    (("linux/386",), "linux/amd64"),
    (("linux/arm64/v8",), "linux/riscv64"),
])
def test_choose_not_found_lists_the_platforms(entries: tuple, want: str) -> None:
    with pytest.raises(NotFound) as ei:
        P.choose(_entries(*entries), P.parse(want), what="docker.io/library/alpine:3")
    msg = str(ei.value)
    assert msg.startswith(f"docker.io/library/alpine:3: no manifest for platform {P.parse(want)}")
    assert "it has: " + ", ".join(str(P.parse(e)) if e == "linux/arm64/v8" else e
                                   for e in entries if e) in msg


def test_choose_empty_and_32bit() -> None:
    with pytest.raises(NotFound, match="it has: no platforms"):
        P.choose(_entries(None), P.parse("linux/amd64"))
    es = _entries("linux/386", "linux/arm/v7")
    assert P.choose(es, P.parse("linux/amd64"), allow_32bit=True) is es[0]
    assert P.choose(es, P.parse("linux/arm64"), allow_32bit=True) is es[1]


def test_index_select() -> None:
    idx = Index.new(_entries("linux/amd64", "linux/arm64/v8", "linux/arm/v7"))
    assert idx.select(P.parse("linux/aarch64")).platform == Platform("linux", "arm64", "v8")
    assert idx.select(P.parse("linux/armhf")).digest == "sha256:" + f"{2:064x}"
    with pytest.raises(NotFound, match="app:1: no manifest for platform linux/s390x; it has: "
                                       "linux/amd64, linux/arm64/v8, linux/arm/v7"):
        idx.select(P.parse("linux/s390x"), "app:1")
