"""onggi.oci.image and onggi.oci.imageconfig: OCI v1.1 and Docker v2 schema 2 manifests,
indexes / manifest lists and image configs parse, validate (errors name the field path),
round-trip without losing unknown fields, detect their kind, compute chain IDs, and convert
between the OCI and Docker flavours."""

from __future__ import annotations

import base64
import copy
import hashlib
import json

import pytest

from onggi.errors import FailedPrecondition, InvalidArgument, Unsupported
from onggi.oci import mediatypes as mt
from onggi.oci.image import Descriptor, Index, Manifest, describe, detect, parse, serialize
from onggi.oci.imageconfig import (DOCKER_LAYER, DOCKER_LAYER_FOREIGN, DOCKER_LAYER_ZSTD,
                                   ImageConfig, chain_id, chain_ids, convert_index, to_docker,
                                   to_oci)
from onggi.oci.platform import Platform


def sha(b: bytes) -> str:
    return "sha256:" + hashlib.sha256(b).hexdigest()


def compact(doc: object) -> bytes:
    return json.dumps(doc, separators=(",", ":")).encode()


LAYERS = [b"layer zero", b"layer one", b"layer two"]
DIFF_IDS = [sha(b"diff " + b) for b in LAYERS]


def oci_config() -> dict:
    return {
        "created": "2024-05-01T10:20:30.123456789Z",
        "author": "onggi tests",
        "architecture": "arm64",
        "variant": "v8",
        "os": "linux",
        "config": {
            "User": "1000:1000",
            "ExposedPorts": {"8080/tcp": {}, "53/udp": {}},
            "Env": ["PATH=/usr/bin:/bin", "EMPTY="],
            "Entrypoint": ["/bin/server"],
            "Cmd": ["--port", "8080"],
            "Volumes": {"/data": {}},
            "WorkingDir": "/srv",
            "Labels": {"org.opencontainers.image.title": "server"},
            "StopSignal": "SIGTERM",
        },
        "rootfs": {"type": "layers", "diff_ids": list(DIFF_IDS)},
        "history": [
            {"created": "2024-05-01T10:00:00Z", "created_by": "ADD rootfs.tar /"},
            {"created": "2024-05-01T10:10:00+02:00", "created_by": "ENV PATH", "empty_layer": True},
            {"created": "2024-05-01T10:15:00Z", "created_by": "COPY server /bin/"},
            {"created": "2024-05-01T10:20:30Z", "created_by": "RUN setup", "comment": "buildkit"},
        ],
    }


def docker_config() -> dict:
    c = oci_config()
    c["architecture"], c["variant"] = "amd64", None
    c["config"].update({"Healthcheck": {"Test": ["CMD-SHELL", "curl -f localhost"],
                                        "Interval": 30_000_000_000, "Retries": 3},
                        "OnBuild": None, "Shell": ["/bin/sh", "-c"], "Hostname": "",
                        "ArgsEscaped": True})
    c["container_config"] = {"Cmd": ["/bin/sh", "-c", "#(nop) CMD"]}
    c["docker_version"] = "24.0.7"
    return c


CONFIG = compact(oci_config())
DCONFIG = compact(docker_config())


def layer(i: int, media_type: str = mt.OCI_LAYER_GZIP) -> dict:
    return {"mediaType": media_type, "digest": sha(LAYERS[i]), "size": len(LAYERS[i])}


def oci_manifest() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [layer(0), layer(1, mt.OCI_LAYER), layer(2, mt.OCI_LAYER_ZSTD)],
        "annotations": {"org.opencontainers.image.created": "2024-05-01T10:20:30Z"},
        "x-vendor": {"kept": [1, 2]},  # unknown: must survive a round trip
    }


def docker_manifest() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST,
        "config": {"mediaType": mt.DOCKER_CONFIG, "size": len(DCONFIG), "digest": sha(DCONFIG)},
        "layers": [{"mediaType": mt.DOCKER_LAYER_GZIP, "size": 10, "digest": sha(LAYERS[0])},
                   {"mediaType": mt.DOCKER_LAYER_FOREIGN_GZIP, "size": 9, "digest": sha(LAYERS[1]),
                    "urls": ["https://example.com/layer1"]}],
    }


