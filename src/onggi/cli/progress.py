"""Copy progress for the CLI: per-blob bars with sizes and rates on a terminal (rich),
skopeo's plain lines otherwise, nothing with ``--quiet``."""

from __future__ import annotations

import contextlib
import sys
import threading
from typing import Iterator

from ..transports.base import Descriptor
from ..transports.copy import Progress


@contextlib.contextmanager
def session(quiet: bool, stream=None) -> Iterator[Progress | None]:  # noqa: ANN001
    """The progress of one command: bars or lines while it runs, closed after."""
    progress = for_stream(quiet, stream)
    try:
        yield progress
    finally:
        if progress is not None and hasattr(progress, "close"):
            progress.close()


def write_digestfile(path: str | None, digest: str) -> None:
    if path:
        with open(path, "w") as f:
            f.write(digest)


def for_stream(quiet: bool, stream=None) -> Progress | None:  # noqa: ANN001
    if quiet:
        return None
    stream = stream or sys.stderr
    if stream.isatty():
        return BarProgress(stream)
    return LineProgress(stream)


def _kind(what: str) -> str:
    return "config" if ": config " in what else "blob"


class LineProgress(Progress):
    """``Copying blob sha256:... done`` lines, as skopeo prints without a terminal."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        self.stream = stream
        self.lock = threading.Lock()
        self.kinds: dict[str, str] = {}

    def _say(self, text: str) -> None:
        with self.lock:
            self.stream.write(text + "\n")
            self.stream.flush()

    def blob_start(self, desc: Descriptor, what: str) -> None:
        self.kinds[desc.digest] = _kind(what)

    def blob_done(self, desc: Descriptor, skipped: bool) -> None:
        kind = self.kinds.get(desc.digest, "blob")
        self._say(f"Copying {kind} {desc.digest} {'skipped: already exists' if skipped else 'done'}")

    def message(self, text: str) -> None:
        self._say(text)


class BarProgress(Progress):
    """One rich bar per blob: short digest, bytes done/total, rate, time left."""

    def __init__(self, stream) -> None:  # noqa: ANN001
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, Progress as Bars, TextColumn,
                                   TimeRemainingColumn, TransferSpeedColumn)

        self.bars = Bars(TextColumn("{task.description}"), BarColumn(), DownloadColumn(),
                         TransferSpeedColumn(), TimeRemainingColumn(),
                         console=Console(file=stream), transient=False)
        self.tasks: dict[str, int] = {}
        self.lock = threading.Lock()
        self.bars.start()

    def blob_start(self, desc: Descriptor, what: str) -> None:
        with self.lock:
            label = f"Copying {_kind(what)} {desc.digest.partition(':')[2][:12]}"
            self.tasks[desc.digest] = self.bars.add_task(label, total=desc.size)

    def blob_advance(self, desc: Descriptor, nbytes: int) -> None:
        task = self.tasks.get(desc.digest)
        if task is not None:
            self.bars.advance(task, nbytes)

    def blob_done(self, desc: Descriptor, skipped: bool) -> None:
        with self.lock:
            task = self.tasks.get(desc.digest)
            if task is None:
                label = f"Copying blob {desc.digest.partition(':')[2][:12]} (already exists)"
                self.tasks[desc.digest] = self.bars.add_task(label, total=desc.size, completed=desc.size)
            else:
                self.bars.update(task, completed=desc.size)

    def message(self, text: str) -> None:
        self.bars.console.print(text)

    def close(self) -> None:
        self.bars.stop()
