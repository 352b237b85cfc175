"""The host heap settings: a large block, once freed, stays mapped for the next allocation."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# In a fresh interpreter (the settings apply at import): allocate and fill a block the size of a
# tick's temporaries at a few hundred symbols, free it, and see whether its pages stay resident
# (kept for the next tick) or go back to the system (to be faulted in again).
PROBE = """
import json, os
import bpjax, numpy as np
from bpjax.core import host

def resident_mb():
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20

block = np.ones(64 * 2**20, np.uint8)
held = resident_mb()
del block
print(json.dumps({"tuned": host.HEAP_TUNED, "released_mb": held - resident_mb()}))
"""


def _probe(heap: str) -> dict:
    env = {**os.environ, "BPJAX_HOST_HEAP": heap}
    done = subprocess.run([sys.executable, "-c", PROBE], env=env, capture_output=True, text=True, check=True)
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="glibc mallopt")
def test_a_freed_large_block_stays_mapped_for_the_next_tick():
    tuned, system = _probe("tuned"), _probe("system")
    assert tuned["tuned"] and not system["tuned"]
    assert system["released_mb"] > 60  # glibc's default: unmapped on free, faulted in again
    assert tuned["released_mb"] < 4


def test_an_unknown_heap_choice_is_refused_by_name():
    env = {**os.environ, "BPJAX_HOST_HEAP": "fast"}
    done = subprocess.run([sys.executable, "-c", "import bpjax"], env=env, capture_output=True, text=True)
    assert done.returncode != 0
    assert "BPJAX_HOST_HEAP='fast': expected one of tuned, system" in done.stderr
