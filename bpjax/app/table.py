"""The terminal live view of a run."""

from __future__ import annotations

import sys
from typing import IO

import numpy as np

from bpjax.app.runner import Published, Runner


class TableView:
    """The terminal live view: bias / confidence / state per symbol and mode, refreshed per publish.

    On a terminal the table is redrawn in place; otherwise one summary line per publish.
    """

    GREEN, RED, DIM, RESET = "\033[32m", "\033[31m", "\033[2m", "\033[0m"

    def __init__(self, runner: Runner, stream: IO[str] | None = None):
        self.runner = runner
        self.stream = stream or sys.stdout
        self.tty = self.stream.isatty()
        self.latest: dict[str, dict] = {}

    def __call__(self, item: Published) -> None:
        self.latest[item.mode] = item.record
        if self.tty:
            self.stream.write("\033[H\033[2J" + self.render(color=True) + "\n")
        else:
            biases = [s["bias"] for s in item.record["symbols"].values()]
            states = [s["state"] for s in item.record["symbols"].values()]
            directional = sum(1 for s in states if s != "neutral")
            self.stream.write(
                f"{item.record['time']} {item.mode:<6} mean bias {np.mean(biases):+7.2f}  "
                f"range [{min(biases):+.1f}, {max(biases):+.1f}]  non-neutral {directional}/{len(states)}\n"
            )
        self.stream.flush()

    def render(self, color: bool = False) -> str:
        modes = [m for m in self.runner.modes if m in self.latest]
        if not modes:
            return "(nothing published yet)"
        time_text = max(self.latest[m]["time"] for m in modes)
        header = f"{'symbol':<14}{'price':>14}" + "".join(f" | {m:^28}" for m in modes)
        sub = " " * 28 + "".join(f" | {'bias':>7} {'conf':>6} {'state':<13}" for _ in modes)
        lines = [f"bpjax  {time_text}  config {self.runner.config.hash()}", header, sub, "-" * len(sub)]
        for symbol in self.runner.symbols:
            first = self.latest[modes[0]]["symbols"][symbol]
            row = f"{symbol:<14}{first['price']:>14.6g}"
            for m in modes:
                entry = self.latest[m]["symbols"][symbol]
                bias = f"{entry['bias']:+7.1f}"
                if color:
                    shade = (
                        self.GREEN if entry["bias"] >= 15 else self.RED if entry["bias"] <= -15 else self.DIM
                    )
                    bias = f"{shade}{bias}{self.RESET}"
                row += f" | {bias} {entry['confidence']:6.1f} {entry['state']:<13}"
            lines.append(row)
        return "\n".join(lines)
