"""--memory, --cpus, --cpu-shares, --pids-limit, --ulimit -> linux.resources and
process.rlimits as podman writes them; every error names the flag and the value; the
result parses as a valid runtime spec."""

from __future__ import annotations

import os

import pytest

from onggi.engine import spec_resources as sr
from onggi.engine.options import RunOptions
from onggi.errors import InvalidArgument
from onggi.oci.resources import Resources


def apply(**kw) -> dict:  # noqa: ANN003
    s: dict = {"process": {"rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}]},
               "linux": {"resources": {"devices": [{"allow": False, "access": "rwm"}]}}}
    sr.apply_resources(s, RunOptions(image="i", **kw))
    Resources.parse(s["linux"]["resources"])  # what the runtime will accept
    return s


@pytest.mark.parametrize("text,value", [
    ("64m", 64 << 20), ("64M", 64 << 20), ("64mb", 64 << 20), ("64MiB", 64 << 20), ("100MB", 104857600),
    ("1.5g", 1610612736), ("1024", 1024), ("512b", 512), ("2k", 2048), ("1t", 1 << 40), ("64 m", 64 << 20),
])
def test_parse_size(text, value):
    assert sr.parse_size(text, "--memory") == value


@pytest.mark.parametrize("text", ["64x", "-1", "", "m", "1..5g", "abc"])
def test_parse_size_errors(text):
    with pytest.raises(InvalidArgument, match=f"invalid value for --memory: invalid size: {text!r}"):
        sr.parse_size(text, "--memory")


def test_memory_and_swap(monkeypatch):
    monkeypatch.setattr(sr, "swap_accounting", lambda: True)
    assert apply(memory="64m")["linux"]["resources"]["memory"] == {"limit": 67108864, "swap": 134217728}
    monkeypatch.setattr(sr, "swap_accounting", lambda: False)
    assert apply(memory="64m")["linux"]["resources"]["memory"] == {"limit": 67108864}
    assert "memory" not in apply(memory="0")["linux"]["resources"]
    with pytest.raises(InvalidArgument, match="--memory"):
        apply(memory="lots")


def test_cpus_and_shares():
    r = apply(cpus=1.5, cpu_shares=512)["linux"]["resources"]
    assert r["cpu"] == {"quota": 150000, "period": 100000, "shares": 512}
    assert "cpu" not in apply(cpus=0)["linux"]["resources"]
    assert apply(cpus="0.5")["linux"]["resources"]["cpu"]["quota"] == 50000
    for bad, msg in ((-1, "must be a number of CPUs"), ("abc", "not a number"), (0.001, "the smallest is 0.01"),
                     (float("nan"), "must be a number")):
        with pytest.raises(InvalidArgument, match=f"--cpus {bad!r}: {msg}"):
            apply(cpus=bad)
    for bad, msg in ((-5, "must be 0 or more"), ("x", "not an integer"), (1, "the minimum is 2")):
        with pytest.raises(InvalidArgument, match="--cpu-shares") as e:
            apply(cpu_shares=bad)
        assert msg in str(e.value)


def test_pids_limit():
    default = apply()["linux"]["resources"].get("pids")
    assert default == ({"limit": 2048} if os.geteuid() == 0 else None)
    assert apply(pids_limit=100)["linux"]["resources"]["pids"] == {"limit": 100}
    assert "pids" not in apply(pids_limit=0)["linux"]["resources"]
    assert "pids" not in apply(pids_limit=-1)["linux"]["resources"]
    with pytest.raises(InvalidArgument, match="--pids-limit -2: must be -1"):
        apply(pids_limit=-2)
    with pytest.raises(InvalidArgument, match="--pids-limit 'abc': not an integer"):
        apply(pids_limit="abc")


def test_ulimits():
    s = apply(ulimits=["nofile=512:1024", "core=-1", "nproc=10", "RLIMIT_STACK=unlimited:unlimited",
                       "CPU=5:6"])
    got = {r["type"]: (r["soft"], r["hard"]) for r in s["process"]["rlimits"]}
    assert got == {"RLIMIT_NOFILE": (512, 1024), "RLIMIT_CORE": (2**64 - 1, 2**64 - 1),
                   "RLIMIT_NPROC": (10, 10), "RLIMIT_STACK": (2**64 - 1, 2**64 - 1), "RLIMIT_CPU": (5, 6)}
    assert len(s["process"]["rlimits"]) == 5  # the base's nofile replaced, not doubled
    assert set(sr.ULIMITS) >= {"nofile", "nproc", "core", "memlock", "stack", "as", "rtprio"}


@pytest.mark.parametrize("value,message", [
    ("foo=1", "invalid ulimit type 'foo'"),
    ("nofile=2:1", "ulimit soft limit must be less than or equal to hard limit: 2 > 1"),
    ("nofile", "requires name=SOFT[:HARD]"),
    ("nofile=", "requires name=SOFT[:HARD]"),
    ("nofile=abc", "soft limit 'abc' is not a number"),
    ("nofile=1:x", "hard limit 'x' is not a number"),
    ("nofile=-5", "soft limit '-5' is not a number"),
])
def test_ulimit_errors(value, message):
    with pytest.raises(InvalidArgument) as e:
        apply(ulimits=[value])
    assert message in str(e.value) and f"--ulimit {value}" in str(e.value)


def test_swap_accounting_probe(tmp_path):
    (tmp_path / "memory").mkdir()
    assert sr.swap_accounting(str(tmp_path)) is False
    (tmp_path / "memory" / "memory.memsw.limit_in_bytes").write_text("0")
    assert sr.swap_accounting(str(tmp_path)) is True
