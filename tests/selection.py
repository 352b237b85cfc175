"""Which cards the card-level tests run on.

By default every registered card. ``BPJAX_TEST_CATEGORIES=trend,candles`` narrows the
session engine and the per-card tests to those categories (their engine compiles in a
fraction of the time), for working on one category; CI always runs everything.
"""

from __future__ import annotations

import os

from bpjax.cards import REGISTRY
from bpjax.core.defines import CATEGORIES


def _selected():
    wanted = [c for c in os.environ.get("BPJAX_TEST_CATEGORIES", "").split(",") if c.strip()]
    if not wanted:
        return REGISTRY
    unknown = sorted(set(wanted) - set(CATEGORIES))
    if unknown:
        valid = ", ".join(CATEGORIES)
        raise ValueError(f"BPJAX_TEST_CATEGORIES: unknown categories {unknown}; valid: {valid}")
    return REGISTRY.subset(spec.name for spec in REGISTRY.cards if spec.category in wanted)


SELECTED = _selected()
