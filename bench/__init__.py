"""Benchmarks (``make bench``): measurements, not timed tests. Results go in docs/performance.md."""