def entry(media_type: str, blob: bytes, platform: dict | None) -> dict:
    d: dict = {"mediaType": media_type, "digest": sha(blob), "size": len(blob)}
    if platform is not None:
        d["platform"] = platform
    return d


def oci_index() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_INDEX,
        "manifests": [
            entry(mt.OCI_MANIFEST, b"amd64", {"architecture": "amd64", "os": "linux"}),
            entry(mt.OCI_MANIFEST, b"arm64", {"architecture": "arm64", "os": "linux", "variant": "v8"}),
            entry(mt.OCI_MANIFEST, b"attest", {"architecture": "unknown", "os": "unknown"}),
            entry(mt.OCI_MANIFEST, b"win", {"architecture": "amd64", "os": "windows",
                                            "os.version": "10.0.17763.5936",
                                            "os.features": ["win32k"]}),
        ],
        "annotations": {"org.opencontainers.image.ref.name": "1.0"},
    }


def docker_list() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": mt.DOCKER_MANIFEST_LIST,
        "manifests": [
            entry(mt.DOCKER_MANIFEST, b"ppc", {"architecture": "ppc64le", "os": "linux"}),
            entry(mt.DOCKER_MANIFEST, b"x86", {"architecture": "amd64", "os": "linux",
                                               "features": ["sse4"]}),
        ],
    }


ARTIFACT_DATA = b"{}"


def artifact_manifest() -> dict:
    return {
        "schemaVersion": 2,
        "mediaType": mt.OCI_MANIFEST,
        "artifactType": "application/vnd.example.sbom.v1+json",
        "config": {"mediaType": mt.OCI_EMPTY, "digest": sha(ARTIFACT_DATA), "size": 2,
                   "data": base64.b64encode(ARTIFACT_DATA).decode()},
        "layers": [{"mediaType": "application/spdx+json", "digest": sha(b"sbom"), "size": 4}],
        "subject": {"mediaType": mt.OCI_MANIFEST, "digest": sha(b"amd64"), "size": 5},
    }


def schema1_manifest() -> dict:
    return {"schemaVersion": 1, "name": "library/old", "tag": "latest", "architecture": "amd64",
            "fsLayers": [{"blobSum": sha(b"x")}], "history": [{"v1Compatibility": "{}"}],
            "signatures": [{"header": {}, "signature": "abc", "protected": "def"}]}


def err(exc: type, raw: object, *args: object, **kw: object) -> str:
    data = raw if isinstance(raw, (bytes, str)) else compact(raw)
    with pytest.raises(exc) as ei:
        parse(data, *args, **kw)  # type: ignore[arg-type]
    return str(ei.value)


# ---- valid documents -----------------------------------------------------------------

def test_oci_manifest() -> None:
    m = parse(compact(oci_manifest()))
    assert isinstance(m, Manifest) and m.kind == mt.OCI_MANIFEST and not m.docker
    assert m.config.media_type == mt.OCI_CONFIG and m.config.digest == sha(CONFIG)
    assert m.config.digest.algorithm == "sha256"
    assert [x.media_type for x in m.layers] == [mt.OCI_LAYER_GZIP, mt.OCI_LAYER, mt.OCI_LAYER_ZSTD]
    assert [x.size for x in m.layers] == [len(b) for b in LAYERS]
    assert m.annotations == {"org.opencontainers.image.created": "2024-05-01T10:20:30Z"}
    assert m.subject is None and m.artifact_type is None
    assert m.raw["x-vendor"] == {"kept": [1, 2]}


def test_oci_manifest_without_media_type_is_oci() -> None:
    doc = oci_manifest()
    del doc["mediaType"]
    m = parse(compact(doc))
    assert isinstance(m, Manifest) and m.media_type is None and m.kind == mt.OCI_MANIFEST


def test_docker_manifest() -> None:
    m = parse(compact(docker_manifest()), mt.DOCKER_MANIFEST)
    assert isinstance(m, Manifest) and m.docker and m.kind == mt.DOCKER_MANIFEST
    assert m.layers[1].urls == ["https://example.com/layer1"]


