"""onggi.oci.jsonio: the same results as the json module, InvalidArgument errors that
name what was parsed, and no ``import json`` / ``import re`` on the success path."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from onggi.errors import InvalidArgument, NotFound
from onggi.oci import jsonio
from onggi.oci.defaults import default_spec

SRC = os.path.join(os.path.dirname(__file__), "..", "..", "src")

DOCS = [
    None, True, False, 0, -1, 1.5, -0.0, 1e300, 5e-324, 2**63, -(2**64) - 1, 10**100,
    "", "plain", "é ü 한국어 옹기 😀", "\u0000\x1f\"\\/\b\f\n\r\t", "\ud83d",  # a lone surrogate
    [], {}, [[[]]], {"a": {"b": {"c": [1, 2, {"d": None}]}}},
    {"키": "값", "emoji😀": ["😀"]}, list(range(1000)), {str(i): i for i in range(200)},
    default_spec(),
]


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_dumps_matches_json(doc: object) -> None:
    assert jsonio.dumps(doc) == json.dumps(doc, separators=(",", ":"))


@pytest.mark.parametrize("doc", DOCS, ids=range(len(DOCS)))
def test_round_trip(doc: object) -> None:
    text = jsonio.dumps(doc)
    assert jsonio.loads(text) == json.loads(text)
    assert jsonio.loads(text) == doc
    assert jsonio.loads(text.encode()) == doc
    # and what json writes with other spacing and without escaping
    pretty = json.dumps(doc, indent=2, ensure_ascii=False)
    assert jsonio.loads(pretty) == json.loads(pretty)
    if doc != "\ud83d":  # a lone surrogate has no UTF-8 form
        assert jsonio.loads(pretty.encode("utf-8")) == doc


def test_large_ints_and_floats_are_exact() -> None:
    text = '[18446744073709551615, 9223372036854775807, -9223372036854775808, 1e400, 0.1, 1E-7, 12345678901234567890.5]'
    assert jsonio.loads(text) == json.loads(text)
    assert type(jsonio.loads("1")) is int and type(jsonio.loads("1.0")) is float
    assert jsonio.loads(text)[3] == float("inf")  # like json: an overflowing literal is inf


def test_dumps_special_values_like_json() -> None:
    for v in ({1: 2, None: 3, True: 4, 1.5: 5}, (1, 2), float("inf"), float("nan")):
        assert jsonio.dumps(v) == json.dumps(v, separators=(",", ":"))


def test_dumps_unsupported_type() -> None:
    with pytest.raises(TypeError, match="Object of type object is not JSON serializable"):
        jsonio.dumps({"a": [object()]})
    with pytest.raises(TypeError, match="Object of type set is not JSON serializable"):
        jsonio.dumps({1, 2})


def test_whitespace_around_the_value() -> None:
    assert jsonio.loads(" \t\r\n {\"a\" : [ 1 , 2 ] } \n\t") == {"a": [1, 2]}


def test_duplicate_keys_last_wins_like_json() -> None:
    assert jsonio.loads('{"a":1,"a":2}') == json.loads('{"a":1,"a":2}') == {"a": 2}


MALFORMED = [
    ("", "expecting a value at char 0"),
    ("   \n", "expecting a value at char 4"),
    ("{", "Expecting property name enclosed in double quotes"),
    ('{"a":1,}', "Expecting property name enclosed in double quotes: line 1 column 8 (char 7)"),
    ("[1 2]", "Expecting ',' delimiter: line 1 column 4 (char 3)"),
    ('{"a" 1}', "Expecting ':' delimiter"),
    ('"\\x"', "Invalid \\escape"),
    ('"a\nb"', "Invalid control character"),
    ('"abc', "Unterminated string"),
    ("{1:2}", "Expecting property name enclosed in double quotes"),
    ("tru", "expecting a value at char 0"),
    ("'a'", "expecting a value at char 0"),
    ("[1,]", "expecting a value at char 3"),
    ("NaN", "NaN is not a JSON value"),
    ("[1, Infinity]", "Infinity is not a JSON value"),
    ("-Infinity", "-Infinity is not a JSON value"),
    ("1" * 5000, "Exceeds the limit"),
    ("\ufeff{}", "expecting a value at char 0"),  # Go's encoding/json refuses a BOM too
]


@pytest.mark.parametrize("text,expect", MALFORMED, ids=range(len(MALFORMED)))
def test_malformed(text: str, expect: str) -> None:
    with pytest.raises(InvalidArgument) as ei:
        jsonio.loads(text, "config.json")
    msg = str(ei.value)
    assert msg.startswith("config.json: invalid JSON: "), msg
    assert expect in msg, msg


@pytest.mark.parametrize("text,at", [("[1] x", 4), ("{}{}", 2), ("1 2", 2), ("null\n\n,", 6), ('"a""b"', 3)])
def test_trailing_garbage(text: str, at: int) -> None:
    with pytest.raises(InvalidArgument, match=rf"^state of c1: invalid JSON: extra data at char {at}$"):
        jsonio.loads(text, "state of c1")
    with pytest.raises(json.JSONDecodeError, match=rf"\(char {at}\)"):  # the same position as json's
        json.loads(text)


def test_not_utf8() -> None:
    with pytest.raises(InvalidArgument, match="^process.json: not UTF-8: "):
        jsonio.loads(b'{"a":"\xff"}', "process.json")


def test_default_what() -> None:
    with pytest.raises(InvalidArgument, match="^JSON: invalid JSON"):
        jsonio.loads("[")


def test_error_is_not_chained() -> None:
    with pytest.raises(InvalidArgument) as ei:
        jsonio.loads("[1,]")
    assert ei.value.__cause__ is None and ei.value.__suppress_context__


def test_parses_after_an_error() -> None:
    """The scanner is shared module state: a failed parse must not poison the next."""
    for bad in ("[1,", '{"k":', "NaN"):
        with pytest.raises(InvalidArgument):
            jsonio.loads(bad)
        assert jsonio.loads('{"k":["v"]}') == {"k": ["v"]}


def test_load_file(tmp_path) -> None:  # noqa: ANN001
    p = tmp_path / "config.json"
    p.write_text('{"ociVersion": "1.1.0"}')
    assert jsonio.load_file(str(p)) == {"ociVersion": "1.1.0"}
    with pytest.raises(NotFound, match="^bundle config: no such file: "):
        jsonio.load_file(str(tmp_path / "missing.json"), "bundle config")
    p.write_text("{")
    with pytest.raises(InvalidArgument, match=f"^{p}: invalid JSON"):
        jsonio.load_file(str(p))


_PROBE = r"""
import sys
sys.path.insert(0, sys.argv[1])
from onggi.oci import jsonio
doc = jsonio.loads('{"ociVersion": "1.1.0", "process": {"args": ["sh", "-c", "\u00e9"], "env": []},'
                   ' "n": [1, 2.5, -3, true, false, null]}')
assert doc["process"]["args"][2] == "\u00e9", doc
assert jsonio.dumps(doc).startswith('{"ociVersion":"1.1.0"')
jsonio.loads(b'  [1]  ', "bytes")
print(" ".join(sorted({"re", "json", "json.decoder", "json.scanner", "sre_compile", "_sre"} & set(sys.modules))))
"""


def test_success_path_does_not_import_json_or_re() -> None:
    # -I -S: no site, no .pth files, no PYTHON* variables: only what jsonio imports
    out = subprocess.run([sys.executable, "-I", "-S", "-c", _PROBE, os.path.abspath(SRC)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.split() == []


def test_error_path_may_import_json() -> None:
    probe = ("import sys; sys.path.insert(0, sys.argv[1]); from onggi.oci import jsonio\n"
             "try:\n    jsonio.loads('[1 2]')\nexcept Exception as e:\n    print(e)\n")
    out = subprocess.run([sys.executable, "-I", "-S", "-c", probe, os.path.abspath(SRC)],
                         capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "JSON: invalid JSON: Expecting ',' delimiter: line 1 column 4 (char 3)"
