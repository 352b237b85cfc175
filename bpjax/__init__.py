"""bpjax: a decision engine for crypto perpetual futures, one jitted JAX tick for every symbol,
mode and timeframe."""

__version__ = "0.1.0"