def test_indexes() -> None:
    i = parse(compact(oci_index()))
    assert isinstance(i, Index) and i.kind == mt.OCI_INDEX and not i.docker
    assert i.manifests[1].platform == Platform("linux", "arm64", "v8")
    assert i.manifests[3].platform.os_version == "10.0.17763.5936"
    assert i.manifests[3].platform.os_features == ("win32k",)
    d = parse(compact(docker_list()), "application/vnd.docker.distribution.manifest.list.v2+json; charset=utf-8")
    assert isinstance(d, Index) and d.docker
    assert d.manifests[1].platform.features == ("sse4",)


def test_artifact_with_subject_and_data() -> None:
    m = parse(compact(artifact_manifest()))
    assert isinstance(m, Manifest)
    assert m.artifact_type == "application/vnd.example.sbom.v1+json"
    assert m.config.payload() == ARTIFACT_DATA
    assert m.subject.digest == sha(b"amd64") and m.subject.size == 5
    assert m.layers[0].payload() is None


# ---- detect --------------------------------------------------------------------------

def _no_mt(doc: dict) -> dict:
    doc.pop("mediaType", None)
    return doc


@pytest.mark.parametrize("doc, declared, kind", [
    (oci_manifest(), None, mt.OCI_MANIFEST),
    (oci_manifest(), "application/json", mt.OCI_MANIFEST),
    (_no_mt(oci_manifest()), None, mt.OCI_MANIFEST),
    (_no_mt(oci_manifest()), "text/plain; charset=utf-8", mt.OCI_MANIFEST),
    (oci_index(), None, mt.OCI_INDEX),
    (_no_mt(oci_index()), None, mt.OCI_INDEX),
    (_no_mt(oci_index()), mt.OCI_INDEX, mt.OCI_INDEX),
    (docker_manifest(), mt.DOCKER_MANIFEST, mt.DOCKER_MANIFEST),
    (docker_list(), None, mt.DOCKER_MANIFEST_LIST),
    (schema1_manifest(), None, mt.DOCKER_MANIFEST_V1_SIGNED),
    ({k: v for k, v in schema1_manifest().items() if k != "signatures"}, None, mt.DOCKER_MANIFEST_V1),
    (dict(schema1_manifest(), mediaType=mt.DOCKER_MANIFEST_V1), None, mt.DOCKER_MANIFEST_V1),
])
def test_detect(doc: dict, declared: str | None, kind: str) -> None:
    assert detect(compact(doc), declared) == kind


@pytest.mark.parametrize("raw, declared, words", [
    (b'{"schemaVersion": 2,', None, "invalid JSON"),
    (b"\xff\xfe", None, "not UTF-8"),
    (b"[1, 2]", None, "expected a JSON object, got list"),
    (compact(dict(oci_manifest(), mediaType="application/vnd.example+json")), None,
     "unknown manifest media type 'application/vnd.example+json'"),
    (compact(_no_mt(oci_manifest())), mt.OCI_CONFIG, f"unknown manifest media type {mt.OCI_CONFIG!r}"),
    (compact(oci_manifest()), mt.DOCKER_MANIFEST, "served as"),
    (compact({"schemaVersion": 2, "layers": []}), None, "neither an image manifest nor an index"),
    (compact({"schemaVersion": 2, "mediaType": 7}), None, "mediaType: expected a string"),
])
def test_detect_errors_name_what(raw: bytes, declared: str | None, words: str) -> None:
    ref = "registry.example/app@sha256:" + "a" * 64
    with pytest.raises(InvalidArgument) as ei:
        detect(raw, declared, what=ref)
    assert str(ei.value).startswith(ref + ": ") and words in str(ei.value), str(ei.value)
    with pytest.raises(InvalidArgument) as ei:
        parse(raw, declared, what=ref)
    assert str(ei.value).startswith(ref + ": ")


@pytest.mark.parametrize("doc", [schema1_manifest(),
                                 dict(schema1_manifest(), mediaType=mt.DOCKER_MANIFEST_V1_SIGNED)])
def test_schema1_is_refused_as_deprecated(doc: dict) -> None:
    msg = err(Unsupported, doc, what="docker.io/library/old:1")
    assert msg.startswith("docker.io/library/old:1: ")
    assert "schema 1" in msg and "deprecated" in msg and "not supported" in msg


def test_schema_version_1_inside_v2_type_is_refused() -> None:
    doc = dict(oci_manifest(), schemaVersion=1)
    assert "deprecated" in err(Unsupported, doc)


