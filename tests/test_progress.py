"""Progress lines for long imports and replays."""

from __future__ import annotations

import io

from bpjax.app.progress import Progress


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_a_log_gets_one_line_per_tenth_and_a_terminal_one_redrawn_line():
    log = io.StringIO()
    progress = Progress(1000, "import", stream=log)
    for done in range(0, 1001, 50):
        progress(done)
    lines = log.getvalue().splitlines()
    assert (
        len(lines) == 11 and lines[-1].startswith("import 1,000/1,000 ticks") and lines[-1].endswith("(100%)")
    )
    terminal = Terminal()
    progress = Progress(200, "replay", stream=terminal)
    progress(100)
    progress(200)
    text = terminal.getvalue()
    assert text.count("\r") == 2 and text.endswith("\n") and "[" + "#" * 14 + "." * 14 + "]" in text
