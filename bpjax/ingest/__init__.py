"""From normalized market events to one packed snapshot per tick: the event model and the accumulator."""