# ---- validation errors name the field path -------------------------------------------

def _set(doc: dict, path: list, value: object) -> dict:
    d = doc
    for k in path[:-1]:
        d = d[k]
    if value is KeyError:
        del d[path[-1]]
    else:
        d[path[-1]] = value
    return doc


BAD = "sha256:" + "z" * 64


@pytest.mark.parametrize("make, path, value, declared, prefix, words", [
    (oci_manifest, ["layers", 2, "digest"], BAD, None, "manifest.layers[2].digest: ", "64 lower-case hex"),
    (oci_manifest, ["layers", 2, "digest"], "md5:abc", None, "manifest.layers[2].digest: ", "unsupported"),
    (oci_manifest, ["layers", 1, "size"], -1, None, "manifest.layers[1].size: ", "out of range"),
    (oci_manifest, ["layers", 0, "size"], "12", None, "manifest.layers[0].size: ", "expected an integer"),
    (oci_manifest, ["layers", 0, "size"], 1.5, None, "manifest.layers[0].size: ", "expected an integer"),
    (oci_manifest, ["layers", 0, "size"], True, None, "manifest.layers[0].size: ", "expected an integer"),
    (oci_manifest, ["layers", 0, "mediaType"], KeyError, None, "manifest.layers[0].mediaType: ", "is required"),
    (oci_manifest, ["layers", 0, "mediaType"], "gzip", None, "manifest.layers[0].mediaType: ", "RFC 6838"),
    (oci_manifest, ["layers", 0, "urls"], ["no scheme here"], None, "manifest.layers[0].urls[0]: ", "not a URL"),
    (oci_manifest, ["layers", 0, "urls"], "https://x", None, "manifest.layers[0].urls: ", "list of strings"),
    (oci_manifest, ["layers", 0, "annotations"], {"k": 1}, None, "manifest.layers[0].annotations: ", "strings"),
    (oci_manifest, ["layers", 0, "artifactType"], "x", None, "manifest.layers[0].artifactType: ", "RFC 6838"),
    (oci_manifest, ["layers", 0], "sha256:...", None, "manifest.layers[0]: ", "expected an object"),
    (oci_manifest, ["layers"], {}, None, "manifest.layers: ", "expected a list"),
    (oci_manifest, ["layers"], KeyError, None, "manifest.layers: ", "is required"),
    (oci_manifest, ["config"], KeyError, None, "manifest.config: ", "is required"),
    (oci_manifest, ["config", "digest"], KeyError, None, "manifest.config.digest: ", "is required"),
    (oci_manifest, ["config", "size"], None, None, "manifest.config.size: ", "is required"),
    (oci_manifest, ["schemaVersion"], 3, None, "manifest.schemaVersion: ", "not 2"),
    (oci_manifest, ["schemaVersion"], KeyError, None, "manifest.schemaVersion: ", "is required"),
    (oci_manifest, ["annotations"], ["a"], None, "manifest.annotations: ", "object of strings"),
    (oci_manifest, ["subject"], {"mediaType": mt.OCI_MANIFEST, "digest": BAD, "size": 1}, None,
     "manifest.subject.digest: ", "hex"),
    (oci_manifest, ["manifests"], [], None, "manifest.manifests: ", "ambiguous"),
    (oci_manifest, ["layers", 1, "data"], "!!", None, "manifest.layers[1].data: ", "not base64"),
    (artifact_manifest, ["artifactType"], KeyError, None, "manifest.artifactType: ", "is required when"),
    (artifact_manifest, ["config", "size"], 3, None, "manifest.config.data: ", "holds 2 bytes"),
    (artifact_manifest, ["config", "digest"], sha(b"[]"), None, "manifest.config.data: ", "its content has digest"),
    (artifact_manifest, ["config", "data"], "e30", None, "manifest.config.data: ", "not base64"),
    (docker_manifest, ["mediaType"], KeyError, mt.DOCKER_MANIFEST, "manifest.mediaType: ", "is required in a Docker"),
    (docker_manifest, ["layers", 1, "platform"], {"os": "linux"}, None,
     "manifest.layers[1].platform.architecture: ", "is required"),
    (oci_index, ["manifests", 1, "platform", "architecture"], KeyError, None,
     "index.manifests[1].platform.architecture: ", "is required"),
    (oci_index, ["manifests", 1, "platform", "os"], "", None, "index.manifests[1].platform.os: ", "empty"),
    (oci_index, ["manifests", 3, "platform", "os.features"], "win32k", None,
     "index.manifests[3].platform.os.features: ", "list of strings"),
    (oci_index, ["manifests", 2, "digest"], 5, None, "index.manifests[2].digest: ", "expected a digest string"),
    (oci_index, ["manifests"], KeyError, None, "index.manifests: ", "is required"),
    (oci_index, ["layers"], [], None, "index.layers: ", "ambiguous"),
    (oci_index, ["subject"], "x", None, "index.subject: ", "expected an object"),
    (docker_list, ["mediaType"], KeyError, mt.DOCKER_MANIFEST_LIST, "index.mediaType: ", "is required in a Docker"),
])
def test_errors_name_the_field(make, path, value, declared, prefix, words) -> None:  # noqa: ANN001
    doc = _set(make(), path, value)
    msg = err(InvalidArgument, doc, declared, what="ref")
    assert msg.startswith("ref: " + prefix), msg
    assert words in msg, msg
    msg = err(InvalidArgument, doc, declared)
    assert msg.startswith(prefix), msg


