"""NumPy references of the card categories, one module per category (see tests/reference.py)."""
