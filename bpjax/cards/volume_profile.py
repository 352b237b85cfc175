"""Volume profile: where volume traded by price."""
