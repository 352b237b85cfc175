"""Counting real XLA compilations, for recompilation guards.

Every executable JAX produces (compiled, or loaded from the persistent compilation cache) goes
through one backend-compile step, which JAX reports as a monitoring event carrying the
function's name. :func:`counting` listens to that event, so a test that steps the engine twice
can assert that nothing was compiled: the count moves whatever path triggered the compilation
(an ahead-of-time ``lower().compile()``, a jitted call that retraced on new shapes or dtypes,
a scan of a new chunk length).
"""

from __future__ import annotations

import contextlib
import threading
from collections import Counter
from collections.abc import Iterator

from jax import monitoring

BACKEND_COMPILE_EVENT = "/jax/core/compile/backend_compile_duration"

_lock = threading.Lock()
_counts: Counter[str] = Counter()  # process-wide, by function name
_listening = False


def _listen(event: str, duration: float, **kwargs) -> None:
    if event == BACKEND_COMPILE_EVENT:
        with _lock:
            _counts[str(kwargs.get("fun_name", "?"))] += 1


def _ensure_listening() -> None:
    global _listening
    with _lock:
        if not _listening:
            monitoring.register_event_duration_secs_listener(_listen)
            _listening = True


class Compilations:
    """The compilations seen since :func:`counting` started, by function name."""

    def __init__(self) -> None:
        with _lock:
            self._start = Counter(_counts)

    def by_name(self) -> dict[str, int]:
        with _lock:
            now = Counter(_counts)
        return {name: n - self._start[name] for name, n in now.items() if n > self._start[name]}

    @property
    def total(self) -> int:
        return sum(self.by_name().values())

    def __repr__(self) -> str:
        return f"Compilations({self.by_name()})"


def start() -> Compilations:
    """A counter of the XLA compilations from now on (any thread of this process)."""
    _ensure_listening()
    return Compilations()


@contextlib.contextmanager
def counting() -> Iterator[Compilations]:
    """``with counting() as compiled: ...`` then ``compiled.total``: XLA compilations in between."""
    yield start()


def assert_no_compilation(action, what: str = "the action") -> None:
    """Run ``action()`` and raise AssertionError if it compiled anything."""
    with counting() as compiled:
        action()
    if compiled.total:
        raise AssertionError(f"{what} compiled {compiled.total} program(s): {compiled.by_name()}")
