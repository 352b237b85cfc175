"""Where published records go: one JSON object per published (tick, mode).

A sink is any callable taking a :class:`~bpjax.app.runner.Published`; the runner calls every
sink once per published mode, after the tick.
"""

from __future__ import annotations

import json
from typing import IO

from bpjax.app.runner import Published


class JsonlSink:
    """Appends one JSON object per published (tick, mode), flushed per line."""

    def __init__(self, path: str):
        self.path = path
        self.file: IO[str] = open(path, "w", encoding="utf-8")  # noqa: SIM115 (closed in close())

    def __call__(self, item: Published) -> None:
        self.file.write(json.dumps(item.record, separators=(",", ":")) + "\n")
        self.file.flush()

    def close(self) -> None:
        self.file.close()
