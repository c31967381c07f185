"""The search's only view of time: bounds in seconds and the live progress line.

The loop calls `tick` every few thousand states; a tick may return why the
search must stop. `ProgressMonitor` also prints a progress line on a stream
(stderr) when a run lasts more than a couple of seconds: redrawn in place on a
terminal, at most one line per `LOG_EVERY` seconds on a file or a pipe (a log).
"""

from __future__ import annotations

import sys
import time
from typing import TextIO

from .result import Stats

LOG_EVERY = 10.0  # seconds between two progress lines when the stream is no terminal


class Monitor:
    """Enforces `max_seconds`; prints nothing."""

    def __init__(self, *, max_seconds: float | None = None):
        self.max_seconds = max_seconds
        self.started = 0.0

    def start(self) -> None:
        self.started = time.perf_counter()

    def elapsed(self) -> float:
        return time.perf_counter() - self.started

    def tick(self, distinct: int, generated: int, depth: int) -> str | None:
        if self.max_seconds is not None and self.elapsed() >= self.max_seconds:
            return f"max_seconds {self.max_seconds:g} reached"
        return None

    def finish(self, stats: Stats) -> None:
        pass


class ProgressMonitor(Monitor):
    """Also writes a progress line to `stream` every `every` seconds, after `after` seconds; on a
    stream that is no terminal, both are at least `LOG_EVERY` seconds (each line is kept there)."""

    def __init__(self, *, max_seconds: float | None = None, stream: TextIO | None = None, label: str = "",
                 after: float = 2.0, every: float = 1.0):
        super().__init__(max_seconds=max_seconds)
        self.stream = stream if stream is not None else sys.stderr
        self.tty = _isatty(self.stream)
        if not self.tty:
            after, every = max(after, LOG_EVERY), max(every, LOG_EVERY)
        self.label, self.after, self.every = label, after, every
        self._next = after
        self._shown = False

    def start(self) -> None:
        super().start()
        self._next = self.after

    def tick(self, distinct: int, generated: int, depth: int) -> str | None:
        t = self.elapsed()
        if t >= self._next:
            self._next = t + self.every
            rate = distinct / t if t > 0 else 0
            line = f"{self.label}{distinct:,} distinct, {generated:,} generated, depth {depth}, {rate:,.0f} states/s, {t:.0f}s"
            end = "\r" if self.tty else "\n"
            self.stream.write(("\x1b[2K" if self.tty else "") + line + end)
            self.stream.flush()
            self._shown = True
        return super().tick(distinct, generated, depth)

    def finish(self, stats: Stats) -> None:
        if self._shown and self.tty:
            self.stream.write("\x1b[2K")
            self.stream.flush()


def _isatty(stream: TextIO) -> bool:
    try:
        return bool(stream.isatty())
    except (AttributeError, ValueError):  # no such method, or a closed stream
        return False