def test_model_parse_checks_the_flavour() -> None:
    with pytest.raises(InvalidArgument, match=r"^manifest\.mediaType: .* is not an image manifest type"):
        Manifest.parse(oci_index())
    with pytest.raises(InvalidArgument, match=r"^index\.mediaType: .* is not an index type"):
        Index.parse(oci_manifest())


@pytest.mark.parametrize("path, value, prefix, words", [
    (["rootfs", "diff_ids", 1], BAD, "config.rootfs.diff_ids[1]: ", "hex"),
    (["rootfs", "type"], "layers+base", "config.rootfs.type: ", "not 'layers'"),
    (["rootfs"], KeyError, "config.rootfs: ", "is required"),
    (["architecture"], KeyError, "config.architecture: ", "is required"),
    (["os"], "", "config.os: ", "must not be empty"),
    (["os.features"], "x", "config.os.features: ", "list of strings"),
    (["created"], "yesterday", "config.created: ", "RFC 3339"),
    (["created"], "2024-05-01", "config.created: ", "RFC 3339"),
    (["history", 1, "created"], "2024-05-01T10:00:00", "config.history[1].created: ", "RFC 3339"),
    (["history", 2, "empty_layer"], "yes", "config.history[2].empty_layer: ", "true or false"),
    (["history", 3], [], "config.history[3]: ", "expected an object"),
    (["config", "Env", 1], "NOEQUALS", "config.config.Env[1]: ", "KEY=value"),
    (["config", "Env"], "A=b", "config.config.Env: ", "list of strings"),
    (["config", "ExposedPorts"], {"80/http": {}}, "config.config.ExposedPorts: ", "port[/tcp|udp|sctp]"),
    (["config", "ExposedPorts"], {"70000": {}}, "config.config.ExposedPorts: ", "port"),
    (["config", "ExposedPorts"], {"80": 1}, "config.config.ExposedPorts['80']: ", "expected an object"),
    (["config", "Volumes"], ["/data"], "config.config.Volumes: ", "expected an object"),
    (["config", "Cmd"], "run", "config.config.Cmd: ", "list of strings"),
    (["config", "Labels"], {"a": None}, "config.config.Labels: ", "strings"),
    (["config", "ArgsEscaped"], 1, "config.config.ArgsEscaped: ", "true or false"),
    (["config", "Healthcheck"], {"Test": ["RUN", "x"]}, "config.config.Healthcheck.Test[0]: ", "CMD-SHELL"),
    (["config", "Healthcheck"], {"Interval": -5}, "config.config.Healthcheck.Interval: ", "out of range"),
    (["config", "User"], 0, "config.config.User: ", "a string"),
])
def test_config_errors_name_the_field(path: list, value: object, prefix: str, words: str) -> None:
    doc = _set(oci_config(), path, value)
    with pytest.raises(InvalidArgument) as ei:
        ImageConfig.load(compact(doc), what="sha256:abc")
    msg = str(ei.value)
    assert msg.startswith("sha256:abc: " + prefix) and words in msg, msg
    with pytest.raises(InvalidArgument) as ei:
        ImageConfig.parse(doc)
    assert str(ei.value).startswith(prefix), str(ei.value)


