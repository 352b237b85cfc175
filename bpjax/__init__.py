"""bpjax: a decision engine for crypto perpetual futures, one jitted JAX tick for every symbol,
mode and timeframe."""

from bpjax.core import host  # noqa: F401  (first: heap settings before JAX starts its threads)

__version__ = "0.1.0"
