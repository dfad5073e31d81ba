"""Benchmarks (``make bench``): figures as ratios on this machine, in one run. See docs/benchmarks.md."""
