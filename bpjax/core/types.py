"""Axis names and array type aliases, named once.

Axes (used in every shape annotation and docstring):

    sym    symbols of the universe, in config order
    mode   trading modes (scalp, day, swing), in config order
    tf     timeframes (1m, 5m, 1h), shortest first
    time   ticks of a recording
    field  snapshot fields (bpjax.core.fields.FIELD_NAMES)
    lag    bars of a history window, oldest first; the last one is the open bar
    card   registered cards in registry order (category, name)
    cat    categories that have at least one card, in bpjax.core.defines.CATEGORIES order
    stream streaming statistics (bpjax.features.streams), in registry order
    bin    price-grid bins of the zone engine

Annotations use jaxtyping, e.g. ``Float[Array, "sym mode"]``.
"""

from __future__ import annotations

from jaxtyping import Array, Bool, Float, Int

AXES = ("sym", "mode", "tf", "time", "field", "lag", "card", "cat", "stream", "bin")

__all__ = ["AXES", "Array", "Bool", "Float", "Int"]