# ---- round trips and new objects -----------------------------------------------------

@pytest.mark.parametrize("make", [oci_manifest, docker_manifest, oci_index, docker_list,
                                  artifact_manifest])
def test_round_trip_keeps_everything(make) -> None:  # noqa: ANN001
    doc = make()
    doc["layers" if "layers" in doc else "manifests"][0]["x-extra"] = {"n": None}
    m = parse(compact(doc))
    assert m.to_dict() == doc
    assert json.dumps(m.to_dict()) == json.dumps(doc)  # key order too
    assert serialize(m) == compact(doc)
    assert parse(serialize(m)) == m


@pytest.mark.parametrize("make", [oci_config, docker_config])
def test_config_round_trip_keeps_docker_fields_and_nulls(make) -> None:  # noqa: ANN001
    doc = make()
    c = ImageConfig.parse(doc)
    assert json.dumps(c.to_dict()) == json.dumps(doc)
    assert serialize(c) == compact(doc)


def test_replace_keeps_unknown_fields() -> None:
    m = parse(compact(oci_manifest()))
    m2 = m.replace(annotations={"a": "b"}, layers=m.layers[:1])
    d = m2.to_dict()
    assert d["annotations"] == {"a": "b"} and len(d["layers"]) == 1 and d["x-vendor"] == {"kept": [1, 2]}
    assert list(d) == list(oci_manifest())  # original key order
    assert m.to_dict() == oci_manifest()  # the original is unchanged
    assert "annotations" not in m.replace(annotations=None).to_dict()


def test_new_manifest_serialises_compactly_in_spec_order() -> None:
    cfg = describe(CONFIG, mt.OCI_CONFIG)
    assert cfg.digest == sha(CONFIG) and cfg.size == len(CONFIG)
    layers = [describe(b, mt.OCI_LAYER_GZIP) for b in LAYERS]
    data = serialize(Manifest.new(cfg, layers, annotations={"k": "v"}))
    assert data == compact({
        "schemaVersion": 2, "mediaType": mt.OCI_MANIFEST,
        "config": {"mediaType": mt.OCI_CONFIG, "digest": sha(CONFIG), "size": len(CONFIG)},
        "layers": [{"mediaType": mt.OCI_LAYER_GZIP, "digest": sha(b), "size": len(b)} for b in LAYERS],
        "annotations": {"k": "v"}})
    assert b" " not in data
    empty = serialize(Manifest.new(cfg, [], docker=True))
    assert json.loads(empty)["layers"] == [] and json.loads(empty)["mediaType"] == mt.DOCKER_MANIFEST
    idx = serialize(Index.new([describe(data, mt.OCI_MANIFEST, platform=Platform("linux", "amd64"))]))
    assert json.loads(idx)["manifests"][0]["platform"] == {"architecture": "amd64", "os": "linux"}
    assert json.loads(idx)["manifests"][0]["size"] == len(data)


def test_serialise_refuses_an_invalid_new_object() -> None:
    m = Manifest.new(Descriptor.new(mt.OCI_CONFIG, sha(CONFIG), 5), [])
    with pytest.raises(InvalidArgument, match=r"^manifest\.layers\[0\]\.size: "):
        serialize(m.replace(layers=[Descriptor(media_type=mt.OCI_LAYER, digest=sha(b""), size=-1)]))
    with pytest.raises(InvalidArgument, match="digest"):
        Descriptor.new(mt.OCI_LAYER, "sha256:nothex", 1)


def test_descriptor_data_payload() -> None:
    blob = b"small inline blob \x00\xff"
    d = describe(blob, "application/octet-stream", data=base64.b64encode(blob).decode())
    back = Descriptor.parse(json.loads(serialize(d)), "descriptor")
    assert back.payload() == blob and back == d


# ---- image config, chain IDs ---------------------------------------------------------

