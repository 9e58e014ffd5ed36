"""onggi.oci.tables: signal names as runc's ``kill`` takes them, and the name tables."""

from __future__ import annotations

import signal

import pytest

from onggi.oci import tables
from onggi.oci.tables import parse_signal


@pytest.mark.parametrize("text,num", [
    ("KILL", 9), ("SIGKILL", 9), ("kill", 9), ("sigkill", 9), ("SigTerm", 15), ("TERM", 15), (" HUP ", 1),
    ("9", 9), ("1", 1), ("15", 15), ("64", 64), ("34", 34),
    ("USR1", 10), ("SIGUSR2", 12), ("CHLD", 17), ("CLD", 17), ("IOT", 6), ("POLL", 29), ("IO", 29),
    ("WINCH", 28), ("SYS", 31), ("STKFLT", 16), ("PWR", 30),
    ("RTMIN", 34), ("SIGRTMIN", 34), ("RTMIN+0", 34), ("RTMIN+1", 35), ("rtmin+3", 37), ("SIGRTMIN+30", 64),
    ("RTMAX", 64), ("SIGRTMAX", 64), ("RTMAX-0", 64), ("RTMAX-1", 63), ("sigrtmax-30", 34),
])
def test_valid(text: str, num: int) -> None:
    assert parse_signal(text) == num


@pytest.mark.parametrize("text", [
    "", " ", "0", "65", "100", "-9", "+9", "9.0", "0x9", "SIG", "SIGSIGKILL", "KILLL", "SIGFOO", "RTMIN+31",
    "RTMAX-31", "RTMIN-1", "RTMAX+1", "RTMIN+", "RTMIN+x", "RTMIN+-1", "RTMIN 1", "K ILL",
    "٩",          # ARABIC-INDIC DIGIT NINE: a digit to str.isdigit, not to runc
    "²",          # SUPERSCRIPT TWO
    "RTMIN+٣",
])
def test_invalid(text: str) -> None:
    with pytest.raises(ValueError) as ei:
        parse_signal(text)
    assert repr(text) in str(ei.value)


def test_names_match_the_host() -> None:
    for name, num in tables.SIGNALS.items():
        sig = getattr(signal, "SIG" + name, None)
        if sig is not None:
            assert int(sig) == num, name
    assert tables.SIGRTMIN == signal.SIGRTMIN
    assert tables.SIGRTMAX == signal.SIGRTMAX


def test_tables_are_consistent() -> None:
    assert len(set(tables.CAPABILITIES.values())) == len(tables.CAPABILITIES)
    assert tables.CAPABILITIES["CAP_CHOWN"] == 0 and tables.CAPABILITIES["CAP_SYS_ADMIN"] == 21
    assert tables.CAPABILITIES["CAP_CHECKPOINT_RESTORE"] == 40
    import resource

    for name, num in tables.RLIMITS.items():
        if hasattr(resource, name):
            assert getattr(resource, name) == num, name
