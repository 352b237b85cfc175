"""The embedded market simulator and the wire-level exchange servers that speak the venues'
protocols on loopback (for the default run and the tests; not production feed code)."""