def test_image_config_fields() -> None:
    c = ImageConfig.load(DCONFIG)
    assert c.platform == Platform("linux", "amd64")
    assert c.config.env == ["PATH=/usr/bin:/bin", "EMPTY="]
    assert c.config.exposed_ports == {"8080/tcp": {}, "53/udp": {}}
    assert c.config.entrypoint == ["/bin/server"] and c.config.cmd == ["--port", "8080"]
    assert c.config.healthcheck.test == ["CMD-SHELL", "curl -f localhost"]
    assert c.config.healthcheck.interval == 30_000_000_000 and c.config.healthcheck.retries == 3
    assert c.config.on_build is None and c.config.shell == ["/bin/sh", "-c"]
    assert c.config.args_escaped is True and c.config.stop_signal == "SIGTERM"
    assert c.rootfs.diff_ids == DIFF_IDS
    assert [h.empty_layer for h in c.history] == [None, True, None, None]
    assert c.raw["docker_version"] == "24.0.7"
    o = ImageConfig.parse(oci_config())
    assert o.platform == Platform("linux", "arm64", "v8")


def test_config_without_diff_ids_as_docker_writes_it() -> None:
    doc = oci_config()
    doc["rootfs"] = {"type": "layers"}
    c = ImageConfig.parse(doc)
    assert c.rootfs.diff_ids == [] and c.chain_ids() == []
    assert c.to_dict()["rootfs"] == {"type": "layers", "diff_ids": []}  # required by OCI: written


def test_chain_ids_match_an_independent_computation() -> None:
    want = [DIFF_IDS[0]]
    for d in DIFF_IDS[1:]:
        want.append("sha256:" + hashlib.sha256((want[-1] + " " + d).encode()).hexdigest())
    assert chain_ids(DIFF_IDS) == want
    assert chain_id(DIFF_IDS) == want[-1] and chain_id([]) is None
    assert chain_ids(DIFF_IDS[:1]) == DIFF_IDS[:1]
    assert ImageConfig.parse(oci_config()).chain_ids() == want
    with pytest.raises(InvalidArgument, match=r"^diff_ids\[1\]: "):
        chain_ids([DIFF_IDS[0], "sha256:short"])


def test_check_layers() -> None:
    c = ImageConfig.parse(oci_config())
    c.check_layers(parse(compact(oci_manifest())))  # 3 and 3
    with pytest.raises(InvalidArgument, match="lists 2 layers but config.rootfs.diff_ids has 3"):
        c.check_layers(parse(compact(docker_manifest())), "app:1")


# ---- OCI <-> Docker ------------------------------------------------------------------

@pytest.mark.parametrize("oci, docker", [
    (mt.OCI_LAYER_GZIP, mt.DOCKER_LAYER_GZIP),
    (mt.OCI_LAYER, DOCKER_LAYER),
    (mt.OCI_LAYER_NONDIST_GZIP, mt.DOCKER_LAYER_FOREIGN_GZIP),
    (mt.OCI_LAYER_NONDIST, DOCKER_LAYER_FOREIGN),
])
def test_layer_types_map_both_ways(oci: str, docker: str) -> None:
    doc = oci_manifest()
    doc["layers"] = [dict(layer(0, oci), urls=["https://example.com/l0"])]
    d = to_docker(parse(compact(doc)))
    assert d.docker and d.layers[0].media_type == docker
    assert d.layers[0].urls == ["https://example.com/l0"] and d.layers[0].digest == sha(LAYERS[0])
    assert d.config.media_type == mt.DOCKER_CONFIG and d.config.digest == sha(CONFIG)
    assert d.annotations is None and "x-vendor" not in d.to_dict()
    back, _ = to_oci(d, CONFIG)
    assert back.layers[0].media_type == oci


@pytest.mark.parametrize("media_type, words", [
    (mt.OCI_LAYER_ZSTD, "zstd-compressed layers"),
    (mt.OCI_LAYER_NONDIST_ZSTD, "zstd-compressed layers"),
    (mt.OCI_LAYER_GZIP + "+encrypted", "encrypted layers"),
    ("application/vnd.example.layer", "unknown layer media type"),
])
def test_to_docker_refuses_what_docker_cannot_hold(media_type: str, words: str) -> None:
    doc = oci_manifest()
    doc["layers"][1]["mediaType"] = media_type
    doc["layers"][2]["mediaType"] = mt.OCI_LAYER
    with pytest.raises(Unsupported) as ei:
        to_docker(parse(compact(doc)), "app:1")
    assert str(ei.value).startswith("app:1: layers[1]: ") and words in str(ei.value)


