"""The card library: one module per category, imported explicitly so the registry is complete.

Adding a card is adding one function with an ``@card`` (or ``@cross_section_card``)
decorator to its category's module; adding a category is adding a module here.
"""

from bpjax.cards import funding_rate, open_interest, price_momentum, volatility  # noqa: F401
from bpjax.cards.base import CardInput, CardOutput
from bpjax.cards.registry import REGISTRY, CardSpec, Registry, card, cross_section_card

__all__ = ["REGISTRY", "CardInput", "CardOutput", "CardSpec", "Registry", "card", "cross_section_card"]
