"""The jitted engine tick: ring buffers, the card lifter, aggregation into bias/confidence/states,
and the compilation guards."""