def test_to_docker_refuses_artifacts_and_subjects() -> None:
    with pytest.raises(Unsupported, match="OCI artifact"):
        to_docker(parse(compact(artifact_manifest())))
    doc = oci_manifest()
    doc["layers"] = doc["layers"][:1]
    doc["subject"] = {"mediaType": mt.OCI_MANIFEST, "digest": sha(b"s"), "size": 1}
    with pytest.raises(Unsupported, match="subject"):
        to_docker(parse(compact(doc)))


def test_to_oci_converts_the_config_as_skopeo_does() -> None:
    m = parse(compact(docker_manifest()))
    doc = docker_manifest()
    doc["layers"].append({"mediaType": DOCKER_LAYER_ZSTD, "size": 9, "digest": sha(b"z")})
    doc["layers"].append({"mediaType": mt.OCI_LAYER_ZSTD, "size": 9, "digest": sha(b"z")})
    m = parse(compact(doc))
    o, blob = to_oci(m, DCONFIG)
    assert not o.docker and o.kind == mt.OCI_MANIFEST
    assert [x.media_type for x in o.layers] == [mt.OCI_LAYER_GZIP, mt.OCI_LAYER_NONDIST_GZIP,
                                                 mt.OCI_LAYER_ZSTD, mt.OCI_LAYER_ZSTD]
    assert o.layers[1].urls == ["https://example.com/layer1"]
    assert o.config.media_type == mt.OCI_CONFIG and o.config.digest == sha(blob)
    assert o.config.size == len(blob)
    cfg = json.loads(blob)
    assert "container_config" not in cfg and "docker_version" not in cfg and "variant" not in cfg
    assert "Healthcheck" not in cfg["config"] and "Shell" not in cfg["config"]
    assert cfg["config"]["ArgsEscaped"] is True and cfg["config"]["Env"] == oci_config()["config"]["Env"]
    assert cfg["rootfs"] == {"type": "layers", "diff_ids": DIFF_IDS}
    assert cfg["history"] == oci_config()["history"]
    assert list(cfg)[:4] == ["created", "author", "architecture", "os"]
    ImageConfig.load(blob)  # a valid config
    assert to_oci(o, blob) == (o, blob)  # OCI already


def test_to_oci_checks_the_config_blob() -> None:
    m = parse(compact(docker_manifest()))
    with pytest.raises(FailedPrecondition, match="config"):
        to_oci(m, DCONFIG + b" ")
    with pytest.raises(FailedPrecondition, match="digest mismatch"):
        to_oci(m, DCONFIG[:-1] + b" ")
    doc = docker_manifest()
    doc["layers"][0]["mediaType"] = "application/vnd.docker.plugin.v1+json"
    with pytest.raises(Unsupported, match=r"layers\[0\]: unknown layer media type"):
        to_oci(parse(compact(doc)), DCONFIG)


def test_convert_index() -> None:
    idx = parse(compact(oci_index()))
    assert isinstance(idx, Index)
    kids = [describe(b"m%d" % i, mt.DOCKER_MANIFEST) for i in range(4)]
    d = convert_index(idx, kids, docker=True)
    assert d.docker and [e.digest for e in d.manifests] == [k.digest for k in kids]
    assert [e.platform for e in d.manifests] == [e.platform for e in idx.manifests]
    assert d.annotations is None
    o = convert_index(d, [describe(b"o%d" % i, mt.OCI_MANIFEST) for i in range(4)], docker=False)
    assert not o.docker and o.manifests[1].platform == Platform("linux", "arm64", "v8")
    parse(serialize(o))
    with pytest.raises(InvalidArgument, match="3 converted manifests for 4 entries"):
        convert_index(idx, kids[:3], docker=True)
    with pytest.raises(Unsupported, match=r"manifests\[0\]: a Docker manifest list cannot hold"):
        convert_index(idx, [describe(b"x", mt.OCI_MANIFEST)] * 4, docker=True)
    no_platform = copy.deepcopy(oci_index())
    del no_platform["manifests"][2]["platform"]
    with pytest.raises(Unsupported, match=r"manifests\[2\]: has no platform"):
        convert_index(parse(compact(no_platform)), kids, docker=True)
