"""The card library: one module per category, imported explicitly so the registry is complete.

Adding a card is adding one function with an ``@card`` (or ``@cross_section_card``)
decorator to its category's module; adding a category is adding a module here.
"""

from bpjax.cards import (  # noqa: F401  (one module per category)
    basis,
    candles,
    composite_alpha,
    correlation,
    cross_exchange,
    funding_clock,
    funding_rate,
    liquidation,
    liquidity,
    market_structure,
    mean_reversion,
    open_interest,
    order_book,
    order_flow,
    positioning,
    price_momentum,
    regime,
    relative_strength,
    smart_money,
    trend,
    volatility,
    volume,
    volume_profile,
    vwap,
    zones,
)
from bpjax.cards.base import CardInput, CardOutput
from bpjax.cards.registry import REGISTRY, CardSpec, Registry, card, cross_section_card

__all__ = ["REGISTRY", "CardInput", "CardOutput", "CardSpec", "Registry", "card", "cross_section_card"]
