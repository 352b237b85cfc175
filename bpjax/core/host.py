"""Host heap settings for the CPU backend, applied when :mod:`bpjax` is imported.

XLA:CPU allocates a tick's temporary buffers afresh on every execution: one block of about
500 MB at 2,100 symbols. glibc serves a block that large from a new ``mmap`` (always, in a
thread's own arena) and gives it back with ``munmap``, so every tick first-touches the pages
it uses again: about 46,000 page faults per tick at 2,100 symbols, a third of the tick's time
on the reference machine. With at most two heap arenas (``M_ARENA_MAX``), no ``mmap`` for
large blocks (``M_MMAP_MAX`` = 0) and no trimming, the block freed by one tick is the block
the next tick gets, already mapped: 0 to ~7,000 faults per tick, depending on which arena
the executing thread shares, and the 2,100-symbol tick p50 goes from ~210 to ~130 ms. One
arena makes every fault go away but makes the compiler's threads queue on one heap lock
(first compile 45 -> 63 s at 21 symbols; two arenas: ~50 s). The price is that the process
keeps its high-water mark of heap memory instead of returning it to the system.

The settings must be made before JAX starts its worker threads (a thread is bound to a heap
on its first allocation), hence at import. ``BPJAX_HOST_HEAP=system`` leaves the C library's
defaults alone (any other value stops the import with a message); the settings are skipped
where the C library has no ``mallopt`` (not glibc).
"""

from __future__ import annotations

import ctypes
import os
import sys

# glibc <malloc.h>
M_TRIM_THRESHOLD = -1
M_MMAP_MAX = -4
M_ARENA_MAX = -8
NO_TRIM = 2**31 - 1  # an int: the largest threshold mallopt takes

SETTINGS = ((M_ARENA_MAX, 2), (M_MMAP_MAX, 0), (M_TRIM_THRESHOLD, NO_TRIM))
CHOICES = ("tuned", "system")  # values of BPJAX_HOST_HEAP


def keep_tick_buffers_mapped() -> bool:
    """Apply :data:`SETTINGS` with ``mallopt``; True when every setting took effect."""
    choice = os.environ.get("BPJAX_HOST_HEAP", "tuned")
    if choice not in CHOICES:
        raise ValueError(f"BPJAX_HOST_HEAP={choice!r}: expected one of {', '.join(CHOICES)}")
    if choice == "system" or not sys.platform.startswith("linux"):
        return False
    try:
        mallopt = ctypes.CDLL(None).mallopt
    except (AttributeError, OSError):  # not glibc
        return False
    mallopt.argtypes, mallopt.restype = (ctypes.c_int, ctypes.c_int), ctypes.c_int
    return all([mallopt(option, value) == 1 for option, value in SETTINGS])


HEAP_TUNED = keep_tick_buffers_mapped()
