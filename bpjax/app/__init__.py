"""What a user runs: the run loop, sinks and the terminal view, the command line, benchmarks."""
