"""The card registry: one ordered table of frozen :class:`CardSpec` records.

A card is registered with a decorator that records its name, category,
lookback (bars of history it needs, at day-mode scale), input fields, and the
streams, window features and default parameters it reads::

    @card("rsi", "price_momentum", lookback=14, inputs=("close",),
          streams=(GAIN, LOSS), params={"half_range": 30.0})
    def rsi(x: CardInput) -> CardOutput: ...

Card order is stable, (category in ``CATEGORIES`` order, name), so the card axis
means the same thing in every run and recording. Duplicate names raise.
"""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np

from bpjax.core.defines import CATEGORIES
from bpjax.core.fields import FIELD_INDEX
from bpjax.features.series import all_present
from bpjax.features.streams import Stream, StreamBank
from bpjax.features.windows import Window, WindowBank


def coverage_window(spec: CardSpec) -> Window:
    """Bars where all of a card's inputs are present, over its lookback (capped by the ring)."""
    return Window("count", all_present(spec.inputs), spec.lookback)


class RegistryError(ValueError):
    """A card declaration is inconsistent (duplicate name, unknown category, field or stream)."""


@dataclass(frozen=True)
class CardSpec:
    name: str
    category: str
    fn: Callable
    lookback: int  # bars of history the card needs at day-mode scale (coverage, warm-up)
    inputs: tuple[str, ...]  # snapshot fields the card reads; their masks feed its confidence
    streams: tuple[Stream, ...]  # streaming statistics the card reads
    windows: tuple[Window, ...]  # window features the card reads
    params: tuple[tuple[str, float], ...]  # default traced parameters
    cross_section: bool  # receives the whole symbol axis
    zones: bool  # reads the zone engine (CardInput.zone)
    mirror: bool  # direction flips when the market is mirrored (see tests/test_invariants.py)
    doc: str

    @property
    def description(self) -> str:
        """The first paragraph of the docstring."""
        return self.doc.strip().split("\n\n")[0].replace("\n", " ").strip()

    def as_dict(self) -> dict[str, object]:
        return {
            "name": self.name,
            "category": self.category,
            "lookback": self.lookback,
            "inputs": list(self.inputs),
            "streams": [str(s) for s in self.streams],
            "windows": [str(w) for w in self.windows],
            "params": dict(self.params),
            "kind": "cross_section" if self.cross_section else "slice",
            "zones": self.zones,
            "description": self.description,
        }


class Registry:
    """Ordered, duplicate-free card table plus the static layouts derived from it."""

    def __init__(self, specs: tuple[CardSpec, ...] = ()):
        self._specs: dict[str, CardSpec] = {}
        for spec in specs:
            self.add(spec)

    def add(self, spec: CardSpec) -> None:
        if spec.name in self._specs:
            raise RegistryError(f"card {spec.name!r} is registered twice")
        if spec.category not in CATEGORIES:
            raise RegistryError(
                f"card {spec.name!r} has unknown category {spec.category!r}; valid: {', '.join(CATEGORIES)}"
            )
        for name in spec.inputs:
            if name not in FIELD_INDEX:
                raise RegistryError(f"card {spec.name!r} reads unknown field {name!r}")
        if spec.lookback < 1:
            raise RegistryError(f"card {spec.name!r} lookback must be >= 1 bar, was {spec.lookback}")
        if not spec.doc.strip():
            raise RegistryError(f"card {spec.name!r} has no docstring")
        self._specs[spec.name] = spec

    def subset(self, names) -> Registry:
        return Registry(tuple(self._specs[name] for name in names))

    @property
    def cards(self) -> tuple[CardSpec, ...]:
        return tuple(sorted(self._specs.values(), key=lambda s: (CATEGORIES.index(s.category), s.name)))

    @property
    def names(self) -> tuple[str, ...]:
        return tuple(spec.name for spec in self.cards)

    @property
    def categories(self) -> tuple[str, ...]:
        """Categories with at least one card, in catalogue order (the ``cat`` axis)."""
        present = {spec.category for spec in self._specs.values()}
        return tuple(c for c in CATEGORIES if c in present)

    def category_matrix(self) -> np.ndarray:
        """(card, cat) one-hot membership, float32."""
        cats = self.categories
        matrix = np.zeros((len(self), len(cats)), dtype=np.float32)
        for i, spec in enumerate(self.cards):
            matrix[i, cats.index(spec.category)] = 1.0
        return matrix

    def stream_bank(self) -> StreamBank:
        return StreamBank(s for spec in self.cards for s in spec.streams)

    def window_bank(self, lag: int, max_scale: float) -> WindowBank:
        """Every declared window feature, plus per card the count of bars where all its inputs are
        present over its lookback (the lifter's coverage measure), for a ring of ``lag`` bars."""
        features = [w for spec in self.cards for w in spec.windows]
        features += [coverage_window(spec) for spec in self.cards if spec.inputs]
        return WindowBank(features, lag=lag, max_scale=max_scale)

    def max_window(self, scale: float) -> int:
        """Ring rows needed by the declared window features at lookback scale ``scale`` (coverage
        counts are capped at the ring instead of lengthening it)."""
        return WindowBank(w for spec in self.cards for w in spec.windows).max_bars(scale)

    def param_layout(self) -> tuple[dict[str, dict[str, int]], np.ndarray]:
        """Offsets of every card parameter in the flat parameter vector, and the defaults."""
        layout: dict[str, dict[str, int]] = {}
        defaults: list[float] = []
        for spec in self.cards:
            layout[spec.name] = {}
            for name, value in spec.params:
                layout[spec.name][name] = len(defaults)
                defaults.append(value)
        return layout, np.asarray(defaults, dtype=np.float32)

    def __len__(self) -> int:
        return len(self._specs)

    def __getitem__(self, name: str) -> CardSpec:
        try:
            return self._specs[name]
        except KeyError:
            raise KeyError(f"no card named {name!r}") from None

    def __contains__(self, name: str) -> bool:
        return name in self._specs


REGISTRY = Registry()


def _decorator(cross_section: bool):
    def register(
        name: str,
        category: str,
        *,
        lookback: int,
        inputs: tuple[str, ...],
        streams: tuple[Stream, ...] = (),
        windows: tuple[Window, ...] = (),
        params: Mapping[str, float] | None = None,
        zones: bool = False,
        mirror: bool = True,
        registry: Registry = REGISTRY,
    ):
        def wrap(fn: Callable) -> Callable:
            registry.add(
                CardSpec(
                    name=name,
                    category=category,
                    fn=fn,
                    lookback=int(lookback),
                    inputs=tuple(inputs),
                    streams=tuple(streams),
                    windows=tuple(windows),
                    params=tuple((k, float(v)) for k, v in (params or {}).items()),
                    cross_section=cross_section,
                    zones=zones,
                    mirror=mirror,
                    doc=inspect.getdoc(fn) or "",
                )
            )
            return fn

        return wrap

    return register


card = _decorator(cross_section=False)
card.__doc__ = "Register a card computed on one (sym, mode, tf) slice."
cross_section_card = _decorator(cross_section=True)
cross_section_card.__doc__ = "Register a card that sees the whole symbol axis of one (mode, tf) slice."
