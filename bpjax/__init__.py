"""bpjax: a decision engine for crypto perpetual futures, one jitted JAX tick for every symbol,
mode and timeframe.

The names in ``__all__`` are the public Python API; they load on first use, so ``import bpjax``
stays cheap (the command line imports JAX only for the commands that need it)::

    import bpjax

    config = bpjax.load_config()
    engine = bpjax.Engine(config)
    state = engine.init()
    state, out = engine.step(state, snapshot, engine.params)

Everything else is importable from its layer (``bpjax.core``, ``bpjax.ingest``, ``bpjax.feeds``,
``bpjax.sim``, ``bpjax.features``, ``bpjax.cards``, ``bpjax.tick``, ``bpjax.zones``,
``bpjax.store``, ``bpjax.learn``, ``bpjax.app``) but may change without notice.
"""

from __future__ import annotations

import importlib

from bpjax.core import host  # noqa: F401  (first: heap settings before JAX starts its threads)

__version__ = "0.1.0"

# public name -> the module that defines it
_EXPORTS = {
    # configuration
    "Config": "bpjax.core.config",
    "ConfigError": "bpjax.core.config",
    "load_config": "bpjax.core.config",
    "parse_config": "bpjax.core.config",
    "Params": "bpjax.tick.params",
    # market events and snapshots
    "Trades": "bpjax.ingest.events",
    "BookLevels": "bpjax.ingest.events",
    "MarkPrice": "bpjax.ingest.events",
    "Funding": "bpjax.ingest.events",
    "Liquidations": "bpjax.ingest.events",
    "OpenInterest": "bpjax.ingest.events",
    "PositioningRatio": "bpjax.ingest.events",
    "Accumulator": "bpjax.ingest.snapshot",
    "Snapshot": "bpjax.ingest.snapshot",
    # the engine: init / step / scan
    "Engine": "bpjax.tick.engine",
    "EngineState": "bpjax.tick.engine",
    "TickOutput": "bpjax.tick.engine",
    "counting_compilations": "bpjax.tick.compilations",
    # cards
    "REGISTRY": "bpjax.cards",
    "Registry": "bpjax.cards",
    "CardInput": "bpjax.cards",
    "CardOutput": "bpjax.cards",
    "card": "bpjax.cards",
    "cross_section_card": "bpjax.cards",
    # recordings
    "Store": "bpjax.store.zarrstore",
    "StoreError": "bpjax.store.zarrstore",
    "Recorder": "bpjax.store.zarrstore",
    "import_history": "bpjax.store.importer",
    # running
    "Runner": "bpjax.app.runner",
    "SimSource": "bpjax.app.sources",
    # training and evaluation
    "cached_history": "bpjax.learn.offline",
    "walk_forward": "bpjax.learn.offline",
    "load_weights": "bpjax.learn.offline",
    "save_weights": "bpjax.learn.offline",
    "LearnError": "bpjax.learn.offline",
}
_ALIASES = {"counting_compilations": "counting"}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'bpjax' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), _ALIASES.get(name, name))
    globals()[name] = value  # later lookups skip this function
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(__all__))
