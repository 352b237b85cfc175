"""Mean reversion: stretched prices that tend to snap back."""
