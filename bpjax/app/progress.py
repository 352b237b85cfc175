"""Progress for long imports and replays, on stderr.

On a terminal one line is redrawn in place (bar, count, rate, time left); otherwise (a log
file, CI) a plain line is written at every tenth of the work, so logs stay short.
"""

from __future__ import annotations

import sys
import time
from typing import IO


class Progress:
    WIDTH = 28

    def __init__(self, total: int, label: str, unit: str = "ticks", stream: IO[str] | None = None):
        self.total = max(int(total), 1)
        self.label, self.unit = label, unit
        self.stream = stream or sys.stderr
        self.tty = self.stream.isatty()
        self.started = time.perf_counter()
        self.done = 0
        self.reported_tenth = -1

    def __call__(self, done: int) -> None:
        self.done = min(int(done), self.total)
        elapsed = time.perf_counter() - self.started
        rate = self.done / elapsed if elapsed > 0 else 0.0
        left = (self.total - self.done) / rate if rate > 0 else float("nan")
        share = self.done / self.total
        text = f"{self.label} {self.done:,}/{self.total:,} {self.unit} {rate:,.0f}/s"
        if self.tty:
            filled = int(share * self.WIDTH)
            bar = "#" * filled + "." * (self.WIDTH - filled)
            eta = f" {left:,.0f} s left" if self.done < self.total and left == left else ""
            self.stream.write(f"\r{self.label} [{bar}] {share:4.0%} {text[len(self.label) + 1 :]}{eta}\033[K")
            if self.done >= self.total:
                self.stream.write("\n")
        else:
            tenth = int(share * 10)
            if tenth == self.reported_tenth:
                return
            self.reported_tenth = tenth
            self.stream.write(f"{text} ({share:.0%})\n")
        self.stream.flush()
