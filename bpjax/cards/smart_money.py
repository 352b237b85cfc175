"""Smart money: top traders against the crowd, large prints."""
