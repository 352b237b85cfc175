"""Foundations every layer shares: axis names and types, constants, the snapshot field table, the
typed config, the traced parameters, process settings."""
