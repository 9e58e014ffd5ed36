"""Server settings: defaults, the reference registry's config.yml shape, flags on top."""

from __future__ import annotations

import pytest

from onggi.errors import InvalidArgument
from onggi.registry.config import ServerConfig, load, parse_addr

REFERENCE_STYLE = """\
version: 0.1
log:
  level: warn
  accesslog:
    disabled: true
  fields:
    service: registry
storage:
  cache:
    blobdescriptor: inmemory
  filesystem:
    rootdirectory: {root}
  delete:
    enabled: false
  maintenance:
    readonly:
      enabled: true
    uploadpurging:
      enabled: false
http:
  addr: 127.0.0.1:5555
  secret: abc
  headers:
    X-Content-Type-Options: [nosniff]
  tls:
    certificate: /etc/c.pem
    key: /etc/k.pem
  debug:
    addr: 127.0.0.1:5556
auth:
  htpasswd:
    realm: basic-realm
    path: /etc/registry/htpasswd
"""


def test_defaults() -> None:
    c = load()
    assert c == ServerConfig()
    assert c.addr == "127.0.0.1:5000" and c.root == "/var/lib/onggi/registry"
    assert c.delete_enabled and not c.read_only and c.auth is None


def test_reference_config(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "config.yml"
    p.write_text(REFERENCE_STYLE.format(root=tmp_path / "data"))
    c = load(str(p))
    assert c.addr == "127.0.0.1:5555"
    assert c.root == str(tmp_path / "data")
    assert c.delete_enabled is False and c.read_only is True and c.access_log is False
    assert (c.tls_cert, c.tls_key) == ("/etc/c.pem", "/etc/k.pem")
    assert c.metrics_addr == "127.0.0.1:5556" and c.log_level == "warn"
    assert c.auth == {"htpasswd": {"realm": "basic-realm", "path": "/etc/registry/htpasswd"}}


def test_flags_override_file(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "config.yml"
    p.write_text(REFERENCE_STYLE.format(root=tmp_path / "data"))
    c = load(str(p), addr="127.0.0.1:7000", root=str(tmp_path / "other"), read_only=None,
             delete_enabled=True, workers=3)
    assert c.addr == "127.0.0.1:7000" and c.root == str(tmp_path / "other")
    assert c.read_only is True  # None: not given, the file's value stays
    assert c.delete_enabled is True and c.workers == 3


@pytest.mark.parametrize("text, words", [
    ("http:\n  addr: 5\n", "http.addr"),
    ("storage:\n  delete:\n    enabled: 'yes'\n", "storage.delete.enabled"),
    ("http: [1]\n", "http.addr"),
    ("- a\n", "top level"),
    ("http:\n  addr: nowhere\n", "HOST:PORT"),
    ("onggi:\n  workers: 0\n", "workers"),
    ("log:\n  level: loud\n", "log.level"),
    ("auth: [x]\n", "auth"),
    ("http: {addr: [\n", "not valid YAML"),
])
def test_bad_config_names_the_key(tmp_path, text: str, words: str) -> None:  # noqa: ANN001
    p = tmp_path / "config.yml"
    p.write_text(text)
    with pytest.raises(InvalidArgument) as e:
        load(str(p))
    assert words in str(e.value)


def test_bad_flags(tmp_path) -> None:  # noqa: ANN001
    with pytest.raises(InvalidArgument, match="does not exist"):
        load(str(tmp_path / "missing.yml"))
    with pytest.raises(InvalidArgument, match="both a certificate and a key"):
        load(tls_cert="/c.pem")
    with pytest.raises(InvalidArgument, match="unknown settings: colour"):
        load(colour="red")


def test_parse_addr() -> None:
    assert parse_addr("127.0.0.1:5000") == ("127.0.0.1", 5000)
    assert parse_addr(":5000") == ("0.0.0.0", 5000)
    assert parse_addr("[::1]:80") == ("::1", 80)
    for bad in ("5000", "h:p", "h:70000"):
        with pytest.raises(InvalidArgument):
            parse_addr(bad)
